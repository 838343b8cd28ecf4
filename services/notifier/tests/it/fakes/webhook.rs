//! A receiver of the generic webhook, checking `X-Hongyan-Signature` as an integrator would.

use axum::response::Response;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use serde_json::json;
use sha2::Sha256;

use super::{Behaviour, Fake, Script, Seen};

pub struct Receiver {
    secret: String,
}

pub async fn start(secret: &str, now: DateTime<Utc>) -> Fake {
    Fake::start(
        Receiver {
            secret: secret.into(),
        },
        now,
    )
    .await
}

impl Behaviour for Receiver {
    fn check(&self, request: &Seen, now: DateTime<Utc>) -> Result<(), Response> {
        let reject = || super::json(401, json!({"error": "bad signature"}));
        let timestamp = request.header("x-hongyan-timestamp").ok_or_else(reject)?;
        let at: i64 = timestamp.parse().map_err(|_| reject())?;
        if (now.timestamp() - at).abs() > 300 {
            return Err(reject());
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(&request.body);
        let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        if request.header("x-hongyan-signature") != Some(expected.as_str()) {
            return Err(reject());
        }
        Ok(())
    }

    /// A scripted failure is an HTTP status; 429 comes with `Retry-After: 30`.
    fn answer(&self, script: &Script, _request: &Seen) -> Response {
        let Script::Fail(status) = script else {
            return Response::builder()
                .status(204)
                .body(Default::default())
                .unwrap();
        };
        let mut response = super::json(status.parse().unwrap(), json!({"error": "scripted"}));
        if status == "429" {
            response
                .headers_mut()
                .insert("retry-after", "30".parse().unwrap());
        }
        response
    }
}
