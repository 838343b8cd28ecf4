//! Provider adapters (渠道适配器): one thin module per chat robot, SMS gateway or webhook,
//! each speaking the provider's wire format, signing and error codes as PROVIDERS.md
//! describes them, and answering with a [`SendOutcome`] the retry logic matches on.
//!
//! Every adapter takes its URL from its settings (so tests point it at a local fake), a shared
//! `reqwest::Client` (whose timeout bounds every send) and, per send, a [`SendContext`]
//! carrying "now" and a nonce, so signatures are deterministic in tests.

pub mod aliyun;
pub mod console;
pub mod dingtalk;
pub mod feishu;
mod lookup;
mod mask;
mod outcome;
pub mod replies;
mod sms;
pub mod tencent;
mod transport;
pub mod webhook;
pub mod wecom;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;

pub use lookup::{Lookup, SentWithin};
pub use mask::{mask_phone, mask_phones_in};
pub use outcome::SendOutcome;
pub use sms::{ReceiptError, SmsMessage, SmsReceipt};

/// A credential or a URL that carries one. `Debug` never shows it, so settings can be logged.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The moment and nonce one send is signed with. Passed in rather than read inside the
/// adapters so tests sign deterministically and fakes can check clock-skew rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendContext {
    pub now: DateTime<Utc>,
    /// Unique per request: Aliyun's `SignatureNonce` rejects a repeat.
    pub nonce: String,
}

impl SendContext {
    /// The real clock and a random nonce, for production sends.
    pub fn fresh() -> Self {
        Self {
            now: Utc::now(),
            nonce: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// A send that was refused before any request was made: the caller's message or settings are
/// wrong, so neither a retry nor another provider would help.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider documents a size limit and the message is over it.
    #[error("{what} is {actual} bytes, over the provider's limit of {limit}.")]
    TooLarge {
        what: &'static str,
        limit: usize,
        actual: usize,
    },
    /// The message breaks another documented rule (article count, image format).
    #[error("Invalid message: {0}")]
    InvalidMessage(MessageRule),
    /// The settings cannot work (a webhook URL without its key, a base URL that does not
    /// parse). The reason never contains the URL, which may carry a key.
    #[error("Invalid {provider} settings: {problem}")]
    Settings {
        provider: &'static str,
        #[source]
        problem: SettingsProblem,
    },
    /// The message was rendered for another kind of channel.
    #[error("A {message} message cannot be sent through {provider}.")]
    WrongMessage {
        provider: &'static str,
        message: &'static str,
    },
}

/// What is wrong with a provider's settings, with the error behind it where there is one.
/// Never holds the URL, which may carry a key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsProblem {
    /// The HTTP client cannot be built (TLS set-up).
    #[error("{0}")]
    Client(#[source] reqwest::Error),
    /// url's parse error, boxed: the notifier does not depend on `url` by name.
    #[error("the URL does not parse ({0})")]
    UrlDoesNotParse(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the URL must be http or https")]
    NotHttp,
    /// A robot's webhook URL lacks the query parameter that names the robot.
    #[error("the webhook URL has no {0} parameter")]
    NoParameter(&'static str),
    #[error("the webhook URL is not /open-apis/bot/v2/hook/TOKEN")]
    NotAFeishuHook,
    #[error("the base URL has no host")]
    NoHost,
    #[error(
        "notifier.webhook.secret starts with whsec_ but the rest is not base64 ({0}); set HONGYAN__NOTIFIER__WEBHOOK__SECRET to whsec_ + the base64 key your receiver was given"
    )]
    SigningKey(#[source] base64::DecodeError),
}

/// A documented rule of a provider's message format that a message breaks. Not an error of
/// its own: the detail of [`ProviderError::InvalidMessage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageRule {
    /// A WeCom news message takes 1 to `max` articles.
    ArticleCount { max: usize, actual: usize },
    /// A WeCom robot image is a JPG or a PNG.
    ImageFormat,
    /// A DingTalk action card has a button.
    NoButton,
}

impl std::fmt::Display for MessageRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ArticleCount { max, actual } => {
                write!(f, "a news message takes 1 to {max} articles, not {actual}")
            }
            Self::ImageFormat => f.write_str("a robot image must be a JPG or a PNG"),
            Self::NoButton => f.write_str("an action card needs at least one button"),
        }
    }
}

/// A message rendered for one kind of channel.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    WeCom(wecom::WeComMessage),
    DingTalk(dingtalk::DingTalkMessage),
    Feishu(feishu::FeishuMessage),
    Sms(SmsMessage),
    Webhook(webhook::WebhookMessage),
}

impl Message {
    /// The channel kind, for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::WeCom(_) => "wecom",
            Self::DingTalk(_) => "dingtalk",
            Self::Feishu(_) => "feishu",
            Self::Sms(_) => "sms",
            Self::Webhook(_) => "webhook",
        }
    }
}

