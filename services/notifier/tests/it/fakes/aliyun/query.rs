//! `QuerySendDetails` as the gateway answers it: the SMS sent to one phone on one date
//! (`SendDate`, `yyyyMMdd` in Beijing), paged by `PageSize` (1 to 50) and `CurrentPage`, the
//! rows nested as `SmsSendDetailDTOs.SmsSendDetailDTO`, each with the `OutId` it was sent
//! with, and `TotalCount` as a string, as some answers give it.

use std::collections::BTreeMap;

use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;

use super::{Aliyun, error};
use crate::fakes::Script;

/// One SMS the gateway took.
pub struct Taken {
    phone: String,
    out_id: String,
    template: String,
    /// The send's `Timestamp`.
    at: DateTime<Utc>,
    receipt: bool,
}

impl Aliyun {
    /// Keeps a taken SMS for the queries.
    pub(super) fn take(&self, params: &BTreeMap<String, String>) {
        let get = |k: &str| params.get(k).cloned().unwrap_or_default();
        let at = NaiveDateTime::parse_from_str(&get("Timestamp"), "%Y-%m-%dT%H:%M:%SZ")
            .map(|t| t.and_utc())
            .unwrap_or_else(|_| Utc::now());
        self.taken.lock().unwrap().push(Taken {
            phone: get("PhoneNumbers"),
            out_id: get("OutId"),
            template: get("TemplateCode"),
            at,
            receipt: self.receipts_to.is_some(),
        });
    }

    /// Answers a `QuerySendDetails` whose signature passed.
    pub(super) fn query(&self, script: &Script, params: &BTreeMap<String, String>) -> Response {
        if let Script::Fail(code) = script {
            let message = match code.as_str() {
                "isp.SYSTEM_ERROR" => "System error.",
                "Throttling.User" => "Request was denied due to user flow control.",
                _ => "scripted failure",
            };
            return error(200, code, message);
        }
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
        let page_size: usize = get("PageSize").parse().unwrap_or(0);
        let page: usize = get("CurrentPage").parse().unwrap_or(1);
        if get("PhoneNumber").is_empty()
            || get("SendDate").len() != 8
            || !(1..=50).contains(&page_size)
            || page == 0
        {
            return error(
                400,
                "isv.INVALID_PARAMETERS",
                "PhoneNumber, SendDate (yyyyMMdd), PageSize (1 to 50) and CurrentPage are required.",
            );
        }
        let taken = self.taken.lock().unwrap();
        let rows: Vec<serde_json::Value> = taken
            .iter()
            .filter(|t| {
                t.phone == get("PhoneNumber") && beijing(t.at, "%Y%m%d") == get("SendDate")
            })
            .map(|t| {
                let (status, code) = if t.receipt { (3, "DELIVERED") } else { (1, "") };
                json!({"PhoneNum": t.phone, "SendStatus": status, "ErrCode": code,
                    "TemplateCode": t.template, "Content": "【红岩】您有一条通知",
                    "SendDate": beijing(t.at, "%Y-%m-%d %H:%M:%S"),
                    "ReceiveDate": if t.receipt { beijing(t.at, "%Y-%m-%d %H:%M:%S") } else { String::new() },
                    "OutId": t.out_id})
            })
            .collect();
        let total = rows.len();
        let shown: Vec<serde_json::Value> = rows
            .into_iter()
            .skip((page - 1) * page_size)
            .take(page_size)
            .collect();
        super::super::json(
            200,
            json!({"Code": "OK", "Message": "OK", "RequestId": "A2B3C4D5-0000-4000-8000-000000000003",
                "TotalCount": total.to_string(),
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": shown}}),
        )
    }
}

fn beijing(at: DateTime<Utc>, format: &str) -> String {
    at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format(format)
        .to_string()
}
