//! `/console/login`: 手机号码 and 获取验证码, then 验证码 and 登录 (DESIGN.md section 12). The
//! pages before a session carry a form nonce bound to a `SameSite=Strict` cookie, and every
//! POST checks `Origin`; the rules on codes are `login`'s.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hongyan_adapters::config;
use hongyan_domain::Phone;
use maud::{Markup, html};
use serde::Deserialize;

use super::login::{self, Asked, Entered};
use super::{frame, page, session};
use crate::page::nonce::FormNonce;
use crate::state::AppState;

const NONCE: FormNonce = FormNonce {
    cookie: "hy_login",
    purpose: b"console-login|",
};
/// What the nonce is bound to: the sign-in form, for everyone alike.
const BOUND_TO: &str = "console-login";

#[derive(Deserialize, Default)]
pub struct Posted {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    nonce: String,
    /// The console page to open once signed in (a link from an SMS).
    #[serde(default)]
    next: String,
}

#[derive(Deserialize, Default)]
pub struct Next {
    #[serde(default)]
    next: String,
}

fn secret(state: &AppState) -> Vec<u8> {
    config::expose(&state.settings.api.link_secret)
        .as_bytes()
        .to_vec()
}

/// The client's address, for the per-address limits: the connection's peer.
fn client(ext: &Extensions) -> String {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// A sign-in page with a fresh nonce in its form and its cookie.
fn respond(state: &AppState, status: StatusCode, body: impl FnOnce(&str) -> Markup) -> Response {
    let nonce = NONCE.new_nonce(&secret(state), BOUND_TO);
    let mut resp = page(status, frame("登录", None, body(&nonce)));
    NONCE.set_cookie(&mut resp, "/console/login", &nonce);
    resp
}

fn phone_form(nonce: &str, next: &str, phone: &str, problem: Option<&str>) -> Markup {
    html! {
        div.card.narrow {
            h1 { "登录" }
            p.note { "支部、站点和组织部门的工作人员用登记的手机号码登录。" }
            form method="post" action="/console/login/code" {
                input type="hidden" name="nonce" value=(nonce);
                input type="hidden" name="next" value=(next);
                label for="phone" { "手机号码" }
                input id="phone" name="phone" type="tel" inputmode="tel" autocomplete="tel"
                    value=(phone) required aria-describedby=[problem.map(|_| "phone-problem")];
                @if let Some(p) = problem { p.error id="phone-problem" { (p) } }
                button.primary type="submit" { "获取验证码" }
            }
        }
    }
}

fn code_form(
    nonce: &str,
    next: &str,
    phone: &Phone,
    message: &str,
    problem: Option<&str>,
) -> Markup {
    html! {
        div.card.narrow {
            h1 { "登录" }
            p.notice.card id="sent" { (message) }
            form method="post" action="/console/login" {
                input type="hidden" name="nonce" value=(nonce);
                input type="hidden" name="next" value=(next);
                input type="hidden" name="phone" value=(phone.as_str());
                p { "手机号码：" (phone.masked()) }
                label for="code" { "验证码" }
                input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code"
                    maxlength="6" required aria-describedby=[problem.map(|_| "code-problem")];
                @if let Some(p) = problem { p.error id="code-problem" { (p) } }
                button.primary type="submit" { "登录" }
            }
            form method="post" action="/console/login/code" {
                input type="hidden" name="nonce" value=(nonce);
                input type="hidden" name="next" value=(next);
                input type="hidden" name="phone" value=(phone.as_str());
                p.note { "没收到？一分钟后可以" button type="submit" { "重新获取验证码" } }
            }
        }
    }
}

/// `GET /console/login`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    next: Result<Query<Next>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = next.map(|Query(n)| n.next).unwrap_or_default();
    let next = super::after_sign_in(&next).to_owned();
    if let Ok(Some(_)) = session::current(&state, &headers).await {
        return Redirect::to(&next).into_response();
    }
    respond(&state, StatusCode::OK, |n| phone_form(n, &next, "", None))
}

