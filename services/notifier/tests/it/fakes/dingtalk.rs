//! DingTalk custom robot: `access_token`, then `timestamp` (ms, within an hour) and `sign`
//! in the query, checked as the robot checks them; every answer is a 200 with `errcode`.

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
}

/// Starts a signing robot with this access token and secret.
pub async fn start(token: &str, secret: &str, now: DateTime<Utc>) -> Fake {
    let robot = DingTalk {
        token: token.into(),
        secret: secret.into(),
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

    fn answer(&self, script: &Script, _request: &Seen) -> Response {
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
