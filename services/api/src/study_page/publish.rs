//! Sending the member's completion on: `study.completed` {member_id, pack_id, on} with
//! `actor: {"member_id": ...}` in the envelope of DESIGN.md section 2, published with confirms
//! on `hongyan.events` through the publisher the member page uses.

use anyhow::Context as _;
use hongyan_adapters::amqp::Names;
use hongyan_adapters::amqp::publisher::Outgoing;
use hongyan_domain::TZ;
use hongyan_domain::envelope::{EventType, SCHEMA_VERSION};
use lapin::types::FieldTable;
use serde_json::json;

use super::visit::Visit;
use crate::state::AppState;

/// Publishes the completion. The event id is made of the member and the pack, so however
/// often the member taps (or resends), it is one event to the registry, which also keeps one
/// completion per member and pack.
pub async fn completed(state: &AppState, v: &Visit) -> anyhow::Result<()> {
    let (member, pack) = (&v.link.member_id, &v.link.pack_id);
    let event_id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("hongyan-study-page|{member}|{pack}").as_bytes(),
    );
    let now = state.clock.now().with_timezone(&TZ);
    let envelope = json!({
        "event_id": event_id,
        "type": EventType::StudyCompleted.as_str(),
        "schema_version": SCHEMA_VERSION,
        "occurred_at": now.to_rfc3339(),
        "actor": {"member_id": member},
        "data": {"member_id": member, "pack_id": pack, "on": now.date_naive().to_string()},
    });
    let names = Names::new(&state.settings.amqp.prefix);
    let message = Outgoing {
        exchange: names.exchange_for(EventType::StudyCompleted.as_str()),
        routing_key: EventType::StudyCompleted.as_str().to_owned(),
        body: serde_json::to_vec(&envelope).context("An envelope serializes")?,
        headers: FieldTable::default(),
        message_id: Some(event_id.to_string()),
    };
    state
        .publisher
        .publish_all(&[message])
        .await
        .context("Could not publish the member's study.completed")?;
    tracing::info!(event_id = %event_id, member_id = %member, pack_id = %pack, "Study completion published.");
    Ok(())
}
