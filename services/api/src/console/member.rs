//! A member's page (DESIGN.md section 12): the record, the history as a timeline with the
//! contacts in it, and the messages sent to the member with their status. Seen by the member's
//! home side and by the org the member is checked in with; anyone else gets 404, as the API.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use hongyan_domain::ledger::FlowRecord;
use hongyan_domain::{TZ, regions, words};
use maud::{Markup, html};
use sqlx::Row;

use super::{frame, page, refusal, signed_in};
use crate::state::AppState;

/// The member as the viewer may see them: name, home branch, whether the phone is theirs to
/// see, and the newest record.
pub(super) struct Seen {
    pub id: String,
    pub name: String,
    pub branch: String,
    /// The viewer is the member's home side (the branch or an org above it): it sees the
    /// phone and may register returns, transfers and contacts.
    pub sees_phone: bool,
    pub record: Option<FlowRecord>,
    /// The inflow org or station the record names (报到地点, or where the member checked in).
    pub inflow_name: Option<String>,
}

pub(super) async fn seen(
    state: &AppState,
    org: &str,
    member: &str,
) -> Result<Option<Seen>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT m.doc->>'name' AS name, home.name AS branch, $1 = ANY (home.path) AS home_side,
                r.doc AS record, $1 = ANY (coalesce(inflow.path, '{}')) AS inflow_side,
                inflow.name AS inflow_name
         FROM members m JOIN orgs home ON home.id = m.home_org_id
         LEFT JOIN LATERAL (SELECT * FROM flow_records f WHERE f.member_id = m.id
                            ORDER BY f.is_open DESC, f.opened_at DESC LIMIT 1) r ON true
         LEFT JOIN orgs inflow ON inflow.id = r.inflow_org_id
         WHERE m.id = $2",
    )
    .bind(org)
    .bind(member)
    .fetch_optional(&state.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let home_side: bool = row.try_get("home_side")?;
    let inflow_side: Option<bool> = row.try_get("inflow_side")?;
    if !home_side && inflow_side != Some(true) {
        return Ok(None);
    }
    let record: Option<serde_json::Value> = row.try_get("record")?;
    let record = match record {
        Some(doc) => Some(
            serde_json::from_value::<FlowRecord>(doc)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        ),
        None => None,
    };
    Ok(Some(Seen {
        id: member.to_owned(),
        name: row
            .try_get::<Option<String>, _>("name")?
            .unwrap_or_default(),
        branch: row.try_get("branch")?,
        sees_phone: home_side,
        inflow_name: row.try_get("inflow_name")?,
        record,
    }))
}

/// One line of the timeline.
struct Step {
    at: DateTime<Utc>,
    what: String,
    by: String,
    applied: bool,
}

fn step_words(kind: &str, data: &serde_json::Value) -> String {
    let s = |k: &str| data.get(k).and_then(|v| v.as_str()).unwrap_or("");
    match kind {
        "member.upserted" => "党员信息登记".into(),
        "registration.outbound" => format!("外出登记：{}", regions::place_name(s("region_code"))),
        "registration.inbound" => "到达流入地报到".into(),
        "registration.update" if data.get("confirmed_unchanged") == Some(&true.into()) => {
            "确认本月无变化".into()
        }
        "registration.update" => "更新信息".into(),
        "registration.return" if data.get("permanent") == Some(&true.into()) => {
            "返乡（不再外出）".into()
        }
        "registration.return" => "回乡探亲".into(),
        "registration.transfer" => "组织关系转出".into(),
        "contact.recorded" => {
            let kind = match s("kind") {
                "talk" => "谈心谈话",
                "family_visit" => "家访",
                "home_meeting" => "回乡见面",
                "phone" => "电话联系",
                "reply" => "短信回复",
                other => other,
            };
            let text = s("text");
            if text.is_empty() {
                kind.to_owned()
            } else {
                format!("{kind}：{text}")
            }
        }
        "study.completed" => "完成学习资源包".into(),
        "review.transfer_suggested" => "建议转接组织关系（应转尽转）".into(),
        other => other.to_owned(),
    }
}

fn actor_words(actor: &serde_json::Value) -> String {
    if let Some(user) = actor.get("user").and_then(|u| u.as_str()) {
        return user.to_owned();
    }
    if actor.get("member_id").is_some() {
        return "本人".into();
    }
    if let Some(org) = actor.get("org_id").and_then(|o| o.as_str()) {
        return org.to_owned();
    }
    "系统".into()
}

