//! The monthly update (一月一更新, DESIGN.md section 4): the review of every open record and the
//! reminders. Each job reads open records in keyset batches and writes each batch's outbox
//! rows in one statement: no round trip per member, and memory bounded by the batch. The
//! reminders write on the firing's connection; the review, which locks and changes the
//! records, commits each batch on its own (see `review::run`).

pub mod reminder;
pub mod review;

use chrono::{DateTime, Utc};
use hongyan_adapters::store::rows::OutboxRow;
use hongyan_domain::ids::EventId;
use hongyan_domain::month::Month;
use hongyan_domain::notify::{self, NotificationRequest};
use hongyan_domain::outgoing::keyed_envelope;
use hongyan_domain::rules::keys;

/// Open records read per round trip: large enough that 1,000,000 records take a few hundred
/// statements, small enough that a batch's rows and messages stay a few MiB.
pub const BATCH: i64 = 5_000;

/// The outbox row of a scheduled notification: its event id is the UUID of its key, so the
/// notifier's intake drops a repeat, and the notification's key stops a second send.
pub fn notification_row(req: &NotificationRequest, due: DateTime<Utc>) -> OutboxRow {
    let event_id = EventId(keys::id_of(&req.key));
    OutboxRow {
        routing_key: notify::ROUTING_KEY.into(),
        message_id: event_id.to_string(),
        payload: keyed_envelope(notify::ROUTING_KEY, event_id, due, req),
        park: None,
    }
}

/// A month as the texts say it: `12月`.
pub fn month_words(m: Month) -> String {
    format!("{}月", m.month())
}
