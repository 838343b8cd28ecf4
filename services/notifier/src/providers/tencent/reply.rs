//! Tencent replies (上行短信回调; PROVIDERS.md "Replies"): one object `{extend, mobile,
//! nationcode, sign, text, time}`, `time` in Unix seconds, no signature.

use hongyan_domain::Phone;
use hongyan_domain::replies::Reply;
use serde::Deserialize;

use crate::providers::replies::{Replies, ReplyError, kept_text};

/// What the reply endpoint answers once the reply is stored.
pub const REPLY_ANSWER: &str = r#"{"result":0,"errmsg":"OK"}"#;

#[derive(Deserialize)]
struct Raw {
    mobile: Option<String>,
    #[serde(default)]
    nationcode: Option<String>,
    #[serde(default)]
    text: Option<String>,
    /// Unix seconds; some callbacks send it as a string.
    #[serde(default)]
    time: Option<serde_json::Value>,
}

/// Parses a push of one reply.
pub fn parse_replies(body: &[u8]) -> Result<Replies, ReplyError> {
    let raw: Raw = serde_json::from_slice(body)?;
    let mobile = raw
        .mobile
        .ok_or_else(|| ReplyError::NoPhone("no mobile".into()))?;
    let full = match raw.nationcode.as_deref() {
        None | Some("") | Some("86") => mobile.trim().to_owned(),
        Some(code) => format!("+{code}{}", mobile.trim()),
    };
    let phone = Phone::parse(&full).map_err(|_| {
        ReplyError::NoPhone("mobile is not a mainland mobile (nationcode 86)".into())
    })?;
    let sent_at = match raw.time {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    Ok(Replies {
        replies: vec![Reply {
            provider: "tencent",
            phone,
            text: kept_text(raw.text.as_deref().unwrap_or("")),
            sent_at,
        }],
        bad: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_reply() {
        let body = r#"{"extend":"","mobile":"13800000001","nationcode":"86","sign":"鸿雁",
                       "text":"没变","time":1772330400}"#;
        let r = parse_replies(body.as_bytes()).unwrap();
        assert_eq!(r.replies.len(), 1);
        assert_eq!(r.replies[0].phone.as_str(), "13800000001");
        assert_eq!(r.replies[0].text, "没变");
        assert_eq!(r.replies[0].sent_at, "1772330400");
    }

    #[test]
    fn a_body_without_a_mainland_phone_is_refused() {
        assert!(parse_replies(b"[]").is_err());
        assert!(parse_replies(br#"{"text":"1","time":1}"#).is_err());
        assert!(parse_replies(br#"{"mobile":"5551234","nationcode":"1","text":"1"}"#).is_err());
        let answer: serde_json::Value = serde_json::from_str(REPLY_ANSWER).unwrap();
        assert_eq!(answer["result"], 0);
    }
}
