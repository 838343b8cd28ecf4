//! 调度 (DESIGN.md section 12): the quarterly dispatch reports (一季一调度) of the departments
//! in the viewer's subtree, by quarter; a report as a page with charts of its figures (status,
//! destinations, employer types, monthly compliance as the share confirmed), the branches'
//! table in the report's fixed order (never ranked), and the spot check (抽查) with names and a
//! form per member for its result (`spot`); 导出Excel and 导出CSV give `report_files`' files.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use hongyan_domain::dispatch::{DispatchReport, Figures};
use hongyan_domain::{EmployerType, words};
use maud::{Markup, html};

use super::for_departments;
use super::spot::{self, Recorded};
use crate::console::session::Session;
use crate::console::{encode_component, frame, page, refusal, signed_in};
use crate::report_files::{self, Names, month_words, percent, quarter_words};
use crate::state::AppState;

/// A stored report in the list.
struct Listed {
    id: uuid::Uuid,
    org_name: String,
    quarter: String,
    generated_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /console/dispatch`.
pub async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    if let Some(no) = for_departments(&session) {
        return no;
    }
    type Row = (uuid::Uuid, String, String, chrono::DateTime<chrono::Utc>);
    let rows: Result<Vec<Row>, _> = sqlx::query_as(
        "SELECT r.id, o.name, r.quarter, r.generated_at FROM dispatch_reports r
             JOIN orgs o ON o.id = r.org_id
             WHERE o.path @> ARRAY[$1::text] ORDER BY r.quarter DESC, o.path LIMIT 200",
    )
    .bind(&session.user.org_id)
    .fetch_all(&state.pool)
    .await;
    let listed: Vec<Listed> = match rows {
        Ok(r) => r
            .into_iter()
            .map(|(id, org_name, quarter, generated_at)| Listed {
                id,
                org_name,
                quarter,
                generated_at,
            })
            .collect(),
        Err(e) => return crate::console::store_failed(&e),
    };
    page(
        StatusCode::OK,
        frame("调度", Some(&session), list_body(&listed)),
    )
}

fn list_body(listed: &[Listed]) -> Markup {
    let mut quarters: Vec<&str> = listed.iter().map(|l| l.quarter.as_str()).collect();
    quarters.dedup();
    html! {
        h1 { "调度" }
        p.note { "每季度第一天生成上一季度的流动党员调度报告（一季一调度）。" }
        @if listed.is_empty() {
            section.card { p.note { "还没有调度报告。第一份报告在下一个季度初生成。" } }
        }
        @for q in quarters {
            section.card {
                h2 { (quarter_words(q)) }
                ul.reports {
                    @for l in listed.iter().filter(|l| l.quarter == q) {
                        li {
                            a href={ "/console/dispatch/" (l.id) } { (l.org_name) (quarter_words(q)) "调度报告" }
                            span.note { " 生成于" (l.generated_at.with_timezone(&hongyan_domain::TZ).format("%Y-%m-%d")) }
                        }
                    }
                }
            }
        }
    }
}

/// The report `id` when the viewer's subtree holds its department, as stored.
pub async fn visible(
    state: &AppState,
    viewer: &str,
    id: &str,
) -> Result<Option<DispatchReport>, sqlx::Error> {
    let Ok(id) = uuid::Uuid::parse_str(id) else {
        return Ok(None);
    };
    let doc: Option<String> = sqlx::query_scalar(
        "SELECT r.report::text FROM dispatch_reports r JOIN orgs o ON o.id = r.org_id
         WHERE r.id = $1 AND o.path @> ARRAY[$2::text]",
    )
    .bind(id)
    .bind(viewer)
    .fetch_optional(&state.pool)
    .await?;
    doc.map(|d| serde_json::from_str(&d).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .transpose()
}

fn no_report(session: &Session) -> Response {
    refusal(
        StatusCode::NOT_FOUND,
        "找不到这份调度报告",
        "这份报告不存在，或不属于本组织及下级组织。请从调度页面的列表打开报告。",
        Some(session),
    )
}

/// `GET /console/dispatch/{id}`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    if let Some(no) = for_departments(&session) {
        return no;
    }
    let report = match visible(&state, &session.user.org_id, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => return no_report(&session),
        Err(e) => return crate::console::store_failed(&e),
    };
    let loaded = tokio::try_join!(
        report_files::names(&state.pool, &report),
        spot::recorded(&state, report.report_id)
    );
    match loaded {
        Ok((names, recorded)) => {
            let title = format!(
                "{}{}调度报告",
                names.org_name,
                quarter_words(&report.quarter)
            );
            let body = report_body(&session, &report, &names, &recorded, &title);
            page(StatusCode::OK, frame("调度", Some(&session), body))
        }
        Err(e) => crate::console::store_failed(&e),
    }
}

/// `GET /console/dispatch/{id}/file/{xlsx|csv}`.
pub async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path((id, format)): Path<(String, String)>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    if let Some(no) = for_departments(&session) {
        return no;
    }
    let report = match visible(&state, &session.user.org_id, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => return no_report(&session),
        Err(e) => return crate::console::store_failed(&e),
    };
    let names = match report_files::names(&state.pool, &report).await {
        Ok(n) => n,
        Err(e) => return crate::console::store_failed(&e),
    };
    let made = match format.as_str() {
        "xlsx" => match crate::reports::spot_results(&state, report.report_id).await {
            Ok(checked) => report_files::xlsx(&report, &names, &checked)
                .map(|b| (b, crate::reports::XLSX, "xlsx")),
            Err(e) => return crate::console::store_failed(&e),
        },
        "csv" => {
            let mut out = Vec::new();
            report_files::write_csv(&report, &names, &mut out)
                .map(|()| (out, "text/csv; charset=utf-8", "csv"))
        }
        _ => return no_report(&session),
    };
    match made {
        Ok((body, kind, ext)) => crate::reports::file(body, kind, &report, ext),
        Err(e) => crate::console::store_failed(&e),
    }
}

/// A bar of `n` out of `max` with its label and number (a `<meter>`: no inline style).
fn bar(label: &str, n: u64, max: u64, note: Option<String>) -> Markup {
    html! {
        div.bar {
            span.label { (label) }
            meter min="0" max=(max.max(1)) value=(n) aria-label=(label) { (n) }
            span.n { (n) @if let Some(t) = note { " (" (t) ")" } }
        }
    }
}

fn chart(title: &str, bars: &[(String, u64)], total: u64) -> Markup {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0);
    html! {
        section.card.chart aria-label=(title) {
            h2 { (title) }
            @for (label, n) in bars { (bar(label, *n, max, Some(percent(*n, total)))) }
        }
    }
}

fn charts(t: &Figures) -> Markup {
    let status = vec![
        ("外出".to_owned(), t.by_status.out),
        ("已报到".to_owned(), t.by_status.checked_in),
        ("回乡探亲".to_owned(), t.by_status.home_visit),
    ];
    let dest = vec![
        ("跨省流动".to_owned(), t.destinations.cross_province),
        ("省内跨市".to_owned(), t.destinations.in_province_cross_city),
        ("市内流动".to_owned(), t.destinations.in_city),
    ];
    let employers: Vec<(String, u64)> = EmployerType::ALL
        .iter()
        .map(|e| {
            let n = t.by_employer_type.get(e.as_str()).copied().unwrap_or(0);
            (words::employer_type(*e).to_owned(), n)
        })
        .collect();
    html! {
        div.charts {
            (chart("状态", &status, t.open))
            (chart("流向", &dest, t.open))
            (chart("单位类型", &employers, t.open))
            section.card.chart aria-label="每月确认" {
                h2 { "每月确认（一月一更新）" }
                @for m in &t.monthly_compliance {
                    div.bar {
                        span.label { (month_words(&m.month)) }
                        meter min="0" max=(m.open.max(1)) value=(m.confirmed) aria-label={ (month_words(&m.month)) "确认率" } { (m.confirmed) }
                        span.n { (percent(m.confirmed, m.open)) "（" (m.confirmed) "/" (m.open) "）" }
                    }
                }
            }
        }
    }
}

fn figure(label: &str, n: u64) -> Markup {
    html! { div.figure { span.n { (n) } span.label { (label) } } }
}

fn report_body(
    s: &Session,
    r: &DispatchReport,
    names: &Names,
    recorded: &Recorded,
    title: &str,
) -> Markup {
    let t = &r.totals;
    let file = |f: &str| format!("/console/dispatch/{}/file/{f}", r.report_id);
    html! {
        h1 { (title) }
        p.note { "生成于" (r.generated_at.get(..10).unwrap_or(&r.generated_at)) "；本季度外出、报到、返回、转出按发生日期统计，其余为季度末的情况。" }
        p.actions {
            a.button href=(file("xlsx")) { "导出Excel" }
            " "
            a.button href=(file("csv")) { "导出CSV" }
        }
        section.figures.compact aria-label="报告数字" {
            (figure("在外党员", t.open))
            (figure("本季度外出登记", t.departures))
            (figure("本季度报到", t.arrivals))
            (figure("本季度返回", t.returns))
            (figure("本季度转出", t.transfers))
            (figure("持流动党员活动证", t.certificate_holders))
            (figure("失联", t.lost_contact.len() as u64))
            (figure("组织生活预警", t.lapse_risk.len() as u64))
            (figure("应转尽转", t.transfer_suggested.len() as u64))
            (figure("未匹配报到", t.unmatched_arrivals))
        }
        (charts(t))
        (branches(r))
        (spot::section(s, r, names, recorded))
    }
}

/// The branches' table, in the report's order (by org id: fixed, never ranked), compliance as
/// the share confirmed in each month.
fn branches(r: &DispatchReport) -> Markup {
    let months: Vec<&str> = r
        .totals
        .monthly_compliance
        .iter()
        .map(|m| m.month.as_str())
        .collect();
    html! {
        section.card {
            h2 { "各支部情况" }
            p.note { "按组织编号排列；确认率为当月已确认的人数占在外人数的比例。" }
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { "支部" } th scope="col" { "在外党员" } th scope="col" { "外出" } th scope="col" { "已报到" }
                        @for m in &months { th scope="col" { (month_words(m)) "确认率" } }
                        th scope="col" { "失联" } th scope="col" { "组织生活预警" } th scope="col" { "应转尽转" }
                    } }
                    tbody {
                        @for b in &r.branches {
                            @let f = &b.figures;
                            tr {
                                th scope="row" { a href={ "/console/?org=" (encode_component(&b.org_id)) } { (b.name) } }
                                td.num { (f.open) } td.num { (f.by_status.out) } td.num { (f.by_status.checked_in) }
                                @for m in &months {
                                    @let c = f.monthly_compliance.iter().find(|c| c.month == *m);
                                    td.num { (c.map_or("—".to_owned(), |c| percent(c.confirmed, c.open))) }
                                }
                                td.num { (f.lost_contact.len()) } td.num { (f.lapse_risk.len()) } td.num { (f.transfer_suggested.len()) }
                            }
                        }
                    }
                }
            }
        }
    }
}
