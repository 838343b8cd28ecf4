//! PLACEHOLDER, replaced at merge by the ledger export work (issue 9, the `ledger/` module
//! written in its own worktree). Only the types and the signature the route calls live here,
//! so the route in `orgs.rs` builds and is tested for its scoping.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;
use crate::state::AppState;

/// One branch's records, or the whole subtree's (三级备案).
#[derive(Clone, Copy, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LedgerScope {
    Branch,
    Subtree,
}

#[derive(Clone, Copy, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LedgerFormat {
    Json,
    Csv,
    Xlsx,
}

/// The ledger of `org_id` as `viewer_org` may read it. Placeholder: 501.
pub async fn export(
    _state: &AppState,
    _viewer_org: &str,
    _org_id: &str,
    _scope: LedgerScope,
    _format: LedgerFormat,
) -> Response {
    Problem::new(
        StatusCode::NOT_IMPLEMENTED,
        "The ledger export is not in this build yet; it comes with the export work of issue 9.",
    )
    .into_response()
}
