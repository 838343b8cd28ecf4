//! 消息 (DESIGN.md section 12): the notifications about the org's subtree (to its members, its
//! orgs' contacts, its orgs' groups; not the console's own sign-in codes, which are worth
//! nothing after five minutes): recipient masked, template, channel, status, attempts, error; all of them or the failed ones (a failed notification is also parked in
//! `hongyan.parked`, section 2), newest first, 50 a page. Read through the notifier's view
//! `console_notifications` (migration 0021).
//!
//! A department may replay a failed one (重发). The notifier owns its tables, so the console
//! does not change them: it sends the stored request back to the notifier's queue marked as
//! replayed, exactly what `hongyan parked replay` does with the parked copy, and the notifier's
//! intake revives the failed notification from its first channel (`store::revive`). A request
//! whose notification is not failed (already revived, or delivered since) changes nothing
//! there, so a second press sends nothing twice.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use hongyan_adapters::amqp::Names;
use hongyan_adapters::amqp::parked;
use hongyan_domain::notify::{self, NotificationRequest};
use hongyan_domain::outgoing::system_envelope;
use maud::{Markup, html};
use sqlx::Row;

use crate::console::session::Session;
use crate::console::{forbidden_post, frame, page, post_ok, refusal, signed_in};
use crate::state::AppState;

const PER_PAGE: i64 = 50;

#[derive(serde::Deserialize, Default)]
pub struct Asked {
    /// `failed` for the failed ones only.
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
}

/// A notification as 消息 lists it.
struct Listed {
    id: uuid::Uuid,
    template: String,
    channel: String,
    status: String,
    attempts: i32,
    error: Option<String>,
    at: DateTime<Utc>,
    recipient: String,
}