async fn timeline(state: &AppState, member: &str) -> Result<Vec<Step>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT h.event_type, h.data, h.actor, h.occurred_at, h.applied, u.name AS user_name
         FROM history h LEFT JOIN console_users u ON u.id = h.actor->>'user'
         WHERE h.member_id = $1 ORDER BY h.occurred_at DESC, h.id DESC LIMIT 100",
    )
    .bind(member)
    .fetch_all(&state.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("event_type")?;
            let mut data: serde_json::Value = r.try_get("data")?;
            let place = data
                .get("destination")
                .and_then(|d| d.get("region_code"))
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            data["region_code"] = place;
            Ok(Step {
                at: r.try_get("occurred_at")?,
                what: step_words(&kind, &data),
                // A console user by name, as the branch knows them; otherwise the actor.
                by: match r.try_get::<Option<String>, _>("user_name")? {
                    Some(name) => name,
                    None => actor_words(&r.try_get("actor")?),
                },
                applied: r.try_get("applied")?,
            })
        })
        .collect()
}

/// A message sent to the member.
struct Sent {
    template: String,
    channel: String,
    status: String,
    attempts: i32,
    error: Option<String>,
    at: DateTime<Utc>,
}

async fn messages(state: &AppState, member: &str) -> Result<Vec<Sent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT template, coalesce(channel, '') AS channel, status, attempts, last_error, updated_at
         FROM console_member_messages WHERE member_id = $1 ORDER BY created_at DESC LIMIT 50",
    )
    .bind(member)
    .fetch_all(&state.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Sent {
                template: r.try_get("template")?,
                channel: r.try_get("channel")?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                error: r.try_get("last_error")?,
                at: r.try_get("updated_at")?,
            })
        })
        .collect()
}

fn template_words(t: &str) -> &str {
    match t {
        "outbound_member" => "外出登记告知",
        "monthly_reminder" => "每月更新提醒",
        "political_birthday" => "政治生日祝福",
        "study_pack" => "学习资源包",
        "checked_in_branch" => "报到情况反馈",
        "reply_thanks" => "回复致谢",
        other => other,
    }
}

fn status_words(s: &str) -> &str {
    match s {
        "pending" => "待发送",
        "sending" => "发送中",
        "delivered" => "已送达",
        "failed" => "未送达",
        other => other,
    }
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&TZ).format("%Y-%m-%d %H:%M").to_string()
}

#[derive(serde::Deserialize, Default)]
pub struct AfterForm {
    /// The event a console form just sent about this member.
    #[serde(default)]
    event: String,
    /// How many times the page has looked for its result (it reloads itself meanwhile).
    #[serde(default)]
    look: u32,
}

/// What a form's applied event came to: for a departure the certificate number or the
/// transfer suggestion, otherwise that the ledger holds it.
fn applied_words(m: &Seen, outcome: &super::forms::Outcome) -> Markup {
    let departure = matches!(outcome, super::forms::Outcome::Applied { kind, .. } if kind == "registration.outbound");
    let Some(r) = m
        .record
        .as_ref()
        .filter(|r| departure && r.status.is_open())
    else {
        return html! { p { "已登记，台账已更新。" } };
    };
    html! {
        @if let Some(no) = &r.certificate_no {
            p { "已登记。流动党员活动证编号：" strong { (no.as_str()) } }
            p { a.button href={ "/console/members/" (super::encode_component(r.member_id.as_str())) "/certificate" } { "打印活动证" } }
        } @else if r.transfer_suggested {
            p { "已登记。外出超过6个月且有固定工作单位，建议办理组织关系转接（应转尽转）；在转接前，支部继续管理。" }
        } @else {
            p { "已登记，台账已更新。" }
        }
    }
}

/// `GET /console/members/{id}`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    after: Result<axum::extract::Query<AfterForm>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let after = after.map(|q| q.0).unwrap_or_default();
    let event = after.event;
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    // Whether the form's event is applied is asked before the record is read: asked after, a
    // commit in between would show "done" over the record as it was before.
    let outcome = match event.is_empty() {
        true => None,
        false => match super::forms::outcome(&state, &event).await {
            Ok(o) => Some(o),
            Err(e) => return super::store_failed(&e),
        },
    };
    let found = match seen(&state, &session.user.org_id, &id).await {
        Ok(f) => f,
        Err(e) => return super::store_failed(&e),
    };
    let Some(m) = found else {
        let text = "没有这名党员，或不在本组织可以查看的范围内。请从台账中查找。";
        return refusal(
            StatusCode::NOT_FOUND,
            "找不到这名党员",
            text,
            Some(&session),
        );
    };
    let (steps, sent) = match tokio::try_join!(timeline(&state, &id), messages(&state, &id)) {
        Ok(x) => x,
        Err(e) => return super::store_failed(&e),
    };
    let Some(outcome) = outcome else {
        return page(
            StatusCode::OK,
            frame("台账", Some(&session), body(&m, &steps, &sent)),
        );
    };
    let result = super::forms::outcome_box(&outcome, after.look, |o| applied_words(&m, o));
    let shown = html! { (result) (body(&m, &steps, &sent)) };
    let waiting = outcome.still_waiting(after.look);
    let next = format!(
        "{}?event={}&look={}",
        uri.path(),
        super::encode_component(&event),
        after.look + 1
    );
    page(
        StatusCode::OK,
        super::frame_refreshing(
            "台账",
            Some(&session),
            shown,
            waiting.then_some(next.as_str()),
        ),
    )
}

