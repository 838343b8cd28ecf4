//! 学习 (DESIGN.md section 12): the study packs (学习资源包) published in the department's
//! subtree or addressed to it, newest first; a pack's page with its items, when it goes (or
//! went) out, and its completion per org: every branch of the audience inside the viewer's
//! subtree, in the tree's order (never ranked), with the members it reached and those who
//! completed it, zeros included. 编写学习资源包 is `study_form`.
//!
//! Reached: the branch's members away (open records; a pack goes to them, by the branch's
//! group robot or one SMS each), and any member of it who completed the pack since coming
//! home; nobody before the pack is sent.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use hongyan_domain::regions;
use maud::{Markup, html};
use sqlx::Row;

use super::dist::share;
use super::for_departments;
use crate::console::session::Session;
use crate::console::{encode_component, frame, frame_refreshing, page, refusal, signed_in};
use crate::state::AppState;

/// Packs published in `$1`'s subtree or addressed to it (or to an org above it).
const VISIBLE: &str = "(o.path @> ARRAY[$1::text]
    OR p.audience_org_ids && (SELECT path FROM orgs WHERE id = $1))";

struct Pack {
    id: String,
    title: String,
    summary: String,
    items: serde_json::Value,
    audience_orgs: Vec<String>,
    audience_regions: Vec<String>,
    send_at: Option<DateTime<Utc>>,
    published_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    completed: i64,
}

async fn packs(state: &AppState, org: &str, id: Option<&str>) -> Result<Vec<Pack>, sqlx::Error> {
    let sql = format!(
        "SELECT p.id, p.title, p.summary, p.items, p.audience_org_ids, p.audience_region_codes,
                p.send_at, p.published_at, s.sent_at,
                (SELECT count(*) FROM console_study_completions c WHERE c.pack_id = p.id) AS completed
         FROM study_packs p JOIN orgs o ON o.id = p.published_by
         LEFT JOIN study_pack_sends s ON s.pack_id = p.id
         WHERE {VISIBLE} AND ($2::text IS NULL OR p.id = $2)
         ORDER BY p.published_at DESC, p.id LIMIT 100"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .fetch_all(&state.pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Pack {
                id: r.try_get("id")?,
                title: r.try_get("title")?,
                summary: r.try_get("summary")?,
                items: r.try_get("items")?,
                audience_orgs: r.try_get("audience_org_ids")?,
                audience_regions: r.try_get("audience_region_codes")?,
                send_at: r.try_get("send_at")?,
                published_at: r.try_get("published_at")?,
                sent_at: r.try_get("sent_at")?,
                completed: r.try_get("completed")?,
            })
        })
        .collect()
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&hongyan_domain::TZ)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn sending(p: &Pack) -> String {
    match (p.sent_at, p.send_at) {
        (Some(at), _) => format!("已于{}发出", local(at)),
        (None, Some(at)) => format!("定于{}发出", local(at)),
        (None, None) => "下一个党员活动日（每月9日）发出".into(),
    }
}

/// `GET /console/study`.
pub async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    if let Some(no) = for_departments(&session) {
        return no;
    }
    match packs(&state, &session.user.org_id, None).await {
        Ok(list) => page(
            StatusCode::OK,
            frame("学习", Some(&session), list_body(&list)),
        ),
        Err(e) => crate::console::store_failed(&e),
    }
}

