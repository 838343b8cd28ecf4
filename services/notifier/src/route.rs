//! Routing (投递路由) and the privacy rule (DESIGN.md section 5): anything about one person goes
//! only to that person's one-to-one channels; a group robot carries broadcasts only, and never
//! a phone number.
//!
//! The rule is held three ways: a robot channel can only be planned for an
//! [`Audience::Group`], and `plan` refuses a personal template for a group; `render` refuses a
//! personal template for a robot; and [`check_group_message`] refuses any robot message that
//! shows a mainland mobile number, whatever built it.

use std::fmt;

use hongyan_domain::notify::{Channel as PersonalChannel, Recipient};
use hongyan_domain::payloads::Chat;

use crate::providers::dingtalk::DingTalkMessage;
use crate::providers::feishu::FeishuMessage;
use crate::providers::wecom::WeComMessage;
use crate::providers::{Message, mask_phone};
use crate::templates::Kind;

/// The group robots an org's `chat.provider` may name: the domain's vocabulary.
pub use hongyan_domain::notify::ChatProvider as RobotKind;

/// An org's group robot, as its `chat` describes it.
#[derive(Clone, PartialEq, Eq)]
pub struct Robot {
    pub kind: RobotKind,
    pub chat: Chat,
}

/// Leaves out the webhook URL and secret: the URL carries the robot's key.
impl fmt::Debug for Robot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Robot")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    /// One-to-one: SMS through the configured provider.
    Sms,
    /// One-to-one: the member's signed webhook integration.
    Webhook,
    /// One-to-one: print and record.
    Console,
    /// The audience org's group robot; only in a broadcast's plan.
    Robot(Robot),
    /// Each member of the audience org on their own one-to-one channels: plan each as
    /// [`Audience::Person`] and render the template's SMS text (a short text with the link).
    Members,
}

impl Channel {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sms => PersonalChannel::Sms.as_str(),
            Self::Webhook => PersonalChannel::Webhook.as_str(),
            Self::Console => PersonalChannel::Console.as_str(),
            Self::Robot(r) => r.kind.as_str(),
            Self::Members => "members",
        }
    }

    /// Whether what goes through it reaches one person only.
    pub fn is_one_to_one(&self) -> bool {
        matches!(self, Self::Sms | Self::Webhook | Self::Console)
    }
}

/// Who a notification is for.
#[derive(Clone, Copy, Debug)]
pub enum Audience<'a> {
    /// One person, on their own one-to-one channels.
    Person(&'a Recipient),
    /// An organization's members as a group: its robot when it has one (`org.upserted`'s
    /// `chat`), else each member by SMS.
    Group { org_chat: Option<&'a Chat> },
}

/// A send the privacy rule refuses. Never retried: the content or the routing is wrong.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrivacyError {
    #[error("{what} is about one person and never goes to a group robot (DESIGN.md section 5).")]
    PersonalToGroup { what: String },
    #[error(
        "`{channel}` is a group robot, not a one-to-one channel: a person's channels are sms, \
         webhook or console."
    )]
    GroupChannelForPerson { channel: String },
    #[error("`{channel}` is not a known channel, so it cannot be trusted as one-to-one.")]
    UnknownChannel { channel: String },
    #[error("A group message would show the phone {masked}: broadcasts never carry phones.")]
    PhoneInGroupMessage { masked: String },
}

