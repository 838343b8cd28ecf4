//! The members' update page at `/m/{token}` (DESIGN.md section 7).

use axum::Router;

use crate::state::AppState;

/// `GET /m/{token}` and `POST /m/{token}`.
pub fn routes() -> Router<AppState> {
    Router::new()
}
