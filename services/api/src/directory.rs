//! The live directory over HTTP (DESIGN.md sections 6 and 7): a member's current location, the
//! open records in a region (paginated by an opaque cursor), the nearest service stations.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hongyan_domain::regions;
use serde::{Deserialize, Serialize};

use crate::problem::{self, Problem, ProblemBody};
use crate::scope::{Viewer, region_prefix};
use crate::state::AppState;

/// Where a member is now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Location {
    pub member_id: String,
    /// `out`, `checked_in` or `home_visit`.
    pub status: String,
    pub region_code: String,
    /// The place by name (广东省深圳市南山区).
    pub place: String,
    pub inflow_org_id: Option<String>,
    pub home_org_id: String,
    pub version: i64,
}

impl Location {
    fn of(
        member_id: String,
        status: String,
        region_code: String,
        inflow_org_id: Option<String>,
        home_org_id: String,
        version: i64,
    ) -> Self {
        Self {
            place: regions::place_name(&region_code),
            member_id,
            status,
            region_code,
            inflow_org_id,
            home_org_id,
            version,
        }
    }
}

#[utoipa::path(get, path = "/v1/members/{id}/location", tag = "directory",
    params(("id" = String, Path, description = "Member id")),
    responses((status = 200, description = "The directory entry (Redis, falling back to PostgreSQL)", body = Location),
              (status = 401, description = "No key, or an unknown or revoked one", body = ProblemBody, content_type = "application/problem+json"),
              (status = 404, description = "No open record visible to this key", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn location(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> Result<Json<Location>, Problem> {
    let place = state
        .directory
        .locate(&state.pool, &id)
        .await
        .map_err(|e| Problem::unavailable("The directory", e))?
        .ok_or_else(|| Problem::not_found("member away from home"))?;
    if !viewer.sees_place(&place).await? {
        return Err(Problem::not_found("member away from home"));
    }
    Ok(Json(Location::of(
        place.member_id,
        place.status,
        place.region_code,
        place.inflow_org_id,
        place.home_org_id,
        place.version,
    )))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of open records.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MembersPage {
    pub members: Vec<Location>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub fn page_limit(limit: Option<u32>) -> Result<i64, Problem> {
    match limit.unwrap_or(100) {
        n @ 1..=1000 => Ok(i64::from(n)),
        n => Err(Problem::invalid(
            "limit",
            format!("limit {n} is out of range: ask for 1 to 1000 at a time."),
        )),
    }
}

#[utoipa::path(get, path = "/v1/regions/{code}/members", tag = "directory",
    params(("code" = String, Path, description = "A region code of 6, 9 or 12 digits (provinces and cities padded with zeros)", pattern = "^[0-9]{6}([0-9]{3}){0,2}$"), PageQuery),
    responses((status = 200, description = "Open records this key may see (its subtree's members, those checked in with it, any in its own region) whose destination lies in the region; an empty page when there are none", body = MembersPage),
              (status = 422, description = "A bad code, limit or cursor", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn in_region(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(code): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<MembersPage>, Problem> {
    let Query(q) = query.map_err(|r| problem::from_rejection(r.status(), r.body_text()))?;
    let prefix = match code.len() {
        6 | 9 | 12 => region_prefix(&code),
        _ => None,
    }
    .ok_or_else(|| {
        Problem::invalid(
            "code",
            format!("{code:?} is not a region code: send 6, 9 or 12 digits (a province or city padded with zeros, e.g. 440000, 440300)."),
        )
    })?;
    let limit = page_limit(q.limit)?;
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => decode_cursor(c)?,
        None => String::new(),
    };
    // The region filters what the caller may see (`scope::sees`): its own subtree's members,
    // those checked in with its subtree, and any whose destination lies in its own region. A
    // county department asking for 440300 gets its own members in Shenzhen; a region with none
    // of them is an empty page.
    let rows: Vec<(String, String, String, Option<String>, String, i64)> = sqlx::query_as(
        "SELECT r.member_id, r.status, r.region_code, r.inflow_org_id, r.home_org_id, r.version \
         FROM flow_records r JOIN orgs h ON h.id = r.home_org_id \
         LEFT JOIN orgs i ON i.id = r.inflow_org_id \
         WHERE r.is_open AND starts_with(r.region_code, $1) AND r.member_id > $2 \
           AND ($4 = ANY(h.path) OR $4 = ANY(i.path) OR starts_with(r.region_code, $5)) \
         ORDER BY r.member_id LIMIT $3",
    )
    .bind(prefix)
    .bind(&after)
    .bind(limit + 1)
    .bind(&viewer.org_id)
    .bind(region_prefix(&viewer.region))
    .fetch_all(&state.pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let members: Vec<Location> = rows
        .into_iter()
        .take(limit as usize)
        .map(|(m, s, r, i, h, v)| Location::of(m, s, r, i, h, v))
        .collect();
    let next_cursor = more
        .then(|| members.last().map(|l| encode_cursor(&l.member_id)))
        .flatten();
    Ok(Json(MembersPage {
        members,
        next_cursor,
    }))
}

pub fn encode_cursor(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1|{last}"))
}

pub fn decode_cursor(c: &str) -> Result<String, Problem> {
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("v1|").map(str::to_owned))
        // PostgreSQL refuses text holding NUL; a cursor we gave out never does.
        .filter(|s| !s.contains('\0'))
        .ok_or_else(|| {
            Problem::invalid(
                "cursor",
                "The cursor is not one this API gave out: pass next_cursor from the previous page unchanged, or leave it out to start over.",
            )
        })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NearQuery {
    /// Longitude, WGS-84 degrees (-180 to 180).
    #[param(minimum = -180.0, maximum = 180.0)]
    pub lon: f64,
    /// Latitude, WGS-84 degrees (-85.05 to 85.05).
    #[param(minimum = -85.05, maximum = 85.05)]
    pub lat: f64,
    /// At most this many stations (1 to 50, default 5).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Station {
    pub id: String,
    pub name: String,
    pub region_code: String,
    pub place: String,
    /// Distance from the point in metres.
    pub metres: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Stations {
    pub stations: Vec<Station>,
}

#[utoipa::path(get, path = "/v1/stations/nearest", tag = "directory",
    params(NearQuery),
    responses((status = 200, description = "Service stations by distance, nearest first", body = Stations),
              (status = 422, description = "A bad point or limit", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn nearest(
    State(state): State<AppState>,
    query: Result<Query<NearQuery>, QueryRejection>,
) -> Result<Json<Stations>, Problem> {
    let Query(q) = query.map_err(|r| {
        problem::from_query(
            &r.body_text(),
            "lon",
            "send lon and lat as WGS-84 degrees, e.g. ?lon=113.93&lat=22.53",
        )
    })?;
    if !(-180.0..=180.0).contains(&q.lon) {
        return Err(Problem::invalid(
            "lon",
            "lon must be between -180 and 180 degrees (WGS-84).",
        ));
    }
    if !(-85.05..=85.05).contains(&q.lat) {
        return Err(Problem::invalid(
            "lat",
            "lat must be between -85.05 and 85.05 degrees (WGS-84).",
        ));
    }
    let limit = match q.limit.unwrap_or(5) {
        n @ 1..=50 => n as usize,
        n => {
            return Err(Problem::invalid(
                "limit",
                format!("limit {n} is out of range: ask for 1 to 50."),
            ));
        }
    };
    // Half the earth's circumference: every station is within it.
    let near = state
        .directory
        .nearest_stations(q.lon, q.lat, 20_038.0, limit)
        .await?;
    let ids: Vec<String> = near.iter().map(|s| s.id.clone()).collect();
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, name, region_code FROM orgs WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&state.pool)
            .await?;
    let stations = near
        .into_iter()
        .filter_map(|s| {
            let (_, name, region) = rows.iter().find(|r| r.0 == s.id)?;
            Some(Station {
                place: regions::place_name(region),
                name: name.clone(),
                region_code: region.clone(),
                metres: (s.km * 1000.0).round(),
                id: s.id,
            })
        })
        .collect();
    Ok(Json(Stations { stations }))
}
