//! The generic signed webhook, for a one-to-one integration (DESIGN.md section 5, "Routing").
//! Signed as the Standard Webhooks convention says (DESIGN.md section 5), so any of its
//! receiver libraries checks it: `webhook-id` is the notification's key (the same on every
//! retry, so a receiver drops a repeat after a crash), `webhook-timestamp` the Unix seconds of
//! the send, `webhook-signature` `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.

use hmac::{Hmac, Mac as _};
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::Sha256;

use super::transport::{self, Answer};
use super::{ProviderError, Secret, SendContext, SendOutcome, SettingsProblem, parse_url};

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

#[derive(Clone, Debug, Deserialize)]
pub struct WebhookSettings {
    /// Where to POST; held as a secret because integrations often put a token in it.
    pub url: Secret,
    /// The HMAC key shared with the receiver: `whsec_` + base64 of the key bytes (the Standard
    /// Webhooks form), or any other text, whose bytes are the key.
    pub secret: Secret,
}

/// The JSON document to deliver, rendered by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookMessage {
    /// `webhook-id`: the notification's key, stable across retries.
    pub id: String,
    pub body: serde_json::Value,
}

#[derive(Clone, Debug)]
pub struct Webhook {
    url: reqwest::Url,
    key: Vec<u8>,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(settings: WebhookSettings, client: reqwest::Client) -> Result<Self, ProviderError> {
        Ok(Self {
            url: parse_url("webhook", &settings.url)?,
            key: signing_key(settings.secret.expose())?,
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
            .header(ID_HEADER, &message.id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                SIGNATURE_HEADER,
                signature(&self.key, &message.id, timestamp, &body),
            )
            .body(body);
        Ok(match transport::exchange(request, ctx.now).await {
            Ok(answer) => outcome(&answer),
            Err(failure) => failure,
        })
    }
}

/// The HMAC key of `secret`: a `whsec_` secret is base64 of the key (Standard Webhooks'
/// form, what its libraries generate); any other text is used as it is.
pub fn signing_key(secret: &str) -> Result<Vec<u8>, ProviderError> {
    use base64::Engine as _;
    match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| ProviderError::Settings {
                provider: "webhook",
                problem: SettingsProblem::SigningKey(e),
            }),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// `v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>` (Standard Webhooks). The
/// `v1,` prefix lets a later scheme be added beside it without breaking receivers.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine as _;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{sig}")
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
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification and its libraries' tests.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(signing_key("whsec_not base64!").is_err());
        assert_eq!(signing_key("plain").unwrap(), b"plain");
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
