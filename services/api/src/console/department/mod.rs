//! The departments' side of the console (DESIGN.md section 12; issue 18): 分布 (every org, over
//! its subtree), 调度 with the spot check's results, 学习, 消息 (every org; a department may
//! replay), 用户; and the 工作台's to-do lists' pages, which every org's 工作台 opens. One file
//! per screen; the routes are merged into the console's in one place.

pub mod dispatch;
pub mod dist;
pub mod messages;
pub mod people;
pub mod spot;
pub mod study;
mod study_form;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use super::session::Session;
use crate::state::AppState;

/// The routes of the department screens and the to-do lists.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/todo/{list}", get(super::todo_page::show))
        .route("/console/distribution", get(dist::show))
        .route("/console/dispatch", get(dispatch::list))
        .route("/console/dispatch/{id}", get(dispatch::show))
        .route(
            "/console/dispatch/{id}/file/{format}",
            get(dispatch::download),
        )
        .route("/console/dispatch/{id}/spot-check", post(spot::record))
        .route("/console/study", get(study::list))
        .route(
            "/console/study/new",
            get(study_form::show).post(study_form::submit),
        )
        .route("/console/study/{id}", get(study::show))
        .route("/console/messages", get(messages::show))
        .route("/console/messages/{id}/replay", post(messages::replay))
        .route("/console/users", get(people::show).post(people::create))
        .route("/console/users/{id}/revoke", post(people::revoke))
}

/// The screens only a department works in (the navigation shows them to its people only).
pub const DEPARTMENT_ONLY: &[&str] = &["/console/dispatch", "/console/study", "/console/users"];

/// A department screen asked for by someone at another kind of org: 404 with what the screen
/// is and who uses it (what an API key of that org would get, DESIGN.md section 7).
pub fn for_departments(session: &Session) -> Option<Response> {
    (!session.user.is_department()).then(|| {
        super::refusal(
            StatusCode::NOT_FOUND,
            "这个页面只对组织部门开放",
            "调度、学习和用户管理由县、市委组织部门使用。请回到工作台办理本组织的事项。",
            Some(session),
        )
    })
}
