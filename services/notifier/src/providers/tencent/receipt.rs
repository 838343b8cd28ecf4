//! Tencent delivery receipts (状态回执), PROVIDERS.md "Tencent Cloud SMS", "Receipts".

use serde::Deserialize;

use crate::providers::sms::{ReceiptError, SmsReceipt, dedupe};

/// What the receipt endpoint answers once the receipts are stored.
pub const RECEIPT_ANSWER: &str = r#"{"result":0,"errmsg":"OK"}"#;

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    user_receive_time: String,
    #[serde(default)]
    nationcode: String,
    mobile: String,
    report_status: String,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    description: String,
    sid: String,
}

/// Parses a receipt body. The receipt carries no `SessionContext`, so it matches back by
/// `sid` (the send answer's `SerialNo`). Repeats on `sid` and phone are dropped, as for
/// Aliyun, since a receipt is posted again when our answer is lost.
pub fn parse_receipts(body: &[u8]) -> Result<Vec<SmsReceipt>, ReceiptError> {
    let raw: Vec<Raw> = serde_json::from_slice(body)?;
    let receipts = raw
        .into_iter()
        .map(|r| {
            let phone = if r.nationcode.is_empty() {
                r.mobile
            } else {
                format!("+{}{}", r.nationcode, r.mobile)
            };
            SmsReceipt {
                provider_message_id: r.sid,
                notification_id: None,
                phone,
                delivered: r.report_status == "SUCCESS",
                code: if r.errmsg.is_empty() {
                    r.report_status
                } else {
                    r.errmsg
                },
                description: r.description,
                reported_at: r.user_receive_time,
            }
        })
        .collect();
    Ok(dedupe(receipts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_dedupes_on_sid_and_phone() {
        let body = r#"[
          {"user_receive_time":"2026-03-01 16:00:05","nationcode":"86","mobile":"13812345678",
           "report_status":"SUCCESS","errmsg":"DELIVRD","description":"用户短信送达成功",
           "sid":"2106:123"},
          {"user_receive_time":"2026-03-01 16:00:05","nationcode":"86","mobile":"13812345678",
           "report_status":"SUCCESS","errmsg":"DELIVRD","description":"用户短信送达成功",
           "sid":"2106:123"},
          {"user_receive_time":"2026-03-01 16:00:09","nationcode":"86","mobile":"13900001111",
           "report_status":"FAIL","errmsg":"MK:0001","description":"停机","sid":"2106:124"}
        ]"#;
        let receipts = parse_receipts(body.as_bytes()).unwrap();
        assert_eq!(receipts.len(), 2);
        assert!(receipts[0].delivered);
        assert_eq!(receipts[0].phone, "+8613812345678");
        assert_eq!(receipts[0].provider_message_id, "2106:123");
        assert!(!receipts[1].delivered);
        assert_eq!(receipts[1].code, "MK:0001");
    }

    #[test]
    fn a_body_that_is_not_an_array_is_an_error() {
        assert!(parse_receipts(b"{}").is_err());
        let answer: serde_json::Value = serde_json::from_str(RECEIPT_ANSWER).unwrap();
        assert_eq!(answer["result"], 0);
    }
}