fn list_body(list: &[Pack]) -> Markup {
    html! {
        h1 { "学习" }
        p.actions { a.button href="/console/study/new" { "编写学习资源包" } }
        @if list.is_empty() {
            section.card { p.note { "还没有学习资源包。" } }
        } @else {
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { "标题" } th scope="col" { "发布时间" } th scope="col" { "发送" } th scope="col" { "已完成学习" }
                    } }
                    tbody {
                        @for p in list {
                            tr {
                                td { a href={ "/console/study/" (encode_component(&p.id)) } { (p.title) } }
                                td { (local(p.published_at)) }
                                td { (sending(p)) }
                                td.num { (p.completed) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One org's completion.
struct OrgDone {
    name: String,
    reached: i64,
    completed: i64,
}

/// Every branch of the pack's audience in the viewer's subtree, in the tree's order.
async fn completion(state: &AppState, viewer: &str, p: &Pack) -> Result<Vec<OrgDone>, sqlx::Error> {
    let prefixes: Vec<String> = p
        .audience_regions
        .iter()
        .filter_map(|c| regions::normalize(c))
        .map(|c| format!("{c}%"))
        .collect();
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "WITH aud AS (
             SELECT o.id, o.name, o.path FROM orgs o
             WHERE (o.path && $2::text[] OR o.region_code LIKE ANY($3::text[]))
               AND o.path @> ARRAY[$1::text]
               AND EXISTS (SELECT 1 FROM console_members m WHERE m.home_org_id = o.id)),
         done AS (SELECT c.member_id, c.home_org_id FROM console_study_completions c
                  WHERE c.pack_id = $4 AND c.home_org_id IN (SELECT id FROM aud)),
         away AS (SELECT r.member_id, r.home_org_id FROM console_open_records r
                  WHERE $5 AND r.home_org_id IN (SELECT id FROM aud))
         SELECT a.name,
                (SELECT count(*) FROM (SELECT member_id FROM away WHERE home_org_id = a.id
                                       UNION SELECT member_id FROM done WHERE home_org_id = a.id) u),
                (SELECT count(*) FROM done WHERE home_org_id = a.id)
         FROM aud a ORDER BY a.path",
    )
    .bind(viewer)
    .bind(&p.audience_orgs)
    .bind(&prefixes)
    .bind(&p.id)
    .bind(p.sent_at.is_some())
    .fetch_all(&state.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, reached, completed)| OrgDone {
            name,
            reached,
            completed,
        })
        .collect())
}

#[derive(serde::Deserialize, Default)]
pub struct After {
    /// The event of a pack the console just published.
    #[serde(default)]
    event: String,
}

/// `GET /console/study/{id}`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Query(after): Query<After>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    if let Some(no) = for_departments(&session) {
        return no;
    }
    let found = match packs(&state, &session.user.org_id, Some(&id)).await {
        Ok(mut list) => list.pop(),
        Err(e) => return crate::console::store_failed(&e),
    };
    let Some(pack) = found else {
        // Just published: the registry has not stored it yet.
        if !after.event.is_empty() {
            let body = html! {
                h1 { "学习资源包" }
                div.card.pending id="result" { p { "正在发布，请稍候，页面会自动刷新……" } }
            };
            let again = format!(
                "/console/study/{}?event={}",
                crate::console::encode_component(&id),
                crate::console::encode_component(&after.event)
            );
            return page(
                StatusCode::OK,
                frame_refreshing("学习", Some(&session), body, Some(&again)),
            );
        }
        return refusal(
            StatusCode::NOT_FOUND,
            "找不到这个学习资源包",
            "这个资源包不存在，或不是本组织发布、也不是发给本组织的。请从学习页面的列表打开。",
            Some(&session),
        );
    };
    match completion(&state, &session.user.org_id, &pack).await {
        Ok(orgs) => page(
            StatusCode::OK,
            frame("学习", Some(&session), pack_body(&session, &pack, &orgs)),
        ),
        Err(e) => crate::console::store_failed(&e),
    }
}

fn item_words(kind: &str) -> &str {
    match kind {
        "text" => "文字",
        "link" => "链接",
        "image" => "图片",
        "video" => "视频",
        "voice" => "语音",
        other => other,
    }
}

fn pack_body(_s: &Session, p: &Pack, orgs: &[OrgDone]) -> Markup {
    let items = p.items.as_array().cloned().unwrap_or_default();
    let s =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
    html! {
        h1 { (p.title) }
        div.card.result id="result" {
            p { (p.summary) }
            p.note { "发布于" (local(p.published_at)) "；" (sending(p)) "。" }
        }
        section.card {
            h2 { "学习内容" }
            ol.items {
                @for it in &items {
                    li {
                        span.note { "【" (item_words(&s(it, "kind"))) "】" }
                        @let title = s(it, "title");
                        @if !title.is_empty() { strong { (title) } " " }
                        @let url = s(it, "url");
                        @if url.is_empty() { (s(it, "text")) } @else { a href=(url) rel="noopener noreferrer" { (url) } }
                    }
                }
            }
        }
        section.card {
            h2 { "各组织学习情况" }
            p.note { "按组织关系排列。覆盖人数：资源包发出时在外的党员（及已完成学习的党员）；完成率为已完成学习的人数占覆盖人数的比例。" }
            @if p.sent_at.is_none() { p.note { "资源包尚未发出。" } }
            div.scroll {
                table.completion {
                    thead { tr {
                        th scope="col" { "组织" } th scope="col" { "覆盖人数" } th scope="col" { "已完成" } th scope="col" { "完成率" }
                    } }
                    tbody {
                        @for o in orgs {
                            tr {
                                th scope="row" { (o.name) }
                                td.num { (o.reached) } td.num { (o.completed) } td.num { (share(o.completed, o.reached)) }
                            }
                        }
                    }
                }
            }
        }
    }
}
