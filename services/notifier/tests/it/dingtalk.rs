use std::time::Duration;

use hongyan_notifier::providers::dingtalk::{At, DingTalkMessage, DingTalkRobot, DingTalkSettings};
use hongyan_notifier::providers::{Secret, SendContext, SendOutcome};

use crate::fakes::{self, Fake, Script};
use crate::{assert_code, assert_timeout, client, ctx, impatient_client, now};

const TOKEN: &str = "b4e1c0f9d2a7";
const SECRET: &str = "SECa1b2c3d4e5f60718293a4b5c6d7e8f9";

fn robot(fake: &Fake, secret: &str, client: reqwest::Client) -> DingTalkRobot {
    let settings = DingTalkSettings {
        webhook: Secret::new(fakes::dingtalk::webhook(fake, TOKEN)),
        secret: Some(Secret::new(secret)),
    };
    DingTalkRobot::new(settings, client).unwrap()
}

fn markdown() -> DingTalkMessage {
    DingTalkMessage::Markdown {
        title: "主题党日".into(),
        text: "### 本月主题党日\n请按时参加。".into(),
        at: At::default(),
    }
}

#[tokio::test]
async fn a_good_send_is_delivered_signed_in_the_query() {
    let fake = fakes::dingtalk::start(TOKEN, SECRET, now()).await;
    let outcome = robot(&fake, SECRET, client())
        .send(&markdown(), &ctx())
        .await
        .unwrap();
    assert_eq!(outcome, SendOutcome::delivered(None));
    let seen = fake.only();
    assert!(seen.signature_ok);
    assert_eq!(
        seen.query("timestamp"),
        Some(now().timestamp_millis().to_string())
    );
    let body = seen.json();
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(body["markdown"]["title"], "主题党日");
    assert_eq!(body["at"]["isAtAll"], false);
}

/// At this instant the sign is `oyVl...K/pW...C+1x...=`: an unencoded `+` would reach the
/// robot as a space and fail, so this proves the "urlencode" step.
#[tokio::test]
async fn a_sign_with_plus_and_slash_is_url_encoded() {
    let fake = fakes::dingtalk::start(TOKEN, SECRET, now()).await;
    let at = SendContext {
        now: now() + chrono::Duration::milliseconds(12),
        ..ctx()
    };
    let outcome = robot(&fake, SECRET, client())
        .send(&markdown(), &at)
        .await
        .unwrap();
    assert!(outcome.is_delivered(), "{outcome:?}");
    let seen = fake.only();
    let raw = seen.uri.query().unwrap();
    assert!(
        raw.contains("%2B") && raw.contains("%2F") && raw.ends_with("%3D"),
        "{raw}"
    );
    assert!(seen.signature_ok);
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_and_permanent() {
    let fake = fakes::dingtalk::start(TOKEN, SECRET, now()).await;
    let outcome = robot(&fake, "SECwrong", client())
        .send(&markdown(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_permanent(), "{outcome:?}");
    assert_code(&outcome, "310000");
    assert!(!fake.only().signature_ok);
}

#[tokio::test]
async fn a_clock_off_by_hours_pauses_the_channel() {
    let fake = fakes::dingtalk::start(TOKEN, SECRET, now()).await;
    let late = SendContext {
        now: now() + chrono::Duration::hours(2),
        ..ctx()
    };
    let outcome = robot(&fake, SECRET, client())
        .send(&markdown(), &late)
        .await
        .unwrap();
    assert!(outcome.is_pause(), "{outcome:?}");
}

#[tokio::test]
async fn send_too_fast_is_a_retry_after_ten_minutes() {
    let fake = fakes::dingtalk::start(TOKEN, SECRET, now()).await;
    fake.script(Script::Fail("130101".into()));
    let outcome = robot(&fake, SECRET, client())
        .send(&markdown(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_retry(), "{outcome:?}");
    assert_eq!(outcome.retry_after(), Some(Duration::from_secs(600)));
}

/// The robot counts sends by their signed time: the 21st within a minute is refused with
/// "send too fast" (a retry after ten minutes); a minute on, it is taken.
#[tokio::test]
async fn the_21st_send_in_a_minute_is_refused_as_too_fast() {
    let fake = fakes::dingtalk::start_limited(TOKEN, SECRET, now(), 20).await;
    let robot = robot(&fake, SECRET, client());
    for i in 0..20 {
        let at = SendContext {
            now: now() + chrono::Duration::seconds(i),
            ..ctx()
        };
        let outcome = robot.send(&markdown(), &at).await.unwrap();
        assert_eq!(outcome, SendOutcome::delivered(None), "send {i}");
    }
    let late = SendContext {
        now: now() + chrono::Duration::seconds(59),
        ..ctx()
    };
    let outcome = robot.send(&markdown(), &late).await.unwrap();
    assert_eq!(outcome.retry_after(), Some(Duration::from_secs(600)));
    let next_minute = SendContext {
        now: now() + chrono::Duration::seconds(60),
        ..ctx()
    };
    let outcome = robot.send(&markdown(), &next_minute).await.unwrap();
    assert_eq!(
        outcome,
        SendOutcome::delivered(None),
        "the first send's minute is over"
    );
}

#[tokio::test]
async fn a_robot_that_is_gone_is_permanent() {
    let fake = fakes::dingtalk::start(TOKEN, SECRET, now()).await;
    fake.script(Script::Fail("400102".into()));
    let outcome = robot(&fake, SECRET, client())
        .send(&markdown(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_permanent(), "{outcome:?}");
}

#[tokio::test]
async fn a_hanging_robot_is_a_retry() {
    let fake = fakes::dingtalk::start(TOKEN, SECRET, now()).await;
    fake.script(Script::Hang);
    let robot = robot(&fake, SECRET, impatient_client());
    assert_timeout(&robot.send(&markdown(), &ctx()).await.unwrap());
}
