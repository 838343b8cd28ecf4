//! `/v1/openapi.json`, generated from the handlers' `#[utoipa::path]` annotations, with the
//! event and study-pack bodies' schemas (`bodies`) and the HTML pages (`pages`) added, so it
//! lists every path hongyan's API role serves.

mod bodies;
mod pages;

use std::sync::LazyLock;

use axum::Json;
use serde_json::Value;
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
pub async fn openapi_json() -> Json<Value> {
    Json(document().clone())
}

/// The whole document, built once.
pub fn document() -> &'static Value {
    static DOC: LazyLock<Value> = LazyLock::new(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
        bodies::add(&mut doc);
        pages::add(&mut doc);
        doc
    });
    &DOC
}

/// The methods the document lists for the path a request names (`/v1/orgs/b1/ledger` matches
/// `/v1/orgs/{id}/ledger`), upper case: what a 405 says the path takes.
pub fn methods_for(path: &str) -> Vec<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let matches = |template: &str| {
        let t: Vec<&str> = template.split('/').collect();
        t.len() == segments.len()
            && t.iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
    };
    let Some(paths) = document()["paths"].as_object() else {
        return Vec::new();
    };
    paths
        .iter()
        .filter(|(template, _)| matches(template))
        .flat_map(|(_, item)| item.as_object().into_iter().flat_map(|o| o.keys()))
        .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
        .map(|m| m.to_ascii_uppercase())
        .collect()
}

/// The query parameters the document lists for an operation (`method` as HTTP spells it,
/// `path` the route template): what the API takes, and all it takes (`layers::known_query`).
/// `None` when the document has no such operation (the method is answered 405).
pub fn query_names(method: &str, path: &str) -> Option<Vec<String>> {
    let op = document()["paths"][path].get(method.to_ascii_lowercase())?;
    Some(
        op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    )
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