/// The channels to try, in order: a permanent failure on one moves to the next
/// ([`next_channel`]).
///
/// - Personal content to a person: the person's channels in their order (default `sms`),
///   each one-to-one; a robot among them is refused, not skipped, so the mistake is seen.
/// - A broadcast to a person (a member whose branch has no robot): the same channels.
/// - A broadcast to a group: its robot, then each member by SMS should the robot fail for good
///   (a revoked key); with no robot, each member by SMS.
/// - Personal content to a group: refused.
pub fn plan(kind: Kind, audience: Audience<'_>) -> Result<Vec<Channel>, PrivacyError> {
    match audience {
        Audience::Person(recipient) => one_to_one(&recipient.channels),
        Audience::Group { .. } if kind == Kind::Personal => Err(PrivacyError::PersonalToGroup {
            what: "Personal content".into(),
        }),
        Audience::Group { org_chat: None } => Ok(vec![Channel::Members]),
        Audience::Group {
            org_chat: Some(chat),
        } => {
            let kind =
                RobotKind::parse(&chat.provider).map_err(|_| PrivacyError::UnknownChannel {
                    channel: chat.provider.clone(),
                })?;
            let robot = Robot {
                kind,
                chat: chat.clone(),
            };
            Ok(vec![Channel::Robot(robot), Channel::Members])
        }
    }
}

/// A person's channels, parsed from the words the request carries (the one place they are).
fn one_to_one(names: &[String]) -> Result<Vec<Channel>, PrivacyError> {
    let default = [PersonalChannel::DEFAULT.as_str()];
    let names: Vec<&str> = if names.is_empty() {
        default.to_vec()
    } else {
        names.iter().map(|n| n.trim()).collect()
    };
    let mut plan = Vec::new();
    for name in names {
        let channel = match PersonalChannel::parse(name) {
            Ok(PersonalChannel::Sms) => Channel::Sms,
            Ok(PersonalChannel::Webhook) => Channel::Webhook,
            Ok(PersonalChannel::Console) => Channel::Console,
            Err(_) if RobotKind::parse(name).is_ok() => {
                return Err(PrivacyError::GroupChannelForPerson {
                    channel: name.into(),
                });
            }
            Err(_) => {
                return Err(PrivacyError::UnknownChannel {
                    channel: name.into(),
                });
            }
        };
        if !plan.contains(&channel) {
            plan.push(channel);
        }
    }
    Ok(plan)
}

/// The channel to fall back to after a permanent failure on `plan[failed_index]`, if any.
pub fn next_channel(plan: &[Channel], failed_index: usize) -> Option<(usize, &Channel)> {
    let next = failed_index.checked_add(1)?;
    plan.get(next).map(|c| (next, c))
}

/// Refuses a group message that shows an unmasked mainland mobile number (`1[3-9]` and 9 more
/// digits, with or without `+86`, written whole or as `138 1234 5678` / `138-1234-5678`), or
/// @-mentions anyone by phone. A masked `138****5678` passes. Digits inside a longer run (a
/// certificate number, an id in a URL) are not a phone, as `providers::mask_phones_in` reads it.
pub fn check_group_message(message: &Message) -> Result<(), PrivacyError> {
    let (texts, mentions): (Vec<String>, &[String]) = match message {
        Message::WeCom(m) => match m {
            WeComMessage::Text {
                content,
                mentioned_mobiles,
            } => (vec![content.clone()], mentioned_mobiles),
            WeComMessage::Markdown { content } => (vec![content.clone()], &[]),
            WeComMessage::News { articles } => {
                let texts = articles
                    .iter()
                    .flat_map(|a| {
                        [
                            Some(&a.title),
                            a.description.as_ref(),
                            Some(&a.url),
                            a.picurl.as_ref(),
                        ]
                    })
                    .flatten()
                    .cloned()
                    .collect();
                (texts, &[])
            }
            WeComMessage::Image { .. } => (vec![], &[]),
        },
        Message::DingTalk(m) => match m {
            DingTalkMessage::Text { content, at } => (vec![content.clone()], &at.mobiles),
            DingTalkMessage::Markdown { title, text, at } => {
                (vec![title.clone(), text.clone()], &at.mobiles)
            }
            DingTalkMessage::Link {
                title,
                text,
                message_url,
                pic_url,
            } => {
                let mut texts = vec![title.clone(), text.clone(), message_url.clone()];
                texts.extend(pic_url.clone());
                (texts, &[])
            }
            DingTalkMessage::ActionCard {
                title,
                text,
                buttons,
                ..
            } => {
                let mut texts = vec![title.clone(), text.clone()];
                texts.extend(
                    buttons
                        .iter()
                        .flat_map(|b| [b.title.clone(), b.url.clone()]),
                );
                (texts, &[])
            }
        },
        Message::Feishu(m) => match m {
            FeishuMessage::Text { text } => (vec![text.clone()], &[]),
            FeishuMessage::Post { title, paragraphs } => {
                let body = serde_json::to_string(paragraphs).unwrap_or_default();
                (vec![title.clone(), body], &[])
            }
            FeishuMessage::Interactive { card } => (vec![card.to_string()], &[]),
        },
        // One-to-one messages: not a group's.
        Message::Sms(_) | Message::Webhook(_) => return Ok(()),
    };
    if let Some(phone) = mentions.iter().find(|m| m.as_str() != "@all") {
        return Err(PrivacyError::PhoneInGroupMessage {
            masked: mask_phone(phone),
        });
    }
    match texts.iter().find_map(|t| find_phone(t)) {
        Some(phone) => Err(PrivacyError::PhoneInGroupMessage {
            masked: mask_phone(&phone),
        }),
        None => Ok(()),
    }
}

