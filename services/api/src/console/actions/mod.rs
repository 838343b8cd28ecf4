//! The actions on a member's page (DESIGN.md section 12): 更新信息, 登记返乡, 登记转出 and
//! 记录联系. Each is a small form at `/console/members/{id}/…` that sends one of section 2's
//! events as the signed-in person, through the same checks as `POST /v1/events`, and then
//! opens the member's page, which shows the result once the registry has applied it.
//!
//! The four share one pair of handlers ([`show`], [`submit`]); an [`Action`] says what its
//! form asks and which event it makes: `update` (更新信息), `close` (登记返乡, 登记转出) and
//! `contact` (记录联系).

mod close;
mod contact;
mod update;

pub use close::{ReturnForm, TransferForm};
pub use contact::ContactForm;
pub use update::UpdateForm;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use hongyan_domain::TZ;
use hongyan_domain::ids::MemberId;
use maud::{Markup, html};

use super::forms::{self, Problems, problem};
pub(super) use super::member::Seen;
use super::member::seen;
use super::session::Session;
use super::{encode_component, frame, page, refusal, signed_in};
use crate::state::AppState;

/// One of the member page's forms.
pub trait Action: forms::Posted {
    /// The form's title and its button.
    const TITLE: &'static str;
    /// The event type it sends.
    const KIND: &'static str;
    /// Only the member's home side may (the inflow org may 更新信息 only).
    const HOME_ONLY: bool;
    /// The form as it opens on the member's record.
    fn opened(m: &Seen, s: &Session, today: NaiveDate) -> Self;
    /// Tidies what was posted before anything else (a place whose levels no longer agree).
    fn tidy(&mut self) {}
    /// Whether the POST only asks for the form again (列出下一级).
    fn picking(&self) -> bool {
        false
    }
    /// The form's own checks; the event's `data` when they pass.
    fn check(&self, m: &Seen, today: NaiveDate) -> Result<serde_json::Value, Problems>;
    /// The fields, each with its label and problem (the buttons too).
    fn fields(&self, m: &Seen, bad: &Problems) -> Markup;
}

/// The member, if the signed-in org may act on them; otherwise the page to show instead.
async fn member_for<A: Action>(
    state: &AppState,
    session: &Session,
    id: &str,
) -> Result<Seen, Response> {
    let found = seen(state, &session.user.org_id, id)
        .await
        .map_err(|e| super::store_failed(&e))?;
    let not_here = || {
        refusal(
            StatusCode::NOT_FOUND,
            "找不到这名党员",
            "没有这名党员，或不在本组织可以查看的范围内。请从台账中查找。",
            Some(session),
        )
    };
    let m = found.ok_or_else(not_here)?;
    if A::HOME_ONLY && !m.sees_phone {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "只能由原支部办理",
            "这项登记由党员所在（原）支部办理。如情况有变，请联系其原支部。",
            Some(session),
        ));
    }
    if !m.record.as_ref().is_some_and(|r| r.status.is_open()) {
        return Err(refusal(
            StatusCode::CONFLICT,
            "没有在外的记录",
            "这名党员目前没有外出记录，无需办理。如要登记外出，请用“外出登记”。",
            Some(session),
        ));
    }
    Ok(m)
}

fn today(state: &AppState) -> NaiveDate {
    state.clock.now().with_timezone(&TZ).date_naive()
}

fn render<A: Action>(
    session: &Session,
    m: &Seen,
    a: &A,
    bad: &Problems,
    status: StatusCode,
) -> Response {
    let body = html! {
        h1 { (A::TITLE) }
        p.note { "党员：" (m.name) "（" (m.branch) "）" }
        form.card method="post" {
            input type="hidden" name="form_token" value=(session.form_token);
            (problem(bad.get("event")))
            (a.fields(m, bad))
        }
        p { a href={ "/console/members/" (encode_component(&m.id)) } { "返回" (m.name) "的记录" } }
    };
    page(status, frame(A::TITLE, Some(session), body))
}

/// `GET /console/members/{id}/…`: the form, opened on the member's record.
pub async fn show<A: Action>(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let m = match member_for::<A>(&state, &session, &id).await {
        Ok(m) => m,
        Err(page) => return page,
    };
    let a = A::opened(&m, &session, today(&state));
    render(&session, &m, &a, &Problems::new(), StatusCode::OK)
}

/// `POST /console/members/{id}/…`: checks and sends, then opens the member's page.
pub async fn submit<A: Action>(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    form: Result<Form<A>, FormRejection>,
) -> Response {
    let (session, mut a) = match forms::accept_post(&state, &headers, &uri, form).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let m = match member_for::<A>(&state, &session, &id).await {
        Ok(m) => m,
        Err(page) => return page,
    };
    a.tidy();
    if a.picking() {
        return render(&session, &m, &a, &Problems::new(), StatusCode::OK);
    }
    let data = match a.check(&m, today(&state)) {
        Ok(d) => d,
        Err(bad) => return render(&session, &m, &a, &bad, StatusCode::UNPROCESSABLE_ENTITY),
    };
    match forms::send(&state, &session, A::KIND, data, state.clock.now()).await {
        Ok(event) => Redirect::to(&format!(
            "/console/members/{}?event={event}",
            encode_component(&m.id)
        ))
        .into_response(),
        Err(refused) => {
            let mut bad = Problems::new();
            bad.insert("event", forms::refused_words(&refused));
            render(&session, &m, &a, &bad, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

pub(super) fn member_id(m: &Seen) -> Result<MemberId, Problems> {
    MemberId::parse(&m.id).map_err(|_| {
        Problems::from([(
            "event",
            "这名党员的编号不合规则，无法登记；请联系系统管理员。".to_owned(),
        )])
    })
}

/// A date field: its value, or its problem added to `bad`.
pub(super) fn day(
    text: &str,
    field: &'static str,
    what: &str,
    today: NaiveDate,
    bad: &mut Problems,
) -> Option<NaiveDate> {
    match forms::date(text) {
        None => {
            bad.insert(field, format!("请填写{what}，如 {today}。"));
            None
        }
        Some(d) if d > today => {
            bad.insert(field, format!("{what}不能晚于今天。"));
            None
        }
        d => d,
    }
}

pub(super) fn date_field(id: &str, label: &str, value: &str, bad: &Problems) -> Markup {
    html! {
        label for=(id) { (label) }
        input id=(id) name=(id) type="text" inputmode="numeric" value=(value) placeholder="如 2026-12-07";
        (problem(bad.get(id)))
    }
}
