//! Aliyun dysmsapi: RPC parameters in the query (GET) or a form body (POST), signed with
//! signature v1, which is recomputed here from the decoded parameters as the gateway does.
//! Every SMS it takes is kept, and `QuerySendDetails` answers from them (see [`query`]).

mod query;

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use axum::http::Method;
use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac as _};
use serde_json::json;
use sha1::Sha1;

use super::{Behaviour, Fake, Script, Seen};

pub struct Aliyun {
    access_key_id: String,
    secret: String,
    nonces: Mutex<HashSet<String>>,
    /// Where to post a delivery receipt after each accepted send, as the provider does when
    /// receipts are enabled, and how long after the send (handsets take their time).
    receipts_to: Option<(String, std::time::Duration)>,
    /// One client for every receipt: building one per receipt (TLS roots and all) made a
    /// burst's receipts come seconds late.
    pusher: reqwest::Client,
    /// Every SMS taken, in order, for `QuerySendDetails`.
    taken: Mutex<Vec<query::Taken>>,
}

pub async fn start(access_key_id: &str, secret: &str, now: DateTime<Utc>) -> Fake {
    start_with_receipts(access_key_id, secret, now, None).await
}

/// A gateway that posts a receipt for every accepted send to `receipts_to` after the given
/// delay, retrying every 100 ms for a minute while the receiver is away (as providers retry
/// their pushes).
pub async fn start_with_receipts(
    access_key_id: &str,
    secret: &str,
    now: DateTime<Utc>,
    receipts_to: Option<(String, std::time::Duration)>,
) -> Fake {
    let gateway = Aliyun {
        access_key_id: access_key_id.into(),
        secret: secret.into(),
        nonces: Mutex::default(),
        receipts_to,
        pusher: reqwest::Client::new(),
        taken: Mutex::default(),
    };
    Fake::start(gateway, now).await
}

fn push_receipt(
    client: reqwest::Client,
    url: String,
    delay: std::time::Duration,
    params: &BTreeMap<String, String>,
    biz_id: &str,
) {
    let body = json!([{
        "phone_number": params.get("PhoneNumbers").cloned().unwrap_or_default(),
        "send_time": "2026-03-02 10:00:00",
        "report_time": "2026-03-02 10:00:05",
        "success": true,
        "err_code": "DELIVERED",
        "err_msg": "用户接收成功",
        "biz_id": biz_id,
        "out_id": params.get("OutId").cloned().unwrap_or_default(),
    }]);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        for _ in 0..600 {
            let sent = client.post(&url).json(&body).send().await;
            if sent.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
}

/// The decoded RPC parameters of a request, from its query or its form body.
pub fn params(request: &Seen) -> BTreeMap<String, String> {
    let encoded = if request.method == Method::GET {
        request.uri.query().unwrap_or_default().to_owned()
    } else {
        String::from_utf8(request.body.clone()).unwrap()
    };
    let url = reqwest::Url::parse(&format!("http://fake/?{encoded}")).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// RFC 3986: unreserved bytes stay, every other byte is `%XX` in upper case.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({"RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990",
        "HostId": "dysmsapi.aliyuncs.com", "Code": code, "Message": message});
    super::json(status, body)
}

impl Behaviour for Aliyun {
    fn check(&self, request: &Seen, now: DateTime<Utc>) -> Result<(), Response> {
        let params = params(request);
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
        if !matches!(get("Action"), "SendSms" | "QuerySendDetails") {
            return Err(error(
                400,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            ));
        }
        let fixed = [
            ("Version", "2017-05-25"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
        ];
        if fixed.iter().any(|(k, v)| get(k) != *v) {
            return Err(error(
                400,
                "MissingParameter",
                "A required parameter is missing.",
            ));
        }
        if get("AccessKeyId") != self.access_key_id {
            return Err(error(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            ));
        }
        let at = NaiveDateTime::parse_from_str(get("Timestamp"), "%Y-%m-%dT%H:%M:%SZ")
            .map_err(|_| {
                error(
                    400,
                    "InvalidTimeStamp.Format",
                    "Timestamp format is invalid.",
                )
            })?
            .and_utc();
        if (now - at).num_minutes().abs() > 15 {
            return Err(error(
                400,
                "InvalidTimeStamp.Expired",
                "Specified time stamp has expired.",
            ));
        }
        let joined = params
            .iter()
            .filter(|(k, _)| k.as_str() != "Signature")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let to_sign = format!("{}&{}&{}", request.method, encode("/"), encode(&joined));
        let mut mac = Hmac::<Sha1>::new_from_slice(format!("{}&", self.secret).as_bytes()).unwrap();
        mac.update(to_sign.as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        if get("Signature") != expected {
            let message = format!(
                "Specified signature is not matched with our calculation. server string to sign is:{to_sign}"
            );
            return Err(error(400, "SignatureDoesNotMatch", &message));
        }
        if !self
            .nonces
            .lock()
            .unwrap()
            .insert(get("SignatureNonce").to_owned())
        {
            return Err(error(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ));
        }
        Ok(())
    }

    fn is_query(&self, request: &Seen) -> bool {
        params(request).get("Action").map(String::as_str) == Some("QuerySendDetails")
    }

    fn answer(&self, script: &Script, request: &Seen) -> Response {
        if self.is_query(request) {
            return self.query(script, &params(request));
        }
        match script {
            Script::Fail(code) => {
                let message = match code.as_str() {
                    "isv.BUSINESS_LIMIT_CONTROL" => "触发分钟级流控Permits:1",
                    "isv.MOBILE_NUMBER_ILLEGAL" => "非法手机号",
                    "isv.AMOUNT_NOT_ENOUGH" => "账户余额不足",
                    _ => "scripted failure",
                };
                super::json(
                    200,
                    json!({"Code": code, "Message": message,
                    "RequestId": "A2B3C4D5-0000-4000-8000-000000000001"}),
                )
            }
            Script::Succeed | Script::Hang | Script::Late(_) => {
                let biz_id = match &self.receipts_to {
                    Some((url, delay)) => {
                        let biz_id = format!("{}^0", uuid::Uuid::new_v4().simple());
                        push_receipt(
                            self.pusher.clone(),
                            url.clone(),
                            *delay,
                            &params(request),
                            &biz_id,
                        );
                        biz_id
                    }
                    None => "900619746936498440^0".to_owned(),
                };
                self.take(&params(request));
                super::json(
                    200,
                    json!({"Code": "OK", "Message": "OK",
                    "BizId": biz_id, "RequestId": "A2B3C4D5-0000-4000-8000-000000000002"}),
                )
            }
        }
    }
}

/// A member's reply as Aliyun pushes it (上行短信, message type SmsUp; docs/providers.md): an
/// array of one, `sequence_id` a number as in older pages (the current ones send a string).
#[allow(dead_code)] // the cross-service tests push replies (tests/it/replies.rs)
pub fn reply(phone: &str, content: &str, send_time: &str) -> serde_json::Value {
    json!([{
        "phone_number": phone,
        "content": content,
        "send_time": send_time,
        "dest_code": "1234",
        "sequence_id": 7_654_321,
    }])
}

/// Pushes replies to `url` as the gateway does: a POST of the JSON array, with no signature.
/// Returns the status and the answer's body.
#[allow(dead_code)] // the cross-service tests push replies (tests/it/replies.rs)
pub async fn push_replies(url: &str, body: &serde_json::Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .expect("the reply endpoint answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}
