//! The members' update page at `/m/{token}` (DESIGN.md section 7): a member opens the link from
//! their reminder, sees their record (phone masked, the place by name), and either confirms "no
//! change" in one tap or edits location, employer and phone. Either way the API publishes a
//! `registration.update` with `actor: {"member_id": ...}`, which the registry records as this
//! month's confirmation (一月一更新). The confirmation is spent from then on: the link opens a
//! page that says the month is confirmed and still lets the member change the answer.

mod form;
mod pages;
mod publish;
mod visit;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use hongyan_adapters::config;
use hongyan_domain::payloads::Update;
use tracing::instrument;

use crate::page::html_response as html;
use crate::state::AppState;
use form::{Intent, NONCE, Posted, Problems};
use visit::{Access, Visit};

/// `GET /m/{token}` and `POST /m/{token}`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/m/{token}", get(show).post(submit))
}

/// Shows the record, the confirmation button and the edit form.
#[instrument(skip_all)]
async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match visit::open(&state, &token).await {
        Ok(Access::Open(v)) => {
            let draft = draft_of(&v);
            form_response(&state, &token, &v, &draft, &Problems::default())
        }
        Ok(Access::Refused(r)) => html(StatusCode::FORBIDDEN, pages::refusal(&r)),
        Err(e) => store_failed(&e),
    }
}

/// Confirms, re-renders the picker one level down, or saves an edit.
#[instrument(skip_all)]
async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    posted: Result<Form<Posted>, FormRejection>,
) -> Response {
    // A body that is not our form is treated as an empty one: the nonce check refuses it.
    let posted = posted.map(|Form(p)| p).unwrap_or_default();
    let secret = config::expose(&state.settings.api.link_secret);
    if !NONCE.posted_ok(secret.as_bytes(), &token, &posted.nonce, &headers) {
        tracing::info!("Member form refused: its nonce is missing or does not match.");
        return html(StatusCode::FORBIDDEN, pages::stale_form());
    }
    let v = match visit::open(&state, &token).await {
        Ok(Access::Open(v)) => v,
        Ok(Access::Refused(r)) => return html(StatusCode::FORBIDDEN, pages::refusal(&r)),
        Err(e) => return store_failed(&e),
    };
    match posted.intent() {
        Intent::Confirm => {
            let update = Update {
                member_id: v.member.id.clone(),
                location: None,
                phone: None,
                inflow_contact: None,
                confirmed_unchanged: true,
                reminders: None,
            };
            send(&state, &v, &posted.nonce, update, false).await
        }
        Intent::Home => match publish::home(&state, &v, &posted.nonce).await {
            Ok(()) => html(StatusCode::OK, pages::told_home(&v)),
            Err(e) => publish_failed(&v, &e),
        },
        Intent::RemindersOn => {
            let update = Update {
                member_id: v.member.id.clone(),
                location: None,
                phone: None,
                inflow_contact: None,
                confirmed_unchanged: false,
                reminders: Some(true),
            };
            match publish::update(&state, &v, &posted.nonce, &update).await {
                Ok(()) => html(StatusCode::OK, pages::reminders_on(&v.member.name)),
                Err(e) => publish_failed(&v, &e),
            }
        }
        Intent::Save => match form::validate(&posted, &v.record.location.region_code) {
            Ok(edit) => {
                let update = Update {
                    member_id: v.member.id.clone(),
                    location: Some(edit.location),
                    phone: edit.phone,
                    inflow_contact: None,
                    confirmed_unchanged: false,
                    reminders: None,
                };
                send(&state, &v, &posted.nonce, update, true).await
            }
            Err(problems) => {
                let draft = posted.consistent_picker();
                form_response(&state, &token, &v, &draft, &problems)
            }
        },
        Intent::Pick | Intent::Unknown => {
            let draft = posted.consistent_picker();
            form_response(&state, &token, &v, &draft, &Problems::default())
        }
    }
}

async fn send(state: &AppState, v: &Visit, nonce: &str, update: Update, changed: bool) -> Response {
    match publish::update(state, v, nonce, &update).await {
        Ok(()) => html(StatusCode::OK, pages::thanks(&v.member.name, changed)),
        Err(e) => publish_failed(v, &e),
    }
}

fn publish_failed(v: &Visit, e: &impl std::fmt::Debug) -> Response {
    tracing::error!(error = ?e, member_id = %v.member.id, "Could not publish a member's update; they were asked to try later.");
    html(StatusCode::SERVICE_UNAVAILABLE, pages::try_later())
}

/// The form as the record stands, for the first GET.
fn draft_of(v: &Visit) -> Posted {
    let loc = &v.record.location;
    let code = loc.region_code.as_str();
    Posted {
        province: code[..2].to_owned(),
        city: code[..4].to_owned(),
        county: code[..6].to_owned(),
        address: loc.address.clone(),
        employer: loc.employer.clone().unwrap_or_default(),
        // No employer shows 无固定单位 (an empty choice), not the stored `other`.
        employer_type: match loc.employer {
            Some(_) => loc.employer_type.as_str().to_owned(),
            None => String::new(),
        },
        ..Posted::default()
    }
}

/// The record page with a fresh nonce, set in a Strict cookie scoped to this link.
fn form_response(
    state: &AppState,
    token: &str,
    v: &Visit,
    draft: &Posted,
    problems: &Problems,
) -> Response {
    let secret = config::expose(&state.settings.api.link_secret);
    let nonce = NONCE.new_nonce(secret.as_bytes(), token);
    let status = if problems.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut resp = html(status, pages::record_page(v, &nonce, draft, problems));
    NONCE.set_cookie(&mut resp, &format!("/m/{token}"), &nonce);
    resp
}

fn store_failed(e: &visit::StoreError) -> Response {
    tracing::error!(error = ?e, "The member page could not read the ledger.");
    html(StatusCode::SERVICE_UNAVAILABLE, pages::try_later())
}
