//! 报到登记 (DESIGN.md section 12): a station clerk or an inflow org checks a member in. The
//! 活动证编号 or the 手机号码 finds the member among the open records (name, masked phone, home
//! branch); 报到日期, 流入地, 详细地址, 工作单位 and 单位类型 with 确认报到 send
//! `registration.inbound`. With no match, 姓名 and 手机号码 register the arrival, which the
//! registry files as an unreported departure or on the unmatched list (section 3). Once the
//! registry has applied it, the page says which.

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use hongyan_domain::ids::{CertificateNo, MemberId, Phone};
use hongyan_domain::payloads::{ArrivalKey, Inbound, Location};
use hongyan_domain::{EmployerType, TZ};
use maud::{Markup, html};
use serde::Deserialize;
use sqlx::Row;

use super::forms::{self, Outcome, Problems, Whereabouts, problem};
use super::session::Session;
use super::{encode_component, frame, page, signed_in};
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct Posted {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    intent: String,
    #[serde(default)]
    certificate_no: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    arrived_on: String,
    #[serde(flatten)]
    at: Whereabouts,
}

super::forms::posted_with_token!(Posted);

/// The member an arrival's key found among the open records.
struct Found {
    member_id: String,
    name: String,
    phone: String,
    home_branch: String,
    location: Option<Location>,
}

/// What the keys typed found: the member, nobody, or several with the phone.
enum Lookup {
    NotAsked,
    Found(Box<Found>),
    Nobody,
    Several,
}

/// Finds the open record of the 活动证编号 typed, else of the 手机号码.
async fn look_up(state: &AppState, p: &Posted) -> Result<Lookup, sqlx::Error> {
    let certificate = CertificateNo::parse(&digits(&p.certificate_no)).ok();
    let phone = Phone::parse_typed(&p.phone).ok();
    let (column, key) = match (&certificate, &phone) {
        (Some(c), _) => ("certificate_no", c.as_str().to_owned()),
        (None, Some(ph)) => ("phone", ph.as_str().to_owned()),
        (None, None) => return Ok(Lookup::NotAsked),
    };
    let sql = format!(
        "SELECT member_id, member_name, phone, home_org_name, region_code, address, employer,
                employer_type
         FROM console_arrivals WHERE {column} = $1 LIMIT 2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&key)
        .fetch_all(&state.pool)
        .await?;
    let row = match rows.as_slice() {
        [] => return Ok(Lookup::Nobody),
        [one] => one,
        _ => return Ok(Lookup::Several),
    };
    let location = (|| {
        Some(Location {
            region_code: hongyan_domain::ids::RegionCode::parse(
                &row.try_get::<String, _>("region_code").ok()?,
            )
            .ok()?,
            address: row.try_get::<Option<String>, _>("address").ok()??,
            employer: row.try_get("employer").ok()?,
            employer_type: EmployerType::parse(&row.try_get::<String, _>("employer_type").ok()?)
                .ok()?,
        })
    })();
    Ok(Lookup::Found(Box::new(Found {
        member_id: row.try_get("member_id")?,
        name: row.try_get("member_name")?,
        phone: row.try_get("phone")?,
        home_branch: row.try_get("home_org_name")?,
        location,
    })))
}

/// The digits of a number as typed (spaces and dashes dropped).
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

#[derive(Deserialize, Default)]
pub struct Shown {
    /// The arrival a POST just sent: the page shows what the registry made of it.
    #[serde(default)]
    event: String,
    /// How many times the page has looked (it reloads itself while the registry works).
    #[serde(default)]
    look: u32,
}

/// `GET /console/inbound`: the empty form, or an arrival's result.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    shown: Result<Query<Shown>, QueryRejection>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let shown = shown.map(|q| q.0).unwrap_or_default();
    if shown.event.is_empty() {
        let today = state.clock.now().with_timezone(&TZ).date_naive();
        let p = Posted {
            arrived_on: today.to_string(),
            ..Posted::default()
        };
        return render(
            &session,
            &p,
            &Lookup::NotAsked,
            &Problems::new(),
            StatusCode::OK,
        );
    }
    let outcome = match forms::outcome(&state, &shown.event).await {
        Ok(o) => o,
        Err(e) => return super::store_failed(&e),
    };
    let next = format!(
        "/console/inbound?event={}&look={}",
        encode_component(&shown.event),
        shown.look + 1
    );
    let body = html! { h1 { "报到登记" } (forms::outcome_box(&outcome, shown.look, arrival_words)) p { a.button href="/console/inbound" { "登记下一位" } } };
    let next = outcome.still_waiting(shown.look).then_some(next.as_str());
    page(
        StatusCode::OK,
        super::frame_refreshing("报到登记", Some(&session), body, next),
    )
}

/// What an applied arrival came to, in words.
fn arrival_words(o: &Outcome) -> Markup {
    match o {
        Outcome::Applied {
            member: Some(m),
            kind: _,
            name,
            flagged,
        } => html! {
            @if *flagged {
                p { "已报到：" strong { (name) } "。原支部没有登记该党员外出，系统已建立外出记录并标记“未报告外出”，并已告知原支部。" }
            } @else {
                p { "已报到：" strong { (name) } "。已告知原支部。" }
            }
            p { a href={ "/console/members/" (encode_component(m)) } { "查看" (name) "的记录" } }
        },
        Outcome::Applied { member: None, .. } => html! {
            p { "没有找到这名党员的外出记录，已记入待匹配名单；县委组织部会核实其所在支部。" }
        },
        _ => html! {},
    }
}

