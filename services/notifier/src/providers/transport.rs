//! The HTTP exchange every adapter shares, and the rules that hold whatever the provider:
//! a network error, a timeout, an HTTP 5xx or 429 means "later" (the task's contract and
//! PROVIDERS.md, "Retry schedules worth knowing": honour Retry-After).

use std::error::Error as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

use super::SendOutcome;

/// A complete answer from a provider: status, the Retry-After it asked for, the whole body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The outcome the HTTP status alone decides: 429 and 5xx are retries whoever answers.
    /// Chat robots answer 200 even on failure, so `None` here proves nothing: read the body.
    pub fn http_failure(&self) -> Option<SendOutcome> {
        let code = format!("http_{}", self.status.as_u16());
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            let outcome = SendOutcome::retry(code, "The provider answered 429 Too Many Requests.");
            return Some(outcome.not_before(self.retry_after));
        }
        if self.status.is_server_error() {
            let reason = format!("The provider answered {}.", self.status);
            return Some(SendOutcome::retry_uncertain(code, reason).not_before(self.retry_after));
        }
        None
    }

    /// The outcome for a body we cannot read: the provider may have acted on the request, so
    /// this is an uncertain retry rather than a success or a permanent failure.
    pub fn unreadable(&self) -> SendOutcome {
        let start: String = String::from_utf8_lossy(&self.body)
            .chars()
            .take(200)
            .collect();
        let reason = format!("Unreadable answer ({}): {start}", self.status);
        SendOutcome::retry_uncertain("bad_answer", reason)
    }
}

/// Sends the request and reads the whole answer; a failure before the answer is complete is
/// already the outcome.
pub(crate) async fn exchange(
    request: RequestBuilder,
    now: DateTime<Utc>,
) -> Result<Answer, SendOutcome> {
    let response = request.send().await.map_err(transport_failure)?;
    let status = response.status();
    let retry_after = retry_after(response.headers(), now);
    let body = response.bytes().await.map_err(transport_failure)?;
    Ok(Answer {
        status,
        retry_after,
        body: body.to_vec(),
    })
}

/// Classifies a reqwest error. A connection that never opened sent nothing; anything later
/// may have reached the provider. The URL is dropped from the reason because robot webhook
/// URLs carry their key.
fn transport_failure(error: reqwest::Error) -> SendOutcome {
    let (code, maybe_delivered) = if error.is_connect() {
        ("connect", false)
    } else if error.is_timeout() {
        ("timeout", true)
    } else {
        ("transport", true)
    };
    let error = error.without_url();
    let mut reason = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    if maybe_delivered {
        SendOutcome::retry_uncertain(code, reason)
    } else {
        SendOutcome::retry(code, reason)
    }
}

/// Reads `Retry-After` as seconds or as an HTTP date (RFC 9110 section 10.2.3); a date in the
/// past means "now".
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
        assert_eq!(
            retry_after(&headers("120"), now),
            Some(Duration::from_secs(120))
        );
        let date = headers("Sun, 01 Mar 2026 08:01:30 GMT");
        assert_eq!(retry_after(&date, now), Some(Duration::from_secs(90)));
        let past = headers("Sun, 01 Mar 2026 07:00:00 GMT");
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    fn answer(status: u16) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: Some(Duration::from_secs(7)),
            body: b"<html>oops</html>".to_vec(),
        }
    }

    #[test]
    fn status_429_and_5xx_are_retries_and_keep_retry_after() {
        let limited = answer(429).http_failure().unwrap();
        assert!(matches!(
            limited,
            SendOutcome::Retry {
                maybe_delivered: false,
                ..
            }
        ));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
        let busy = answer(503).http_failure().unwrap();
        assert!(matches!(
            busy,
            SendOutcome::Retry {
                maybe_delivered: true,
                ..
            }
        ));
        assert_eq!(busy.code(), Some("http_503"));
        assert_eq!(answer(200).http_failure(), None);
        assert_eq!(answer(400).http_failure(), None);
        assert_eq!(answer(200).unreadable().code(), Some("bad_answer"));
    }
}
