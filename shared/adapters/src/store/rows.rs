//! Rows as the store reads and writes them.

use chrono::{DateTime, FixedOffset};
use hongyan_domain::ids::{EventId, MemberId, OrgId};
use hongyan_domain::ledger::Member;
use hongyan_domain::payloads::OrgUpsert;
use hongyan_domain::rights::OrgNode;
use serde_json::Value;

/// An org and its place in the tree.
#[derive(Clone, Debug)]
pub struct OrgRow {
    pub org: OrgUpsert,
    /// Ids from the root down to this org, itself included.
    pub path: Vec<OrgId>,
    pub state_at: DateTime<FixedOffset>,
}

impl OrgRow {
    pub fn node(&self) -> OrgNode {
        OrgNode {
            id: self.org.id.clone(),
            kind: self.org.kind,
            path: self.path.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct MemberRow {
    pub member: Member,
    pub state_at: DateTime<FixedOffset>,
}

/// One line of a member's history.
#[derive(Clone, Debug)]
pub struct HistoryRow {
    pub event_id: EventId,
    pub event_type: &'static str,
    pub member_id: Option<MemberId>,
    pub org_id: Option<OrgId>,
    pub record_id: Option<uuid::Uuid>,
    pub occurred_at: DateTime<FixedOffset>,
    pub actor: Value,
    pub data: Value,
    pub applied: bool,
    pub note: Option<String>,
}

/// A message to relay after commit.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    pub routing_key: String,
    pub message_id: String,
    /// The envelope, as JSON text.
    pub payload: String,
    /// Set for a copy that goes to `hongyan.parked` rather than to the events exchange.
    pub park: Option<Park>,
}

/// Why a message is parked, and the queue `parked replay` sends it back to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Park {
    pub reason: String,
    pub source_queue: String,
}
