//! DingTalk custom robot: `access_token`, then `timestamp` (ms, within an hour) and `sign`
//! in the query, checked as the robot checks them; every answer is a 200 with `errcode`.
//! Started with [`start_limited`], it also answers 410100 "send too fast" to a send beyond 20
//! in any minute, as the robot does; it tells time by each send's signed timestamp, which is
//! the sender's clock, so a test can drive the minutes without waiting them out.

use std::sync::Mutex;

use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use serde_json::json;
use sha2::Sha256;

use super::{Behaviour, Fake, Script, Seen};

pub struct DingTalk {
    token: String,
    secret: String,
    /// Sends accepted per minute, when the robot enforces its limit.
    per_minute: Option<usize>,
    /// The signed timestamps (ms) of the sends it accepted.
    accepted: Mutex<Vec<i64>>,
}

/// Starts a signing robot with this access token and secret.
pub async fn start(token: &str, secret: &str, now: DateTime<Utc>) -> Fake {
    start_robot(token, secret, now, None).await
}

/// A signing robot that refuses a send beyond `per_minute` in any 60 s, as DingTalk does.
pub async fn start_limited(
    token: &str,
    secret: &str,
    now: DateTime<Utc>,
    per_minute: usize,
) -> Fake {
    start_robot(token, secret, now, Some(per_minute)).await
}

async fn start_robot(
    token: &str,
    secret: &str,
    now: DateTime<Utc>,
    per_minute: Option<usize>,
) -> Fake {
    let robot = DingTalk {
        token: token.into(),
        secret: secret.into(),
        per_minute,
        accepted: Mutex::default(),
    };
    Fake::start(robot, now).await
}

pub fn webhook(fake: &Fake, token: &str) -> String {
    format!("{}/robot/send?access_token={token}", fake.base_url)
}

fn reply(errcode: i64, errmsg: &str) -> Response {
    super::json(200, json!({"errcode": errcode, "errmsg": errmsg}))
}

impl Behaviour for DingTalk {
    fn check(&self, request: &Seen, now: DateTime<Utc>) -> Result<(), Response> {
        if request.uri.path() != "/robot/send"
            || request.query("access_token").as_deref() != Some(self.token.as_str())
        {
            return Err(reply(300001, "token is not exist"));
        }
        let timestamp: i64 = request
            .query("timestamp")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| reply(310000, "invalid timestamp"))?;
        if (now.timestamp_millis() - timestamp).abs() > 3_600_000 {
            return Err(reply(310000, "invalid timestamp"));
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}\n{}", self.secret).as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        if request.query("sign") != Some(expected) {
            return Err(reply(
                310000,
                "sign not match, more: [https://ding-doc.dingtalk.com]",
            ));
        }
        Ok(())
    }

    fn answer(&self, script: &Script, request: &Seen) -> Response {
        if let (Some(limit), Script::Succeed) = (self.per_minute, script) {
            let at: i64 = request.query("timestamp").unwrap().parse().unwrap();
            let mut accepted = self.accepted.lock().unwrap();
            let in_window = accepted
                .iter()
                .filter(|t| **t > at - 60_000 && **t <= at)
                .count();
            if in_window >= limit {
                return reply(410100, "send too fast, exceed 20 times per minute");
            }
            accepted.push(at);
        }
        match script {
            Script::Fail(code) => {
                let errmsg = match code.as_str() {
                    "130101" | "410100" => "send too fast, exceed 20 times per minute",
                    "-1" => "system busy",
                    _ => "scripted failure",
                };
                reply(code.parse().expect("a numeric DingTalk code"), errmsg)
            }
            _ => reply(0, "ok"),
        }
    }
}
