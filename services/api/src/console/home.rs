//! 工作台 (DESIGN.md section 12): the org's figures over what it sees (its subtree's members,
//! and for an inflow org or station the members checked in with it) and the lists that need
//! doing now.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Datelike;
use hongyan_domain::TZ;
use maud::{Markup, html};
use sqlx::Row;

use super::session::Session;
use super::{frame, page, signed_in};
use crate::state::AppState;

/// The four figures of the 工作台.
#[derive(Debug, Default)]
struct Figures {
    out: i64,
    checked_in: i64,
    unconfirmed: i64,
    lost_contact: i64,
}

/// A member on a to-do list.
struct Row_ {
    id: String,
    name: String,
    branch: String,
    months: Option<i32>,
}

/// Open records the org sees: its subtree's members, and those checked in with it or an org of
/// its subtree.
/// Read through the registry's published view of open records (migration 0016).
const SEEN: &str = "FROM api_ledger_records r
    JOIN orgs home ON home.id = r.home_org_id
    LEFT JOIN orgs inflow ON inflow.id = r.inflow_org_id
    WHERE ($1 = ANY (home.path) OR $1 = ANY (coalesce(inflow.path, '{}')))";

async fn figures(
    state: &AppState,
    org: &str,
    month_start: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> sqlx::Result<Figures> {
    let sql = format!(
        "SELECT count(*) FILTER (WHERE r.status = 'out') AS out,
                count(*) FILTER (WHERE r.status = 'checked_in') AS checked_in,
                count(*) FILTER (WHERE r.last_confirmed_on IS NULL OR r.last_confirmed_on < $2) AS unconfirmed,
                count(*) FILTER (WHERE ledger_months_unconfirmed(r.confirmed_on, $3) >= $4) AS lost_contact
         {SEEN}"
    );
    // 失联 follows from the months unconfirmed and the ladder (DESIGN.md section 4).
    let lost_after = state.settings.policy.ladder().lost_contact_after as i32;
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(month_start)
        .bind(today)
        .bind(lost_after)
        .fetch_one(&state.pool)
        .await?;
    Ok(Figures {
        out: r.try_get("out")?,
        checked_in: r.try_get("checked_in")?,
        unconfirmed: r.try_get("unconfirmed")?,
        lost_contact: r.try_get("lost_contact")?,
    })
}

/// The first 20 members still unconfirmed this month, longest unconfirmed first.
async fn unconfirmed(
    state: &AppState,
    org: &str,
    month_start: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> sqlx::Result<Vec<Row_>> {
    let sql = format!(
        "SELECT r.member_id AS id, r.member_name AS name, home.name AS branch,
                ledger_months_unconfirmed(r.confirmed_on, $3) AS months
         {SEEN} AND (r.last_confirmed_on IS NULL OR r.last_confirmed_on < $2)
         ORDER BY r.confirmed_on, r.member_id LIMIT 20"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(month_start)
        .bind(today)
        .fetch_all(&state.pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Row_ {
                id: r.try_get("id")?,
                name: r.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
                branch: r.try_get("branch")?,
                months: r.try_get("months")?,
            })
        })
        .collect()
}

/// `GET /console/`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let today = state.clock.now().with_timezone(&TZ).date_naive();
    let month_start = today.with_day(1).unwrap_or(today);
    let org = session.user.org_id.clone();
    let (f, list) = match tokio::try_join!(
        figures(&state, &org, month_start, today),
        unconfirmed(&state, &org, month_start, today)
    ) {
        Ok(x) => x,
        Err(e) => return super::store_failed(&e),
    };
    page(
        StatusCode::OK,
        frame("工作台", Some(&session), body(&session, &f, &list, today)),
    )
}

fn figure(label: &str, n: i64) -> Markup {
    html! { div.figure { span.n { (n) } span.label { (label) } } }
}

fn body(s: &Session, f: &Figures, list: &[Row_], today: chrono::NaiveDate) -> Markup {
    html! {
        h1 { "工作台" }
        p.note { (s.user.org_name) "，截至" (today.format("%Y年%-m月%-d日")) }
        section.figures aria-label="本组织数字" {
            (figure("外出", f.out))
            (figure("已报到", f.checked_in))
            (figure("本月未确认", f.unconfirmed))
            (figure("失联", f.lost_contact))
        }
        section.card {
            h2 { "本月未确认" }
            @if list.is_empty() {
                p.note { "本月所有在外党员都已确认，暂无待办。" }
            } @else {
                div.scroll {
                    table {
                        thead { tr { th scope="col" { "姓名" } th scope="col" { "所在支部" } th scope="col" { "连续未确认月数" } } }
                        tbody {
                            @for r in list {
                                tr { td { a href={ "/console/members/" (super::encode_component(&r.id)) } { (r.name) } } td { (r.branch) } td { (r.months.unwrap_or(0)) } }
                            }
                        }
                    }
                }
                @if f.unconfirmed > list.len() as i64 {
                    p.note { "共" (f.unconfirmed) "人，这里列出最久未确认的" (list.len()) "人。" }
                }
            }
        }
    }
}
