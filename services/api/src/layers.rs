//! What wraps every request: its latency in `/metrics` by route template, and the request
//! timeout. The timeout covers producing the response head only, so a streamed ledger export
//! may take as long as its body needs once it has started.

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