/// Whether a sign-in POST is the page's own: the nonce and `Origin`.
fn posted_ok(state: &AppState, headers: &HeaderMap, p: &Posted) -> bool {
    session::same_origin(state, headers)
        && NONCE.posted_ok(&secret(state), BOUND_TO, &p.nonce, headers)
}

/// The sign-in form as posted, once it passed the checks, with its phone; or the answer: 403
/// for another origin or a stale nonce, the phone form again (with `problem`) for a bad phone.
fn posted_phone(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<Posted>, FormRejection>,
    problem: &str,
) -> Result<(Posted, Phone), Box<Response>> {
    let p = form.map(|Form(p)| p).unwrap_or_default();
    if !posted_ok(state, headers, &p) {
        return Err(Box::new(super::forbidden_post(None)));
    }
    match Phone::parse_typed(&p.phone) {
        Ok(phone) => Ok((p, phone)),
        Err(_) => Err(Box::new(respond(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            |n| phone_form(n, &p.next, &p.phone, Some(problem)),
        ))),
    }
}

/// `POST /console/login/code`: 获取验证码.
pub async fn ask(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<Posted>, FormRejection>,
) -> Response {
    let problem = "手机号码应为11位大陆手机号（可带空格或短横线），请检查后重新输入。";
    let (p, phone) = match posted_phone(&state, &headers, form, problem) {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    let asked = match login::ask(&state, &phone, &client(&ext)).await {
        Ok(a) => a,
        Err(e) => return super::store_failed(&format!("{e:#}")),
    };
    let (status, message) = match asked {
        Asked::Sent => (
            StatusCode::OK,
            format!(
                "如果 {} 是已登记的工作人员号码，验证码短信已发出，5分钟内有效。",
                phone.masked()
            ),
        ),
        Asked::TooSoon => (
            StatusCode::TOO_MANY_REQUESTS,
            "同一号码一分钟内只能获取一次验证码：请用刚收到的验证码，或稍等一分钟再获取。".into(),
        ),
        Asked::PhoneDailyLimit => (
            StatusCode::TOO_MANY_REQUESTS,
            "这个号码今天获取验证码已达10次，请明天再试，或请上级组织部门协助。".into(),
        ),
        Asked::ClientLimit => (
            StatusCode::TOO_MANY_REQUESTS,
            "这台电脑所在网络一小时内获取验证码次数过多，请一小时后再试。".into(),
        ),
    };
    respond(&state, status, |n| {
        code_form(n, &p.next, &phone, &message, None)
    })
}

/// `POST /console/login`: 登录 with the code.
pub async fn enter(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<Posted>, FormRejection>,
) -> Response {
    let (p, phone) = match posted_phone(&state, &headers, form, "请先输入手机号码并获取验证码。")
    {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    let entered = match login::enter(&state, &phone, &p.code, &client(&ext)).await {
        Ok(e) => e,
        Err(e) => return super::store_failed(&format!("{e:#}")),
    };
    let problem = match entered {
        Entered::SignedIn(user) => {
            let id = match session::start(&state, &user).await {
                Ok(id) => id,
                Err(e) => return super::store_failed(&e),
            };
            tracing::info!(user = %user.id, org = %user.org_id, "Console sign-in.");
            let mut resp = Redirect::to(super::after_sign_in(&p.next)).into_response();
            session::set_cookie(&state, &mut resp, Some(&id));
            return resp;
        }
        Entered::Wrong { tries_left } => {
            format!("验证码不对，请核对短信后重新输入（还可以再试{tries_left}次）。")
        }
        Entered::NoCode => {
            "验证码已失效（超过5分钟、已用过或输错次数过多），请重新获取验证码。".to_owned()
        }
        Entered::ClientLimit => {
            "这台电脑所在网络一小时内输入验证码次数过多，请一小时后再试。".to_owned()
        }
    };
    respond(&state, StatusCode::UNPROCESSABLE_ENTITY, |n| {
        code_form(
            n,
            &p.next,
            &phone,
            "请输入短信中的6位验证码。",
            Some(&problem),
        )
    })
}
