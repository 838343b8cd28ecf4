use std::time::Duration;

use base64::Engine as _;
use hongyan_notifier::providers::wecom::{WeComMessage, WeComRobot, WeComSettings};
use hongyan_notifier::providers::{ProviderError, Secret, SendOutcome};
use md5::{Digest as _, Md5};

use crate::fakes::{self, Fake, Script};
use crate::{assert_code, assert_timeout, client, ctx, impatient_client, now};

const KEY: &str = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";

fn robot(fake: &Fake, key: &str, client: reqwest::Client) -> WeComRobot {
    let webhook = Secret::new(fakes::wecom::webhook(fake, key));
    WeComRobot::new(WeComSettings { webhook }, client).unwrap()
}

fn text() -> WeComMessage {
    WeComMessage::Text {
        content: "本月学习资源包已发布。".into(),
        mentioned_mobiles: vec![],
    }
}

#[tokio::test]
async fn a_good_send_is_delivered_with_the_documented_body() {
    let fake = fakes::wecom::start(KEY, now()).await;
    let outcome = robot(&fake, KEY, client())
        .send(&text(), &ctx())
        .await
        .unwrap();
    assert_eq!(outcome, SendOutcome::delivered(None));
    let seen = fake.only();
    assert!(seen.signature_ok);
    assert_eq!(seen.json()["msgtype"], "text");
    assert_eq!(seen.json()["text"]["content"], "本月学习资源包已发布。");
}

#[tokio::test]
async fn an_image_arrives_as_base64_with_the_md5_of_its_bytes() {
    let fake = fakes::wecom::start(KEY, now()).await;
    let bytes = b"\xFF\xD8\xFF\xE0 a tiny jpeg".to_vec();
    let message = WeComMessage::Image {
        bytes: bytes.clone(),
    };
    let outcome = robot(&fake, KEY, client())
        .send(&message, &ctx())
        .await
        .unwrap();
    assert!(outcome.is_delivered());
    let image = fake.only().json()["image"].clone();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(image["base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, bytes);
    assert_eq!(image["md5"], hex::encode(Md5::digest(&bytes)));
}

#[tokio::test]
async fn a_too_long_message_is_the_callers_error_and_nothing_is_sent() {
    let fake = fakes::wecom::start(KEY, now()).await;
    let message = WeComMessage::Markdown {
        content: "x".repeat(4097),
    };
    let err = robot(&fake, KEY, client())
        .send(&message, &ctx())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ProviderError::TooLarge {
            limit: 4096,
            actual: 4097,
            ..
        }
    ));
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn a_wrong_key_is_rejected_and_permanent() {
    let fake = fakes::wecom::start(KEY, now()).await;
    let outcome = robot(&fake, "wrong-key", client())
        .send(&text(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_permanent(), "{outcome:?}");
    assert_code(&outcome, "93000");
    assert!(!fake.only().signature_ok);
}

#[tokio::test]
async fn the_rate_limit_code_is_a_retry_after_a_minute() {
    let fake = fakes::wecom::start(KEY, now()).await;
    fake.script(Script::Fail("45009".into()));
    let outcome = robot(&fake, KEY, client())
        .send(&text(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_retry(), "{outcome:?}");
    assert_eq!(outcome.retry_after(), Some(Duration::from_secs(60)));
}

#[tokio::test]
async fn an_invalid_message_type_code_is_permanent() {
    let fake = fakes::wecom::start(KEY, now()).await;
    fake.script(Script::Fail("40008".into()));
    let outcome = robot(&fake, KEY, client())
        .send(&text(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_permanent(), "{outcome:?}");
}

#[tokio::test]
async fn a_hanging_robot_is_a_retry() {
    let fake = fakes::wecom::start(KEY, now()).await;
    fake.script(Script::Hang);
    let outcome = robot(&fake, KEY, impatient_client())
        .send(&text(), &ctx())
        .await
        .unwrap();
    assert_timeout(&outcome);
    assert_eq!(fake.seen().len(), 1);
}
