//! What follows an applied change, written to the outbox in the same transaction:
//! `ledger.changed` for every change, and notification requests for the people section 3 says
//! are told.

use chrono::{DateTime, Utc};
use hongyan_adapters::store::rows::OutboxRow;
use hongyan_domain::ids::EventId;
use hongyan_domain::ledger::FlowRecord;
use hongyan_domain::notify::{self, NotificationRequest};
use hongyan_domain::outgoing::{LedgerChanged, system_envelope};

pub fn ledger_changed(rec: &FlowRecord, caused_by: EventId, now: DateTime<Utc>) -> OutboxRow {
    let (message_id, payload) = system_envelope(
        LedgerChanged::KIND,
        now,
        LedgerChanged::of(rec, caused_by).to_wire(),
    );
    OutboxRow {
        routing_key: LedgerChanged::KIND.into(),
        message_id,
        payload,
        park: None,
    }
}

pub fn notification(req: &NotificationRequest, now: DateTime<Utc>) -> OutboxRow {
    let (message_id, payload) = system_envelope(notify::ROUTING_KEY, now, req);
    OutboxRow {
        routing_key: notify::ROUTING_KEY.into(),
        message_id,
        payload,
        park: None,
    }
}
