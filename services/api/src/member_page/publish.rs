//! Sending the member's update on: `registration.update` with `actor: {"member_id": ...}` in
//! the envelope of DESIGN.md section 2, published with confirms on `hongyan.events`.

use hongyan_domain::envelope::EventType;
use hongyan_domain::payloads::Update;

use super::visit::Visit;
use crate::page;
use crate::state::AppState;

/// Publishes the update. The event id comes from the form's nonce, so the same form sent twice
/// (a double tap, a resend after a timeout) is one event to the registry; turning reminders
/// back on is another event than the confirmation the same page may send after it.
pub async fn update(
    state: &AppState,
    v: &Visit,
    nonce: &str,
    update: &Update,
) -> anyhow::Result<()> {
    let what = if update.confirms() { "" } else { "|reminders" };
    let event_id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("hongyan-member-page|{}|{nonce}{what}", v.member.id).as_bytes(),
    );
    page::publish::member_event(
        state,
        event_id,
        EventType::Update,
        &v.member.id,
        state.clock.now(),
        update.to_wire(),
    )
    .await?;
    tracing::info!(event_id = %event_id, member_id = %v.member.id, "Member update published.");
    Ok(())
}
