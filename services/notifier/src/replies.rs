//! Replies (上行短信, DESIGN.md section 5): members answer a reminder by SMS. Each provider
//! pushes them to `POST /v1/replies/{receipts_token}/aliyun|tencent` on the receipts listener;
//! a reply is matched by phone to the members with an open record and, by what it means
//! (`hongyan_domain::replies::meaning`):
//!
//! - "no change" (`1`, `没变`, ...): a `registration.update` with `confirmed_unchanged` from the
//!   member, and one thank-you a month (`reply_thanks`);
//! - `T`, `TD`, `退订`: a `registration.update` with `reminders: false` from the member, and the
//!   branch contact told one to one (`reply_stopped`);
//! - anything else: a `contact.recorded` of kind `reply` with the text, from hongyan (the
//!   member's history), and the text forwarded one to one to the branch contact
//!   (`reply_forward`), never to a group.
//!
//! The events go to the registry through the notifier's outbox, so the registry stays the one
//! writer of the ledger. A phone with no open record is stored and nothing is sent; a reply
//! pushed again is taken once (`store::reply::record`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hongyan_adapters::metrics;
use hongyan_adapters::store::rows::OutboxRow;
use hongyan_domain::envelope::{Actor, EventType};
use hongyan_domain::ids::{ContactKind, EventId};
use hongyan_domain::ledger::local_date;
use hongyan_domain::notify::{NotificationRequest, Recipient, Role, To};
use hongyan_domain::outgoing::envelope;
use hongyan_domain::payloads::{ContactRecorded, Update};
use hongyan_domain::replies::{self, Meaning, Reply};

use crate::Notifier;
use crate::intake::{self, RequestError};
use crate::providers::replies::Replies;
use crate::providers::{aliyun, tencent};
use crate::receipts::Receipts;
use crate::store::reply::{self as store, Caused, Sender};
use crate::templates::{REPLY_FORWARD, REPLY_STOPPED, REPLY_THANKS};

/// One provider's push; a wrong token or an unknown provider answers 404, like a path that
/// does not exist.
pub(crate) async fn receive(
    State(s): State<Receipts>,
    Path((token, provider)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if !s.allows(&token) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (provider, parsed, answer) = match provider.as_str() {
        "aliyun" => ("aliyun", aliyun::parse_replies(&body), aliyun::REPLY_ANSWER),
        "tencent" => (
            "tencent",
            tencent::parse_replies(&body),
            tencent::REPLY_ANSWER,
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let Replies { replies, bad } = match parsed {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(provider, error = %e, "A reply push was refused.");
            return (
                StatusCode::BAD_REQUEST,
                format!("{e}; post the provider's reply shape (see docs/providers.md)."),
            )
                .into_response();
        }
    };
    for why in &bad {
        tracing::warn!(provider, item = %why, "A reply item was not taken.");
    }
    for r in &replies {
        match take(&s.n, r).await {
            Ok(outcome) => metrics::reply(provider, outcome),
            Err(e) => {
                // The provider pushes again when it does not get its answer; what was taken
                // already is a duplicate then.
                tracing::warn!(
                    provider,
                    error = format!("{e:#}"),
                    "Could not take a reply."
                );
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Replies cannot be recorded right now; push them again.",
                )
                    .into_response();
            }
        }
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        answer,
    )
        .into_response()
}

/// Takes one reply: who sent it, what it means, what it causes, stored once. Returns the
/// outcome `/metrics` counts.
#[tracing::instrument(skip_all, fields(provider = r.provider, phone = %r.phone.masked()))]
async fn take(n: &Notifier, r: &Reply) -> anyhow::Result<&'static str> {
    let now = n.clock.now();
    // Both providers send the time; without it, a repeat is still one reply on the day it came,
    // and the same "1" next month is not mistaken for a repeat.
    let dated;
    let r = if r.sent_at.is_empty() {
        dated = Reply {
            sent_at: format!("received {}", local_date(now.fixed_offset())),
            ..r.clone()
        };
        &dated
    } else {
        r
    };
    let senders = store::senders(&n.pool, &r.phone).await?;
    let meaning = replies::meaning(&r.text);
    let outcome = if senders.is_empty() {
        "unmatched"
    } else {
        meaning.as_str()
    };
    let caused = caused(n, r, meaning, &senders, now)?;
    let members: Vec<&str> = senders.iter().map(|s| s.member_id.as_str()).collect();
    if !store::record(&n.pool, r, outcome, &members, &caused, now).await? {
        tracing::debug!("A reply taken before was pushed again; nothing more is done.");
        return Ok("duplicate");
    }
    tracing::info!(meaning = outcome, members = members.len(), "Reply taken.");
    Ok(outcome)
}

