//! 工作台 (DESIGN.md section 12): the org's figures over what it sees (its subtree's members,
//! and for an inflow org or station the members checked in with it) and the lists that need
//! doing now (`todo`): for an org with orgs under it, each list counted per org under it, each
//! count opening the members; for a branch, the members themselves. Then the arrivals that
//! matched no one. `?org=` opens the same page for an org under the viewer.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::todo::{self, Counts, Day, Group, Listed, Todo, Unmatched};
use super::{encode_component, frame, page, refusal, signed_in};
use crate::state::AppState;

/// How many members of each list a branch's 工作台 shows before "查看全部".
const SHOWN: i64 = 10;

#[derive(serde::Deserialize, Default)]
pub struct Under {
    #[serde(default)]
    org: String,
}

/// What the page shows for the org it is about.
struct Home {
    org_id: String,
    org_name: String,
    total: Counts,
    groups: Vec<Group>,
    /// Nobody under the org has members away: its lists are shown member by member.
    leaf: bool,
    /// For such an org: each list's first members.
    lists: Vec<(Todo, Vec<Listed>)>,
    unmatched: (Vec<Unmatched>, i64),
}

/// The org the page is about: the viewer's own, or one in its subtree named by `?org=`; `None`
/// for anything else (answered 404, as the API does).
pub async fn org_under(
    state: &AppState,
    viewer: &str,
    asked: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    let id = if asked.is_empty() { viewer } else { asked };
    sqlx::query_as("SELECT id, name FROM orgs WHERE id = $1 AND path @> ARRAY[$2::text]")
        .bind(id)
        .bind(viewer)
        .fetch_optional(&state.pool)
        .await
}

async fn load(state: &AppState, org_id: String, org_name: String) -> sqlx::Result<Home> {
    let day = Day::of(state);
    let (board, unmatched) = tokio::try_join!(
        todo::counts(state, &org_id, &day),
        todo::unmatched(state, &org_id)
    )?;
    let (total, groups) = (board.0.clone(), board.1.clone());
    let leaf = groups
        .iter()
        .all(|g| g.org_id.as_deref() == Some(org_id.as_str()) || g.org_id.is_none());
    let mut lists = Vec::new();
    if leaf {
        for t in Todo::ALL {
            if total.of(t) > 0 {
                let (m, _) = todo::members(state, &org_id, &org_id, t, &day, (SHOWN, 0)).await?;
                lists.push((t, m));
            }
        }
    }
    Ok(Home {
        org_id,
        org_name,
        total,
        groups,
        leaf,
        lists,
        unmatched,
    })
}

/// `GET /console/`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(under): Query<Under>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let (org_id, org_name) = match org_under(&state, &session.user.org_id, &under.org).await {
        Ok(Some(o)) => o,
        Ok(None) => return not_here(&session),
        Err(e) => return super::store_failed(&e),
    };
    let today = Day::of(&state).today;
    match load(&state, org_id, org_name).await {
        Ok(h) => page(
            StatusCode::OK,
            frame("工作台", Some(&session), body(&h, today)),
        ),
        Err(e) => super::store_failed(&e),
    }
}

/// An org outside the viewer's subtree: 404, as the API answers.
pub fn not_here(session: &super::session::Session) -> Response {
    refusal(
        StatusCode::NOT_FOUND,
        "找不到这个组织",
        "这个组织不在本组织的管辖范围内，或者没有这个组织。请从工作台的表格进入下级组织。",
        Some(session),
    )
}

fn figure(label: &str, n: i64) -> Markup {
    html! { div.figure { span.n { (n) } span.label { (label) } } }
}

/// The link to list `t`'s members under `org` (the viewer's whole list when `org` is empty).
pub fn list_href(t: Todo, org: &str) -> String {
    if org.is_empty() {
        format!("/console/todo/{}", t.slug())
    } else {
        format!("/console/todo/{}?org={}", t.slug(), encode_component(org))
    }
}

