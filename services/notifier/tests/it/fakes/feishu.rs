//! Feishu custom bot: the token in the path, `timestamp` (seconds, within an hour) and `sign`
//! as top-level body fields, checked as the bot checks them; answers are 200 with `code`.

use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Behaviour, Fake, Script, Seen};

pub struct Feishu {
    token: String,
    secret: String,
}

pub async fn start(token: &str, secret: &str, now: DateTime<Utc>) -> Fake {
    let bot = Feishu {
        token: token.into(),
        secret: secret.into(),
    };
    Fake::start(bot, now).await
}

pub fn webhook(fake: &Fake, token: &str) -> String {
    format!("{}/open-apis/bot/v2/hook/{token}", fake.base_url)
}

fn reply(code: i64, msg: &str) -> Response {
    super::json(200, json!({"code": code, "data": {}, "msg": msg}))
}

const SIGN_FAILED: &str = "sign match fail or timestamp is not within one hour from current time";

impl Behaviour for Feishu {
    fn check(&self, request: &Seen, now: DateTime<Utc>) -> Result<(), Response> {
        if request.uri.path() != format!("/open-apis/bot/v2/hook/{}", self.token) {
            return Err(reply(
                19001,
                "param invalid: incoming webhook access token invalid",
            ));
        }
        let body: Value =
            serde_json::from_slice(&request.body).map_err(|_| reply(9499, "Bad Request"))?;
        // The bot takes the timestamp as a string or a number.
        let timestamp = match &body["timestamp"] {
            Value::String(s) => s.parse::<i64>().ok(),
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
        .ok_or_else(|| reply(19021, SIGN_FAILED))?;
        if (now.timestamp() - timestamp).abs() > 3600 {
            return Err(reply(19021, SIGN_FAILED));
        }
        let key = format!("{timestamp}\n{}", self.secret);
        let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        if body["sign"].as_str() != Some(expected.as_str()) {
            return Err(reply(19021, SIGN_FAILED));
        }
        Ok(())
    }

    fn answer(&self, script: &Script, _request: &Seen) -> Response {
        match script {
            Script::Fail(code) => {
                let msg = match code.as_str() {
                    "11232" => "frequency limited psm[lark.oapi.app_platform_runtime]",
                    "19024" => "Key Words Not Found",
                    _ => "scripted failure",
                };
                reply(code.parse().expect("a numeric Feishu code"), msg)
            }
            _ => reply(0, "success"),
        }
    }
}
