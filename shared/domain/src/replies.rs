//! Replies (上行短信, DESIGN.md section 5): members answer a reminder by SMS, most often "1" or
//! "没变". What a reply's text means, and the ids that make a reply taken once, are decided
//! here; the notifier takes the provider's push, stores the reply and acts on the meaning.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids::{EventId, MemberId, Phone};
use crate::month::Month;
use crate::rules::keys;

/// What a reply asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Meaning {
    /// "No change" (`1`, `是`, `没变`, `无变化`, `不变`, `确认`): this month is confirmed.
    Confirm,
    /// `T`, `TD`, `退订`: no more monthly reminder SMS to this phone.
    StopReminders,
    /// Anything else: forwarded to the branch contact and kept in the member's history.
    Other,
}

impl Meaning {
    /// The word `/metrics` and the stored reply use.
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::Confirm => "confirm",
            Meaning::StopReminders => "stop_reminders",
            Meaning::Other => "other",
        }
    }
}

const CONFIRM: &[&str] = &["1", "是", "没变", "无变化", "不变", "确认"];
const STOP: &[&str] = &["t", "td", "退订"];

/// What `text` means. Spaces, punctuation and symbols are ignored wherever they stand,
/// full-width letters and digits read as their ASCII forms (`１` is `1`), and letters in any
/// case (`td`, `Td`).
pub fn meaning(text: &str) -> Meaning {
    let bare = bare(text);
    if CONFIRM.contains(&bare.as_str()) {
        Meaning::Confirm
    } else if STOP.contains(&bare.as_str()) {
        Meaning::StopReminders
    } else {
        Meaning::Other
    }
}

/// The letters and digits of `text`, full-width forms folded to ASCII, lower case.
fn bare(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            // The full-width block mirrors ASCII 0x21..=0x7E at an offset (Unicode's
            // "Halfwidth and Fullwidth Forms").
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A reply as the provider pushed it, phone read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// `aliyun` or `tencent`.
    pub provider: &'static str,
    pub phone: Phone,
    /// The text as the member wrote it.
    pub text: String,
    /// When the member sent it, as the provider says (`send_time`, `time`): part of what
    /// makes a repeat the same reply.
    pub sent_at: String,
}

impl Reply {
    /// The reply's id: the same provider, phone, time and text give the same id, so a reply
    /// pushed twice is taken once (DESIGN.md section 5).
    pub fn id(&self) -> Uuid {
        keys::id_of(&format!(
            "reply:{}:{}:{}:{}",
            self.provider, self.phone, self.sent_at, self.text
        ))
    }

    /// The id of the event the reply causes for `member` (a phone two members share reaches
    /// both), so a relay's repeat is dropped by the registry like any duplicate.
    pub fn event_id(&self, member: &MemberId) -> EventId {
        EventId(keys::id_of(&format!("reply-event:{}:{member}", self.id())))
    }
}

/// The key of the thank-you for a confirmation: once per member and month, however many
/// times they answer "1".
pub fn thanks_key(member: &MemberId, received: DateTime<Utc>) -> String {
    keys::message_key(
        "reply_thanks",
        &Month::of_instant(received).to_string(),
        keys::Subject::Member(member),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_of_no_change_confirm() {
        for t in [
            "1",
            "是",
            "没变",
            "无变化",
            "不变",
            "确认",
            " 1 ",
            "１",
            "1。",
            "没变！",
            "「确认」",
            "1\n",
            "  无 变 化 ",
            "是,",
        ] {
            assert_eq!(meaning(t), Meaning::Confirm, "{t:?}");
        }
    }

    #[test]
    fn unsubscribe_words_stop_reminders_in_any_case() {
        for t in ["T", "t", "TD", "td", "Td", "ＴＤ", "退订", " 退订。", "T."] {
            assert_eq!(meaning(t), Meaning::StopReminders, "{t:?}");
        }
    }

    #[test]
    fn anything_else_is_forwarded() {
        for t in [
            "11",
            "是的",
            "我换工作了",
            "2",
            "没变化吗",
            "TDD",
            "",
            "。。",
            "1 2",
            "确认了",
        ] {
            assert_eq!(meaning(t), Meaning::Other, "{t:?}");
        }
    }

    #[test]
    fn a_repeat_has_the_same_id_and_anything_else_another() {
        let r = Reply {
            provider: "aliyun",
            phone: Phone::parse("13800000001").unwrap(),
            text: "1".into(),
            sent_at: "2026-03-01 10:00:00".into(),
        };
        let m = MemberId::parse("m1").unwrap();
        assert_eq!(r.id(), r.clone().id());
        assert_eq!(r.event_id(&m), r.clone().event_id(&m));
        assert_ne!(r.event_id(&m), r.event_id(&MemberId::parse("m2").unwrap()));
        let later = Reply {
            sent_at: "2026-03-01 10:00:01".into(),
            ..r.clone()
        };
        let other = Reply {
            provider: "tencent",
            ..r.clone()
        };
        assert_ne!(r.id(), later.id());
        assert_ne!(r.id(), other.id());
        assert_ne!(r.id(), r.event_id(&m).0);
    }

    #[test]
    fn a_member_is_thanked_once_a_month() {
        let m = MemberId::parse("m1").unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(
            thanks_key(&m, at("2026-03-01T09:00:00+08:00")),
            thanks_key(&m, at("2026-03-31T23:00:00+08:00"))
        );
        // The month is Shanghai's: 1 April 00:30 there is still 31 March in UTC.
        assert_ne!(
            thanks_key(&m, at("2026-03-31T23:00:00+08:00")),
            thanks_key(&m, at("2026-04-01T00:30:00+08:00"))
        );
    }
}