fn body(h: &Home, today: chrono::NaiveDate) -> Markup {
    let t = &h.total;
    html! {
        h1 { "工作台" }
        p.note { (h.org_name) "，截至" (today.format("%Y年%-m月%-d日")) }
        section.figures aria-label="本组织数字" {
            (figure("外出", t.out))
            (figure("已报到", t.checked_in))
            (figure("本月未确认", t.of(Todo::Unconfirmed)))
            (figure("失联", t.of(Todo::LostContact)))
        }
        @if h.groups.is_empty() {
            section.card { h2 { "待办" } p.note { "暂无在外党员，没有待办事项。" } }
        } @else if h.leaf {
            (own_lists(h))
        } @else {
            (by_group(h))
        }
        (unmatched(&h.unmatched))
    }
}

/// The lists counted per org under the viewer, each count opening its members.
fn by_group(h: &Home) -> Markup {
    let cell = |t: Todo, org: &str, n: i64| {
        html! {
            td.num { @if n > 0 { a href=(list_href(t, org)) aria-label={ (t.title()) (n) "人" } { (n) } } @else { "0" } }
        }
    };
    html! {
        section.card {
            h2 { "待办（按下级组织）" }
            p.note { "数字是各组织需要处理的人数，点开看名单；组织按组织关系排列。" }
            div.scroll {
                table.todo {
                    thead { tr {
                        th scope="col" { "组织" }
                        th scope="col" { "在外" }
                        @for t in Todo::ALL { th scope="col" { (t.title()) } }
                    } }
                    tbody {
                        @for g in &h.groups {
                            tr {
                                th scope="row" {
                                    @match &g.org_id {
                                        Some(id) if *id != h.org_id => a href={ "/console/?org=" (encode_component(id)) } { (g.name) },
                                        _ => (g.name),
                                    }
                                }
                                td.num { (g.counts.open) }
                                @for t in Todo::ALL {
                                    @match &g.org_id {
                                        Some(id) => (cell(t, id, g.counts.of(t))),
                                        None => td.num { (g.counts.of(t)) },
                                    }
                                }
                            }
                        }
                    }
                    tfoot { tr {
                        th scope="row" { "合计" }
                        td.num { (h.total.open) }
                        @for t in Todo::ALL { (cell(t, &h.org_id, h.total.of(t))) }
                    } }
                }
            }
        }
    }
}

/// A branch's own lists: the first members of each, and the way to the rest.
fn own_lists(h: &Home) -> Markup {
    html! {
        @for (t, members) in &h.lists {
            section.card {
                h2 { (t.title()) }
                div.scroll {
                    table {
                        thead { tr { th scope="col" { "姓名" } th scope="col" { "所在支部" } th scope="col" { "连续未确认月数" } } }
                        tbody {
                            @for r in members {
                                tr { td { a href={ "/console/members/" (encode_component(&r.id)) } { (r.name) } } td { (r.branch) } td { (r.months) } }
                            }
                        }
                    }
                }
                @let n = h.total.of(*t);
                @if n > members.len() as i64 {
                    p { a href=(list_href(*t, &h.org_id)) { "查看全部" (n) "人" } }
                }
            }
        }
        @if h.lists.is_empty() {
            section.card { h2 { "待办" } p.note { "本月所有在外党员都已确认，暂无待办。" } }
        }
    }
}

fn unmatched((list, total): &(Vec<Unmatched>, i64)) -> Markup {
    html! {
        @if *total > 0 {
            section.card {
                h2 { "未匹配的报到（" (total) "人）" }
                p.note { "在本辖区报到、但找不到流出地党组织的人员，请核实身份后联系其流出地。" }
                div.scroll {
                    table {
                        thead { tr {
                            th scope="col" { "姓名" } th scope="col" { "手机号码" } th scope="col" { "报到日期" }
                            th scope="col" { "流入地" } th scope="col" { "报到组织" }
                        } }
                        tbody {
                            @for u in list {
                                tr { td { (u.name) } td { (u.phone) } td { (u.arrived_on) } td { (u.place) } td { (u.receiving_org) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
