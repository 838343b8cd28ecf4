//! The console (组织端, DESIGN.md section 12): the pages branch secretaries, station clerks and
//! department staff work in, at `{api.public_url}/console/`. Server-rendered, working without
//! JavaScript, every asset embedded, `Content-Security-Policy: default-src 'self'`.
//!
//! This file holds the routes and what every page shares: the frame with its navigation and
//! 退出, the security headers, and the check every POST passes (same origin, the session's form
//! token). Sign-in is `login`, sessions `session`, the people `users`, the screens one file
//! each (`home`: 工作台).

mod actions;
mod certificate;
pub mod department;
pub mod figures;
mod forms;
mod home;
mod inbound;
mod ledger;
pub mod login;
mod login_pages;
pub(super) mod member;
mod outbound;
pub mod session;
pub mod todo;
mod todo_page;
pub mod users;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};

use crate::state::AppState;
use hongyan_domain::ids::OrgKind;
use session::Session;

/// The stylesheet, served from the binary (the department screens' rules in a file of their
/// own).
const CSS: &str = concat!(
    include_str!("../../assets/console.css"),
    include_str!("../../assets/console-department.css")
);

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(home::show))
        .route(
            "/console/login",
            get(login_pages::show).post(login_pages::enter),
        )
        .route("/console/login/code", post(login_pages::ask))
        .route("/console/logout", post(logout))
        .route("/console/ledger", get(ledger::show))
        .route("/console/members/{id}", get(member::show))
        .route("/console/members/{id}/certificate", get(certificate::show))
        .route(
            "/console/members/{id}/update",
            get(actions::show::<actions::UpdateForm>).post(actions::submit::<actions::UpdateForm>),
        )
        .route(
            "/console/members/{id}/return",
            get(actions::show::<actions::ReturnForm>).post(actions::submit::<actions::ReturnForm>),
        )
        .route(
            "/console/members/{id}/transfer",
            get(actions::show::<actions::TransferForm>)
                .post(actions::submit::<actions::TransferForm>),
        )
        .route(
            "/console/members/{id}/contact",
            get(actions::show::<actions::ContactForm>)
                .post(actions::submit::<actions::ContactForm>),
        )
        .route(
            "/console/outbound",
            get(outbound::show).post(outbound::submit),
        )
        .route("/console/inbound", get(inbound::show).post(inbound::submit))
        .route(
            "/console/ledger.xlsx",
            get(
                |State(s): State<AppState>, h: HeaderMap, u: Uri| async move {
                    ledger::download(&s, &h, &u, crate::ledger::LedgerFormat::Xlsx).await
                },
            ),
        )
        .route(
            "/console/ledger.csv",
            get(
                |State(s): State<AppState>, h: HeaderMap, u: Uri| async move {
                    ledger::download(&s, &h, &u, crate::ledger::LedgerFormat::Csv).await
                },
            ),
        )
        .route("/console/assets/console.css", get(css))
        .merge(department::routes())
}

async fn css() -> Response {
    let mut resp = CSS.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    resp
}

/// The screens an org's people work in, in the navigation's order: (title, path). A branch
/// registers departures and, in an inflow area, arrivals; a station registers arrivals; a
/// department oversees its subtree (调度, 学习 and 用户 are a department's only).
fn screens(kind: OrgKind) -> &'static [(&'static str, &'static str)] {
    const HOME: (&str, &str) = ("工作台", "/console/");
    const LEDGER: (&str, &str) = ("台账", "/console/ledger");
    const OUTBOUND: (&str, &str) = ("外出登记", "/console/outbound");
    const INBOUND: (&str, &str) = ("报到登记", "/console/inbound");
    const PLACES: (&str, &str) = ("分布", "/console/distribution");
    const DISPATCH: (&str, &str) = ("调度", "/console/dispatch");
    const STUDY: (&str, &str) = ("学习", "/console/study");
    const MESSAGES: (&str, &str) = ("消息", "/console/messages");
    const USERS: (&str, &str) = ("用户", "/console/users");
    match kind {
        OrgKind::Department => &[HOME, LEDGER, PLACES, DISPATCH, STUDY, MESSAGES, USERS],
        OrgKind::Station => &[HOME, LEDGER, INBOUND, PLACES, MESSAGES],
        OrgKind::Committee | OrgKind::Branch | OrgKind::FlowBranch => {
            &[HOME, LEDGER, OUTBOUND, INBOUND, PLACES, MESSAGES]
        }
    }
}

/// A whole console page: the header with the org and 退出, the navigation, then `body`.
pub fn frame(title: &str, session: Option<&Session>, body: Markup) -> String {
    frame_refreshing(title, session, body, None)
}

