//! The one error type of the HTTP API: every refusal is `application/problem+json` (RFC 9457)
//! with `type`, `title`, `status`, `detail`, and for a 422 the `field` that was wrong. A 500
//! logs its cause and never shows it (realworld-axum-sqlx's `http/error.rs` is the model).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A refusal or failure, as the caller reads it.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    detail: String,
    field: Option<String>,
    retry_after: Option<Duration>,
    /// The cause of a 500 or 503, logged and never sent.
    cause: Option<anyhow::Error>,
}

/// The body as sent.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// `about:blank` or a hongyan problem URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What was wrong and what to do.
    pub detail: String,
    /// The request field that was wrong (422 only), e.g. `data.phone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            field: None,
            retry_after: None,
            cause: None,
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 404: also what an id outside the caller's scope gets, so ids cannot be probed.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!(
                "No {what} with that id is visible to this API key: check the id, or ask the org that holds it."
            ),
        )
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 422 naming the field that was wrong.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
        }
    }

    pub fn too_many(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "This API key made more requests than api.requests_per_minute allows: wait {} s (Retry-After) and send again.",
                    retry_after.as_secs().max(1)
                ),
            )
        }
    }

    /// 503: a server we need is away; the cause is logged.
    pub fn unavailable(what: &str, cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{what} is not reachable right now: try again in a moment (see /readyz)."),
            )
        }
    }

    /// 500: logged with its cause, answered without it.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side; it has been logged. Try again, and tell the operator if it persists.",
            )
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What was wrong and what to do (the console shows it beside its own words).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The field it names, for a 422.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Self {
        if hongyan_adapters::store::is_transient(&e) {
            Self::unavailable("PostgreSQL", e)
        } else {
            Self::internal(e)
        }
    }
}

impl From<redis::RedisError> for Problem {
    fn from(e: redis::RedisError) -> Self {
        Self::unavailable("Redis", e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause
            && self.status.is_server_error()
        {
            tracing::error!(
                status = self.status.as_u16(),
                error = format!("{cause:#}"),
                "Request failed."
            );
        }
        let body = ProblemBody {
            kind: "about:blank".into(),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            field: self.field,
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(after) = self.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                h.insert(header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Axum's own rejections (a path or query that does not parse, a body too large) as problems.
pub fn from_rejection(status: StatusCode, text: String) -> Problem {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            status,
            "The request body is larger than api.body_limit_bytes (1 MiB by default): send less at once.",
        ),
        _ => Problem::new(
            status,
            format!("{text}; fix the request and send it again."),
        ),
    }
}

/// A query string that does not read (`?lon=113.36` without `lat`, `?limit=x`), as a 422
/// naming the parameter serde names, else `fallback`.
pub fn from_query(text: &str, fallback: &str, what_to_send: &str) -> Problem {
    let field = query_field(text).unwrap_or(fallback).to_owned();
    Problem::invalid(field, format!("{text}: {what_to_send}"))
}

/// The parameter a query rejection is about: serde's "missing field `lat`" or "unknown field
/// `x`", or the path before the first colon ("lon: invalid float literal").
fn query_field(text: &str) -> Option<&str> {
    let rest = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(text);
    for marker in ["missing field `", "unknown field `"] {
        if let Some(at) = rest.find(marker) {
            return rest[at + marker.len()..].split('`').next();
        }
    }
    let (path, _) = rest.split_once(": ")?;
    let ident = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    ident(path).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::query_field;

    #[test]
    fn a_query_rejection_names_its_parameter() {
        let q = query_field;
        assert_eq!(
            q("Failed to deserialize query string: missing field `lat`"),
            Some("lat")
        );
        assert_eq!(
            q("Failed to deserialize query string: lon: invalid float literal"),
            Some("lon")
        );
        assert_eq!(
            q(
                "Failed to deserialize query string: format: unknown variant `pdf`, expected one of `json`, `csv`, `xlsx`"
            ),
            Some("format")
        );
        assert_eq!(q("something else"), None);
    }
}
