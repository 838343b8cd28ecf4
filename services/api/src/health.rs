//! `/healthz` (alive), `/readyz` (RabbitMQ, PostgreSQL and Redis each named), `/metrics`
//! (Prometheus text of every role in this process). No key.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;

/// How long one readiness probe may take before its server counts as down.
const PROBE: Duration = Duration::from_secs(2);

#[derive(Serialize, utoipa::ToSchema)]
pub struct Alive {
    pub status: &'static str,
}

/// Each server `ok`, or `error` with why.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    pub status: &'static str,
    pub rabbitmq: Check,
    pub postgresql: Check,
    pub redis: Check,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Check {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a server counts as down, kept typed until it is written into the body.
#[derive(Debug, thiserror::Error)]
enum Down {
    #[error("the publishing channel to RabbitMQ is not connected (recovering or broker away)")]
    ChannelNotConnected,
    #[error("{0}; start PostgreSQL or fix database.url")]
    Postgres(#[source] sqlx::Error),
    #[error("{0}; start Redis or fix redis.url")]
    Redis(#[source] redis::RedisError),
    #[error("no answer within {} s", PROBE.as_secs())]
    NoAnswer,
}

impl Check {
    fn of(r: Result<(), Down>) -> Self {
        match r {
            Ok(()) => Self {
                status: "ok",
                error: None,
            },
            Err(e) => Self {
                status: "error",
                error: Some(e.to_string()),
            },
        }
    }
}

#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is alive", body = Alive)))]
pub async fn healthz() -> Json<Alive> {
    Json(Alive { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Every server is reachable", body = Ready),
              (status = 503, description = "A server is not reachable", body = Ready)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let rabbitmq = if state.publisher.channel().status().connected() {
        Ok(())
    } else {
        Err(Down::ChannelNotConnected)
    };
    let pg = async {
        match tokio::time::timeout(PROBE, sqlx::query("SELECT 1").execute(&state.pool)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Down::Postgres(e)),
            Err(_) => Err(Down::NoAnswer),
        }
    };
    let redis = async {
        match tokio::time::timeout(PROBE, state.directory.is_built()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Down::Redis(e)),
            Err(_) => Err(Down::NoAnswer),
        }
    };
    let (pg, redis) = tokio::join!(pg, redis);
    let all_ok = rabbitmq.is_ok() && pg.is_ok() && redis.is_ok();
    let body = Ready {
        status: if all_ok { "ok" } else { "error" },
        rabbitmq: Check::of(rabbitmq),
        postgresql: Check::of(pg),
        redis: Check::of(redis),
    };
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics() -> Response {
    let text = hongyan_adapters::metrics::install().render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_down_server_is_named_with_what_to_do() {
        let no_answer = Check::of(Err(Down::NoAnswer));
        assert_eq!(no_answer.status, "error");
        assert_eq!(no_answer.error.as_deref(), Some("no answer within 2 s"));
        let pg = Down::Postgres(sqlx::Error::PoolTimedOut);
        assert!(std::error::Error::source(&pg).is_some());
        assert!(
            pg.to_string()
                .ends_with("; start PostgreSQL or fix database.url"),
            "{pg}"
        );
        assert_eq!(Check::of(Ok(())).error, None);
    }
}
