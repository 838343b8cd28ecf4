//! The ledger export (一支部一台账, DESIGN.md section 3 and section 7's
//! `GET /v1/orgs/{id}/ledger?scope=branch|subtree&format=json|csv|xlsx`).
//!
//! [`export`] answers with the open records whose home branch is the org (`branch`) or lies in
//! its subtree (`subtree`: township and county ledgers rolled up through the org tree), in
//! section 3's columns, streamed: the orgs in scope first, then one query for their records
//! read row by row and encoded a chunk at a time, so memory stays flat for a county of any
//! size.
//!
//! - **CSV**: UTF-8 with a BOM, section 3's Chinese headers, codes as Chinese words, RFC 4180
//!   quoting with CRLF line ends.
//! - **XLSX**: one sheet 台账: a title row naming the org, the scope and the date, a frozen
//!   header row, column widths fitted to the text; written in rust_xlsxwriter's
//!   constant-memory mode on a blocking thread.
//! - **JSON**: one array of row objects, streamed; English keys, codes with their Chinese
//!   words beside them (`status` and `status_label`), see [`json`].
//!
//! Phones (the member's and the inflow contact's) are masked (`138****5678`) unless the viewer
//! org is the member's home branch or one of its ancestors; [`query`] decides that once per
//! org in scope. The caller (the HTTP route) has already checked that the viewer may see
//! `org_id` at all. An error before the first byte is an `application/problem+json` answer; a
//! database error after it ends the body with an error, so a client never takes a cut-off
//! file for a whole one.

mod body;
mod csv;
mod json;
mod query;
pub(crate) mod read;
pub(crate) mod rows;
mod xlsx;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;

use crate::state::AppState;

pub use rows::HEADERS;

/// Whose records: the org's own (a branch's ledger) or its whole subtree (a township's or
/// county's, 三级备案).
#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LedgerScope {
    Branch,
    Subtree,
}

#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LedgerFormat {
    Json,
    Csv,
    Xlsx,
}

const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The ledger of `org_id` as `viewer_org` may read it (see the module docs).
pub async fn export(
    state: &AppState,
    viewer_org: &str,
    org_id: &str,
    scope: LedgerScope,
    format: LedgerFormat,
) -> Response {
    let org_name = match sqlx::query_scalar::<_, String>("SELECT name FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_optional(&state.pool)
        .await
    {
        Ok(Some(name)) => name,
        Ok(None) => {
            return problem(
                StatusCode::NOT_FOUND,
                "Not Found",
                format!(
                    "No organization {org_id:?} is known to hongyan: check the org id in the path"
                ),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, org_id, "Ledger export could not read the org.");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "The ledger database cannot be reached just now: try again in a minute, and tell \
                 the operator if it lasts"
                    .into(),
            );
        }
    };
    let today = state
        .clock
        .now()
        .with_timezone(&hongyan_domain::TZ)
        .date_naive();
    let ask = read::Ask {
        viewer_org: viewer_org.to_owned(),
        org_id: org_id.to_owned(),
        today,
        ladder: state.settings.policy.ladder(),
    };
    let rows = read::stream(state.pool.clone(), ask, scope);
    let (content_type, body, extension) = match format {
        LedgerFormat::Json => (
            "application/json",
            Body::from_stream(body::text(rows, json::Json::new())),
            None,
        ),
        LedgerFormat::Csv => (
            "text/csv; charset=utf-8",
            Body::from_stream(body::text(rows, csv::Csv::new())),
            Some("csv"),
        ),
        LedgerFormat::Xlsx => (
            XLSX_TYPE,
            Body::from_stream(xlsx::body(rows, title(&org_name, scope, today))),
            Some("xlsx"),
        ),
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Phones and addresses: no shared cache may keep a copy.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(ext) = extension {
        let disposition = content_disposition(org_id, &org_name, today, ext);
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    response
}

/// The XLSX title row: `某某支部流动党员台账（本支部）  导出日期：2026-03-01`.
fn title(org_name: &str, scope: LedgerScope, today: NaiveDate) -> String {
    let scope = match scope {
        LedgerScope::Branch => "本组织",
        LedgerScope::Subtree => "含下级组织",
    };
    format!(
        "{org_name}流动党员台账（{scope}）　导出日期：{}",
        today.format("%Y-%m-%d")
    )
}

/// `attachment; filename="ledger-b1-2026-03-01.csv"; filename*=UTF-8''%E5%8F%B0…`: the
/// Chinese name (台账-<org>-<date>) for every current browser (RFC 6266 and RFC 5987's
/// `filename*`), and an ASCII one from the org id for the rest (ids are `[A-Za-z0-9._-]`, so
/// it needs no quoting).
fn content_disposition(org_id: &str, org_name: &str, today: NaiveDate, ext: &str) -> String {
    let date = today.format("%Y-%m-%d");
    let ascii: String = org_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    format!(
        "attachment; filename=\"ledger-{ascii}-{date}.{ext}\"; filename*=UTF-8''{}",
        rfc5987(&format!("台账-{org_name}-{date}.{ext}"))
    )
}

/// RFC 5987 `value-chars`: attr-chars as they are, every other byte as `%XX`.
fn rfc5987(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An `application/problem+json` answer (RFC 9457).
fn problem(status: StatusCode, title: &str, detail: String) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_is_chinese_with_an_ascii_fallback() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(
            content_disposition("b1", "一支部", d, "xlsx"),
            "attachment; filename=\"ledger-b1-2026-03-01.xlsx\"; \
             filename*=UTF-8''%E5%8F%B0%E8%B4%A6-%E4%B8%80%E6%94%AF%E9%83%A8-2026-03-01.xlsx"
        );
        assert_eq!(rfc5987("a b\"c"), "a%20b%22c");
    }
}
