//! Rendering (渲染): a template and a request's params become the provider [`Message`] for one
//! kind of channel. Pure: the caller brings the phone, the notification id, the provider's
//! template code and, for a study pack, the link.

use std::collections::BTreeMap;

use hongyan_domain::Phone;
use hongyan_domain::notify::NotificationRequest;
use serde_json::{Value, json};

use crate::providers::dingtalk::{At, Button, DingTalkMessage};
use crate::providers::feishu::{self, FeishuMessage};
use crate::providers::webhook::WebhookMessage;
use crate::providers::wecom::{self, NewsArticle, WeComMessage};
use crate::providers::{Message, SmsMessage};
use crate::route::{self, PrivacyError, RobotKind};
use crate::templates::{Kind, SMS_TEXT_LIMIT, Template, Text};

/// Where a rendering goes, with what that kind of channel needs.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// A provider SMS: the provider template code (`notifier.sms.templates.<template>`) and
    /// the values in the template's registered order.
    Sms {
        notification_id: &'a str,
        phone: &'a Phone,
        template_code: &'a str,
    },
    /// The console channel: an SMS-shaped message whose one param, `text`, is the whole
    /// rendered text, so the console prints and records what the person would read.
    Console {
        notification_id: &'a str,
        phone: &'a Phone,
    },
    /// A one-to-one webhook: the request's JSON, with the rendered text added as `text`.
    Webhook { request: &'a NotificationRequest },
    /// A group robot; broadcasts only.
    Robot(RobotKind),
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// What the provider sends.
    pub message: Message,
    /// What the reader sees, as text: the SMS text, or a robot's markdown and link. Unmasked:
    /// mask it (`providers::mask_phones_in`) before logging.
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The request lacks a param the template uses: a sender bug, not a passing failure.
    #[error("Template {template} needs the param `{param}`, which the request does not have.")]
    MissingParam { template: String, param: String },
    /// A param with `[labels]` has a value none of them covers.
    #[error("Template {template} has no label for `{param}` = {value:?}.")]
    UnexpectedValue {
        template: String,
        param: String,
        value: String,
    },
    /// No SMS template code is configured for this template.
    #[error("No SMS template code for {template}: set notifier.sms.templates.{template}.")]
    NoTemplateCode { template: String },
    /// The rendering is over the channel's limit with these values.
    #[error(
        "Template {template} renders {actual} {unit} for {channel}, over its limit of {limit}."
    )]
    TooLong {
        template: String,
        channel: &'static str,
        unit: &'static str,
        limit: usize,
        actual: usize,
    },
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
}

/// A request's params plus `recipient_name` from its recipient: what [`render`] takes for a
/// request, since the registry's params name the member but not who is being told.
pub fn request_params(request: &NotificationRequest) -> BTreeMap<String, String> {
    let mut params = request.params.clone();
    if let Some(person) = request.person() {
        params
            .entry("recipient_name".into())
            .or_insert_with(|| person.name.clone());
    }
    params
}

/// Renders `template` with `params` for `target`. A missing param is an error naming it; an
/// empty one takes the template's default, or stays empty where the text reads fine without it.
pub fn render(
    template: &Template,
    params: &BTreeMap<String, String>,
    target: Target<'_>,
) -> Result<Rendered, RenderError> {
    let fill = |text: &Text| text.fill(|name| value(template, params, name));
    match target {
        Target::Sms {
            notification_id,
            phone,
            template_code,
        } => {
            if template_code.trim().is_empty() {
                return Err(RenderError::NoTemplateCode {
                    template: template.name.clone(),
                });
            }
            let text = sms_text(template, params)?;
            let values = template
                .sms
                .param_names
                .iter()
                .map(|name| Ok((name.clone(), value(template, params, name)?)))
                .collect::<Result<_, RenderError>>()?;
            let message = Message::Sms(SmsMessage {
                notification_id: notification_id.to_owned(),
                phone: phone.clone(),
                template: template_code.to_owned(),
                params: values,
            });
            Ok(Rendered { message, text })
        }
        Target::Console {
            notification_id,
            phone,
        } => {
            let text = sms_text(template, params)?;
            let message = Message::Sms(SmsMessage {
                notification_id: notification_id.to_owned(),
                phone: phone.clone(),
                template: template.name.clone(),
                params: vec![("text".into(), text.clone())],
            });
            Ok(Rendered { message, text })
        }
        Target::Webhook { request } => {
            let text = sms_text(template, params)?;
            let mut body = serde_json::to_value(request).expect("a request serializes");
            body["text"] = Value::String(text.clone());
            let message = Message::Webhook(WebhookMessage {
                id: request.key.clone(),
                body,
            });
            Ok(Rendered { message, text })
        }
        Target::Robot(kind) => {
            let Some(card) = template
                .robot
                .as_ref()
                .filter(|_| template.kind == Kind::Broadcast)
            else {
                return Err(PrivacyError::PersonalToGroup {
                    what: format!("Template {}", template.name),
                }
                .into());
            };
            let card = FilledCard {
                title: fill(&card.title)?,
                markdown: fill(&card.markdown)?,
                summary: card.summary.as_ref().map(fill).transpose()?,
                link: card.link.as_ref().map(fill).transpose()?,
                link_text: card.link_text.clone(),
            };
            let rendered = robot_message(template, kind, &card)?;
            route::check_group_message(&rendered.message)?;
            Ok(rendered)
        }
    }
}

