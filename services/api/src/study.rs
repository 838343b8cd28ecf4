//! Study packs (学习资源包): publish (becomes `study.published`, DESIGN.md section 2), list, and
//! completion counts per org.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hongyan_domain::envelope::{Actor, Envelope, EventData, EventType};
use hongyan_domain::ids::{EventId, OrgId, OrgKind};
use hongyan_domain::outgoing::envelope;
use hongyan_domain::rights::{self, OrgNode};
use serde::Serialize;

use crate::directory::{PageQuery, decode_cursor, encode_cursor, page_limit};
use crate::events::{publish as publish_event, refused};
use crate::problem::{self, Problem, ProblemBody};
use crate::scope::Viewer;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Published {
    pub event_id: String,
    pub pack_id: String,
}

#[utoipa::path(post, path = "/v1/study-packs", tag = "study",
    request_body(content = serde_json::Value, description = "The data of a study.published: pack_id, title, summary, items, audience, optional send_at", content_type = "application/json"),
    responses((status = 202, description = "Published as study.published", body = Published),
              (status = 422, description = "A bad pack, or an audience outside this department's subtree or region", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn publish_pack(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|r| problem::from_rejection(r.status(), r.body_text()))?;
    let data: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        Problem::invalid(
            "data",
            format!("The body is not JSON ({e}): send the pack as a JSON object."),
        )
    })?;
    let answer = publish(&state, &viewer.org_id, "api", &data).await?;
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// Publishes a pack (the `data` of a `study.published`) as `user` of `org_id`: the one path
/// for `POST /v1/study-packs` and the console's 学习. The envelope is read by the domain's
/// codec, the audience checked against the department's subtree and region, then published
/// with confirms.
pub async fn publish(
    state: &AppState,
    org_id: &str,
    user: &str,
    data: &serde_json::Value,
) -> Result<Published, Problem> {
    let event_id = EventId::new_v7();
    let actor = Actor::Org {
        org_id: OrgId::parse(org_id).map_err(Problem::internal)?,
        user: Some(user.to_owned()),
    };
    let kind = EventType::StudyPublished.as_str();
    let text = envelope(kind, event_id, state.clock.now(), &actor, data).into_bytes();
    let parsed = Envelope::parse(&text, None).map_err(refused)?;
    let EventData::StudyPublished(pack) = &parsed.data else {
        return Err(Problem::internal(anyhow::anyhow!(
            "a study.published parsed as another type"
        )));
    };
    check_audience(state, &parsed, pack).await?;
    publish_event(
        state,
        EventType::StudyPublished.as_str(),
        text,
        &event_id.to_string(),
    )
    .await?;
    Ok(Published {
        event_id: event_id.to_string(),
        pack_id: pack.pack_id.as_str().to_owned(),
    })
}

