//! 外出登记 (DESIGN.md section 12): a branch registers a member leaving. Fields 党员, 外出日期,
//! 外出原因, 预计外出月数, 流入地 (省, 市, 县), 详细地址, 工作单位, 单位类型, and 登记外出. The
//! form's own checks say what is wrong in Chinese beside the field; the event then goes through
//! the same checks as `POST /v1/events`, and the member's page shows the result once the
//! registry has applied it (the 活动证编号, or the transfer suggestion).

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use hongyan_domain::ids::{MemberId, OrgId};
use hongyan_domain::payloads::{Outbound, Subject};
use hongyan_domain::{Reason, words};
use maud::{Markup, html};
use serde::Deserialize;

use super::forms::{self, Problems, Whereabouts, problem};
use super::session::Session;
use super::{frame, page, signed_in};
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct Posted {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    intent: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    left_on: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    months: String,
    /// The station or inflow org the member will report to, when the branch knows it: its
    /// contact is told to expect the member.
    #[serde(default)]
    inflow_org: String,
    #[serde(flatten)]
    at: Whereabouts,
}

super::forms::posted_with_token!(Posted);

async fn members(state: &AppState, org: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, c.name FROM console_members c JOIN orgs o ON o.id = c.home_org_id
         WHERE $1 = ANY (o.path) AND NOT c.away ORDER BY c.name, c.id LIMIT 2000",
    )
    .bind(org)
    .fetch_all(&state.pool)
    .await
}

/// `GET /console/outbound`.
pub async fn show(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    render(
        &state,
        &session,
        &Posted::default(),
        &Problems::new(),
        StatusCode::OK,
    )
    .await
}

/// The stations and party organizations in the chosen county, for 报到地点.
async fn receivers(state: &AppState, county: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    if county.len() != 6 {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT id, name FROM console_receivers WHERE left(region_code, 6) = $1
         ORDER BY kind <> 'station', name, id LIMIT 200",
    )
    .bind(county)
    .fetch_all(&state.pool)
    .await
}

/// 报到地点: where the member will report, when the branch knows it (optional).
fn receivers_select(chosen: &str, list: &[(String, String)]) -> Markup {
    html! {
        label for="inflow_org" { "报到地点（服务站或流入地党组织）" }
        select id="inflow_org" name="inflow_org" {
            option value="" {
                @if list.is_empty() { "不指定（选好县后可选，本人会收到就近服务站）" }
                @else { "不指定（本人会收到就近服务站）" }
            }
            @for (id, name) in list {
                option value=(id) selected[*id == chosen] { (name) }
            }
        }
        p.note { "指定后，系统会短信告知对方联系人做好接收报到。" }
    }
}

async fn render(
    state: &AppState,
    session: &Session,
    p: &Posted,
    problems: &Problems,
    status: StatusCode,
) -> Response {
    let lists = tokio::try_join!(
        members(state, &session.user.org_id),
        receivers(state, &p.at.place.county)
    );
    match lists {
        Ok((list, receivers)) => page(
            status,
            frame(
                "外出登记",
                Some(session),
                form(session, p, &list, &receivers, problems),
            ),
        ),
        Err(e) => super::store_failed(&e),
    }
}

/// The form's own checks, in Chinese, field by field; the payload when all pass.
fn check(p: &Posted, today: chrono::NaiveDate) -> Result<Outbound, Problems> {
    let mut bad = Problems::new();
    let member = MemberId::parse(p.member.trim()).ok();
    if member.is_none() {
        bad.insert("member", "请选择外出的党员。".into());
    }
    let left_on = forms::date(&p.left_on);
    match left_on {
        None => {
            bad.insert("left_on", "请填写外出日期，如 2026-12-07。".into());
        }
        Some(d) if d > today + chrono::Days::new(60) => {
            bad.insert(
                "left_on",
                "外出日期不能晚于今天之后两个月：请核对年份和月份。".into(),
            );
        }
        _ => {}
    }
    let reason = Reason::parse(&p.reason).ok();
    if reason.is_none() {
        bad.insert("reason", "请选择外出原因。".into());
    }
    let months = p
        .months
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|m| (1..=120).contains(m));
    if months.is_none() {
        bad.insert("months", "预计外出月数请填1到120之间的整数。".into());
    }
    let destination = p.at.check(&mut bad);
    let inflow_org_id = match p.inflow_org.trim() {
        "" => None,
        id => OrgId::parse(id).ok(),
    };
    if !bad.is_empty() {
        return Err(bad);
    }
    Ok(Outbound {
        subject: Subject::Known(member.expect("checked")),
        left_on: left_on.expect("checked"),
        reason: reason.expect("checked"),
        expected_months: months.expect("checked"),
        destination: destination.expect("checked"),
        inflow_org_id,
        inflow_contact: None,
    })
}

/// `POST /console/outbound`: 列出下一级 re-renders the picker; 登记外出 checks and sends.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    form: Result<Form<Posted>, FormRejection>,
) -> Response {
    let (session, mut p) = match forms::accept_post(&state, &headers, &uri, form).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    p.at.place = std::mem::take(&mut p.at.place).consistent();
    if p.intent == "pick" {
        return render(&state, &session, &p, &Problems::new(), StatusCode::OK).await;
    }
    let now = state.clock.now();
    let today = now.with_timezone(&hongyan_domain::TZ).date_naive();
    let out = match check(&p, today) {
        Ok(o) => o,
        Err(bad) => {
            return render(&state, &session, &p, &bad, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let member = out.subject.member_id().clone();
    match forms::send(
        &state,
        &session,
        "registration.outbound",
        out.to_wire(),
        now,
    )
    .await
    {
        Ok(event) => {
            let to = format!(
                "/console/members/{}?event={event}",
                super::encode_component(member.as_str())
            );
            Redirect::to(&to).into_response()
        }
        Err(refused) => {
            let mut bad = Problems::new();
            bad.insert("member", forms::refused_words(&refused));
            render(&state, &session, &p, &bad, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

fn form(
    s: &Session,
    p: &Posted,
    members: &[(String, String)],
    receivers: &[(String, String)],
    bad: &Problems,
) -> Markup {
    html! {
        h1 { "外出登记" }
        form.card method="post" action="/console/outbound" {
            input type="hidden" name="form_token" value=(s.form_token);
            label for="member" { "党员" }
            select id="member" name="member" {
                option value="" { "请选择（只列出本支部未外出的党员）" }
                @for (id, name) in members {
                    option value=(id) selected[*id == p.member] { (name) }
                }
            }
            (problem(bad.get("member")))
            label for="left_on" { "外出日期" }
            input id="left_on" name="left_on" type="text" inputmode="numeric" value=(p.left_on) placeholder="如 2026-12-07";
            (problem(bad.get("left_on")))
            label for="reason" { "外出原因" }
            select id="reason" name="reason" {
                option value="" { "请选择" }
                @for r in Reason::ALL {
                    option value=(r.as_str()) selected[p.reason == r.as_str()] { (words::reason(*r)) }
                }
            }
            (problem(bad.get("reason")))
            label for="months" { "预计外出月数" }
            input id="months" name="months" type="number" min="1" max="120" inputmode="numeric" value=(p.months);
            (problem(bad.get("months")))
            (p.at.fields(bad))
            (receivers_select(&p.inflow_org, receivers))
            p.note { "外出6个月以内或没有固定单位的，发放流动党员活动证；其余的建议办理组织关系转接（应转尽转）。" }
            button.primary type="submit" name="intent" value="save" { "登记外出" }
        }
    }
}
