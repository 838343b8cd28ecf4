//! The dispatch's spot check (抽查, DESIGN.md section 4): the members a report drew, by name,
//! and the result a department records for each. The report is the scheduler's table
//! (`dispatch_reports`), which the console never writes; the results are the api's own table
//! `console_spot_checks` (migration 0021), read with the report and in its XLSX. The latest
//! result per member stands, with who recorded it and when.

use std::collections::HashMap;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use hongyan_domain::dispatch::DispatchReport;
use maud::{Markup, html};

use super::dispatch::visible;
use super::for_departments;
use crate::console::session::Session;
use crate::console::{encode_component, forbidden_post, post_ok, refusal, signed_in};
use crate::report_files::Names;
use crate::state::AppState;

/// The results a department may record, with their words.
pub const RESULTS: [(&str, &str); 3] = [
    ("found", "情况属实"),
    ("changed", "信息有变化"),
    ("unreachable", "未联系上"),
];

/// A result's words (the code itself for an unknown one).
pub fn result_words(code: &str) -> &str {
    RESULTS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, w)| w)
}

/// A recorded result.
pub struct Check {
    pub result: String,
    pub note: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// The results recorded for a report, by member id.
pub type Recorded = HashMap<String, Check>;

pub async fn recorded(state: &AppState, report_id: uuid::Uuid) -> Result<Recorded, sqlx::Error> {
    let rows: Vec<(String, String, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT s.member_id, s.result, s.note, coalesce(u.name, s.checked_by), s.checked_at
         FROM console_spot_checks s LEFT JOIN console_users u ON u.id = s.checked_by
         WHERE s.report_id = $1",
    )
    .bind(report_id)
    .fetch_all(&state.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(m, result, note, by, at)| {
            (
                m,
                Check {
                    result,
                    note,
                    by,
                    at,
                },
            )
        })
        .collect())
}

/// The spot check's section of the report page: each member drawn, by branch, with a form.
pub fn section(s: &Session, r: &DispatchReport, names: &Names, done: &Recorded) -> Markup {
    let drawn: Vec<&String> = r.spot_check.iter().flat_map(|c| &c.member_ids).collect();
    html! {
        section.card id="spot" {
            h2 { "抽查名单（" (drawn.len()) "人）" }
            p.note { "每个支部按比例抽取的在外党员。联系核实后，记录抽查结果。" }
            @if drawn.is_empty() { p.note { "本季度没有抽查对象。" } }
            ul.spot {
                @for m in drawn {
                    @let name = names.member(m);
                    @let id = encode_component(m);
                    li.card {
                        p {
                            a href={ "/console/members/" (id) } { (name) }
                            span.note { " " (names.branch(m)) }
                        }
                        @if let Some(c) = done.get(m.as_str()) {
                            p.result {
                                "抽查结果：" strong { (result_words(&c.result)) }
                                @if !c.note.is_empty() { "（" (c.note) "）" }
                                span.note { " " (c.by) "记录于" (c.at.with_timezone(&hongyan_domain::TZ).format("%Y-%m-%d %H:%M")) }
                            }
                        }
                        form method="post" action={ "/console/dispatch/" (r.report_id) "/spot-check" } {
                            input type="hidden" name="form_token" value=(s.form_token);
                            input type="hidden" name="member" value=(m);
                            label for={ "r-" (id) } { (name) "的抽查结果" }
                            select id={ "r-" (id) } name="result" {
                                option value="" { "请选择" }
                                @for (code, words) in RESULTS {
                                    option value=(code) selected[done.get(m.as_str()).is_some_and(|c| c.result == code)] { (words) }
                                }
                            }
                            label for={ "n-" (id) } { (name) "的备注" }
                            input id={ "n-" (id) } name="note" maxlength="200" value=(done.get(m.as_str()).map_or("", |c| c.note.as_str()));
                            button.secondary type="submit" { "记录" (name) "的结果" }
                        }
                    }
                }
            }
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct Posted {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    note: String,
}

/// `POST /console/dispatch/{id}/spot-check`: records one member's result, then back to the
/// report.
pub async fn record(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    form: Result<Form<Posted>, FormRejection>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let p = form.map(|Form(p)| p).unwrap_or_default();
    if !post_ok(&state, &headers, &session, &p.form_token) {
        return forbidden_post(Some(&session));
    }
    if let Some(no) = for_departments(&session) {
        return no;
    }
    let report = match visible(&state, &session.user.org_id, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return refusal(
                StatusCode::NOT_FOUND,
                "找不到这份调度报告",
                "这份报告不存在，或不属于本组织及下级组织；抽查结果没有记录。",
                Some(&session),
            );
        }
        Err(e) => return crate::console::store_failed(&e),
    };
    let drawn = report
        .spot_check
        .iter()
        .any(|c| c.member_ids.contains(&p.member));
    let known = RESULTS.iter().any(|(c, _)| *c == p.result);
    if !drawn || !known {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "抽查结果没有记录",
            "这名党员不在这份报告的抽查名单里，或者没有选择抽查结果。请回到报告页面，选择“情况属实”“信息有变化”或“未联系上”后再记录。",
            Some(&session),
        );
    }
    let saved = sqlx::query(
        "INSERT INTO console_spot_checks (report_id, member_id, result, note, checked_by, checked_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (report_id, member_id) DO UPDATE
         SET result = EXCLUDED.result, note = EXCLUDED.note, checked_by = EXCLUDED.checked_by,
             checked_at = EXCLUDED.checked_at",
    )
    .bind(report.report_id)
    .bind(&p.member)
    .bind(&p.result)
    .bind(p.note.trim().chars().take(200).collect::<String>())
    .bind(&session.user.id)
    .bind(state.clock.now())
    .execute(&state.pool)
    .await;
    match saved {
        Ok(_) => {
            Redirect::to(&format!("/console/dispatch/{}#spot", report.report_id)).into_response()
        }
        Err(e) => crate::console::store_failed(&e),
    }
}