/// The first unmasked mainland mobile number in `text`, as 11 digits.
pub fn find_phone(text: &str) -> Option<String> {
    // Runs of digits (full-width ones read as ASCII), with the character after each run.
    let chars: Vec<char> = text
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            c => c,
        })
        .collect();
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    let digits = |(s, e): (usize, usize)| chars[s..e].iter().collect::<String>();
    for (n, &run) in runs.iter().enumerate() {
        let whole = digits(run);
        let whole = match whole.strip_prefix("86") {
            Some(rest) if whole.len() == 13 => rest.to_owned(),
            _ => whole,
        };
        if is_mobile(&whole) {
            return Some(whole);
        }
        // `138 1234 5678`, `138-1234-5678`: up to three runs, one separator between each.
        let mut joined = digits(run);
        for pair in runs[n..].windows(2).take(2) {
            let gap = &chars[pair[0].1..pair[1].0];
            if !matches!(gap, [' ' | '-']) {
                break;
            }
            joined.push_str(&digits(pair[1]));
            if is_mobile(&joined) {
                return Some(joined);
            }
        }
    }
    None
}

fn is_mobile(digits: &str) -> bool {
    let b = digits.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
}

#[cfg(test)]
mod tests {
    use hongyan_domain::Phone;
    use hongyan_domain::notify::Role;

    use super::*;
    use crate::providers::dingtalk::At;
    use crate::providers::wecom::NewsArticle;

    fn person(channels: &[&str]) -> Recipient {
        Recipient {
            role: Role::Member,
            name: "王小明".into(),
            phone: Phone::parse("13812345678").unwrap(),
            channels: channels.iter().map(|c| (*c).into()).collect(),
            member_id: None,
            org_id: None,
        }
    }

    fn chat(provider: &str) -> Chat {
        Chat {
            provider: provider.into(),
            webhook: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k".into(),
            secret: None,
        }
    }

    #[test]
    fn personal_content_goes_to_the_persons_channels_in_order() {
        let who = person(&["webhook", "sms", "console", "sms"]);
        let plan = plan(Kind::Personal, Audience::Person(&who)).unwrap();
        assert_eq!(plan, [Channel::Webhook, Channel::Sms, Channel::Console]);
        assert!(plan.iter().all(Channel::is_one_to_one));
        let nobody_said = person(&[]);
        assert_eq!(
            super::plan(Kind::Personal, Audience::Person(&nobody_said)).unwrap(),
            [Channel::Sms]
        );
    }

