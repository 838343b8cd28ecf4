//! Sending the member's update on: `registration.update` with `actor: {"member_id": ...}` in
//! the envelope of DESIGN.md section 2, published with confirms on `hongyan.events`.

use hongyan_domain::TZ;
use hongyan_domain::envelope::EventType;
use hongyan_domain::payloads::Update;
use serde_json::json;

use super::visit::Visit;
use crate::page;
use crate::state::AppState;

/// Publishes the update. The event id comes from the form's nonce, so the same form sent twice
/// (a double tap, a resend after a timeout) is one event to the registry.
pub async fn update(
    state: &AppState,
    v: &Visit,
    nonce: &str,
    update: &Update,
) -> anyhow::Result<()> {
    let event_id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("hongyan-member-page|{}|{nonce}", v.member.id).as_bytes(),
    );
    let occurred_at = state.clock.now().with_timezone(&TZ).to_rfc3339();
    page::publish::member_event(
        state,
        event_id,
        EventType::Update,
        &v.member.id,
        occurred_at,
        data(update),
    )
    .await?;
    tracing::info!(event_id = %event_id, member_id = %v.member.id, "Member update published.");
    Ok(())
}

/// `data` as section 2 words it: only the fields that are sent.
fn data(u: &Update) -> serde_json::Value {
    let mut d = json!({"member_id": u.member_id});
    if u.confirmed_unchanged {
        d["confirmed_unchanged"] = json!(true);
    }
    if let Some(loc) = &u.location {
        d["location"] = json!({
            "region_code": loc.region_code,
            "address": loc.address,
            "employer": loc.employer,
            "employer_type": loc.employer_type.as_str(),
        });
    }
    if let Some(p) = &u.phone {
        d["phone"] = json!(p);
    }
    d
}
