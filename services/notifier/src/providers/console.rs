//! The console provider: prints what would have been sent and keeps the latest in memory. The
//! default channel (DESIGN.md section 5), so the quick start needs no account anywhere, and the
//! one tests of the notifier read back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::dingtalk::DingTalkMessage;
use super::feishu::FeishuMessage;
use super::wecom::WeComMessage;
use super::{Message, SendContext, SendOutcome, mask_phone, mask_phones_in};

/// One message the console "sent".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleRecord {
    /// The kind of message it was rendered for (`sms`, `wecom`, ...).
    pub channel: &'static str,
    /// The SMS recipient, unmasked: tests compare it, and it never leaves memory.
    pub phone: Option<String>,
    /// The rendered text, unmasked.
    pub text: String,
    /// What was logged: the same, with every phone masked.
    pub line: String,
    pub at: DateTime<Utc>,
}

/// How many of the latest messages the console keeps: a notifier left running on the console
/// for months must not grow without end.
pub const KEPT: usize = 10_000;

/// Records the latest [`KEPT`] messages and counts all; clones share them, so a test keeps one
/// clone and hands the other to the notifier.
#[derive(Clone, Debug, Default)]
pub struct Console {
    sent: Arc<Mutex<Sent>>,
}

#[derive(Debug, Default)]
struct Sent {
    latest: VecDeque<ConsoleRecord>,
    count: u64,
}

impl Console {
    pub fn new() -> Self {
        Self::default()
    }

    /// The latest [`KEPT`] messages sent, oldest first.
    pub fn sent(&self) -> Vec<ConsoleRecord> {
        let sent = self.sent.lock().expect("console list poisoned");
        sent.latest.iter().cloned().collect()
    }

    /// How many messages were sent in all.
    pub fn sent_count(&self) -> u64 {
        self.sent.lock().expect("console list poisoned").count
    }

    /// Logs and records the message; the console always delivers.
    pub fn send(&self, message: &Message, ctx: &SendContext) -> SendOutcome {
        let (phone, text) = render(message);
        let to = phone.as_deref().map(mask_phone).unwrap_or_default();
        let line = mask_phones_in(&text);
        // INFO, unlike other per-message logs (STYLE.md): printing is this channel's delivery.
        tracing::info!(channel = message.kind(), to = %to, text = %line, "Console message.");
        let mut sent = self.sent.lock().expect("console list poisoned");
        if sent.latest.len() == KEPT {
            sent.latest.pop_front();
        }
        sent.latest.push_back(ConsoleRecord {
            channel: message.kind(),
            phone,
            text,
            line,
            at: ctx.now,
        });
        sent.count += 1;
        SendOutcome::delivered(None)
    }
}

/// The recipient phone, if the message has one, and a readable text of the message.
fn render(message: &Message) -> (Option<String>, String) {
    match message {
        Message::Sms(sms) => {
            let params: Vec<String> = sms.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let text = format!("[{}] {}", sms.template, params.join(", "));
            (Some(sms.phone.as_str().to_owned()), text)
        }
        Message::WeCom(m) => (None, wecom_text(m)),
        Message::DingTalk(m) => (None, dingtalk_text(m)),
        Message::Feishu(m) => (None, feishu_text(m)),
        Message::Webhook(m) => (None, m.body.to_string()),
    }
}

fn wecom_text(message: &WeComMessage) -> String {
    match message {
        WeComMessage::Text { content, .. } | WeComMessage::Markdown { content } => content.clone(),
        WeComMessage::News { articles } => articles
            .iter()
            .map(|a| format!("{} <{}>", a.title, a.url))
            .collect::<Vec<_>>()
            .join("\n"),
        WeComMessage::Image { bytes } => format!("<image, {} bytes>", bytes.len()),
    }
}

fn dingtalk_text(message: &DingTalkMessage) -> String {
    match message {
        DingTalkMessage::Text { content, .. } => content.clone(),
        DingTalkMessage::Markdown { title, text, .. }
        | DingTalkMessage::Link { title, text, .. }
        | DingTalkMessage::ActionCard { title, text, .. } => format!("{title}\n{text}"),
    }
}

fn feishu_text(message: &FeishuMessage) -> String {
    match message {
        FeishuMessage::Text { text } => text.clone(),
        FeishuMessage::Post { title, paragraphs } => {
            let body = serde_json::to_string(paragraphs).unwrap_or_default();
            format!("{title}\n{body}")
        }
        FeishuMessage::Interactive { card } => card.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::SmsMessage;

    #[test]
    fn records_the_message_and_logs_it_masked() {
        let console = Console::new();
        let reader = console.clone();
        let sms = Message::Sms(SmsMessage {
            notification_id: "n-1".into(),
            phone: hongyan_domain::Phone::parse("13812345678").unwrap(),
            template: "SMS_1".into(),
            params: vec![("contact".into(), "13900001111".into())],
        });
        let outcome = console.send(&sms, &SendContext::fresh());
        assert!(outcome.is_delivered());
        let sent = reader.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].phone.as_deref(), Some("13812345678"));
        assert_eq!(sent[0].text, "[SMS_1] contact=13900001111");
        assert_eq!(sent[0].line, "[SMS_1] contact=139****1111");
    }

    #[test]
    fn keeps_the_latest_messages_and_counts_them_all() {
        let console = Console::new();
        let sms = |i: usize| {
            Message::Sms(SmsMessage {
                notification_id: format!("n-{i}"),
                phone: hongyan_domain::Phone::parse("13812345678").unwrap(),
                template: "SMS_1".into(),
                params: vec![("i".into(), i.to_string())],
            })
        };
        for i in 0..KEPT + 5 {
            console.send(&sms(i), &SendContext::fresh());
        }
        let sent = console.sent();
        assert_eq!(sent.len(), KEPT);
        assert_eq!(sent[0].text, "[SMS_1] i=5", "the oldest five made room");
        assert_eq!(sent[KEPT - 1].text, format!("[SMS_1] i={}", KEPT + 4));
        assert_eq!(console.sent_count(), (KEPT + 5) as u64);
    }
}
