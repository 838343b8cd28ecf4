//! A to-do list's members (`/console/todo/{list}`), opened from the 工作台: the members on the
//! list that the viewer sees, or under one org of its subtree (`?org=`), by branch in the
//! tree's order, 50 a page, each opening the member's page. Where the ledger can narrow to the
//! same list (失联, 应转尽转: its 标记 filter) the page links there too.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::home::{not_here, org_under};
use super::todo::{self, Day, Listed, Todo};
use super::{encode_component, frame, page, refusal, signed_in};
use crate::state::AppState;

const PER_PAGE: i64 = 50;

#[derive(serde::Deserialize, Default)]
pub struct Asked {
    #[serde(default)]
    org: String,
    #[serde(default)]
    page: String,
}

/// `GET /console/todo/{list}`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path(list): Path<String>,
    Query(asked): Query<Asked>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let Some(t) = Todo::parse(&list) else {
        return refusal(
            StatusCode::NOT_FOUND,
            "没有这个待办清单",
            "请从工作台的待办表格进入名单。",
            Some(&session),
        );
    };
    let viewer = session.user.org_id.clone();
    let (org, name) = match org_under(&state, &viewer, &asked.org).await {
        Ok(Some(o)) => o,
        Ok(None) => return not_here(&session),
        Err(e) => return super::store_failed(&e),
    };
    let page_no = asked.page.parse::<i64>().unwrap_or(1).max(1);
    let day = Day::of(&state);
    let window = (PER_PAGE, (page_no - 1) * PER_PAGE);
    match todo::members(&state, &viewer, &org, t, &day, window).await {
        Ok((members, total)) => {
            let shown = Shown {
                t,
                org: &asked.org,
                org_name: &name,
                page_no,
                total,
            };
            page(
                StatusCode::OK,
                frame(t.title(), Some(&session), body(&shown, &members, &day)),
            )
        }
        Err(e) => super::store_failed(&e),
    }
}

struct Shown<'a> {
    t: Todo,
    org: &'a str,
    org_name: &'a str,
    page_no: i64,
    total: i64,
}

impl Shown<'_> {
    fn href(&self, page: i64) -> String {
        let mut h = super::home::list_href(self.t, self.org);
        h.push(if self.org.is_empty() { '?' } else { '&' });
        h.push_str(&format!("page={page}"));
        h
    }
}

/// The ledger's own narrowing to the same list, where its 标记 filter has one.
fn in_ledger(t: Todo) -> Option<String> {
    let flag = match t {
        Todo::LostContact => hongyan_domain::words::flag("lost_contact"),
        Todo::TransferSuggested => hongyan_domain::words::TRANSFER_SUGGESTED,
        _ => return None,
    };
    Some(format!("/console/ledger?flag={}", encode_component(flag)))
}

fn body(s: &Shown<'_>, members: &[Listed], day: &Day) -> Markup {
    let pages = (s.total + PER_PAGE - 1) / PER_PAGE;
    html! {
        h1 { (s.t.title()) }
        p.note { (s.org_name) "：" (s.t.meaning(day)) }
        p.note id="count" { "共" (s.total) "人" @if pages > 1 { "，第" (s.page_no) "页，共" (pages) "页" } "。" }
        @if let Some(href) = in_ledger(s.t) {
            @if s.org.is_empty() { p { a.button href=(href) { "在台账中查看" } } }
        }
        div.scroll {
            table {
                thead { tr {
                    th scope="col" { "姓名" } th scope="col" { "所在支部" }
                    th scope="col" { "最近确认日期" } th scope="col" { "连续未确认月数" }
                } }
                tbody {
                    @for m in members {
                        tr {
                            td { a href={ "/console/members/" (encode_component(&m.id)) } { (m.name) } }
                            td { (m.branch) }
                            td { @if let Some(d) = m.confirmed_on { (d) } }
                            td.num { (m.months) }
                        }
                    }
                }
            }
        }
        nav.pages aria-label="翻页" {
            @if s.page_no > 1 { a href=(s.href(s.page_no - 1)) { "上一页" } }
            " "
            @if s.page_no < pages { a href=(s.href(s.page_no + 1)) { "下一页" } }
        }
        p { a href="/console/" { "回到工作台" } }
    }
}
