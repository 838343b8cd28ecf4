//! The template files in `config/templates/` against the checks, and every one rendered for
//! each of its channels with values like the senders'.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hongyan_domain::notify::{
    NotificationRequest, Recipient, Role, job_templates as jobs, templates as registry,
};
use hongyan_domain::{EventId, MemberId, OrgId, Phone};

use super::*;
use crate::providers::Message;
use crate::providers::dingtalk::DingTalkMessage;
use crate::providers::feishu::FeishuMessage;
use crate::providers::wecom::WeComMessage;
use crate::render::{RenderError, Target, render, request_params};
use crate::route::{PrivacyError, RobotKind};

mod load;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/templates")
}

fn loaded() -> Templates {
    Templates::load(&dir()).unwrap_or_else(|e| panic!("{e}"))
}

fn phone() -> Phone {
    Phone::parse("13812345678").unwrap()
}

/// A request as its sender writes it: the registry's params for its templates (as in
/// services/registry/src/apply.rs), the scheduler's for the others.
fn request(template: &str) -> NotificationRequest {
    let v = |s: &str| s.to_owned();
    let params: Vec<(&str, String)> = match template {
        registry::OUTBOUND_MEMBER => vec![
            ("member_name", v("王小明")),
            ("certificate_no", v("522627202600012")),
            ("station_name", v("广州市天河区流动党员服务站")),
            ("station_phone", v("02038880000")),
            ("branch_name", v("天柱县高酿镇优洞村党支部")),
            ("branch_contact", v("龙光明")),
            ("branch_phone", v("13908551234")),
        ],
        registry::OUTBOUND_INFLOW => vec![
            ("member_name", v("王小明")),
            ("member_phone", v("13812345678")),
            ("home_branch", v("天柱县高酿镇优洞村党支部")),
            ("branch_phone", v("13908551234")),
            ("address", v("广州市天河区车陂路88号")),
        ],
        registry::OUTBOUND_BRANCH => vec![
            ("member_name", v("王小明")),
            ("certificate_no", v("522627202600012")),
            ("transfer_suggested", v("false")),
            ("destination", v("广东省广州市天河区")),
        ],
        registry::CHECKED_IN_BRANCH | registry::UNREPORTED_BRANCH => vec![
            ("member_name", v("王小明")),
            ("receiving_org", v("天河区车陂街道流动党员党支部")),
            ("receiving_contact", v("陈红")),
            ("receiving_phone", v("13922223333")),
            ("arrived_on", v("2026-03-05")),
            ("address", v("广州市天河区车陂路88号")),
        ],
        registry::HOME_VISIT_PAIR => vec![
            ("member_name", v("王小明")),
            ("returned_on", v("2026-02-10")),
        ],
        MONTHLY_REMINDER => vec![
            ("member_name", v("王小明")),
            ("month", v("3月")),
            ("url", v("http://127.0.0.1:8080/m/u/3f9a2c71e0b4")),
        ],
        LOGIN_CODE => vec![("code", v("042917")), ("minutes", v("5"))],
        REPLY_THANKS | REPLY_STOPPED => vec![("member_name", v("王小明"))],
        REPLY_FORWARD => vec![
            ("member_name", v("王小明")),
            ("text", v("我换工作了，现在在东莞长安镇，电话不变")),
        ],
        POLITICAL_BIRTHDAY => vec![
            ("member_name", v("王小明")),
            ("years", v("12")),
            ("branch_name", v("优洞村党支部")),
        ],
        STUDY_PACK => vec![
            ("member_name", v("王小明")),
            ("title", v("学习《中国共产党章程》总纲")),
            (
                "summary",
                v("本期包含党章总纲原文、一节微党课视频和一次实践建议，约30分钟。"),
            ),
            ("url", v("http://127.0.0.1:8080/study/2026-03")),
        ],
        jobs::QUARTERLY_TALK | jobs::QUARTERLY_TALK_FOLLOWUP => vec![
            ("quarter", v("2026年第四季度")),
            ("count", v("3")),
            ("names", v("王小明、李红、张建国")),
        ],
        jobs::FAMILY_VISIT => vec![
            ("half_year", v("2026年下半年")),
            ("count", v("2")),
            ("names", v("王小明、李红")),
        ],
        jobs::RETURN_PEAK => vec![
            ("peak_name", v("春节")),
            ("peak_date", v("2月6日")),
            ("count", v("12")),
        ],
        jobs::DISPATCH_REPORT => vec![
            ("org_name", v("中共天柱县委组织部")),
            ("quarter", v("2026年第三季度")),
            ("open", v("1024")),
            ("lost_contact", v("7")),
            ("lapse_risk", v("2")),
            (
                "url",
                v("http://127.0.0.1:8080/v1/reports/3f9a2c71-e0b4-5d6e-8f70-0123456789ab"),
            ),
        ],
        jobs::DISPATCH_SUMMARY => vec![
            ("org_name", v("中共天柱县委组织部")),
            ("quarter", v("2026年第三季度")),
            ("open", v("1024")),
            ("departures", v("88")),
            ("arrivals", v("76")),
            ("returns", v("31")),
            ("transfers", v("4")),
            ("stale", v("40")),
            ("lost_contact", v("7")),
            ("lapse_risk", v("2")),
        ],
        STALE_LIST_BRANCH | LOST_CONTACT_COUNTY => vec![
            ("org_name", v("优洞村党支部")),
            ("month", v("12月")),
            ("count", v("3")),
            ("lost_contact", v("2")),
            ("lapse_risk", v("1")),
            ("transfer_suggested", v("1")),
            ("url", v("http://127.0.0.1:8080/console/")),
        ],
        ORG_DIGEST => vec![
            ("count", v("39")),
            ("names", v("王小明、李红、张三等39人")),
            ("url", v("http://127.0.0.1:8080/console/ledger")),
        ],
        other => panic!("no params for {other}"),
    };
    let recipient = Recipient {
        role: Role::OrgContact,
        name: "龙光明".into(),
        phone: phone(),
        channels: vec!["sms".into()],
        member_id: Some(MemberId::parse("m-1").unwrap()),
        org_id: Some(OrgId::parse("b1").unwrap()),
    };
    let ev = EventId::parse("7d0c8a8e-5a1e-4f7e-9b8e-0c7a1e2b3c4d").unwrap();
    NotificationRequest::new(template, recipient, ev, &params)
}