/// The SMS text, within the SMS limit.
fn sms_text(template: &Template, params: &BTreeMap<String, String>) -> Result<String, RenderError> {
    let text = template
        .sms
        .text
        .fill(|name| value(template, params, name))?;
    let chars = text.chars().count();
    if chars > SMS_TEXT_LIMIT {
        return Err(RenderError::TooLong {
            template: template.name.clone(),
            channel: "sms",
            unit: "characters",
            limit: SMS_TEXT_LIMIT,
            actual: chars,
        });
    }
    Ok(text)
}

/// One param's text: its label, else its value, else (when empty) its default.
fn value(
    template: &Template,
    params: &BTreeMap<String, String>,
    name: &str,
) -> Result<String, RenderError> {
    let raw = params
        .get(name)
        .ok_or_else(|| RenderError::MissingParam {
            template: template.name.clone(),
            param: name.to_owned(),
        })?
        .trim();
    let labels = template.labels.get(name);
    if let Some(label) = labels.and_then(|l| l.get(raw)) {
        return Ok(label.clone());
    }
    if raw.is_empty()
        && let Some(default) = template.defaults.get(name)
    {
        return Ok(default.clone());
    }
    if labels.is_some() {
        return Err(RenderError::UnexpectedValue {
            template: template.name.clone(),
            param: name.to_owned(),
            value: raw.to_owned(),
        });
    }
    Ok(raw.to_owned())
}

struct FilledCard {
    title: String,
    markdown: String,
    summary: Option<String>,
    link: Option<String>,
    link_text: String,
}

/// A card with a link becomes each robot's link card (WeCom news, DingTalk action card,
/// Feishu card with a button); without one, markdown.
fn robot_message(
    template: &Template,
    kind: RobotKind,
    card: &FilledCard,
) -> Result<Rendered, RenderError> {
    let text = match &card.link {
        Some(link) => format!("{}\n{}", card.markdown, link),
        None => card.markdown.clone(),
    };
    let too_long = |unit, limit, actual| RenderError::TooLong {
        template: template.name.clone(),
        channel: kind.as_str(),
        unit,
        limit,
        actual,
    };
    let message = match kind {
        RobotKind::WeCom => Message::WeCom(match &card.link {
            Some(link) => WeComMessage::News {
                articles: vec![NewsArticle {
                    title: card.title.clone(),
                    description: card.summary.clone(),
                    url: link.clone(),
                    picurl: None,
                }],
            },
            None => {
                if card.markdown.len() > wecom::MARKDOWN_LIMIT {
                    let actual = card.markdown.len();
                    return Err(too_long("bytes", wecom::MARKDOWN_LIMIT, actual));
                }
                WeComMessage::Markdown {
                    content: card.markdown.clone(),
                }
            }
        }),
        RobotKind::DingTalk => Message::DingTalk(match &card.link {
            Some(link) => DingTalkMessage::ActionCard {
                title: card.title.clone(),
                text: card.markdown.clone(),
                buttons: vec![Button {
                    title: card.link_text.clone(),
                    url: link.clone(),
                }],
                vertical: false,
            },
            None => DingTalkMessage::Markdown {
                title: card.title.clone(),
                text: card.markdown.clone(),
                at: At::default(),
            },
        }),
        RobotKind::Feishu => {
            let message = FeishuMessage::Interactive {
                card: feishu_card(card),
            };
            let bytes = feishu::body(&message).to_string().len();
            if bytes > feishu::BODY_LIMIT {
                return Err(too_long("bytes", feishu::BODY_LIMIT, bytes));
            }
            Message::Feishu(message)
        }
    };
    Ok(Rendered { message, text })
}

/// A Feishu message card: the title as its header, the markdown, and a button for the link.
fn feishu_card(card: &FilledCard) -> Value {
    let mut elements = vec![json!({"tag": "markdown", "content": card.markdown})];
    if let Some(link) = &card.link {
        elements.push(json!({"tag": "action", "actions": [{
            "tag": "button",
            "type": "primary",
            "text": {"tag": "plain_text", "content": card.link_text},
            "url": link,
        }]}));
    }
    json!({
        "config": {"wide_screen_mode": true},
        "header": {"template": "red", "title": {"tag": "plain_text", "content": card.title}},
        "elements": elements,
    })
}
