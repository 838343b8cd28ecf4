use hongyan_notifier::providers::feishu::{FeishuBot, FeishuMessage, FeishuSettings, PostElement};
use hongyan_notifier::providers::{ProviderError, Secret, SendOutcome};

use crate::fakes::{self, Fake, Script};
use crate::{assert_code, assert_timeout, client, ctx, impatient_client, now};

const TOKEN: &str = "2d6f1c8e-0b3a-4f5e-9c7d-1a2b3c4d5e6f";
const SECRET: &str = "qG3kX9pLm2Vt";

fn bot(fake: &Fake, secret: &str, client: reqwest::Client) -> FeishuBot {
    let settings = FeishuSettings {
        webhook: Secret::new(fakes::feishu::webhook(fake, TOKEN)),
        secret: Some(Secret::new(secret)),
    };
    FeishuBot::new(settings, client).unwrap()
}

fn post() -> FeishuMessage {
    FeishuMessage::Post {
        title: "学习资源包".into(),
        paragraphs: vec![vec![
            PostElement::Text {
                text: "本月内容：".into(),
            },
            PostElement::Link {
                text: "点此学习".into(),
                href: "https://example.org/study".into(),
            },
        ]],
    }
}

#[tokio::test]
async fn a_good_send_is_delivered_with_sign_beside_msg_type() {
    let fake = fakes::feishu::start(TOKEN, SECRET, now()).await;
    let outcome = bot(&fake, SECRET, client())
        .send(&post(), &ctx())
        .await
        .unwrap();
    assert_eq!(outcome, SendOutcome::delivered(None));
    let seen = fake.only();
    assert!(seen.signature_ok);
    let body = seen.json();
    assert_eq!(body["msg_type"], "post");
    assert_eq!(body["timestamp"], now().timestamp().to_string());
    assert!(body["sign"].is_string());
    assert_eq!(
        body["content"]["post"]["zh_cn"]["content"][0][1]["tag"],
        "a"
    );
}

#[tokio::test]
async fn a_body_over_20_kb_is_refused_before_sending() {
    let fake = fakes::feishu::start(TOKEN, SECRET, now()).await;
    let message = FeishuMessage::Text {
        text: "x".repeat(20 * 1024),
    };
    let err = bot(&fake, SECRET, client())
        .send(&message, &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::TooLarge { .. }), "{err}");
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_and_permanent() {
    let fake = fakes::feishu::start(TOKEN, SECRET, now()).await;
    let outcome = bot(&fake, "not-the-secret", client())
        .send(&post(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_permanent(), "{outcome:?}");
    assert_code(&outcome, "19021");
    assert!(!fake.only().signature_ok);
}

#[tokio::test]
async fn the_rate_limit_code_is_a_retry() {
    let fake = fakes::feishu::start(TOKEN, SECRET, now()).await;
    fake.script(Script::Fail("11232".into()));
    let outcome = bot(&fake, SECRET, client())
        .send(&post(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_retry(), "{outcome:?}");
}

#[tokio::test]
async fn a_missing_keyword_is_permanent() {
    let fake = fakes::feishu::start(TOKEN, SECRET, now()).await;
    fake.script(Script::Fail("19024".into()));
    let outcome = bot(&fake, SECRET, client())
        .send(&post(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_permanent(), "{outcome:?}");
}

#[tokio::test]
async fn a_hanging_bot_is_a_retry() {
    let fake = fakes::feishu::start(TOKEN, SECRET, now()).await;
    fake.script(Script::Hang);
    assert_timeout(
        &bot(&fake, SECRET, impatient_client())
            .send(&post(), &ctx())
            .await
            .unwrap(),
    );
}