    #[test]
    fn personal_content_never_reaches_a_robot() {
        let c = chat("wecom");
        for org_chat in [Some(&c), None] {
            let err = plan(Kind::Personal, Audience::Group { org_chat }).unwrap_err();
            assert!(matches!(err, PrivacyError::PersonalToGroup { .. }), "{err}");
        }
        for robot in ["wecom", "dingtalk", "feishu"] {
            let who = person(&["sms", robot]);
            let err = plan(Kind::Personal, Audience::Person(&who)).unwrap_err();
            assert_eq!(
                err,
                PrivacyError::GroupChannelForPerson {
                    channel: robot.into()
                }
            );
        }
        let who = person(&["pager"]);
        assert!(matches!(
            plan(Kind::Personal, Audience::Person(&who)),
            Err(PrivacyError::UnknownChannel { .. })
        ));
    }

    #[test]
    fn a_broadcast_goes_to_the_robot_else_to_members_by_sms() {
        let c = chat("dingtalk");
        let with_robot = plan(Kind::Broadcast, Audience::Group { org_chat: Some(&c) }).unwrap();
        assert!(matches!(&with_robot[0], Channel::Robot(r) if r.kind == RobotKind::DingTalk));
        assert_eq!(with_robot[1], Channel::Members);
        let without = plan(Kind::Broadcast, Audience::Group { org_chat: None }).unwrap();
        assert_eq!(without, [Channel::Members]);
        let member = person(&["sms"]);
        assert_eq!(
            plan(Kind::Broadcast, Audience::Person(&member)).unwrap(),
            [Channel::Sms]
        );
        assert!(!format!("{with_robot:?}").contains("key=k"));
    }

    #[test]
    fn fallback_follows_the_plan_and_ends() {
        let who = person(&["webhook", "sms", "console"]);
        let plan = plan(Kind::Personal, Audience::Person(&who)).unwrap();
        assert_eq!(next_channel(&plan, 0), Some((1, &Channel::Sms)));
        assert_eq!(next_channel(&plan, 1), Some((2, &Channel::Console)));
        assert_eq!(next_channel(&plan, 2), None);
        assert_eq!(next_channel(&plan, usize::MAX), None);
        let c = chat("feishu");
        let group = super::plan(Kind::Broadcast, Audience::Group { org_chat: Some(&c) }).unwrap();
        assert_eq!(next_channel(&group, 0), Some((1, &Channel::Members)));
    }

    #[test]
    fn finds_phones_in_every_common_shape_but_not_in_longer_numbers() {
        for text in [
            "联系13812345678",
            "电话：+8613812345678。",
            "电话 138 1234 5678",
            "电话 138-1234-5678",
            "2026 13812345678",
            "１３８１２３４５６７８",
        ] {
            assert_eq!(find_phone(text).as_deref(), Some("13812345678"), "{text}");
        }
        for text in [
            "活动证 522627202600012",
            "138****5678",
            "12345678901",
            "https://hy.example.cn/p/2026031381234567890",
            "2026-03-09 09:00",
        ] {
            assert_eq!(find_phone(text), None, "{text}");
        }
    }

    #[test]
    fn a_group_message_with_a_phone_is_refused() {
        let news = Message::WeCom(WeComMessage::News {
            articles: vec![NewsArticle {
                title: "学习资源包".into(),
                description: Some("有疑问请联系 13900001111".into()),
                url: "https://hy.example.cn/p/1".into(),
                picurl: None,
            }],
        });
        assert_eq!(
            check_group_message(&news),
            Err(PrivacyError::PhoneInGroupMessage {
                masked: "139****1111".into()
            })
        );
        let mention = Message::DingTalk(DingTalkMessage::Markdown {
            title: "t".into(),
            text: "x".into(),
            at: At {
                mobiles: vec!["13900001111".into()],
                all: false,
            },
        });
        assert!(check_group_message(&mention).is_err());
        let fine = Message::Feishu(FeishuMessage::Text {
            text: "请联系 139****1111".into(),
        });
        assert_eq!(check_group_message(&fine), Ok(()));
    }
}