/// The member as `org` may see them, for the printable certificate.
pub(super) async fn for_certificate(
    state: &AppState,
    org: &str,
    member: &str,
) -> Result<Option<(String, String, FlowRecord)>, sqlx::Error> {
    Ok(seen(state, org, member)
        .await?
        .and_then(|m| m.record.map(|r| (m.name, m.branch, r))))
}

fn record(m: &Seen) -> Markup {
    let Some(r) = &m.record else {
        return html! { p.note { "没有外出记录。" } };
    };
    let phone = if m.sees_phone {
        r.phone.as_str().to_owned()
    } else {
        r.phone.masked()
    };
    let date =
        |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "—".into());
    let flags: Vec<&str> = r.flags.iter().map(|f| words::flag(f)).collect();
    html! {
        dl.record {
            dt { "手机号码" } dd { (phone) }
            dt { "所在支部" } dd { (m.branch) }
            dt { "状态" } dd { (words::status(r.status)) }
            dt { "流入地" } dd { (regions::place_name(r.location.region_code.as_str())) }
            dt { "详细地址" } dd { (r.location.address) }
            @if let Some(org) = &m.inflow_name { dt { "流入地党组织" } dd { (org) } }
            dt { "工作单位" } dd { (r.location.employer.as_deref().unwrap_or("无固定单位")) }
            dt { "活动证编号" } dd { (r.certificate_no.as_ref().map_or("—", |c| c.as_str())) }
            dt { "外出日期" } dd { (date(r.left_on)) }
            dt { "最近确认日期" } dd { (date(r.last_confirmed_on)) }
            @if !flags.is_empty() { dt { "标记" } dd { (flags.join("、")) } }
            @if r.reminders_stopped { dt { "每月提醒短信" } dd { "已停发（本人回复退订；可在“更新信息”中恢复）" } }
        }
    }
}

/// The actions the viewer may take: the home side all four, the inflow org 更新信息.
fn actions(m: &Seen) -> Markup {
    let open = m.record.as_ref().is_some_and(|r| r.status.is_open());
    let base = format!("/console/members/{}", super::encode_component(&m.id));
    html! {
        @if open {
            nav.actions aria-label="办理" {
                a.button href={ (base) "/update" } { "更新信息" }
                @if m.sees_phone {
                    a.button href={ (base) "/return" } { "登记返乡" }
                    a.button href={ (base) "/transfer" } { "登记转出" }
                    a.button href={ (base) "/contact" } { "记录联系" }
                }
            }
        }
    }
}

fn body(m: &Seen, steps: &[Step], sent: &[Sent]) -> Markup {
    html! {
        h1 { (m.name) }
        (actions(m))
        section.card { h2 { "外出记录" } (record(m)) }
        section.card {
            h2 { "经历" }
            @if steps.is_empty() { p.note { "暂无记录。" } }
            ol.timeline {
                @for s in steps {
                    li {
                        time { (local(s.at)) }
                        " " (s.what)
                        span.note { " · " (s.by) @if !s.applied { "（较早的消息，已记入，未改变现状）" } }
                    }
                }
            }
        }
        section.card {
            h2 { "发给本人的消息" }
            @if sent.is_empty() { p.note { "还没有发过消息。" } } @else {
                div.scroll {
                    table {
                        thead { tr { th scope="col" { "时间" } th scope="col" { "消息" } th scope="col" { "渠道" } th scope="col" { "状态" } th scope="col" { "尝试次数" } th scope="col" { "原因" } } }
                        tbody {
                            @for s in sent {
                                tr {
                                    td { (local(s.at)) } td { (template_words(&s.template)) } td { (s.channel) }
                                    td { (status_words(&s.status)) } td { (s.attempts) }
                                    td { (s.error.as_deref().map(hongyan_domain::ids::mask_phones).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