/// `POST /console/inbound`: 查找 looks the member up, 列出下一级 lists the next level of the
/// place, 确认报到 checks and sends.
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
    let found = match look_up(&state, &p).await {
        Ok(f) => f,
        Err(e) => return super::store_failed(&e),
    };
    let mut bad = Problems::new();
    if p.intent == "find" {
        if let (Lookup::Found(f), true) = (&found, p.at.place.county.is_empty()) {
            // The record's place and work as the branch registered them, to confirm or correct.
            if let Some(l) = &f.location {
                p.at = Whereabouts::of(l);
            }
        }
        if matches!(found, Lookup::NotAsked) {
            bad.insert("key", "请填写活动证编号或手机号码再查找。".into());
        }
        return render(&session, &p, &found, &bad, StatusCode::OK);
    }
    if p.intent == "pick" {
        return render(&session, &p, &found, &bad, StatusCode::OK);
    }
    let today = state.clock.now().with_timezone(&TZ).date_naive();
    let arrival = match check(&p, &found, today) {
        Ok(a) => a,
        Err(bad) => {
            return render(&session, &p, &found, &bad, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let now = state.clock.now();
    match forms::send(
        &state,
        &session,
        "registration.inbound",
        arrival.to_wire(),
        now,
    )
    .await
    {
        Ok(event) => Redirect::to(&format!("/console/inbound?event={event}")).into_response(),
        Err(refused) => {
            bad.insert("key", forms::refused_words(&refused));
            render(&session, &p, &found, &bad, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

/// The form's own checks; the arrival when they pass.
fn check(p: &Posted, found: &Lookup, today: chrono::NaiveDate) -> Result<Inbound, Problems> {
    let mut bad = Problems::new();
    let mut keys = Vec::new();
    match found {
        Lookup::Found(f) => {
            if let Ok(c) = CertificateNo::parse(&digits(&p.certificate_no)) {
                keys.push(ArrivalKey::Certificate(c));
            }
            if let Ok(m) = MemberId::parse(&f.member_id) {
                keys.push(ArrivalKey::MemberId(m));
            }
        }
        Lookup::NotAsked | Lookup::Nobody | Lookup::Several => {
            let phone = Phone::parse_typed(&p.phone);
            if phone.is_err() {
                bad.insert(
                    "phone",
                    "请填写本人的11位手机号码（如 138 0013 8000）。".into(),
                );
            }
            if p.name.trim().is_empty() {
                bad.insert(
                    "name",
                    "没有找到外出记录时，请填写姓名和手机号码登记报到。".into(),
                );
            }
            if let Ok(phone) = phone {
                keys.push(ArrivalKey::Person {
                    name: p.name.trim().to_owned(),
                    phone,
                    home_org_id: None,
                });
            }
        }
    }
    let arrived_on = forms::date(&p.arrived_on);
    match arrived_on {
        None => {
            bad.insert("arrived_on", "请填写报到日期，如 2026-12-07。".into());
        }
        Some(d) if d > today => {
            bad.insert("arrived_on", "报到日期不能晚于今天。".into());
        }
        _ => {}
    }
    let location = p.at.check(&mut bad);
    if !bad.is_empty() {
        return Err(bad);
    }
    Ok(Inbound {
        keys,
        arrived_on: arrived_on.expect("checked"),
        location: location.expect("checked"),
    })
}

fn render(
    session: &Session,
    p: &Posted,
    found: &Lookup,
    bad: &Problems,
    status: StatusCode,
) -> Response {
    page(
        status,
        frame("报到登记", Some(session), form(session, p, found, bad)),
    )
}

fn who(found: &Lookup) -> Markup {
    match found {
        Lookup::NotAsked => html! {},
        Lookup::Found(f) => html! {
            div.card.result id="found" {
                p { "找到外出记录：" }
                dl.record {
                    dt { "姓名" } dd { (f.name) }
                    dt { "手机号码" } dd { (Phone::parse(&f.phone).map(|p| p.masked()).unwrap_or_default()) }
                    dt { "原支部" } dd { (f.home_branch) }
                }
                p.note { "请核对本人后，填写下面的报到信息。" }
            }
        },
        Lookup::Several => html! {
            div.card.pending id="found" { p { "这个手机号码对应多条外出记录，请改用活动证编号查找；或填写姓名，按“确认报到”登记。" } }
        },
        Lookup::Nobody => html! {
            div.card.pending id="found" { p { "没有找到外出记录。如确是到本地的党员，请填写姓名和手机号码，按“确认报到”登记；系统会查找其所在支部。" } }
        },
    }
}

fn form(s: &Session, p: &Posted, found: &Lookup, bad: &Problems) -> Markup {
    let unmatched = !matches!(found, Lookup::Found(_));
    html! {
        h1 { "报到登记" }
        form.card method="post" action="/console/inbound" {
            input type="hidden" name="form_token" value=(s.form_token);
            fieldset {
                legend { "查找党员" }
                label for="certificate_no" { "活动证编号" }
                input id="certificate_no" name="certificate_no" inputmode="numeric" value=(p.certificate_no) maxlength="20" placeholder="15位数字";
                label for="phone" { "手机号码" }
                input id="phone" name="phone" type="tel" inputmode="tel" value=(p.phone) maxlength="20";
                (problem(bad.get("phone")))
                (problem(bad.get("key")))
                button.secondary type="submit" name="intent" value="find" { "查找" }
            }
            (who(found))
            @if unmatched {
                label for="name" { "姓名" }
                input id="name" name="name" value=(p.name) maxlength="40" placeholder="查找不到外出记录时填写";
                (problem(bad.get("name")))
            }
            label for="arrived_on" { "报到日期" }
            input id="arrived_on" name="arrived_on" type="text" inputmode="numeric" value=(p.arrived_on) placeholder="如 2026-12-07";
            (problem(bad.get("arrived_on")))
            (p.at.fields(bad))
            button.primary type="submit" name="intent" value="save" { "确认报到" }
        }
    }
}
