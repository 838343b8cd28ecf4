//! The generic signed webhook, for a one-to-one integration (DESIGN.md section 5, "Routing").
//! The receiver checks `X-Hongyan-Signature` the way svix-style receivers do: an HMAC over the
//! timestamp and the exact body, so neither can be replayed with the other changed.

use hmac::{Hmac, Mac as _};
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::Sha256;

use super::transport::{self, Answer};
use super::{ProviderError, Secret, SendContext, SendOutcome, parse_url};

pub const TIMESTAMP_HEADER: &str = "X-Hongyan-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Hongyan-Signature";

#[derive(Clone, Debug, Deserialize)]
pub struct WebhookSettings {
    /// Where to POST; held as a secret because integrations often put a token in it.
    pub url: Secret,
    /// The HMAC key shared with the receiver.
    pub secret: Secret,
}

/// The JSON document to deliver, rendered by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookMessage {
    pub body: serde_json::Value,
}

#[derive(Clone, Debug)]
pub struct Webhook {
    url: reqwest::Url,
    secret: Secret,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(settings: WebhookSettings, client: reqwest::Client) -> Result<Self, ProviderError> {
        Ok(Self {
            url: parse_url("webhook", &settings.url)?,
            secret: settings.secret,
            client,
        })
    }

    pub async fn send(
        &self,
        message: &WebhookMessage,
        ctx: &SendContext,
    ) -> Result<SendOutcome, ProviderError> {
        let body = serde_json::to_vec(&message.body).expect("a JSON value serializes");
        let timestamp = ctx.now.timestamp();
        let request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                SIGNATURE_HEADER,
                signature(self.secret.expose(), timestamp, &body),
            )
            .body(body);
        Ok(match transport::exchange(request, ctx.now).await {
            Ok(answer) => outcome(&answer),
            Err(failure) => failure,
        })
    }
}

/// `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. The `v1=` prefix lets a later
/// scheme be added beside it without breaking receivers.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// 2xx delivered; 4xx permanent except 408 and 429, which mean "later"; anything else
/// (5xx, an unfollowed redirect) is retried.
fn outcome(answer: &Answer) -> SendOutcome {
    if let Some(failure) = answer.http_failure() {
        return failure;
    }
    classify(answer.status)
}

/// Classifies a receiver's status code.
pub fn classify(status: StatusCode) -> SendOutcome {
    let code = format!("http_{}", status.as_u16());
    let reason = format!("The receiver answered {status}.");
    if status.is_success() {
        SendOutcome::delivered(None)
    } else if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS {
        SendOutcome::retry(code, reason)
    } else if status.is_client_error() {
        SendOutcome::permanent(code, reason)
    } else {
        SendOutcome::retry_uncertain(code, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_computation() {
        // Computed with Python's hmac from the rule above.
        let expected = "v1=d12a346d79c9bb1e6fe5bdca347de1d9c1706a63d794bb64098820d0135f022b";
        assert_eq!(signature("whsec", 1_772_352_000, br#"{"a":1}"#), expected);
    }

    #[test]
    fn statuses_are_classified() {
        let c = |n| classify(StatusCode::from_u16(n).unwrap());
        for n in [200, 201, 202, 204] {
            assert!(c(n).is_delivered(), "{n}");
        }
        for n in [400, 401, 403, 404, 410, 422] {
            assert!(c(n).is_permanent(), "{n}");
        }
        for n in [408, 429, 500, 502, 503, 302] {
            assert!(c(n).is_retry(), "{n}");
        }
    }
}