/// The events and notifications a reply causes for each member it matched.
fn caused(
    n: &Notifier,
    r: &Reply,
    meaning: Meaning,
    senders: &[Sender],
    now: DateTime<Utc>,
) -> Result<Caused, RequestError> {
    let mut c = Caused::default();
    for s in senders {
        let event_id = r.event_id(&s.member_id);
        let member = Actor::Member {
            member_id: s.member_id.clone(),
        };
        let update = |confirmed_unchanged, reminders| Update {
            member_id: s.member_id.clone(),
            location: None,
            phone: None,
            inflow_contact: None,
            confirmed_unchanged,
            reminders,
        };
        let (event, notice) = match meaning {
            Meaning::Confirm => {
                let u = update(true, None);
                let e = event(EventType::Update, event_id, now, &member, u.to_wire());
                (e, Some(thanks(s, r, event_id, now)))
            }
            Meaning::StopReminders => {
                let u = update(false, Some(false));
                let e = event(EventType::Update, event_id, now, &member, u.to_wire());
                (e, to_branch(s, REPLY_STOPPED, event_id, &[]))
            }
            Meaning::Other => {
                let contact = ContactRecorded {
                    member_id: s.member_id.clone(),
                    kind: ContactKind::Reply,
                    on: local_date(now.fixed_offset()),
                    by: s.name.clone(),
                    text: Some(r.text.clone()),
                };
                let kind = EventType::ContactRecorded;
                let e = event(kind, event_id, now, &Actor::Hongyan, contact.to_wire());
                let text = [("text", r.text.clone())];
                (e, to_branch(s, REPLY_FORWARD, event_id, &text))
            }
        };
        c.outbox.push(event);
        if let Some(req) = notice {
            c.notices.push(intake::row(n, req, now)?);
        }
    }
    Ok(c)
}

fn event(
    kind: EventType,
    id: EventId,
    now: DateTime<Utc>,
    actor: &Actor,
    data: serde_json::Value,
) -> OutboxRow {
    OutboxRow {
        routing_key: kind.as_str().into(),
        message_id: id.to_string(),
        payload: envelope(kind.as_str(), id, now, actor, data),
        park: None,
    }
}

/// The thanks for a "no change", to the phone that answered: once per member and month.
fn thanks(s: &Sender, r: &Reply, caused_by: EventId, now: DateTime<Utc>) -> NotificationRequest {
    NotificationRequest {
        key: replies::thanks_key(&s.member_id, now),
        template: REPLY_THANKS.into(),
        to: To::Recipient(Recipient {
            role: Role::Member,
            name: s.name.clone(),
            phone: r.phone.clone(),
            channels: vec!["sms".into()],
            member_id: Some(s.member_id.clone()),
            org_id: Some(s.home_org_id.clone()),
        }),
        params: [("member_name".to_owned(), s.name.clone())]
            .into_iter()
            .collect(),
        caused_by,
    }
}

/// A notice about the member to their home branch's contact, one to one (never a group).
fn to_branch(
    s: &Sender,
    template: &str,
    caused_by: EventId,
    extra: &[(&str, String)],
) -> Option<NotificationRequest> {
    let Some(contact) = &s.branch_contact else {
        tracing::warn!(org_id = %s.home_org_id, "The member's branch has no contact that reads back; nobody is told of the reply. Fix the org with org.upserted.");
        return None;
    };
    let mut params = vec![("member_name", s.name.clone())];
    params.extend(extra.iter().cloned());
    let to = Recipient::org_contact(&s.home_org_id, contact);
    Some(NotificationRequest::new(template, to, caused_by, &params))
}
