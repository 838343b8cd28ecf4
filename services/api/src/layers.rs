//! What wraps every request: its latency in `/metrics` by route template, the request
//! timeout, a problem body for a method the path does not take, and (on `/v1`) the refusal of
//! query parameters the path does not take. The timeout covers producing the response head
//! only, so a streamed ledger export may take as long as its body needs once it has started.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;

pub async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let resp = next.run(req).await;
    hongyan_adapters::metrics::http_request(
        &route,
        &method,
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}

pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "The request took longer than api.request_timeout_secs ({} s) and was stopped: try again, or ask for less at once.",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

/// A method the path does not take: axum answers 405 with no body; the caller gets a problem
/// saying which methods the path takes (as `/v1/openapi.json` lists them) and an `Allow`
/// header.
pub async fn method_not_allowed(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let resp = next.run(req).await;
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED
        || resp
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return resp;
    }
    let methods = crate::openapi::methods_for(&path).join(", ");
    let mut problem = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{path} does not take {method}; it takes {methods} (see /v1/openapi.json)."),
    )
    .into_response();
    if let Ok(allow) = axum::http::HeaderValue::from_str(&methods) {
        problem
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow);
    }
    problem
}

/// Refuses a query parameter the path does not take, by name, as an unknown configuration key
/// is refused: a misspelt `scope` must not silently give another ledger. What each path takes
/// is what `/v1/openapi.json` documents for it.
pub async fn known_query(req: Request, next: Next) -> Response {
    let (Some(route), Some(query)) = (req.extensions().get::<MatchedPath>(), req.uri().query())
    else {
        return next.run(req).await;
    };
    // A method the path does not take is left to the router's 405.
    let Some(known) = crate::openapi::query_names(req.method().as_str(), route.as_str()) else {
        return next.run(req).await;
    };
    let unknown = query
        .split('&')
        .filter_map(|pair| pair.split('=').next())
        .filter(|name| !name.is_empty())
        .find(|name| !known.iter().any(|k| k == name));
    match unknown {
        None => next.run(req).await,
        Some(name) => {
            let takes = if known.is_empty() {
                "no query parameters".to_owned()
            } else {
                known.join(", ")
            };
            Problem::invalid(
                name,
                format!(
                    "Unknown query parameter {name:?}: {} takes {takes}; see /v1/openapi.json.",
                    route.as_str()
                ),
            )
            .into_response()
        }
    }
}
