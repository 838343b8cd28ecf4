//! WeCom (企业微信) group robot (群机器人), PROVIDERS.md "WeCom group robot". No signature: the
//! `key` in the webhook URL is the secret, so the URL is held as a [`Secret`].

use std::time::Duration;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde::Deserialize;
use serde_json::{Value, json};

use super::transport::{self, Answer};
use super::{
    MessageRule, ProviderError, Secret, SendContext, SendOutcome, SettingsProblem, parse_url,
};

/// Text content limit, in UTF-8 bytes.
pub const TEXT_LIMIT: usize = 2048;
/// Markdown content limit, in UTF-8 bytes.
pub const MARKDOWN_LIMIT: usize = 4096;
/// Articles in one news message.
pub const MAX_ARTICLES: usize = 8;
/// Image limit, on the raw bytes before base64.
pub const IMAGE_LIMIT: usize = 2 * 1024 * 1024;
/// The provider's window after a 45009: 20 messages per minute per robot.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// One robot, as an org's `chat` settings describe it.
#[derive(Clone, Debug, Deserialize)]
pub struct WeComSettings {
    /// The full webhook URL, `{base}/cgi-bin/webhook/send?key=KEY`.
    pub webhook: Secret,
}

#[derive(Clone, Debug, PartialEq)]
pub enum WeComMessage {
    /// Plain text; `mentioned_mobiles` @-mentions members by phone (or `"@all"`).
    Text {
        content: String,
        mentioned_mobiles: Vec<String>,
    },
    Markdown {
        content: String,
    },
    /// A card list of 1 to 8 articles.
    News {
        articles: Vec<NewsArticle>,
    },
    /// A JPG or PNG, sent inline as base64 with the md5 of the raw bytes.
    Image {
        bytes: Vec<u8>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewsArticle {
    pub title: String,
    pub description: Option<String>,
    pub url: String,
    pub picurl: Option<String>,
}

#[derive(Clone, Debug)]
pub struct WeComRobot {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl WeComRobot {
    pub fn new(settings: WeComSettings, client: reqwest::Client) -> Result<Self, ProviderError> {
        let url = parse_url("wecom", &settings.webhook)?;
        if !url.query_pairs().any(|(k, v)| k == "key" && !v.is_empty()) {
            return Err(ProviderError::Settings {
                provider: "wecom",
                problem: SettingsProblem::NoParameter("key"),
            });
        }
        Ok(Self { url, client })
    }

    /// Sends one message. Limits are checked first: an oversized message is the caller's
    /// error, never a request the robot would reject.
    pub async fn send(
        &self,
        message: &WeComMessage,
        ctx: &SendContext,
    ) -> Result<SendOutcome, ProviderError> {
        let body = body(message)?;
        let request = self.client.post(self.url.clone()).json(&body);
        Ok(match transport::exchange(request, ctx.now).await {
            Ok(answer) => outcome(&answer),
            Err(failure) => failure,
        })
    }
}

/// Builds the JSON body, enforcing the documented limits.
pub fn body(message: &WeComMessage) -> Result<Value, ProviderError> {
    Ok(match message {
        WeComMessage::Text {
            content,
            mentioned_mobiles,
        } => {
            within("text content", content.len(), TEXT_LIMIT)?;
            json!({"msgtype": "text", "text": {
                "content": content, "mentioned_mobile_list": mentioned_mobiles}})
        }
        WeComMessage::Markdown { content } => {
            within("markdown content", content.len(), MARKDOWN_LIMIT)?;
            json!({"msgtype": "markdown", "markdown": {"content": content}})
        }
        WeComMessage::News { articles } => {
            if articles.is_empty() || articles.len() > MAX_ARTICLES {
                return Err(ProviderError::InvalidMessage(MessageRule::ArticleCount {
                    max: MAX_ARTICLES,
                    actual: articles.len(),
                }));
            }
            let articles: Vec<Value> = articles
                .iter()
                .map(|a| {
                    json!({"title": a.title, "description": a.description,
                        "url": a.url, "picurl": a.picurl})
                })
                .collect();
            json!({"msgtype": "news", "news": {"articles": articles}})
        }
        WeComMessage::Image { bytes } => {
            within("image", bytes.len(), IMAGE_LIMIT)?;
            if !(bytes.starts_with(b"\xFF\xD8\xFF") || bytes.starts_with(b"\x89PNG\r\n\x1a\n")) {
                return Err(ProviderError::InvalidMessage(MessageRule::ImageFormat));
            }
            let base64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            let md5 = hex::encode(Md5::digest(bytes));
            json!({"msgtype": "image", "image": {"base64": base64, "md5": md5}})
        }
    })
}

fn within(what: &'static str, actual: usize, limit: usize) -> Result<(), ProviderError> {
    if actual > limit {
        return Err(ProviderError::TooLarge {
            what,
            limit,
            actual,
        });
    }
    Ok(())
}

/// The robot answers 200 whatever happened; only `errcode` tells (PROVIDERS.md, "Rules for
/// every provider").
#[derive(Deserialize)]
struct Reply {
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: String,
}

fn outcome(answer: &Answer) -> SendOutcome {
    if let Some(failure) = answer.http_failure() {
        return failure;
    }
    match serde_json::from_slice::<Reply>(&answer.body) {
        Ok(Reply {
            errcode: Some(code),
            errmsg,
        }) => classify(code, &errmsg),
        _ => answer.unreadable(),
    }
}

/// Classifies a WeCom `errcode` (PROVIDERS.md, "WeCom group robot").
pub fn classify(errcode: i64, errmsg: &str) -> SendOutcome {
    let code = errcode.to_string();
    match errcode {
        0 => SendOutcome::delivered(None),
        // Rate limited: 20 a minute per robot, so the next minute is the earliest that helps.
        45009 => SendOutcome::retry(code, errmsg).not_before(Some(RATE_WINDOW)),
        -1 => SendOutcome::retry(code, errmsg),
        // Invalid webhook URL, message type or (expired, 3-day) media id.
        93000 | 40008 | 40007 => SendOutcome::permanent(code, errmsg),
        _ => SendOutcome::permanent(code, errmsg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_is_classified() {
        assert!(classify(0, "ok").is_delivered());
        let limited = classify(45009, "api freq out of limit");
        assert!(limited.is_retry());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(60)));
        assert!(classify(-1, "system busy").is_retry());
        for code in [93000, 40008, 40007] {
            assert!(classify(code, "").is_permanent(), "{code}");
        }
        assert!(classify(123456, "unknown").is_permanent());
    }

    #[test]
    fn limits_are_counted_in_bytes() {
        // 683 three-byte characters are 2049 bytes although only 683 characters.
        let content = "党".repeat(683);
        let err = body(&WeComMessage::Text {
            content,
            mentioned_mobiles: vec![],
        })
        .unwrap_err();
        assert!(matches!(err, ProviderError::TooLarge { actual: 2049, .. }));
        let ok = "党".repeat(682);
        assert!(body(&WeComMessage::Markdown { content: ok }).is_ok());
    }

    #[test]
    fn news_takes_one_to_eight_articles_and_images_must_be_jpg_or_png() {
        let article = NewsArticle {
            title: "t".into(),
            description: None,
            url: "https://example.org".into(),
            picurl: None,
        };
        let none = WeComMessage::News { articles: vec![] };
        let nine = WeComMessage::News {
            articles: vec![article.clone(); 9],
        };
        assert!(body(&none).is_err() && body(&nine).is_err());
        assert!(
            body(&WeComMessage::News {
                articles: vec![article; 8]
            })
            .is_ok()
        );
        let gif = WeComMessage::Image {
            bytes: b"GIF89a".to_vec(),
        };
        assert!(matches!(
            body(&gif),
            Err(ProviderError::InvalidMessage(MessageRule::ImageFormat))
        ));
        let err = body(&nine).unwrap_err();
        assert!(matches!(
            err,
            ProviderError::InvalidMessage(MessageRule::ArticleCount { max: 8, actual: 9 })
        ));
        assert_eq!(
            err.to_string(),
            "Invalid message: a news message takes 1 to 8 articles, not 9"
        );
    }

    #[test]
    fn an_image_carries_base64_and_the_md5_of_the_raw_bytes() {
        let bytes = b"\x89PNG\r\n\x1a\nrest".to_vec();
        let value = body(&WeComMessage::Image { bytes }).unwrap();
        // md5 and base64 of the 12 bytes above, computed independently with Python.
        assert_eq!(value["image"]["base64"], "iVBORw0KGgpyZXN0");
        assert_eq!(value["image"]["md5"], "fe70374a342a551816afeafd712d358c");
    }
}
