//! A receiver of the generic webhook, checking it as a Standard Webhooks receiver does: the
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, a timestamp within five
//! minutes, and one of the signature's space-separated `v1,<base64>` entries equal to the
//! HMAC-SHA256 of `{id}.{timestamp}.{body}` under the secret (`whsec_` + base64 of the key).
//! A delivery whose id it has already taken is answered 200 and dropped, as the convention
//! asks of receivers.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use serde_json::json;
use sha2::Sha256;

use super::{Behaviour, Fake, Script, Seen};

pub struct Receiver {
    key: Vec<u8>,
    taken: Mutex<HashSet<String>>,
}

pub async fn start(secret: &str, now: DateTime<Utc>) -> Fake {
    let key = match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("a whsec_ secret is base64"),
        None => secret.as_bytes().to_vec(),
    };
    Fake::start(
        Receiver {
            key,
            taken: Mutex::new(HashSet::new()),
        },
        now,
    )
    .await
}

/// The ids the receiver took, in order; a repeat id (a retry after a lost answer) is dropped.
pub fn taken(fake: &Fake) -> Vec<String> {
    let mut seen = HashSet::new();
    fake.seen()
        .iter()
        .filter(|s| s.signature_ok)
        .filter_map(|s| s.header("webhook-id").map(str::to_owned))
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

impl Behaviour for Receiver {
    fn check(&self, request: &Seen, now: DateTime<Utc>) -> Result<(), Response> {
        let reject = || super::json(401, json!({"error": "bad signature"}));
        let id = request.header("webhook-id").ok_or_else(reject)?;
        let timestamp = request.header("webhook-timestamp").ok_or_else(reject)?;
        let signatures = request.header("webhook-signature").ok_or_else(reject)?;
        let at: i64 = timestamp.parse().map_err(|_| reject())?;
        if (now.timestamp() - at).abs() > 300 {
            return Err(reject());
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(&request.body);
        let expected = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        if !signatures.split(' ').any(|s| s == expected) {
            return Err(reject());
        }
        Ok(())
    }

    /// A scripted failure is an HTTP status; 429 comes with `Retry-After: 30`.
    fn answer(&self, script: &Script, request: &Seen) -> Response {
        let Script::Fail(status) = script else {
            // A repeat is answered like the first time, and dropped.
            let id = request.header("webhook-id").unwrap_or_default();
            self.taken.lock().unwrap().insert(id.to_owned());
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
