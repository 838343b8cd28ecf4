//! What one event changes, as its rule returns it ([`crate::apply`]). The batch's state takes
//! it in ([`super::state::State::absorb`]), so the next event sees it, and adds it to the
//! change list the flush writes ([`super::flush::Changes`]). An event that is refused,
//! deferred or a duplicate changes nothing: its rule returns no effects.

use hongyan_adapters::store::rows::{HistoryRow, MemberRow, OrgRow, OutboxRow};
use hongyan_domain::ledger::FlowRecord;
use uuid::Uuid;

use crate::sql::study::{CompletionRow, PackRow};
use crate::sql::writes::UnmatchedRow;

/// An org as one `org.upserted` saved it, written at flush in event order: when its place in
/// the tree changed, every descendant's stored path follows (which only the database knows
/// all of).
#[derive(Clone, Debug)]
pub struct OrgWrite {
    pub row: OrgRow,
    /// Its path before this event, or `None` for a new org.
    pub old_path: Option<Vec<String>>,
}

impl OrgWrite {
    /// Whether the org moved in the tree (its descendants' paths change with it).
    pub fn moved_from(&self) -> Option<&[String]> {
        let path = &self.row.path;
        self.old_path.as_deref().filter(|old| {
            old.len() != path.len() || old.iter().zip(path).any(|(a, b)| a != b.as_str())
        })
    }
}

/// An activity-certificate number given out: the `seq`th of `county` in `year`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbered {
    pub county: String,
    pub year: i32,
    pub seq: u32,
}

/// What one event changes. Each event changes at most one org, member, record and certificate
/// sequence; it may write several history lines and outbox rows (in the order they are
/// listed here, which is the order they are written).
#[derive(Debug, Default)]
pub struct Effects {
    /// The event, when it counts as applied (its verdict is applied or stale): a replay is
    /// then a duplicate.
    pub applied: Option<Uuid>,
    pub org: Option<OrgWrite>,
    pub member: Option<MemberRow>,
    /// A new or changed flow record (its certificate number, if it got one, is in it).
    pub record: Option<FlowRecord>,
    pub certificate: Option<Numbered>,
    pub history: Vec<HistoryRow>,
    /// `ledger.changed` and notification requests, in the order they go out.
    pub outbox: Vec<OutboxRow>,
    pub unmatched: Option<UnmatchedRow>,
    /// A study pack stored, with the time of the event that set it.
    pub pack: Option<PackRow>,
    pub completion: Option<CompletionRow>,
}
