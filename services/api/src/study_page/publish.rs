//! Sending the member's completion on: `study.completed` {member_id, pack_id, on} with
//! `actor: {"member_id": ...}` in the envelope of DESIGN.md section 2, published with confirms
//! on `hongyan.events` through the pages' shared publishing (`crate::page::publish`).

use hongyan_domain::TZ;
use hongyan_domain::envelope::EventType;
use hongyan_domain::study::StudyCompleted;

use super::visit::Visit;
use crate::page;
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
    let now = state.clock.now();
    let done = StudyCompleted {
        member_id: member.clone(),
        pack_id: pack.clone(),
        on: now.with_timezone(&TZ).date_naive(),
    };
    page::publish::member_event(
        state,
        event_id,
        EventType::StudyCompleted,
        member,
        now,
        done.to_wire(),
    )
    .await?;
    tracing::info!(event_id = %event_id, member_id = %member, pack_id = %pack, "Study completion published.");
    Ok(())
}
