//! Publishing an event a member sent from a page: the envelope of DESIGN.md section 2 with
//! `actor: {"member_id": ...}`, published with confirms on `hongyan.events`.

use anyhow::Context as _;
use hongyan_adapters::amqp::Names;
use hongyan_adapters::amqp::publisher::Outgoing;
use hongyan_domain::envelope::{EventType, SCHEMA_VERSION};
use hongyan_domain::ids::MemberId;
use lapin::types::FieldTable;
use serde_json::json;

use crate::state::AppState;

/// Publishes `data` as event `kind` from `member`. `event_id` is the caller's, made so that the
/// same submission sent twice is one event to the registry; `occurred_at` is RFC 3339 in
/// China time.
pub async fn member_event(
    state: &AppState,
    event_id: uuid::Uuid,
    kind: EventType,
    member: &MemberId,
    occurred_at: String,
    data: serde_json::Value,
) -> anyhow::Result<()> {
    let envelope = json!({
        "event_id": event_id,
        "type": kind.as_str(),
        "schema_version": SCHEMA_VERSION,
        "occurred_at": occurred_at,
        "actor": {"member_id": member},
        "data": data,
    });
    let message = Outgoing {
        exchange: Names::new(&state.settings.amqp.prefix).exchange_for(kind.as_str()),
        routing_key: kind.as_str().to_owned(),
        body: serde_json::to_vec(&envelope).context("An envelope serializes")?,
        headers: FieldTable::default(),
        message_id: Some(event_id.to_string()),
    };
    state
        .publisher
        .publish_all(&[message])
        .await
        .with_context(|| format!("Could not publish the member's {}", kind.as_str()))
}
