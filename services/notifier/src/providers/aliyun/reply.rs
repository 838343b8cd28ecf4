//! Aliyun replies (上行短信, message type SmsUp; PROVIDERS.md "Replies"): a JSON array of
//! `{phone_number, content, send_time, dest_code, sequence_id}`, pushed with no signature and
//! repeated when our answer is lost.

use hongyan_domain::Phone;
use hongyan_domain::replies::Reply;
use serde::Deserialize;

use crate::providers::replies::{Replies, ReplyError, kept_text};

/// What the reply endpoint answers once the replies are stored (DESIGN.md section 5); Aliyun
/// checks only `code`, and pushes again on anything else.
pub const REPLY_ANSWER: &str = r#"{"code":0,"msg":"成功"}"#;

/// One pushed item. `sequence_id` is a string in the current documentation and a number in
/// older pages; `dest_code` (the extension the member replied to) is not needed to match,
/// since hongyan sends from one signature.
#[derive(Deserialize)]
struct Raw {
    phone_number: Option<String>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    send_time: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // read so that its shape is checked; matching does not need it
    sequence_id: Option<serde_json::Value>,
}

/// Parses a push: the items with a mainland phone are taken; the others are returned as bad,
/// for the log. An array with no good item at all is refused.
pub fn parse_replies(body: &[u8]) -> Result<Replies, ReplyError> {
    let items: Vec<serde_json::Value> = serde_json::from_slice(body)?;
    let mut out = Replies::default();
    for (i, item) in items.into_iter().enumerate() {
        match read(item) {
            Ok(r) => out.replies.push(r),
            Err(why) => out.bad.push(format!("item {i}: {why}")),
        }
    }
    if out.replies.is_empty() && !out.bad.is_empty() {
        return Err(ReplyError::NoPhone(out.bad.join("; ")));
    }
    Ok(out)
}

fn read(item: serde_json::Value) -> Result<Reply, String> {
    let raw: Raw = serde_json::from_value(item).map_err(|e| e.to_string())?;
    let phone = raw.phone_number.ok_or("no phone_number")?;
    let phone = Phone::parse(phone.trim()).map_err(|_| "phone_number is not a mainland mobile")?;
    Ok(Reply {
        provider: "aliyun",
        phone,
        text: kept_text(raw.content.as_deref().unwrap_or("")),
        sent_at: raw.send_time.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_good_items_with_either_sequence_id_and_reports_bad_ones() {
        let body = r#"[
          {"phone_number":"13800000001","content":"1","send_time":"2026-03-01 10:00:00",
           "dest_code":"1234","sequence_id":1234567},
          {"phone_number":"+8613800000002","content":"退订","send_time":"2026-03-01 10:00:01",
           "dest_code":"1234","sequence_id":"7654321","sign_name":"鸿雁"},
          {"content":"没有手机号"},
          {"phone_number":"12345","content":"x"}
        ]"#;
        let r = parse_replies(body.as_bytes()).unwrap();
        assert_eq!(r.replies.len(), 2);
        assert_eq!(r.replies[0].phone.as_str(), "13800000001");
        assert_eq!(r.replies[0].text, "1");
        assert_eq!(r.replies[0].sent_at, "2026-03-01 10:00:00");
        assert_eq!(r.replies[1].phone.as_str(), "13800000002");
        assert_eq!(r.bad.len(), 2, "{:?}", r.bad);
    }

    #[test]
    fn a_body_that_is_not_the_array_or_has_no_phone_is_refused() {
        assert!(parse_replies(b"not json").is_err());
        assert!(parse_replies(br#"{"phone_number":"13800000001"}"#).is_err());
        assert!(parse_replies(br#"[{"content":"1"}]"#).is_err());
        assert!(parse_replies(b"[]").unwrap().replies.is_empty());
        let answer: serde_json::Value = serde_json::from_str(REPLY_ANSWER).unwrap();
        assert_eq!(answer["code"], 0);
    }
}