/// Every string a reader could see in a message.
fn shown(message: &Message) -> String {
    match message {
        Message::Sms(m) => m
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        Message::Webhook(m) => m.body.to_string(),
        Message::WeCom(WeComMessage::News { articles }) => format!("{articles:?}"),
        Message::WeCom(m) => format!("{m:?}"),
        Message::DingTalk(m) => format!("{m:?}"),
        Message::Feishu(m) => format!("{m:?}"),
    }
}

/// Fails on any `{name}` left in `s` (JSON's and Debug's own braces are not names).
fn assert_filled(what: &str, s: &str) {
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let closed = rest[name.len()..].starts_with('}');
        assert!(name.is_empty() || !closed, "{what} left {{{name}}}: {s}");
    }
}

#[test]
fn org_contacts_summaries_have_their_own_budget_and_member_messages_do_not() {
    let t = loaded();
    for name in [
        STALE_LIST_BRANCH,
        LOST_CONTACT_COUNTY,
        jobs::DISPATCH_REPORT,
        jobs::FAMILY_VISIT,
        jobs::QUARTERLY_TALK,
    ] {
        assert!(t.get(name).unwrap().summary, "{name} is a summary");
    }
    for name in [
        MONTHLY_REMINDER,
        registry::OUTBOUND_BRANCH,
        ORG_DIGEST,
        LOGIN_CODE,
    ] {
        assert!(!t.get(name).unwrap().summary, "{name} is not");
    }
}

#[test]
fn every_template_file_loads() {
    let all = loaded();
    for name in REQUIRED {
        let t = all.get(name).unwrap();
        let expected = if [STUDY_PACK, jobs::DISPATCH_SUMMARY].contains(name) {
            Kind::Broadcast
        } else {
            Kind::Personal
        };
        assert_eq!(t.kind(), expected, "{name}");
        // A sign-in code is no use after its 5 minutes; everything else waits at least 12 h.
        let at_least = if *name == LOGIN_CODE { 1 } else { 12 };
        assert!(t.useful_for() >= TimeDelta::hours(at_least), "{name}");
    }
    assert_eq!(
        all.get(STUDY_PACK).unwrap().useful_for(),
        TimeDelta::hours(168)
    );
    assert_eq!(all.iter().count(), REQUIRED.len());
}

