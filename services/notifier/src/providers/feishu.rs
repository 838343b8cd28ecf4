//! Feishu / Lark (飞书) custom bot (自定义机器人), PROVIDERS.md "Feishu / Lark custom bot".
//!
//! Sending on the hour and half hour should be avoided (the provider's advice); that jitter
//! belongs to the scheduler, not to this adapter.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use super::transport::{self, Answer};
use super::{ProviderError, Secret, SendContext, SendOutcome, SettingsProblem, parse_url};

/// Request body limit, "20 KB", read as 20 × 1024 bytes of the whole JSON body.
pub const BODY_LIMIT: usize = 20 * 1024;

/// One bot, as an org's `chat` settings describe it.
#[derive(Clone, Debug, Deserialize)]
pub struct FeishuSettings {
    /// The full webhook URL, `{base}/open-apis/bot/v2/hook/TOKEN`.
    pub webhook: Secret,
    /// The signature-check secret, when the bot's security setting has one.
    #[serde(default)]
    pub secret: Option<Secret>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FeishuMessage {
    Text {
        text: String,
    },
    /// Rich text: a title and paragraphs, each a line of elements.
    Post {
        title: String,
        paragraphs: Vec<Vec<PostElement>>,
    },
    /// A message card, already rendered as the card JSON (`config`, `header`, `elements`).
    Interactive {
        card: Value,
    },
}

/// One element of a rich-text paragraph, serialized with Feishu's `tag`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "tag")]
pub enum PostElement {
    #[serde(rename = "text")]
    Text { text: String },
    #[serde(rename = "a")]
    Link { text: String, href: String },
    /// Mentions a user by open id, or everyone with `"all"`.
    #[serde(rename = "at")]
    At { user_id: String },
}

#[derive(Clone, Debug)]
pub struct FeishuBot {
    url: reqwest::Url,
    secret: Option<Secret>,
    client: reqwest::Client,
}

impl FeishuBot {
    pub fn new(settings: FeishuSettings, client: reqwest::Client) -> Result<Self, ProviderError> {
        let url = parse_url("feishu", &settings.webhook)?;
        let hook = url.path().strip_prefix("/open-apis/bot/v2/hook/");
        if hook.is_none_or(str::is_empty) {
            return Err(ProviderError::Settings {
                provider: "feishu",
                problem: SettingsProblem::NotAFeishuHook,
            });
        }
        Ok(Self {
            url,
            secret: settings.secret,
            client,
        })
    }

    pub async fn send(
        &self,
        message: &FeishuMessage,
        ctx: &SendContext,
    ) -> Result<SendOutcome, ProviderError> {
        let mut body = body(message);
        if let Some(secret) = &self.secret {
            let timestamp = ctx.now.timestamp();
            // Feishu's own example sends the timestamp as a string.
            body["timestamp"] = json!(timestamp.to_string());
            body["sign"] = json!(sign(secret.expose(), timestamp));
        }
        let bytes = serde_json::to_vec(&body).expect("a JSON value serializes");
        if bytes.len() > BODY_LIMIT {
            return Err(ProviderError::TooLarge {
                what: "the request body",
                limit: BODY_LIMIT,
                actual: bytes.len(),
            });
        }
        let request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes);
        Ok(match transport::exchange(request, ctx.now).await {
            Ok(answer) => outcome(&answer),
            Err(failure) => failure,
        })
    }
}

/// `base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = empty))`. The secret is in
/// the key and the message is empty: the reverse of DingTalk, and easy to get wrong.
pub fn sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The unsigned body; `send` adds `timestamp` and `sign` beside `msg_type`.
pub fn body(message: &FeishuMessage) -> Value {
    match message {
        FeishuMessage::Text { text } => json!({"msg_type": "text", "content": {"text": text}}),
        FeishuMessage::Post { title, paragraphs } => json!({"msg_type": "post",
            "content": {"post": {"zh_cn": {"title": title, "content": paragraphs}}}}),
        FeishuMessage::Interactive { card } => json!({"msg_type": "interactive", "card": card}),
    }
}

/// The bot answers 200 with `code`; older deployments answered success as `StatusCode`, which
/// is read the same way rather than mistaken for a missing code.
#[derive(Deserialize)]
struct Reply {
    #[serde(alias = "StatusCode")]
    code: Option<i64>,
    #[serde(default, alias = "StatusMessage")]
    msg: String,
}

fn outcome(answer: &Answer) -> SendOutcome {
    if let Some(failure) = answer.http_failure() {
        return failure;
    }
    match serde_json::from_slice::<Reply>(&answer.body) {
        Ok(Reply {
            code: Some(code),
            msg,
        }) => classify(code, &msg),
        _ => answer.unreadable(),
    }
}

/// Classifies a Feishu `code` (PROVIDERS.md, "Feishu / Lark custom bot").
pub fn classify(code: i64, msg: &str) -> SendOutcome {
    let text = code.to_string();
    match code {
        0 => SendOutcome::delivered(None),
        // 100 a minute and 5 a second: the window is short, so the backoff decides.
        11232 => SendOutcome::retry(text, msg),
        // Bad request, sign or timestamp, IP, keyword.
        9499 | 19021 | 19022 | 19024 => SendOutcome::permanent(text, msg),
        _ => SendOutcome::permanent(text, msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_matches_an_independent_computation() {
        // Computed with Python's hmac/base64 from the rule in PROVIDERS.md.
        let expected = "11cMKTF4IhsHHKKQOE/HWaujWDaxeXPmN6WOvIPm6ys=";
        assert_eq!(sign("SEC0123456789abcdef", 1_772_352_000), expected);
    }

    #[test]
    fn every_documented_code_is_classified() {
        assert!(classify(0, "success").is_delivered());
        assert!(classify(11232, "frequency limited").is_retry());
        for code in [9499, 19021, 19022, 19024, 19001] {
            assert!(classify(code, "").is_permanent(), "{code}");
        }
    }

    #[test]
    fn post_paragraphs_carry_feishu_tags() {
        let message = FeishuMessage::Post {
            title: "学习资源包".into(),
            paragraphs: vec![vec![
                PostElement::Text {
                    text: "本月".into(),
                },
                PostElement::Link {
                    text: "打开".into(),
                    href: "https://example.org".into(),
                },
            ]],
        };
        let value = body(&message);
        let line = &value["content"]["post"]["zh_cn"]["content"][0];
        assert_eq!(line[0], json!({"tag": "text", "text": "本月"}));
        assert_eq!(line[1]["tag"], "a");
    }
}