/// The same, opening `next` after 2 seconds (a result the registry has not applied yet; no
/// script needed). `next` names the next look, so a waiting page stops after a while.
pub fn frame_refreshing(
    title: &str,
    session: Option<&Session>,
    body: Markup,
    next: Option<&str>,
) -> String {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                // same-origin, not no-referrer: under no-referrer a browser sends
                // `Origin: null` with the console's own form POSTs, which the check refuses.
                meta name="referrer" content="same-origin";
                title { (title) " · 鸿雁" }
                @if let Some(next) = next { meta http-equiv="refresh" content={ "2; url=" (next) }; }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body {
                header.top {
                    span.brand { "鸿雁 · 流动党员管理" }
                    @if let Some(s) = session {
                        span.who { (s.user.org_name) " · " (s.user.name) }
                        form method="post" action="/console/logout" {
                            input type="hidden" name="form_token" value=(s.form_token);
                            button type="submit" { "退出" }
                        }
                    }
                }
                @if let Some(s) = session {
                    nav.main aria-label="主菜单" {
                        @for (name, path) in screens(s.user.org_kind) {
                            @if *name == title {
                                a href=(path) aria-current="page" { (name) }
                            } @else {
                                a href=(path) { (name) }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// An HTML response with the console's headers: no caching (pages name people), the CSP, no
/// framing.
pub fn page(status: StatusCode, body: String) -> Response {
    let mut resp = (status, axum::response::Html(body)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A refusal page: what was wrong and what to do.
pub fn refusal(status: StatusCode, title: &str, text: &str, session: Option<&Session>) -> Response {
    let body = html! {
        h1 { (title) }
        div.card.refusal { p { (text) } p { a href="/console/" { "回到工作台" } } }
    };
    page(status, frame(title, session, body))
}

/// The POST came from another site or without its form's token: 403, nothing done.
pub fn forbidden_post(session: Option<&Session>) -> Response {
    refusal(
        StatusCode::FORBIDDEN,
        "操作未完成",
        "这个提交没有通过安全检查（页面已过期，或不是从本系统的页面提交的），没有做任何改动。请回到页面刷新后重新操作。",
        session,
    )
}

/// Whether a POST of `session` is the console's own: same origin and the session's token.
pub fn post_ok(state: &AppState, headers: &HeaderMap, session: &Session, form_token: &str) -> bool {
    session::same_origin(state, headers)
        && !form_token.is_empty()
        && form_token == session.form_token
}

/// The session of a page that needs one, or the way to the sign-in page, which comes back to
/// `here` (the page's path and query) once signed in: a link in an SMS opens its page.
pub async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    here: &axum::http::Uri,
) -> Result<Session, Response> {
    match session::current(state, headers).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => {
            let back = here.path_and_query().map_or("/console/", |p| p.as_str());
            let to = if back == "/console/" {
                "/console/login".to_owned()
            } else {
                format!("/console/login?next={}", encode_component(back))
            };
            Err(Redirect::to(&to).into_response())
        }
        Err(e) => Err(store_failed(&e)),
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where to go after sign-in: a console page named by `next`, or the 工作台. Anything that is
/// not a console path (another site, `//host`) is ignored, so the link cannot send a person
/// elsewhere.
pub fn after_sign_in(next: &str) -> &str {
    let ok = next.starts_with("/console/") && !next.starts_with("//") && !next.contains('\\');
    if ok { next } else { "/console/" }
}

/// PostgreSQL failed: the page says so and what to do; the cause goes to the log.
pub fn store_failed(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "Console page failed on PostgreSQL.");
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "暂时无法打开",
        "系统暂时连不上数据库，请稍后刷新重试；如一直如此，请联系系统管理员。",
        None,
    )
}

#[derive(serde::Deserialize, Default)]
struct TokenOnly {
    #[serde(default)]
    form_token: String,
}

forms::posted_with_token!(TokenOnly);

/// 退出: ends the session and clears its cookie.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    form: Result<axum::Form<TokenOnly>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (session, _) = match forms::accept_post(&state, &headers, &uri, form).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    if let Err(e) = session::end(&state, &session).await {
        return store_failed(&e);
    }
    let mut resp = Redirect::to("/console/login").into_response();
    session::set_cookie(&state, &mut resp, None);
    resp
}

#[cfg(test)]
mod tests {
    use super::after_sign_in;

    #[test]
    fn after_sign_in_goes_only_to_console_pages() {
        assert_eq!(
            after_sign_in("/console/ledger?months=2"),
            "/console/ledger?months=2"
        );
        for elsewhere in [
            "https://evil.example/",
            "//evil.example/console/",
            "/v1/orgs/x",
            "",
            "/console\\evil",
        ] {
            assert_eq!(after_sign_in(elsewhere), "/console/", "{elsewhere}");
        }
    }
}