async fn listed(
    state: &AppState,
    org: &str,
    failed_only: bool,
    offset: i64,
) -> Result<(Vec<Listed>, bool), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, template, coalesce(channel, '') AS channel, status, attempts, last_error,
                created_at, coalesce(recipient_name, '') AS name, recipient_phone, broadcast, org_id
         FROM console_notifications
         WHERE org_id IN (SELECT id FROM orgs WHERE path @> ARRAY[$1::text])
           AND template <> 'login_code' AND (NOT $2 OR status = 'failed')
         ORDER BY created_at DESC, id LIMIT $3 OFFSET $4",
    )
    .bind(org)
    .bind(failed_only)
    .bind(PER_PAGE + 1)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let more = rows.len() as i64 > PER_PAGE;
    let list = rows
        .iter()
        .take(PER_PAGE as usize)
        .map(|r| {
            let broadcast: bool = r.try_get("broadcast")?;
            let name: String = r.try_get("name")?;
            let phone: String = r.try_get("recipient_phone")?;
            Ok(Listed {
                id: r.try_get("id")?,
                template: r.try_get("template")?,
                channel: r.try_get("channel")?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                error: r.try_get("last_error")?,
                at: r.try_get("created_at")?,
                recipient: if broadcast {
                    let org: String = r.try_get("org_id")?;
                    format!("{org}（群发）")
                } else {
                    format!("{name} {phone}")
                },
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((list, more))
}

/// `GET /console/messages`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(asked): Query<Asked>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let failed_only = asked.status == "failed";
    let page_no = asked.page.parse::<i64>().unwrap_or(1).max(1);
    let org = &session.user.org_id;
    match listed(&state, org, failed_only, (page_no - 1) * PER_PAGE).await {
        Ok((list, more)) => page(
            StatusCode::OK,
            frame(
                "消息",
                Some(&session),
                body(&session, &list, failed_only, page_no, more),
            ),
        ),
        Err(e) => crate::console::store_failed(&e),
    }
}

/// A template's name in words.
pub fn template_words(t: &str) -> &str {
    match t {
        "monthly_reminder" => "每月更新提醒",
        "outbound_member" => "外出登记告知",
        "outbound_branch" => "外出登记告知（支部）",
        "outbound_inflow" => "外出登记告知（流入地）",
        "checked_in_branch" => "报到情况反馈",
        "unreported_departure_branch" => "未报告外出告知",
        "home_visit_pair" => "回乡见面提醒",
        "lapse_warning" => "组织生活预警",
        "stale_list_branch" => "逾期未更新名单",
        "lost_contact_county" => "失联名单",
        "review_summary" => "每月名单汇总",
        "transfer_suggestion_branch" => "应转尽转提示",
        "quarterly_talk" => "谈心提醒",
        "quarterly_talk_followup" => "谈心再提醒",
        "family_visit" => "家访提醒",
        "return_peak" => "返乡高峰提醒",
        "political_birthday" => "政治生日祝福",
        "study_pack" => "学习资源包",
        "dispatch_report" => "调度报告",
        "dispatch_summary" => "调度摘要",
        "org_digest" => "消息汇总",
        "login_code" => "登录验证码",
        "reply_thanks" => "回复致谢",
        "reply_forward" => "回复转达",
        other => other,
    }
}

fn channel_words(c: &str) -> &str {
    match c {
        "sms" => "短信",
        "webhook" => "接口推送",
        "console" => "控制台",
        "wecom" => "企业微信群",
        "dingtalk" => "钉钉群",
        "feishu" => "飞书群",
        "members" => "逐人短信",
        "" => "—",
        other => other,
    }
}

fn status_words(s: &str) -> &str {
    match s {
        "pending" => "待发送",
        "sending" => "发送中",
        "delivered" => "已送达",
        "failed" => "发送失败",
        "gathered" => "已合并发送",
        other => other,
    }
}

fn body(s: &Session, list: &[Listed], failed_only: bool, page_no: i64, more: bool) -> Markup {
    let department = s.user.is_department();
    let base = if failed_only {
        "/console/messages?status=failed&"
    } else {
        "/console/messages?"
    };
    html! {
        h1 { "消息" }
        p.note { "发给本组织及下级组织的党员、联系人和群的消息，最新的在前。发送失败的消息已转入待处理队列" @if department { "，修正原因后可以重发" } "。" }
        nav.tabs aria-label="消息筛选" {
            @if failed_only {
                a href="/console/messages" { "全部" } " " a href="/console/messages?status=failed" aria-current="page" { "发送失败" }
            } @else {
                a href="/console/messages" aria-current="page" { "全部" } " " a href="/console/messages?status=failed" { "发送失败" }
            }
        }
        @if list.is_empty() {
            section.card { p.note { @if failed_only { "没有发送失败的消息。" } @else { "还没有消息。" } } }
        } @else {
            div.scroll {
                table.messages.cards {
                    thead { tr {
                        th scope="col" { "时间" } th scope="col" { "收件人" } th scope="col" { "消息" }
                        th scope="col" { "渠道" } th scope="col" { "状态" } th scope="col" { "尝试次数" }
                        th scope="col" { "错误" } @if department { th scope="col" { "操作" } }
                    } }
                    tbody {
                        @for m in list {
                            tr.failed[m.status == "failed"] {
                                td data-label="时间" { (m.at.with_timezone(&hongyan_domain::TZ).format("%Y-%m-%d %H:%M")) }
                                td data-label="收件人" { (m.recipient) }
                                td data-label="消息" { (template_words(&m.template)) }
                                td data-label="渠道" { (channel_words(&m.channel)) }
                                td data-label="状态" { (status_words(&m.status)) }
                                td.num data-label="尝试次数" { (m.attempts) }
                                td.error-text data-label="错误" { (m.error.as_deref().unwrap_or("")) }
                                @if department {
                                    td {
                                        @if m.status == "failed" {
                                            form.inline method="post" action={ "/console/messages/" (m.id) "/replay" } {
                                                input type="hidden" name="form_token" value=(s.form_token);
                                                button.secondary type="submit" aria-label={ "重发给" (m.recipient) } { "重发" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        nav.pages aria-label="翻页" {
            @if page_no > 1 { a href={ (base) "page=" (page_no - 1) } { "上一页" } }
            " "
            @if more { a href={ (base) "page=" (page_no + 1) } { "下一页" } }
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct TokenOnly {
    #[serde(default)]
    form_token: String,
}

/// The stored request of a failed notification about the viewer's subtree.
async fn failed_request(
    state: &AppState,
    org: &str,
    id: uuid::Uuid,
) -> Result<Option<NotificationRequest>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT q.key, q.template, q.recipient::text AS recipient, q.audience_org,
                q.params::text AS params, q.caused_by
         FROM console_notification_requests q JOIN console_notifications n ON n.id = q.id
         WHERE q.id = $1 AND q.status = 'failed' AND q.template <> 'login_code'
           AND n.org_id IN (SELECT id FROM orgs WHERE path @> ARRAY[$2::text])",
    )
    .bind(id)
    .bind(org)
    .fetch_optional(&state.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let decode = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
    let recipient: Option<String> = r.try_get("recipient")?;
    let org: Option<String> = r.try_get("audience_org")?;
    let to = match (recipient, org) {
        (Some(p), _) => notify::To::Recipient(serde_json::from_str(&p).map_err(decode)?),
        (None, Some(o)) => notify::To::Org(
            hongyan_domain::ids::OrgId::parse(&o).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        ),
        (None, None) => return Ok(None),
    };
    let params: String = r.try_get("params")?;
    Ok(Some(NotificationRequest {
        key: r.try_get("key")?,
        template: r.try_get("template")?,
        to,
        params: serde_json::from_str(&params).map_err(decode)?,
        caused_by: hongyan_domain::ids::EventId(
            r.try_get::<Option<uuid::Uuid>, _>("caused_by")?
                .unwrap_or_default(),
        ),
    }))
}

/// `POST /console/messages/{id}/replay`: 重发, departments only.
pub async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    form: Result<Form<TokenOnly>, FormRejection>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let token = form.map(|Form(t)| t.form_token).unwrap_or_default();
    if !post_ok(&state, &headers, &session, &token) {
        return forbidden_post(Some(&session));
    }
    if !session.user.is_department() {
        return refusal(
            StatusCode::NOT_FOUND,
            "没有重发",
            "重发失败的消息由组织部门操作；请联系县委组织部。",
            Some(&session),
        );
    }
    let found = match uuid::Uuid::parse_str(&id) {
        Ok(id) => failed_request(&state, &session.user.org_id, id).await,
        Err(_) => Ok(None),
    };
    let request = match found {
        Ok(Some(r)) => r,
        Ok(None) => {
            return refusal(
                StatusCode::NOT_FOUND,
                "没有重发",
                "这条消息不是发送失败的消息（可能已经重发或已送达），或不属于本组织及下级组织。请回到消息页面刷新后查看。",
                Some(&session),
            );
        }
        Err(e) => return crate::console::store_failed(&e),
    };
    match send_back(&state, &request).await {
        Ok(()) => {
            tracing::info!(user = %session.user.id, notification = %id, "A department replayed a failed notification from the console.");
            Redirect::to("/console/messages?status=failed").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "Console replay could not reach RabbitMQ.");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "没有重发",
                "暂时连不上消息队列，没有重发。请稍后再试；如一直如此，请联系系统管理员。",
                Some(&session),
            )
        }
    }
}

/// The request back to the notifier's queue, marked replayed, as `parked replay` sends it.
async fn send_back(state: &AppState, request: &NotificationRequest) -> anyhow::Result<()> {
    let names = Names::new(&state.settings.amqp.prefix);
    let (message_id, body) = system_envelope(notify::ROUTING_KEY, state.clock.now(), request);
    let copy = parked::replayed(
        &names.notifier(),
        notify::ROUTING_KEY,
        body.into_bytes(),
        Some(message_id),
    );
    state
        .publisher
        .publish_all(std::slice::from_ref(&copy))
        .await?;
    Ok(())
}
