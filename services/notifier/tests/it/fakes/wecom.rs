//! WeCom group robot: the `key` in the query is the only credential; every answer is a 200
//! with `errcode`.

use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Behaviour, Fake, Script, Seen};

pub struct WeCom {
    key: String,
}

/// Starts a robot whose key is `key`.
pub async fn start(key: &str, now: DateTime<Utc>) -> Fake {
    Fake::start(WeCom { key: key.into() }, now).await
}

/// The webhook URL an org would configure for this fake robot.
pub fn webhook(fake: &Fake, key: &str) -> String {
    format!("{}/cgi-bin/webhook/send?key={key}", fake.base_url)
}

fn reply(errcode: i64, errmsg: &str) -> Response {
    super::json(200, json!({"errcode": errcode, "errmsg": errmsg}))
}

impl Behaviour for WeCom {
    fn check(&self, request: &Seen, _now: DateTime<Utc>) -> Result<(), Response> {
        let path_ok = request.uri.path() == "/cgi-bin/webhook/send";
        if !path_ok || request.query("key").as_deref() != Some(self.key.as_str()) {
            return Err(reply(93000, "invalid webhook url, hint: [1772352000_1]"));
        }
        let msgtype = serde_json::from_slice::<serde_json::Value>(&request.body)
            .ok()
            .and_then(|v| v["msgtype"].as_str().map(str::to_owned));
        match msgtype.as_deref() {
            Some("text" | "markdown" | "news" | "image" | "file" | "voice") => Ok(()),
            _ => Err(reply(40008, "invalid message type")),
        }
    }

    fn answer(&self, script: &Script, _request: &Seen) -> Response {
        match script {
            Script::Fail(code) => {
                let errmsg = match code.as_str() {
                    "45009" => "api freq out of limit",
                    "-1" => "system busy",
                    _ => "scripted failure",
                };
                reply(code.parse().expect("a numeric WeCom code"), errmsg)
            }
            _ => reply(0, "ok"),
        }
    }
}
