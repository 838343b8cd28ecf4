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

/// 我已回乡（不再外出）: a member may not register their own return (the home branch does, after
/// checking), so the page does what an SMS reply would: the words go into the member's history
/// (`contact.recorded` of kind `reply`, from hongyan) and to the branch contact one to one
/// (`reply_forward`). Ids come from the form's nonce, so a double tap is one of each.
pub async fn home(state: &AppState, v: &Visit, nonce: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use hongyan_adapters::amqp::Names;
    use hongyan_adapters::amqp::publisher::Outgoing;
    use hongyan_domain::envelope::Actor;
    use hongyan_domain::ids::{ContactKind, EventId, Phone};
    use hongyan_domain::notify::{NotificationRequest, ROUTING_KEY, Recipient};
    use hongyan_domain::outgoing::{envelope, system_envelope};
    use hongyan_domain::payloads::{Contact, ContactRecorded};

    const SAID: &str = "我已回乡（不再外出）";
    let now = state.clock.now();
    let event_id = EventId(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("hongyan-member-page|{}|{nonce}|home", v.member.id).as_bytes(),
    ));
    let contact = ContactRecorded {
        member_id: v.member.id.clone(),
        kind: ContactKind::Reply,
        on: hongyan_domain::ledger::local_date(now.fixed_offset()),
        by: v.member.name.clone(),
        text: Some(format!("{SAID}（本人在每月确认页面告知）")),
    };
    let kind = EventType::ContactRecorded.as_str();
    let names = Names::new(&state.settings.amqp.prefix);
    let mut messages = vec![Outgoing {
        exchange: names.exchange_for(kind),
        routing_key: kind.to_owned(),
        body: envelope(kind, event_id, now, &Actor::Hongyan, contact.to_wire()).into_bytes(),
        headers: lapin::types::FieldTable::default(),
        message_id: Some(event_id.to_string()),
    }];
    let branch = v.branch.as_ref().and_then(|b| {
        Some(Contact {
            name: b.contact_name.clone(),
            phone: Phone::parse(&b.phone).ok()?,
        })
    });
    if let Some(branch) = branch {
        let to = Recipient::org_contact(&v.member.home_org_id, &branch);
        // The notifier drops a repeat of the key (template, cause, org): a double tap is one.
        let req = NotificationRequest::new(
            "reply_forward",
            to,
            event_id,
            &[
                ("member_name", v.member.name.clone()),
                ("text", SAID.to_owned()),
            ],
        );
        let (id, body) = system_envelope(ROUTING_KEY, now, &req);
        messages.push(Outgoing {
            exchange: names.exchange_for(ROUTING_KEY),
            routing_key: ROUTING_KEY.to_owned(),
            body: body.into_bytes(),
            headers: lapin::types::FieldTable::default(),
            message_id: Some(id),
        });
    }
    state
        .publisher
        .publish_all(&messages)
        .await
        .context("Could not publish the member's word that they are home")?;
    tracing::info!(event_id = %event_id, member_id = %v.member.id, "A member told the branch they are home for good.");
    Ok(())
}
