//! Publishing an event a member sent from a page: the envelope of DESIGN.md section 2 with
//! `actor: {"member_id": ...}`, published with confirms on `hongyan.events`.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hongyan_adapters::amqp::Names;
use hongyan_adapters::amqp::publisher::Outgoing;
use hongyan_domain::envelope::{Actor, EventType};
use hongyan_domain::ids::{EventId, MemberId};
use hongyan_domain::outgoing::envelope;
use lapin::types::FieldTable;

use crate::state::AppState;

/// Publishes `data` (the event type's `to_wire()`) as event `kind` from `member`. `event_id`
/// is the caller's, made so that the same submission sent twice is one event to the registry.
pub async fn member_event(
    state: &AppState,
    event_id: uuid::Uuid,
    kind: EventType,
    member: &MemberId,
    occurred_at: DateTime<Utc>,
    data: serde_json::Value,
) -> anyhow::Result<()> {
    let actor = Actor::Member {
        member_id: member.clone(),
    };
    let body = envelope(kind.as_str(), EventId(event_id), occurred_at, &actor, data);
    let message = Outgoing {
        exchange: Names::new(&state.settings.amqp.prefix).exchange_for(kind.as_str()),
        routing_key: kind.as_str().to_owned(),
        body: body.into_bytes(),
        headers: FieldTable::default(),
        message_id: Some(event_id.to_string()),
    };
    state
        .publisher
        .publish_all(&[message])
        .await
        .with_context(|| format!("Could not publish the member's {}", kind.as_str()))
}