#[test]
fn every_template_renders_for_each_of_its_channels() {
    let all = loaded();
    for t in all.iter() {
        let req = request(t.name());
        let params = request_params(&req);
        let phone = phone();
        let mut targets = vec![
            Target::Sms {
                notification_id: "n-1",
                phone: &phone,
                template_code: "SMS_123456789",
            },
            Target::Console {
                notification_id: "n-1",
                phone: &phone,
            },
            Target::Webhook { request: &req },
        ];
        let robots = [RobotKind::WeCom, RobotKind::DingTalk, RobotKind::Feishu];
        if t.kind() == Kind::Broadcast {
            targets.extend(robots.map(Target::Robot));
        } else {
            for robot in robots {
                let err = render(t, &params, Target::Robot(robot)).unwrap_err();
                assert!(
                    matches!(
                        err,
                        RenderError::Privacy(PrivacyError::PersonalToGroup { .. })
                    ),
                    "{}: {err}",
                    t.name()
                );
            }
        }
        for target in targets {
            let what = format!("{} via {target:?}", t.name());
            let rendered = render(t, &params, target).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_filled(&what, &rendered.text);
            assert_filled(&what, &shown(&rendered.message));
            assert!(!rendered.text.is_empty(), "{what}");
            if let Message::Sms(sms) = &rendered.message {
                assert!(sms.params.iter().all(|(_, v)| !v.is_empty()), "{what}");
            }
        }
        let text = &render(
            t,
            &params,
            Target::Console {
                notification_id: "n",
                phone: &phone,
            },
        )
        .unwrap()
        .text;
        let chars = text.chars().count();
        assert!(text.starts_with("【鸿雁】"), "{text}");
        assert!(chars <= SMS_TEXT_LIMIT);
        // Short where the content allows: a notice with two contacts takes two segments.
        assert!(
            chars <= 2 * SMS_SEGMENT_CHARS,
            "{}: {chars} characters",
            t.name()
        );
    }
}

#[test]
fn sms_params_follow_the_registered_order_with_final_values() {
    let all = loaded();
    let t = all.get(registry::OUTBOUND_MEMBER).unwrap();
    let mut params = request_params(&request(t.name()));
    params.insert("certificate_no".into(), String::new());
    params.insert("station_name".into(), String::new());
    params.insert("station_phone".into(), String::new());
    let phone = phone();
    let target = Target::Sms {
        notification_id: "n-1",
        phone: &phone,
        template_code: "SMS_1",
    };
    let rendered = render(t, &params, target).unwrap();
    let Message::Sms(sms) = &rendered.message else {
        panic!("not an SMS")
    };
    let names: Vec<&str> = sms.params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, t.sms_param_names());
    assert_eq!(sms.template, "SMS_1");
    assert_eq!(sms.notification_id, "n-1");
    assert_eq!(sms.params[2].1, "当地流动党员服务站");
    assert!(
        rendered
            .text
            .contains("活动证编号暂未发放，支部将与您商办组织关系转接。"),
        "{}",
        rendered.text
    );
    assert!(
        rendered.text.contains("电话可向支部询问"),
        "{}",
        rendered.text
    );
}

#[test]
fn labels_turn_coded_values_into_sentences() {
    let all = loaded();
    let t = all.get(registry::OUTBOUND_BRANCH).unwrap();
    let mut params = request_params(&request(t.name()));
    let console = |params: &BTreeMap<String, String>| {
        let phone = phone();
        let target = Target::Console {
            notification_id: "n",
            phone: &phone,
        };
        render(t, params, target).map(|r| r.text)
    };
    assert!(console(&params).unwrap().contains("及时报到"));
    params.insert("transfer_suggested".into(), "true".into());
    params.insert("certificate_no".into(), String::new());
    let text = console(&params).unwrap();
    assert!(text.contains("活动证编号未发放。"), "{text}");
    assert!(text.contains("应转尽转"), "{text}");
    params.insert("transfer_suggested".into(), "maybe".into());
    assert!(matches!(
        console(&params),
        Err(RenderError::UnexpectedValue { param, .. }) if param == "transfer_suggested"
    ));
}

