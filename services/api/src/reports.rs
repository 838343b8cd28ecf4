//! The quarterly dispatch reports (一季一调度, DESIGN.md section 4) as the scheduler stores them:
//! listed and fetched as JSON or CSV, for reports of orgs in the caller's subtree.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hongyan_domain::dispatch::DispatchReport;
use serde::{Deserialize, Serialize};

use crate::directory::{decode_cursor, encode_cursor, page_limit};
use crate::problem::{self, Problem, ProblemBody};
use crate::scope::Viewer;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this org's reports.
    pub org_id: Option<String>,
    /// Only this quarter (`2026Q3`).
    #[param(pattern = "^[0-9]{4}Q[1-4]$")]
    pub quarter: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportRef {
    pub report_id: String,
    pub org_id: String,
    pub quarter: String,
    pub generated_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportList {
    pub reports: Vec<ReportRef>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/reports", tag = "reports", operation_id = "list_reports",
    params(ListQuery),
    responses((status = 200, description = "Reports of orgs in this key's subtree, newest quarter first", body = ReportList),
              (status = 422, description = "A bad quarter, org id, limit or cursor", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ReportList>, Problem> {
    let Query(q) = query.map_err(|r| problem::from_rejection(r.status(), r.body_text()))?;
    if let Some(quarter) = &q.quarter
        && !is_quarter(quarter)
    {
        return Err(Problem::invalid(
            "quarter",
            format!("{quarter:?} is not a quarter: write it like 2026Q3."),
        ));
    }
    if let Some(org) = &q.org_id
        && let Err(e) = hongyan_domain::ids::OrgId::parse(org)
    {
        return Err(Problem::invalid(
            "org_id",
            format!("{e}; give an org id from the ledger, or leave org_id out."),
        ));
    }
    let limit = page_limit(q.limit)?;
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => decode_cursor(c)?,
        None => String::new(),
    };
    let rows: Vec<(uuid::Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT r.id, r.org_id, r.quarter, r.generated_at FROM dispatch_reports r \
         JOIN orgs o ON o.id = r.org_id \
         WHERE $1 = ANY(o.path) AND ($2::text IS NULL OR r.org_id = $2) \
           AND ($3::text IS NULL OR r.quarter = $3) AND r.id::text > $4 \
         ORDER BY r.id::text LIMIT $5",
    )
    .bind(&viewer.org_id)
    .bind(&q.org_id)
    .bind(&q.quarter)
    .bind(&after)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let reports: Vec<ReportRef> = rows
        .into_iter()
        .take(limit as usize)
        .map(|(id, org_id, quarter, generated_at)| ReportRef {
            report_id: id.to_string(),
            org_id,
            quarter,
            generated_at,
        })
        .collect();
    let next_cursor = more
        .then(|| reports.last().map(|r| encode_cursor(&r.report_id)))
        .flatten();
    Ok(Json(ReportList {
        reports,
        next_cursor,
    }))
}

fn is_quarter(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'Q'
        && (b'1'..=b'4').contains(&b[5])
}

#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Json,
    Csv,
    Xlsx,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FetchQuery {
    /// `json` (default), `csv` (one row per branch, Chinese headers, names, a BOM) or `xlsx`
    /// (the same table with a title row, the spot check and the members needing attention).
    pub format: Option<ReportFormat>,
}

#[utoipa::path(get, path = "/v1/reports/{id}", tag = "reports",
    params(("id" = String, Path, description = "The report_id of a dispatch.report_ready"), FetchQuery),
    responses((status = 200, description = "The report as DESIGN.md section 4 shapes it, or its CSV or XLSX for people (Chinese headers, names instead of ids, a BOM on the CSV)"),
              (status = 404, description = "No report with that id in this key's subtree", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn fetch(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    query: Result<Query<FetchQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(|r| {
        Problem::invalid(
            "format",
            format!(
                "{}: use format=json, format=csv or format=xlsx.",
                r.body_text()
            ),
        )
    })?;
    let Ok(report_id) = uuid::Uuid::parse_str(&id) else {
        return Err(Problem::not_found("report"));
    };
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT r.report::text FROM dispatch_reports r JOIN orgs o ON o.id = r.org_id \
         WHERE r.id = $1 AND $2 = ANY(o.path)",
    )
    .bind(report_id)
    .bind(&viewer.org_id)
    .fetch_optional(&state.pool)
    .await?;
    let Some((doc,)) = row else {
        return Err(Problem::not_found("report"));
    };
    match q.format.unwrap_or(ReportFormat::Json) {
        ReportFormat::Json => {
            Ok(([(header::CONTENT_TYPE, "application/json")], doc).into_response())
        }
        format => {
            let report: DispatchReport = serde_json::from_str(&doc).map_err(Problem::internal)?;
            let names = crate::report_files::names(&state.pool, &report).await?;
            let (body, kind, ext) = match format {
                ReportFormat::Xlsx => {
                    let checked = spot_results(&state, report.report_id).await?;
                    let body = crate::report_files::xlsx(&report, &names, &checked)
                        .map_err(Problem::internal)?;
                    (body, XLSX, "xlsx")
                }
                _ => {
                    let mut out = Vec::new();
                    crate::report_files::write_csv(&report, &names, &mut out)
                        .map_err(Problem::internal)?;
                    (out, "text/csv; charset=utf-8", "csv")
                }
            };
            Ok(file(body, kind, &report, ext))
        }
    }
}

/// The XLSX media type.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A report's file as a download named for the department and quarter.
pub fn file(body: Vec<u8>, kind: &'static str, report: &DispatchReport, ext: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"report-{}-{}.{ext}\"",
                    report.org_id, report.quarter
                ),
            ),
        ],
        body,
    )
        .into_response()
}

/// The spot-check results the console recorded for a report (its own table,
/// `console_spot_checks`): member id to the result in words and the note.
pub async fn spot_results(
    state: &AppState,
    report_id: uuid::Uuid,
) -> Result<crate::report_files::Checked, sqlx::Error> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT member_id, result, note FROM console_spot_checks WHERE report_id = $1",
    )
    .bind(report_id)
    .fetch_all(&state.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(m, r, n)| {
            (
                m,
                (
                    crate::console::department::spot::result_words(&r).to_owned(),
                    n,
                ),
            )
        })
        .collect())
}
