//! DingTalk (钉钉) custom robot (自定义机器人), PROVIDERS.md "DingTalk custom robot".

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use super::transport::{self, Answer};
use super::{
    MessageRule, ProviderError, Secret, SendContext, SendOutcome, SettingsProblem, parse_url,
};

/// A breach of 20 a minute throttles the robot for 10 minutes, so sooner is pointless.
const THROTTLE: Duration = Duration::from_secs(10 * 60);

/// One robot, as an org's `chat` settings describe it.
#[derive(Clone, Debug, Deserialize)]
pub struct DingTalkSettings {
    /// The full webhook URL, `{base}/robot/send?access_token=TOKEN`.
    pub webhook: Secret,
    /// The "加签" secret (`SEC...`), when the robot's security setting is signing; a robot
    /// secured by keyword or IP only has none.
    #[serde(default)]
    pub secret: Option<Secret>,
}

/// Who a text or markdown message @-mentions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct At {
    pub mobiles: Vec<String>,
    pub all: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DingTalkMessage {
    Text {
        content: String,
        at: At,
    },
    Markdown {
        title: String,
        text: String,
        at: At,
    },
    Link {
        title: String,
        text: String,
        message_url: String,
        pic_url: Option<String>,
    },
    /// A card with buttons: one button makes the whole card a link (`singleTitle`,
    /// `singleURL`); several become `btns`, laid out vertically or side by side.
    ActionCard {
        title: String,
        text: String,
        buttons: Vec<Button>,
        vertical: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Button {
    pub title: String,
    pub url: String,
}

#[derive(Clone, Debug)]
pub struct DingTalkRobot {
    url: reqwest::Url,
    secret: Option<Secret>,
    client: reqwest::Client,
}

impl DingTalkRobot {
    pub fn new(settings: DingTalkSettings, client: reqwest::Client) -> Result<Self, ProviderError> {
        let url = parse_url("dingtalk", &settings.webhook)?;
        if !url
            .query_pairs()
            .any(|(k, v)| k == "access_token" && !v.is_empty())
        {
            return Err(ProviderError::Settings {
                provider: "dingtalk",
                problem: SettingsProblem::NoParameter("access_token"),
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
        message: &DingTalkMessage,
        ctx: &SendContext,
    ) -> Result<SendOutcome, ProviderError> {
        let body = body(message)?;
        let mut url = self.url.clone();
        if let Some(secret) = &self.secret {
            let timestamp = ctx.now.timestamp_millis();
            // The form encoder turns `+`, `/` and `=` into %2B, %2F and %3D: the
            // "urlencode" of the documented sign. An unencoded `+` would arrive as a space.
            url.query_pairs_mut()
                .append_pair("timestamp", &timestamp.to_string())
                .append_pair("sign", &sign(secret.expose(), timestamp));
        }
        let request = self.client.post(url).json(&body);
        Ok(match transport::exchange(request, ctx.now).await {
            Ok(answer) => outcome(&answer),
            Err(failure) => failure,
        })
    }
}

/// `base64(HMAC-SHA256(key = secret, message = timestamp_ms + "\n" + secret))`, before the
/// URL encoding the query string adds.
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Builds the JSON body. DingTalk documents no size limit in PROVIDERS.md, so only an action
/// card without buttons is refused.
pub fn body(message: &DingTalkMessage) -> Result<Value, ProviderError> {
    let at = |at: &At| json!({"atMobiles": at.mobiles, "isAtAll": at.all});
    Ok(match message {
        DingTalkMessage::Text { content, at: who } => {
            json!({"msgtype": "text", "text": {"content": content}, "at": at(who)})
        }
        DingTalkMessage::Markdown {
            title,
            text,
            at: who,
        } => json!({"msgtype": "markdown", "markdown": {"title": title, "text": text},
            "at": at(who)}),
        DingTalkMessage::Link {
            title,
            text,
            message_url,
            pic_url,
        } => json!({"msgtype": "link", "link": {"title": title, "text": text,
            "messageUrl": message_url, "picUrl": pic_url.as_deref().unwrap_or("")}}),
        DingTalkMessage::ActionCard {
            title,
            text,
            buttons,
            vertical,
        } => {
            let mut card = json!({"title": title, "text": text,
                "btnOrientation": if *vertical { "0" } else { "1" }});
            match buttons.as_slice() {
                [] => {
                    return Err(ProviderError::InvalidMessage(MessageRule::NoButton));
                }
                [only] => {
                    card["singleTitle"] = json!(only.title);
                    card["singleURL"] = json!(only.url);
                }
                several => {
                    let btns: Vec<Value> = several
                        .iter()
                        .map(|b| json!({"title": b.title, "actionURL": b.url}))
                        .collect();
                    card["btns"] = json!(btns);
                }
            }
            json!({"msgtype": "actionCard", "actionCard": card})
        }
    })
}

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

/// Classifies a DingTalk `errcode` (PROVIDERS.md, "DingTalk custom robot").
pub fn classify(errcode: i64, errmsg: &str) -> SendOutcome {
    let code = errcode.to_string();
    match errcode {
        0 => SendOutcome::delivered(None),
        130101 | 410100 => SendOutcome::retry(code, errmsg).not_before(Some(THROTTLE)),
        -1 => SendOutcome::retry(code, errmsg),
        // Sign, keyword, IP or timestamp. Only the timestamp can be our fault, and then our
        // clock is off by over an hour: every DingTalk robot fails until it is fixed.
        310000 if errmsg.to_ascii_lowercase().contains("timestamp") => {
            SendOutcome::pause(code, errmsg)
        }
        310000 => SendOutcome::permanent(code, errmsg),
        // The token or the robot is gone.
        300001 | 300005 | 400101 | 400102 | 400106 | 400013 => SendOutcome::permanent(code, errmsg),
        400105 => SendOutcome::permanent(code, errmsg),
        _ => SendOutcome::permanent(code, errmsg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_matches_an_independent_computation() {
        // Computed with Python's hmac/base64 from the rule in PROVIDERS.md.
        let expected = "lL9d0rzmxqSX7LsYeMPu9m2nk0eHxSdVFfFxO77nmF0=";
        assert_eq!(sign("SEC0123456789abcdef", 1_772_352_000_000), expected);
    }

    #[test]
    fn every_documented_code_is_classified() {
        assert!(classify(0, "ok").is_delivered());
        for code in [130101, 410100] {
            let limited = classify(code, "send too fast");
            assert_eq!(limited.retry_after(), Some(THROTTLE), "{code}");
        }
        assert!(classify(-1, "busy").is_retry());
        assert!(classify(310000, "sign not match").is_permanent());
        assert!(classify(310000, "keywords not in content").is_permanent());
        assert!(classify(310000, "invalid timestamp").is_pause());
        for code in [300001, 300005, 400101, 400102, 400106, 400013, 400105, 999] {
            assert!(classify(code, "").is_permanent(), "{code}");
        }
    }

    #[test]
    fn action_cards_use_single_or_several_buttons() {
        let button = Button {
            title: "查看".into(),
            url: "https://example.org".into(),
        };
        let card = |buttons: Vec<Button>| DingTalkMessage::ActionCard {
            title: "t".into(),
            text: "x".into(),
            buttons,
            vertical: true,
        };
        let single = body(&card(vec![button.clone()])).unwrap();
        assert_eq!(single["actionCard"]["singleURL"], "https://example.org");
        let several = body(&card(vec![button.clone(), button])).unwrap();
        assert_eq!(
            several["actionCard"]["btns"][1]["actionURL"],
            "https://example.org"
        );
        assert!(body(&card(vec![])).is_err());
        assert!(matches!(
            body(&card(vec![])),
            Err(ProviderError::InvalidMessage(MessageRule::NoButton))
        ));
    }
}
