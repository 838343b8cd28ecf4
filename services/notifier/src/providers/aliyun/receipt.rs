//! Aliyun delivery receipts (回执), PROVIDERS.md "Aliyun SMS", "Receipts": a JSON array POSTed
//! to us, possibly more than once.

use serde::Deserialize;

use crate::providers::sms::{ReceiptError, SmsReceipt, dedupe};

/// What the receipt endpoint answers once the receipts are stored; anything else makes Aliyun
/// post them again.
pub const RECEIPT_ANSWER: &str = r#"{"code":0,"msg":"接收成功"}"#;

#[derive(Deserialize)]
struct Raw {
    phone_number: String,
    #[serde(default)]
    send_time: String,
    #[serde(default)]
    report_time: String,
    success: bool,
    #[serde(default)]
    err_code: String,
    #[serde(default)]
    err_msg: String,
    biz_id: String,
    #[serde(default)]
    out_id: Option<String>,
}

/// Parses a receipt body, dropping repeats (same `biz_id` and phone).
pub fn parse_receipts(body: &[u8]) -> Result<Vec<SmsReceipt>, ReceiptError> {
    let raw: Vec<Raw> = serde_json::from_slice(body)?;
    let receipts = raw
        .into_iter()
        .map(|r| SmsReceipt {
            provider_message_id: r.biz_id,
            notification_id: r.out_id.filter(|id| !id.is_empty()),
            phone: r.phone_number,
            delivered: r.success,
            code: r.err_code,
            description: r.err_msg,
            reported_at: if r.report_time.is_empty() {
                r.send_time
            } else {
                r.report_time
            },
        })
        .collect();
    Ok(dedupe(receipts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_dedupes_on_biz_id_and_phone() {
        let body = r#"[
          {"phone_number":"13812345678","send_time":"2026-03-01 16:00:00",
           "report_time":"2026-03-01 16:00:05","success":true,"err_code":"DELIVERED",
           "err_msg":"用户接收成功","sms_size":"1","biz_id":"932702304080415357^0","out_id":"n-1"},
          {"phone_number":"13812345678","send_time":"2026-03-01 16:00:00",
           "report_time":"2026-03-01 16:00:05","success":true,"err_code":"DELIVERED",
           "err_msg":"用户接收成功","sms_size":"1","biz_id":"932702304080415357^0","out_id":"n-1"},
          {"phone_number":"13900001111","send_time":"2026-03-01 16:00:00",
           "report_time":"2026-03-01 16:00:09","success":false,"err_code":"MK:0001",
           "err_msg":"停机","biz_id":"932702304080415357^0","out_id":""}
        ]"#;
        let receipts = parse_receipts(body.as_bytes()).unwrap();
        assert_eq!(receipts.len(), 2);
        assert!(receipts[0].delivered);
        assert_eq!(receipts[0].notification_id.as_deref(), Some("n-1"));
        assert_eq!(receipts[0].reported_at, "2026-03-01 16:00:05");
        assert!(!receipts[1].delivered);
        assert_eq!(receipts[1].code, "MK:0001");
        assert_eq!(receipts[1].notification_id, None);
    }

    #[test]
    fn a_body_that_is_not_an_array_is_an_error() {
        assert!(parse_receipts(br#"{"phone_number":"1"}"#).is_err());
        let answer: serde_json::Value = serde_json::from_str(RECEIPT_ANSWER).unwrap();
        assert_eq!(answer["code"], 0);
    }
}