async fn org_node(state: &AppState, id: &str) -> Result<Option<(OrgNode, String)>, Problem> {
    let row: Option<(String, Vec<String>, String)> =
        sqlx::query_as("SELECT kind, path, region_code FROM orgs WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?;
    Ok(row.and_then(|(kind, path, region)| {
        Some((
            OrgNode {
                id: OrgId::parse(id).ok()?,
                kind: OrgKind::parse(&kind).ok()?,
                path: path.iter().filter_map(|p| OrgId::parse(p).ok()).collect(),
            },
            region,
        ))
    }))
}

/// Only a department publishes, and only for audiences inside its subtree or region.
async fn check_audience(
    state: &AppState,
    e: &Envelope,
    pack: &hongyan_domain::study::StudyPublished,
) -> Result<(), Problem> {
    let field =
        |f: &str, r: hongyan_domain::envelope::Rejection| Problem::invalid(f, r.to_string());
    let Some(actor) = e.actor.org_id() else {
        return Err(Problem::internal(anyhow::anyhow!(
            "the API's pack has no org actor"
        )));
    };
    let (department, region) = org_node(state, actor.as_str())
        .await?
        .ok_or_else(|| Problem::not_found("org"))?;
    let mut audience = Vec::new();
    for id in &pack.audience.org_ids {
        match org_node(state, id.as_str()).await? {
            Some((n, _)) => audience.push(n),
            None => {
                return Err(Problem::invalid(
                    "data.audience.org_ids",
                    format!("Org {id} is not in the ledger: name orgs of your own subtree."),
                ));
            }
        }
    }
    let refs: Vec<&OrgNode> = audience.iter().collect();
    rights::may_publish_study(
        &e.actor,
        &department,
        &region,
        &refs,
        &pack.audience.region_codes,
    )
    .map_err(|r| field("data.audience", r))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Pack {
    pub pack_id: String,
    pub title: String,
    pub summary: String,
    pub published_by: String,
    pub audience_org_ids: Vec<String>,
    pub audience_region_codes: Vec<String>,
    pub send_at: Option<DateTime<Utc>>,
    pub published_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PackList {
    pub packs: Vec<Pack>,
    pub next_cursor: Option<String>,
}

type PackRow = (
    String,
    String,
    String,
    String,
    Vec<String>,
    Vec<String>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// Packs published in the caller's subtree, or addressed to the caller or an org above it.
const VISIBLE: &str =
    "($1 = ANY(o.path) OR p.audience_org_ids && (SELECT path FROM orgs WHERE id = $1))";

#[utoipa::path(get, path = "/v1/study-packs", tag = "study", operation_id = "list_study_packs",
    params(PageQuery),
    responses((status = 200, description = "Packs published in this key's subtree or addressed to it", body = PackList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<PackList>, Problem> {
    let Query(q) = query.map_err(|r| problem::from_rejection(r.status(), r.body_text()))?;
    let limit = page_limit(q.limit)?;
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => decode_cursor(c)?,
        None => String::new(),
    };
    let rows: Vec<PackRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT p.id, p.title, p.summary, p.published_by, p.audience_org_ids, p.audience_region_codes, \
                p.send_at, p.published_at, s.sent_at \
         FROM study_packs p JOIN orgs o ON o.id = p.published_by \
         LEFT JOIN study_pack_sends s ON s.pack_id = p.id \
         WHERE {VISIBLE} AND p.id > $2 ORDER BY p.id LIMIT $3"
    )))
    .bind(&viewer.org_id)
    .bind(&after)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let packs: Vec<Pack> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| Pack {
            pack_id: r.0,
            title: r.1,
            summary: r.2,
            published_by: r.3,
            audience_org_ids: r.4,
            audience_region_codes: r.5,
            send_at: r.6,
            published_at: r.7,
            sent_at: r.8,
        })
        .collect();
    let next_cursor = more
        .then(|| packs.last().map(|p| encode_cursor(&p.pack_id)))
        .flatten();
    Ok(Json(PackList { packs, next_cursor }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrgCompletion {
    pub org_id: String,
    pub name: String,
    /// The org's members the pack reached: those away from it (an SMS each, or its robot's
    /// card), and any of its members who completed it.
    pub reached: i64,
    /// Its members who marked the pack studied (我已学完).
    pub completed: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Completion {
    pub pack_id: String,
    /// Members of this key's subtree who completed the pack.
    pub completed: i64,
    /// Every org of the pack's audience inside this key's subtree (the audience orgs'
    /// subtrees and the orgs in its regions), zeros included, by id.
    pub by_org: Vec<OrgCompletion>,
}

/// The audience's orgs inside the caller's subtree, as the scheduler sends to them
/// (`scheduler/src/study.rs`): every org in an audience org's subtree or located in an
/// audience region; with the members away from each and those who completed the pack.
const COMPLETION: &str = "
WITH pack AS (SELECT p.id, p.audience_org_ids FROM study_packs p WHERE p.id = $1),
audience AS (
    SELECT o.id, o.name FROM orgs o, pack
    WHERE $2 = ANY(o.path)
      AND (o.path && pack.audience_org_ids OR o.region_code LIKE ANY($3::text[]))),
done AS (
    SELECT m.home_org_id AS org_id, c.member_id FROM study_completions c
    JOIN members m ON m.id = c.member_id WHERE c.pack_id = $1),
away AS (
    SELECT f.home_org_id AS org_id, f.member_id FROM flow_records f
    WHERE f.is_open AND f.home_org_id IN (SELECT id FROM audience))
SELECT a.id, a.name,
       (SELECT count(*) FROM (SELECT member_id FROM away w WHERE w.org_id = a.id
                              UNION SELECT member_id FROM done d WHERE d.org_id = a.id) r) AS reached,
       (SELECT count(*) FROM done d WHERE d.org_id = a.id) AS completed
FROM audience a ORDER BY a.id";

#[utoipa::path(get, path = "/v1/study-packs/{id}/completion", tag = "study",
    params(("id" = String, Path, description = "Pack id")),
    responses((status = 200, description = "Every audience org inside this key's subtree with the members reached and those who completed, zeros included", body = Completion),
              (status = 404, description = "No pack with that id visible to this key", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn completion(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> Result<Json<Completion>, Problem> {
    let visible: Option<(Vec<String>,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT p.audience_region_codes FROM study_packs p JOIN orgs o ON o.id = p.published_by WHERE p.id = $2 AND {VISIBLE}"
    )))
    .bind(&viewer.org_id)
    .bind(&id)
    .fetch_optional(&state.pool)
    .await?;
    let Some((regions,)) = visible else {
        return Err(Problem::not_found("study pack"));
    };
    // Region codes are stored as sent (`440300`); orgs lie in one when their code starts with
    // its table form (`4403`), as the scheduler matches them.
    let prefixes: Vec<String> = regions
        .iter()
        .filter_map(|c| hongyan_domain::regions::normalize(c))
        .map(|c| format!("{c}%"))
        .collect();
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(COMPLETION)
        .bind(&id)
        .bind(&viewer.org_id)
        .bind(&prefixes)
        .fetch_all(&state.pool)
        .await?;
    let by_org: Vec<OrgCompletion> = rows
        .into_iter()
        .map(|(org_id, name, reached, completed)| OrgCompletion {
            org_id,
            name,
            reached,
            completed,
        })
        .collect();
    Ok(Json(Completion {
        pack_id: id,
        completed: by_org.iter().map(|o| o.completed).sum(),
        by_org,
    }))
}
