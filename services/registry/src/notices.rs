//! What follows an applied change, written to the outbox in the same transaction:
//! `ledger.changed` for every change, and notification requests for the people section 3 says
//! are told.

use chrono::{DateTime, Utc};
use hongyan_adapters::store::rows::OutboxRow;
use hongyan_domain::envelope::system_envelope;
use hongyan_domain::ids::EventId;
use hongyan_domain::ledger::FlowRecord;
use hongyan_domain::notify::{self, NotificationRequest};
use serde_json::json;

pub fn ledger_changed(rec: &FlowRecord, caused_by: EventId, now: DateTime<Utc>) -> OutboxRow {
    let (message_id, payload) = system_envelope(
        "ledger.changed",
        now,
        json!({
            "member_id": rec.member_id,
            "home_org_id": rec.home_org_id,
            "status": rec.status,
            "region_code": rec.location.region_code,
            "version": rec.version,
            "certificate_no": rec.certificate_no,
            "flags": rec.flags,
            "caused_by": caused_by,
        }),
    );
    OutboxRow {
        routing_key: "ledger.changed".into(),
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
