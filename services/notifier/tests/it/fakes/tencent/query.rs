//! `PullSmsSendStatusByPhoneNumber` as the API answers it: the status rows of one phone from
//! `BeginTime` (Unix seconds, at most 7 days back) to `EndTime`, `Offset` fixed at 0, at most
//! `Limit` (1 to 100) rows in `PullSmsSendStatusSet`, `UserReceiveTime` in Unix seconds, and
//! `SessionContext` empty unless the account has it enabled. Status receipts, when
//! configured, are posted as the callback's JSON array.

use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{REQUEST_ID, Tencent, error};
use crate::fakes::{Script, Seen};

/// Seconds from a send to the handset's receipt, in the fake's world.
const RECEIVED_AFTER: i64 = 2;

/// One SMS the gateway took.
pub struct Taken {
    /// `+86…`
    phone: String,
    session_context: String,
    serial_no: String,
    /// The send's `X-TC-Timestamp`.
    at: i64,
}

impl Tencent {
    /// Keeps a taken SMS for the queries, and posts its receipt when receipts are on.
    pub(super) fn take(&self, request: &Seen, phone: &str, serial_no: &str) {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let at = request
            .header("x-tc-timestamp")
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| Utc::now().timestamp());
        let taken = Taken {
            phone: phone.to_owned(),
            session_context: body["SessionContext"].as_str().unwrap_or_default().into(),
            serial_no: serial_no.to_owned(),
            at,
        };
        if let Some((url, delay)) = &self.options.receipts_to {
            push_receipt(self.pusher.clone(), url.clone(), *delay, &taken);
        }
        self.taken.lock().unwrap().push(taken);
    }

    /// Answers a `PullSmsSendStatusByPhoneNumber` whose signature passed.
    pub(super) fn query(&self, script: &Script, request: &Seen) -> Response {
        if let Script::Fail(code) = script {
            return error(code, "scripted failure");
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let (Some(phone), Some(_app), Some(begin), Some(0), Some(limit)) = (
            body["PhoneNumber"].as_str(),
            body["SmsSdkAppId"].as_str(),
            body["BeginTime"].as_i64(),
            body["Offset"].as_i64(),
            body["Limit"].as_u64().filter(|l| (1..=100).contains(l)),
        ) else {
            return error(
                "InvalidParameterValue",
                "PhoneNumber, SmsSdkAppId, BeginTime, Offset (0) and Limit (1 to 100) are required.",
            );
        };
        let end = body["EndTime"].as_i64().unwrap_or(i64::MAX);
        let taken = self.taken.lock().unwrap();
        let rows: Vec<Value> = taken
            .iter()
            .filter(|t| t.phone == phone)
            .filter(|t| (begin..=end).contains(&(t.at + RECEIVED_AFTER)))
            .take(limit as usize)
            .map(|t| {
                let context = if self.options.session_context {
                    t.session_context.as_str()
                } else {
                    ""
                };
                json!({"Description": "DELIVRD", "CountryCode": "86",
                    "SubscriberNumber": t.phone.trim_start_matches("+86"), "ReportStatus": "SUCCESS",
                    "PhoneNumber": t.phone, "SerialNo": t.serial_no,
                    "UserReceiveTime": t.at + RECEIVED_AFTER, "SessionContext": context})
            })
            .collect();
        crate::fakes::json(
            200,
            json!({"Response": {"PullSmsSendStatusSet": rows, "RequestId": REQUEST_ID}}),
        )
    }
}

/// Posts the status receipt of `taken` after `delay`, trying again every 100 ms for a minute
/// while the receiver is away.
fn push_receipt(client: reqwest::Client, url: String, delay: std::time::Duration, taken: &Taken) {
    let received = DateTime::<Utc>::from_timestamp(taken.at + RECEIVED_AFTER, 0)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let body = json!([{"user_receive_time": received, "nationcode": "86",
        "mobile": taken.phone.trim_start_matches("+86"), "report_status": "SUCCESS",
        "errmsg": "DELIVRD", "description": "用户短信送达成功", "sid": taken.serial_no}]);
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
