//! Tencent Cloud API 3.0: TC3-HMAC-SHA256 recomputed from the request's own `Content-Type`
//! and `Host` headers and body, a five-minute skew window, and answers as `{"Response": ...}`.
//! Every SMS it takes is kept, and `PullSmsSendStatusByPhoneNumber` answers from them (see
//! [`query`]).

mod query;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::Response;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{Behaviour, Fake, Script, Seen};

pub struct Tencent {
    secret_id: String,
    secret_key: String,
    options: Options,
    /// Every SMS taken, for `PullSmsSendStatusByPhoneNumber`.
    taken: Mutex<Vec<query::Taken>>,
    serials: AtomicU64,
    pusher: reqwest::Client,
}

/// What the account has enabled.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Status rows carry the send's `SessionContext` (Tencent enables it on request; without
    /// it, rows come back with it empty).
    pub session_context: bool,
    /// Where to post a status receipt after each accepted send, and how long after it.
    pub receipts_to: Option<(String, std::time::Duration)>,
}

/// An account with neither `SessionContext` in status rows nor receipts, as one starts.
pub async fn start(secret_id: &str, secret_key: &str, now: DateTime<Utc>) -> Fake {
    start_with(secret_id, secret_key, now, Options::default()).await
}

pub async fn start_with(
    secret_id: &str,
    secret_key: &str,
    now: DateTime<Utc>,
    options: Options,
) -> Fake {
    let api = Tencent {
        secret_id: secret_id.into(),
        secret_key: secret_key.into(),
        options,
        taken: Mutex::default(),
        serials: AtomicU64::new(3300),
        pusher: reqwest::Client::new(),
    };
    Fake::start(api, now).await
}

const REQUEST_ID: &str = "c68ab3c8-0d4c-4e1d-9c77-2f3b5a1e0001";

fn error(code: &str, message: &str) -> Response {
    let body = json!({"Response": {"Error": {"Code": code, "Message": message},
        "RequestId": REQUEST_ID}});
    super::json(200, body)
}

fn hmac(key: &[u8], message: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

impl Tencent {
    fn expected_signature(&self, request: &Seen, timestamp: i64, date: &str) -> String {
        let content_type = request.header("content-type").unwrap_or_default();
        let host = request.header("host").unwrap_or_default();
        let canonical = format!(
            "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n{}",
            hex::encode(Sha256::digest(&request.body))
        );
        let to_sign = format!(
            "TC3-HMAC-SHA256\n{timestamp}\n{date}/sms/tc3_request\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = hmac(format!("TC3{}", self.secret_key).as_bytes(), date);
        let key = hmac(&hmac(&key, "sms"), "tc3_request");
        hex::encode(hmac(&key, &to_sign))
    }
}

impl Behaviour for Tencent {
    fn check(&self, request: &Seen, now: DateTime<Utc>) -> Result<(), Response> {
        if !matches!(
            request.header("x-tc-action"),
            Some("SendSms" | "PullSmsSendStatusByPhoneNumber")
        ) || request.header("x-tc-version") != Some("2021-01-11")
            || request.header("x-tc-region").is_none_or(str::is_empty)
        {
            return Err(error(
                "MissingParameter",
                "The request is missing a required header.",
            ));
        }
        let timestamp: i64 = request
            .header("x-tc-timestamp")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| error("AuthFailure.InvalidAuthorization", "Bad X-TC-Timestamp."))?;
        if (now.timestamp() - timestamp).abs() > 300 {
            return Err(error("AuthFailure.SignatureExpire", "Signature expired."));
        }
        let auth = request.header("authorization").unwrap_or_default();
        let parts = auth
            .strip_prefix("TC3-HMAC-SHA256 Credential=")
            .and_then(|rest| rest.split_once(", SignedHeaders=content-type;host, Signature="))
            .ok_or_else(|| error("AuthFailure.InvalidAuthorization", "Bad Authorization."))?;
        let (credential, signature) = parts;
        let mut scope = credential.split('/');
        let (id, date) = (
            scope.next().unwrap_or_default(),
            scope.next().unwrap_or_default(),
        );
        if id != self.secret_id {
            return Err(error(
                "AuthFailure.SecretIdNotFound",
                "The SecretId is not found.",
            ));
        }
        let utc_date = DateTime::from_timestamp(timestamp, 0)
            .unwrap()
            .format("%Y-%m-%d");
        if date != utc_date.to_string()
            || signature != self.expected_signature(request, timestamp, date)
        {
            return Err(error(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated.",
            ));
        }
        Ok(())
    }

    /// Per-number codes (the ones naming a phone number) go in `SendStatusSet`; the others are
    /// request errors in `Response.Error`, as the API places them.
    fn is_query(&self, request: &Seen) -> bool {
        request.header("x-tc-action") == Some("PullSmsSendStatusByPhoneNumber")
    }

    fn answer(&self, script: &Script, request: &Seen) -> Response {
        if self.is_query(request) {
            return self.query(script, request);
        }
        let failed = match script {
            Script::Fail(code) if !code.contains("PhoneNumber") => {
                return error(code, "scripted failure");
            }
            Script::Fail(code) => Some(code.as_str()),
            _ => None,
        };
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let phones = body["PhoneNumberSet"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let statuses: Vec<Value> = phones
            .iter()
            .map(|phone| {
                let serial = format!("2106:{}", self.serials.fetch_add(1, Ordering::Relaxed));
                if failed.is_none() {
                    self.take(request, phone.as_str().unwrap_or_default(), &serial);
                }
                json!({"SerialNo": serial, "PhoneNumber": phone,
                    "Fee": 1, "SessionContext": body["SessionContext"],
                    "Code": failed.unwrap_or("Ok"),
                    // As the API does, a per-number error names the number it refused.
                    "Message": if failed.is_some() { format!("{} is not a number we can send to", phone.as_str().unwrap_or_default()) } else { "send success".into() },
                    "IsoCode": "CN"})
            })
            .collect();
        super::json(
            200,
            json!({"Response": {"SendStatusSet": statuses, "RequestId": REQUEST_ID}}),
        )
    }
}

/// A member's reply as Tencent posts it (上行短信回调; docs/providers.md): one object, `time`
/// in Unix seconds, `mobile` without the country code.
#[allow(dead_code)] // the cross-service tests push replies (tests/it/replies.rs)
pub fn reply(mobile: &str, text: &str, time: i64) -> Value {
    json!({"extend": "", "mobile": mobile, "nationcode": "86", "sign": "鸿雁", "text": text, "time": time})
}

/// Posts a reply to `url` as Tencent does; returns the status and the answer's body.
#[allow(dead_code)] // the cross-service tests push replies (tests/it/replies.rs)
pub async fn push_reply(url: &str, body: &Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .expect("the reply endpoint answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}
