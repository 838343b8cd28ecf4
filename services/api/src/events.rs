//! `POST /v1/events` (DESIGN.md section 7): an envelope of section 2, checked with the domain's
//! own rules and the actor's right against the caller's key, published with confirms and
//! `mandatory` (an event no queue takes is an error, not a silent drop), 202 with its id. A bad
//! one is answered 422 naming the field, and nothing is published.
//!
//! Rights that need the ledger are checked here when the ids are known; an id not in the ledger
//! yet (its `member.upserted` may still be on its way in the same ordered stream) is left to the
//! registry, which looks again before it parks.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hongyan_adapters::amqp::Names;
use hongyan_adapters::amqp::publisher::{Outgoing, PublishError};
use hongyan_domain::envelope::{Actor, Envelope, EventData, Rejection};
use hongyan_domain::ids::{MemberId, OrgId, OrgKind};
use hongyan_domain::rights::{self, OrgNode};
use lapin::types::FieldTable;
use serde::Serialize;

use crate::problem::{self, Problem};
use crate::scope::Viewer;
use crate::state::AppState;

/// The answer to an accepted event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub event_id: String,
}

#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = serde_json::Value, description = "An envelope of DESIGN.md section 2", content_type = "application/json"),
    responses((status = 202, description = "Published with confirms", body = Accepted),
              (status = 401, description = "No key, or an unknown or revoked one", body = problem::ProblemBody, content_type = "application/problem+json"),
              (status = 413, description = "Body over 1 MiB", body = problem::ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "A bad envelope; nothing was published", body = problem::ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn post_event(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|r| problem::from_rejection(r.status(), r.body_text()))?;
    let event_id = accept(&state, &viewer.org_id, body.to_vec()).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { event_id })).into_response())
}

/// Checks an envelope an org sends and publishes it: the one path for `POST /v1/events` and
/// the console's forms (DESIGN.md section 12: "checked and published exactly as `POST
/// /v1/events` does"). `org_id` is the caller's org (its key's, or its console user's).
pub async fn accept(state: &AppState, org_id: &str, body: Vec<u8>) -> Result<String, Problem> {
    let envelope = Envelope::parse(&body, None).map_err(refused)?;
    check_actor(&envelope, org_id)?;
    check_rights(state, &envelope).await?;
    let event_id = envelope.event_id.to_string();
    publish(state, envelope.kind.as_str(), body, &event_id).await?;
    tracing::info!(event_id = %event_id, kind = envelope.kind.as_str(), org_id = %org_id, "Event accepted.");
    Ok(event_id)
}

/// A domain rejection as a 422 naming its field.
pub fn refused(r: Rejection) -> Problem {
    match r {
        Rejection::Field(f) => {
            let detail = format!(
                "Field {}: {}; fix it and send the event again.",
                f.field, f.problem
            );
            Problem::invalid(f.field, detail)
        }
        _ => Problem::invalid(r.field(), r.to_string()),
    }
}

/// The actor must be the caller's own org; members speak only through the member page.
fn check_actor(e: &Envelope, caller: &str) -> Result<(), Problem> {
    match &e.actor {
        Actor::Org { org_id, .. } if org_id.as_str() == caller => Ok(()),
        Actor::Org { org_id, .. } => Err(Problem::invalid(
            "actor.org_id",
            format!(
                "actor.org_id is {org_id} but this API key belongs to {caller}: send events as your own org, or use that org's key."
            ),
        )),
        Actor::Member { .. } => Err(Problem::invalid(
            "actor",
            "A member's own events come through the member page (/m/{token}), not an org's key: send actor {\"org_id\": <your org>}.",
        )),
        Actor::Operator { .. } | Actor::Hongyan => Err(Problem::invalid(
            "actor",
            "actor must be {\"org_id\": <your org>, \"user\": ...}.",
        )),
    }
}

