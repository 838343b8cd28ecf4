//! `/v1/openapi.json`, generated from the handlers' `#[utoipa::path]` annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
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
    components(schemas(problem::ProblemBody, crate::ledger::LedgerScope, crate::ledger::LedgerFormat, crate::reports::ReportFormat)),
    modifiers(&Bearer, &Refusals),
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

/// The refusals any keyed operation may answer, documented once for all of them.
struct Refusals;

impl Modify for Refusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let problem = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                            "ProblemBody",
                        ))))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") || path == "/v1/openapi.json" {
                continue;
            }
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                for (code, what) in [
                    ("400", "A request that does not parse"),
                    ("401", "No key, or an unknown or revoked one"),
                    ("404", "Not found, or outside this key's scope"),
                    ("413", "Body over api.body_limit_bytes"),
                    ("422", "A field that breaks the contract"),
                    ("429", "Over api.requests_per_minute; see Retry-After"),
                    ("503", "A server is away or the request timed out"),
                ] {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| RefOr::T(problem(what)));
                }
            }
        }
    }
}
