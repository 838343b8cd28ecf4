//! An org's own lists: its ledger (the export itself lives in `ledger/`) and the arrivals that
//! matched no one, waiting with it or its county.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use chrono::NaiveDate;
use hongyan_domain::ids::mask_phones;
use hongyan_domain::regions;
use serde::{Deserialize, Serialize};

use crate::ledger::{self, LedgerFormat, LedgerScope};
use crate::problem::{self, Problem, ProblemBody};
use crate::scope::Viewer;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// `branch` or `subtree`; without it, a branch's own ledger (`branch`, also for a flow
    /// branch) and any other org's whole subtree (`subtree`: a department's or committee's
    /// rolled-up ledger, 三级备案).
    pub scope: Option<LedgerScope>,
    /// `json` (default), `csv` or `xlsx`.
    pub format: Option<LedgerFormat>,
}

#[utoipa::path(get, path = "/v1/orgs/{id}/ledger", tag = "ledger",
    params(("id" = String, Path, description = "Org id"), LedgerQuery),
    responses((status = 200, description = "The ledger (DESIGN.md section 3's columns), streamed as JSON, CSV or XLSX"),
              (status = 404, description = "The org is outside this key's subtree", body = ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "A bad scope or format", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn ledger(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    query: Result<Query<LedgerQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    if !viewer.sees_org(&id).await? {
        return Err(Problem::not_found("org"));
    }
    let Query(q) = query.map_err(|r| {
        problem::from_query(
            &r.body_text(),
            "scope",
            "use scope=branch|subtree and format=json|csv|xlsx.",
        )
    })?;
    let scope = match q.scope {
        Some(s) => s,
        None => default_scope(&state, &id).await?,
    };
    let format = q.format.unwrap_or(LedgerFormat::Json);
    Ok(ledger::export(&state, &viewer.org_id, &id, scope, format).await)
}

/// The ledger an org means without `scope`: a branch its own, any other org its subtree's (a
/// department or committee has no members of its own, so its own ledger would be empty).
async fn default_scope(state: &AppState, org_id: &str) -> Result<LedgerScope, Problem> {
    let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_optional(&state.pool)
        .await?;
    Ok(match kind.as_deref() {
        Some("branch" | "flow_branch") => LedgerScope::Branch,
        _ => LedgerScope::Subtree,
    })
}

/// An arrival that matched no one (DESIGN.md section 3).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Unmatched {
    pub event_id: String,
    pub receiving_org_id: String,
    pub name: String,
    /// Masked unless the caller is the receiving org or above it.
    pub phone: String,
    pub arrived_on: NaiveDate,
    pub region_code: Option<String>,
    pub place: Option<String>,
    pub location: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UnmatchedList {
    pub arrivals: Vec<Unmatched>,
}

#[utoipa::path(get, path = "/v1/orgs/{id}/unmatched", tag = "ledger",
    params(("id" = String, Path, description = "Org id")),
    responses((status = 200, description = "Arrivals waiting with this org, its subtree, or (for a county department) its county", body = UnmatchedList),
              (status = 404, description = "The org is outside this key's subtree", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn unmatched(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> Result<Json<UnmatchedList>, Problem> {
    if !viewer.sees_org(&id).await? {
        return Err(Problem::not_found("org"));
    }
    type Row = (
        uuid::Uuid,
        String,
        String,
        String,
        NaiveDate,
        serde_json::Value,
        Vec<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT u.event_id, u.receiving_org_id, u.name, u.phone, u.arrived_on, u.location, r.path \
         FROM unmatched_arrivals u JOIN orgs r ON r.id = u.receiving_org_id, orgs me \
         WHERE me.id = $1 AND u.resolved_at IS NULL \
           AND ($1 = ANY(r.path) \
                OR (me.kind = 'department' AND u.county = me.region_code)) \
         ORDER BY u.arrived_on, u.event_id LIMIT 1000",
    )
    .bind(&id)
    .fetch_all(&state.pool)
    .await?;
    let arrivals = rows
        .into_iter()
        .map(
            |(event_id, receiving, name, phone, arrived_on, location, path)| {
                let region = location["region_code"].as_str().map(str::to_owned);
                Unmatched {
                    event_id: event_id.to_string(),
                    receiving_org_id: receiving,
                    name,
                    phone: if path.contains(&viewer.org_id) {
                        phone
                    } else {
                        mask_phones(&phone)
                    },
                    arrived_on,
                    place: region.as_deref().map(regions::place_name),
                    region_code: region,
                    location,
                }
            },
        )
        .collect();
    Ok(Json(UnmatchedList { arrivals }))
}