#[test]
fn a_missing_param_is_an_error_naming_it() {
    let all = loaded();
    let t = all.get(registry::CHECKED_IN_BRANCH).unwrap();
    let mut params = request_params(&request(t.name()));
    params.remove("receiving_phone");
    let phone = phone();
    let target = Target::Console {
        notification_id: "n",
        phone: &phone,
    };
    let err = render(t, &params, target).unwrap_err();
    assert!(err.to_string().contains("`receiving_phone`"), "{err}");
    // Without request_params, the recipient's name is missing.
    let bare = request(t.name()).params;
    let err = render(t, &bare, target).unwrap_err();
    assert!(err.to_string().contains("`recipient_name`"), "{err}");
}

#[test]
fn an_sms_without_a_template_code_names_the_config_key() {
    let all = loaded();
    let t = all.get(MONTHLY_REMINDER).unwrap();
    let params = request_params(&request(t.name()));
    let phone = phone();
    let target = Target::Sms {
        notification_id: "n",
        phone: &phone,
        template_code: "",
    };
    let err = render(t, &params, target).unwrap_err();
    assert!(
        err.to_string()
            .contains("notifier.sms.templates.monthly_reminder"),
        "{err}"
    );
}

#[test]
fn a_study_pack_is_a_card_on_every_robot() {
    let all = loaded();
    let t = all.get(STUDY_PACK).unwrap();
    let params = request_params(&request(t.name()));
    let url = "http://127.0.0.1:8080/study/2026-03";
    let wecom = render(t, &params, Target::Robot(RobotKind::WeCom)).unwrap();
    let Message::WeCom(WeComMessage::News { articles }) = &wecom.message else {
        panic!("{:?}", wecom.message)
    };
    assert_eq!(articles.len(), 1);
    assert_eq!(articles[0].title, "学习资源包｜学习《中国共产党章程》总纲");
    assert_eq!(articles[0].url, url);
    assert!(
        articles[0]
            .description
            .as_deref()
            .unwrap()
            .contains("微党课")
    );
    let ding = render(t, &params, Target::Robot(RobotKind::DingTalk)).unwrap();
    let Message::DingTalk(DingTalkMessage::ActionCard { buttons, text, .. }) = &ding.message else {
        panic!("{:?}", ding.message)
    };
    assert_eq!(
        (buttons[0].title.as_str(), buttons[0].url.as_str()),
        ("立即学习", url)
    );
    assert!(text.contains("**学习资源包｜学习《中国共产党章程》总纲**"));
    let feishu = render(t, &params, Target::Robot(RobotKind::Feishu)).unwrap();
    let Message::Feishu(FeishuMessage::Interactive { card }) = &feishu.message else {
        panic!("{:?}", feishu.message)
    };
    assert_eq!(card["elements"][1]["actions"][0]["url"], url);
    // The SMS fallback is the short text with the link.
    let phone = phone();
    let target = Target::Console {
        notification_id: "n",
        phone: &phone,
    };
    let sms = render(t, &params, target).unwrap();
    assert!(sms.text.ends_with(url), "{}", sms.text);
}

#[test]
fn a_broadcast_carrying_a_phone_is_refused() {
    let all = loaded();
    let t = all.get(STUDY_PACK).unwrap();
    let mut params = request_params(&request(t.name()));
    params.insert(
        "summary".into(),
        "报名请联系组织委员，电话13900001111。".into(),
    );
    for robot in [RobotKind::WeCom, RobotKind::DingTalk, RobotKind::Feishu] {
        let err = render(t, &params, Target::Robot(robot)).unwrap_err();
        assert!(
            matches!(
                &err,
                RenderError::Privacy(PrivacyError::PhoneInGroupMessage { masked }) if masked == "139****1111"
            ),
            "{robot:?}: {err}"
        );
    }
}

#[test]
fn the_webhook_body_is_the_request_with_its_text() {
    let all = loaded();
    let req = request(registry::HOME_VISIT_PAIR);
    let t = all.get(&req.template).unwrap();
    let rendered = render(t, &request_params(&req), Target::Webhook { request: &req }).unwrap();
    let Message::Webhook(hook) = &rendered.message else {
        panic!()
    };
    assert_eq!(hook.body["key"], req.key.as_str());
    assert_eq!(hook.body["template"], "home_visit_pair");
    assert_eq!(hook.body["params"]["returned_on"], "2026-02-10");
    assert_eq!(hook.body["text"], rendered.text.as_str());
    assert!(rendered.text.contains("龙光明同志"), "{}", rendered.text);
}
