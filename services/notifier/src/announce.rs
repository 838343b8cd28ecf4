//! What the notifier tells the rest of the system about a notification's end (DESIGN.md
//! section 2): `notification.delivered`, or `notification.failed` together with the request
//! parked in `hongyan.parked`, where `parked replay` sends it again. Both go through the
//! outbox, in the transaction that records the end.

use chrono::{DateTime, Utc};
use hongyan_adapters::store::rows::{OutboxRow, Park};
use hongyan_domain::notify::{self, NotificationRequest};
use hongyan_domain::outgoing::system_envelope;
use uuid::Uuid;

/// A notification at its end, as the announcements describe it.
#[derive(Clone, Copy, Debug)]
pub struct End<'a> {
    pub id: Uuid,
    pub request: &'a NotificationRequest,
    pub attempts: u32,
    pub channel: &'a str,
    pub provider: &'a str,
    pub now: DateTime<Utc>,
}

/// `notification.delivered`, the recipient masked.
pub fn delivered(end: End<'_>) -> OutboxRow {
    event("notification.delivered", end, None)
}

/// `notification.failed` with the reason, and the request parked for `parked replay` to send
/// back to `source_queue` (the notifier's).
pub fn failed(end: End<'_>, reason: &str, source_queue: &str) -> [OutboxRow; 2] {
    let (message_id, payload) = system_envelope(notify::ROUTING_KEY, end.now, end.request);
    let parked = OutboxRow {
        routing_key: notify::ROUTING_KEY.into(),
        message_id,
        payload,
        park: Some(Park {
            reason: format!("Notification {} failed: {reason}", end.request.key),
            source_queue: source_queue.to_owned(),
        }),
    };
    [event("notification.failed", end, Some(reason)), parked]
}

/// The data of `notification.delivered` and `notification.failed` (DESIGN.md section 2).
#[derive(serde::Serialize)]
struct Announced<'a> {
    notification_id: Uuid,
    key: &'a str,
    channel: &'a str,
    provider: &'a str,
    recipient: String,
    template: &'a str,
    attempts: u32,
    error: Option<&'a str>,
    caused_by: hongyan_domain::ids::EventId,
}

fn event(kind: &str, end: End<'_>, error: Option<&str>) -> OutboxRow {
    let (message_id, payload) = system_envelope(
        kind,
        end.now,
        Announced {
            notification_id: end.id,
            key: &end.request.key,
            channel: end.channel,
            provider: end.provider,
            recipient: end.request.to_masked(),
            template: &end.request.template,
            attempts: end.attempts,
            error,
            caused_by: end.request.caused_by,
        },
    );
    OutboxRow {
        routing_key: kind.into(),
        message_id,
        payload,
        park: None,
    }
}
