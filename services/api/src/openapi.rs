//! `/v1/openapi.json`, generated from the handlers' `#[utoipa::path]` annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{directory, events, health, orgs, problem, reports, study};

#[derive(OpenApi)]
#[openapi(
    info(title = "hongyan", description = "鸿雁: flowing party members' ledger, directory, reports and study packs (DESIGN.md section 7)."),
    paths(
        health::healthz, health::readyz, health::metrics,
        events::post_event,
        directory::location, directory::in_region, directory::nearest,
        orgs::ledger, orgs::unmatched,
        reports::list, reports::fetch,
        study::publish_pack, study::list, study::completion,
        openapi_json,
    ),
    components(schemas(problem::ProblemBody)),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[utoipa::path(get, path = "/v1/openapi.json", tag = "health",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
