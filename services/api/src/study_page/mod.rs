//! The study pack's page at `/s/{pack_id}/{token}`: the link in a study pack's SMS to an away
//! member whose branch has no group robot (DESIGN.md section 5). The member reads the pack and
//! taps "我已学完", which publishes `study.completed` with `actor: {"member_id": ...}`; the
//! registry records it once per member and pack, and it counts as organizational life for the
//! lapse warning. `/s/{pack_id}` alone (a group robot's card) shows the pack for reading.
//!
//! The token is the study link of `hongyan_domain::link::study`: bound to one member and one
//! pack, expiring after `api.link_valid_days`, and signed for this page only, so neither a
//! study token nor a member link opens the other's page.

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
use tracing::instrument;

use crate::page::html_response as html;
use crate::state::AppState;
use form::{NONCE, Posted};
use visit::{Access, Refusal, Visit};

/// `GET /s/{pack_id}`, `GET /s/{pack_id}/{token}` and `POST /s/{pack_id}/{token}`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/s/{pack_id}", get(show_pack))
        .route("/s/{pack_id}/{token}", get(show).post(complete))
}

/// The pack alone, for a group card's readers.
#[instrument(skip_all)]
async fn show_pack(State(state): State<AppState>, Path(pack_id): Path<String>) -> Response {
    match visit::pack(&state.pool, &pack_id).await {
        Ok(Some(pack)) => html(StatusCode::OK, pages::pack_page(&pack)),
        Ok(None) => html(StatusCode::NOT_FOUND, pages::refusal(&Refusal::UnknownPack)),
        Err(e) => store_failed(&e),
    }
}

/// The member's page: the pack and "我已学完".
#[instrument(skip_all)]
async fn show(
    State(state): State<AppState>,
    Path((pack_id, token)): Path<(String, String)>,
) -> Response {
    match visit::open(&state, &pack_id, &token).await {
        Ok(Access::Open(v)) => form_response(&state, &pack_id, &token, &v),
        Ok(Access::Refused(r)) => refused(r),
        Err(e) => store_failed(&e),
    }
}

/// "我已学完": checks the form's nonce and the token, then publishes `study.completed`.
#[instrument(skip_all)]
async fn complete(
    State(state): State<AppState>,
    Path((pack_id, token)): Path<(String, String)>,
    headers: HeaderMap,
    posted: Result<Form<Posted>, FormRejection>,
) -> Response {
    // A body that is not our form is treated as an empty one: the nonce check refuses it.
    let posted = posted.map(|Form(p)| p).unwrap_or_default();
    let secret = config::expose(&state.settings.api.link_secret);
    if !NONCE.posted_ok(secret.as_bytes(), &token, &posted.nonce, &headers) {
        tracing::info!("Study form refused: its nonce is missing or does not match.");
        return html(StatusCode::FORBIDDEN, pages::stale_form());
    }
    let v = match visit::open(&state, &pack_id, &token).await {
        Ok(Access::Open(v)) => v,
        Ok(Access::Refused(r)) => return refused(r),
        Err(e) => return store_failed(&e),
    };
    match publish::completed(&state, &v).await {
        Ok(()) => html(StatusCode::OK, pages::thanks(&v.member_name, &v.pack.title)),
        Err(e) => {
            tracing::error!(error = ?e, member_id = %v.link.member_id, "Could not publish a study completion; the member was asked to try later.");
            html(StatusCode::SERVICE_UNAVAILABLE, pages::try_later())
        }
    }
}

/// The page with a fresh nonce, set in a Strict cookie scoped to this link.
fn form_response(state: &AppState, pack_id: &str, token: &str, v: &Visit) -> Response {
    let secret = config::expose(&state.settings.api.link_secret);
    let nonce = NONCE.new_nonce(secret.as_bytes(), token);
    let mut resp = html(StatusCode::OK, pages::study_page(v, &nonce));
    NONCE.set_cookie(&mut resp, &format!("/s/{pack_id}/{token}"), &nonce);
    resp
}

fn refused(r: Refusal) -> Response {
    let status = match r {
        Refusal::UnknownPack => StatusCode::NOT_FOUND,
        Refusal::Tampered | Refusal::Expired { .. } | Refusal::UnknownMember => {
            StatusCode::FORBIDDEN
        }
    };
    html(status, pages::refusal(&r))
}

fn store_failed(e: &visit::StoreError) -> Response {
    tracing::error!(error = ?e, "The study page could not read the ledger.");
    html(StatusCode::SERVICE_UNAVAILABLE, pages::try_later())
}