/// Any configured provider, so the notifier can hold a list of channels and send through each.
#[derive(Clone, Debug)]
pub enum Provider {
    WeCom(wecom::WeComRobot),
    DingTalk(dingtalk::DingTalkRobot),
    Feishu(feishu::FeishuBot),
    Aliyun(aliyun::AliyunSms),
    Tencent(tencent::TencentSms),
    Webhook(webhook::Webhook),
    Console(console::Console),
}

impl Provider {
    /// The provider's name as attempts record it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::WeCom(_) => "wecom",
            Self::DingTalk(_) => "dingtalk",
            Self::Feishu(_) => "feishu",
            Self::Aliyun(_) => "aliyun",
            Self::Tencent(_) => "tencent",
            Self::Webhook(_) => "webhook",
            Self::Console(_) => "console",
        }
    }

    /// Sends through this provider. The console takes any message; the others only their own.
    pub async fn send(
        &self,
        message: &Message,
        ctx: &SendContext,
    ) -> Result<SendOutcome, ProviderError> {
        match (self, message) {
            (Self::WeCom(p), Message::WeCom(m)) => p.send(m, ctx).await,
            (Self::DingTalk(p), Message::DingTalk(m)) => p.send(m, ctx).await,
            (Self::Feishu(p), Message::Feishu(m)) => p.send(m, ctx).await,
            (Self::Aliyun(p), Message::Sms(m)) => p.send(m, ctx).await,
            (Self::Tencent(p), Message::Sms(m)) => p.send(m, ctx).await,
            (Self::Webhook(p), Message::Webhook(m)) => p.send(m, ctx).await,
            (Self::Console(p), m) => Ok(p.send(m, ctx)),
            (p, m) => Err(ProviderError::WrongMessage {
                provider: p.name(),
                message: m.kind(),
            }),
        }
    }
}

impl Provider {
    /// Asks the SMS provider whether it took `message`, sent within `within`, whose answer
    /// never came (DESIGN.md section 5, "A send that timed out"). Only SMS sends are ever
    /// uncertain; the console has nothing to ask (a console send never times out), so it
    /// finds nothing and the message is printed again.
    pub async fn look_up(
        &self,
        message: &Message,
        within: SentWithin,
        ctx: &SendContext,
    ) -> Result<Lookup, ProviderError> {
        match (self, message) {
            (Self::Aliyun(p), Message::Sms(m)) => Ok(p.look_up(m, within, ctx).await),
            (Self::Tencent(p), Message::Sms(m)) => Ok(p.look_up(m, within, ctx).await),
            (Self::Console(_), _) => Ok(Lookup::NotFound),
            (p, m) => Err(ProviderError::WrongMessage {
                provider: p.name(),
                message: m.kind(),
            }),
        }
    }
}

/// Parses a robot's full webhook URL (DESIGN.md section 10: "each org's `chat.webhook` is the
/// full URL") once, at construction, so a typo is a settings error rather than a failed send.
pub(crate) fn parse_url(
    provider: &'static str,
    url: &Secret,
) -> Result<reqwest::Url, ProviderError> {
    let parsed = reqwest::Url::parse(url.expose()).map_err(|e| ProviderError::Settings {
        provider,
        problem: SettingsProblem::UrlDoesNotParse(Box::new(e)),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ProviderError::Settings {
            provider,
            problem: SettingsProblem::NotHttp,
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let settings = webhook::WebhookSettings {
            url: Secret::new("https://example.org/hook?token=abc"),
            secret: Secret::new("s3cr3t"),
        };
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("abc"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_message_for_another_channel_is_refused_before_sending() {
        let settings = webhook::WebhookSettings {
            url: Secret::new("http://127.0.0.1:9/hook"),
            secret: Secret::new("s"),
        };
        let provider =
            Provider::Webhook(webhook::Webhook::new(settings, reqwest::Client::new()).unwrap());
        let message = Message::Feishu(feishu::FeishuMessage::Text { text: "hi".into() });
        let err = provider
            .send(&message, &SendContext::fresh())
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ProviderError::WrongMessage {
                provider: "webhook",
                message: "feishu"
            }
        ));
    }

    #[test]
    fn bad_urls_are_settings_errors_that_do_not_echo_the_url() {
        let err = parse_url("wecom", &Secret::new("ftp://host/send?key=abc")).unwrap_err();
        assert!(!err.to_string().contains("abc"));
        assert!(matches!(
            err,
            ProviderError::Settings {
                problem: SettingsProblem::NotHttp,
                ..
            }
        ));
        let err = parse_url("wecom", &Secret::new("not a url")).unwrap_err();
        assert!(matches!(
            err,
            ProviderError::Settings {
                problem: SettingsProblem::UrlDoesNotParse(_),
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "Invalid wecom settings: the URL does not parse (relative URL without a base)"
        );
        let problem = std::error::Error::source(&err).expect("the problem");
        assert!(problem.source().is_some(), "url's error is kept");
    }
}