async fn node(state: &AppState, id: &str) -> Result<Option<OrgNode>, Problem> {
    let row: Option<(String, Vec<String>)> =
        sqlx::query_as("SELECT kind, path FROM orgs WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?;
    Ok(row.and_then(|(kind, path)| {
        Some(OrgNode {
            id: OrgId::parse(id).ok()?,
            kind: OrgKind::parse(&kind).ok()?,
            path: path.iter().filter_map(|p| OrgId::parse(p).ok()).collect(),
        })
    }))
}

/// The member's home org and the org they are checked in with, when the ledger knows them.
async fn member_sides(
    state: &AppState,
    member: &MemberId,
) -> Result<Option<(OrgNode, Option<OrgId>)>, Problem> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT m.home_org_id, r.inflow_org_id FROM members m \
         LEFT JOIN flow_records r ON r.member_id = m.id AND r.is_open AND r.status = 'checked_in' \
         WHERE m.id = $1",
    )
    .bind(member.as_str())
    .fetch_optional(&state.pool)
    .await?;
    let Some((home, inflow)) = row else {
        return Ok(None);
    };
    let Some(home) = node(state, &home).await? else {
        return Ok(None);
    };
    Ok(Some((home, inflow.and_then(|o| OrgId::parse(&o).ok()))))
}

async fn check_rights(state: &AppState, e: &Envelope) -> Result<(), Problem> {
    let forbidden = |r: Rejection| Problem::invalid("actor.org_id", r.to_string());
    match &e.data {
        EventData::OrgUpserted(o) => {
            let parent = match &o.parent_id {
                Some(p) => match node(state, p.as_str()).await? {
                    Some(n) => Some(n),
                    None => return Ok(()),
                },
                None => None,
            };
            let existing = node(state, o.id.as_str()).await?;
            rights::may_upsert_org(&e.actor, &o.id, o.kind, parent.as_ref(), existing.as_ref())
                .map_err(forbidden)
        }
        EventData::MemberUpserted(m) => match node(state, m.home_org_id.as_str()).await? {
            Some(home) => rights::may_act_for_member(&e.actor, &m.id, &home).map_err(forbidden),
            None => Ok(()),
        },
        EventData::Update(u) => match member_sides(state, &u.member_id).await? {
            Some((home, inflow)) => {
                rights::may_update(&e.actor, &u.member_id, &home, inflow.as_ref())
                    .map_err(forbidden)
            }
            None => Ok(()),
        },
        EventData::Outbound(_)
        | EventData::Return(_)
        | EventData::Transfer(_)
        | EventData::ContactRecorded(_) => {
            let Some(member) = e.data.member_id() else {
                return Ok(());
            };
            match member_sides(state, member).await? {
                Some((home, _)) => {
                    rights::may_act_for_member(&e.actor, member, &home).map_err(forbidden)
                }
                None => Ok(()),
            }
        }
        // Any known org may register an arrival; study rights need the audience's orgs, which
        // the registry reads when it applies the pack (and parks what is refused).
        EventData::Inbound(_) | EventData::StudyPublished(_) | EventData::StudyCompleted(_) => {
            Ok(())
        }
        // Refused with its actor already (`Envelope::parse`): only hongyan sends it.
        EventData::TransferSuggested(_) => Err(forbidden(Rejection::Forbidden(
            "review.transfer_suggested is sent by hongyan's scheduler only; an org may not send it."
                .into(),
        ))),
    }
}

/// Publishes one event with confirms, mandatory.
pub async fn publish(
    state: &AppState,
    routing_key: &str,
    body: Vec<u8>,
    event_id: &str,
) -> Result<(), Problem> {
    let names = Names::new(&state.settings.amqp.prefix);
    let message = Outgoing {
        exchange: names.exchange_for(routing_key),
        routing_key: routing_key.to_owned(),
        body,
        headers: FieldTable::default(),
        message_id: Some(event_id.to_owned()),
    };
    match state.publisher.publish_all(&[message]).await {
        Ok(()) => Ok(()),
        Err(e @ PublishError::Unroutable { .. }) => Err(Problem::unavailable(
            "The registry's queue (no queue is bound for this event type; start the registry)",
            e,
        )),
        Err(e) => Err(Problem::unavailable("RabbitMQ", e)),
    }
}
