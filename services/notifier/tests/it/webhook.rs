use std::time::Duration;

use hongyan_notifier::providers::webhook::{Webhook, WebhookMessage, WebhookSettings};
use hongyan_notifier::providers::{Secret, SendOutcome};
use serde_json::json;

use crate::fakes::{self, Fake, Script};
use crate::{assert_code, assert_timeout, client, ctx, impatient_client, now};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn hook(fake: &Fake, secret: &str, client: reqwest::Client) -> Webhook {
    let settings = WebhookSettings {
        url: Secret::new(format!("{}/hongyan/notifications", fake.base_url)),
        secret: Secret::new(secret),
    };
    Webhook::new(settings, client).unwrap()
}

fn message() -> WebhookMessage {
    WebhookMessage {
        id: "monthly_reminder:m-1:2026-03".into(),
        body: json!({"notification_id": "n-1", "template": "monthly_reminder", "text": "请更新"}),
    }
}

async fn send_scripted(status: &str) -> SendOutcome {
    let fake = fakes::webhook::start(SECRET, now()).await;
    fake.script(Script::Fail(status.into()));
    hook(&fake, SECRET, client())
        .send(&message(), &ctx())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_good_send_is_delivered_and_signed() {
    let fake = fakes::webhook::start(SECRET, now()).await;
    let outcome = hook(&fake, SECRET, client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    assert_eq!(outcome, SendOutcome::delivered(None));
    let seen = fake.only();
    assert!(seen.signature_ok);
    assert_eq!(seen.uri.path(), "/hongyan/notifications");
    assert_eq!(seen.header("webhook-timestamp"), Some("1772352000"));
    assert_eq!(
        seen.header("webhook-id"),
        Some("monthly_reminder:m-1:2026-03"),
        "the notification's key, so the receiver can drop a repeat"
    );
    assert_eq!(seen.json(), message().body);
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_and_permanent() {
    let fake = fakes::webhook::start(SECRET, now()).await;
    let outcome = hook(&fake, "whsec_d3Jvbmcta2V5", client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_permanent(), "{outcome:?}");
    assert_code(&outcome, "http_401");
    assert!(!fake.only().signature_ok);
}

#[tokio::test]
async fn a_429_is_a_retry_that_honours_retry_after() {
    let outcome = send_scripted("429").await;
    assert!(outcome.is_retry(), "{outcome:?}");
    assert_eq!(outcome.retry_after(), Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn a_408_and_a_503_are_retries_and_a_404_is_permanent() {
    assert!(send_scripted("408").await.is_retry());
    assert!(send_scripted("503").await.is_retry());
    assert!(send_scripted("404").await.is_permanent());
}

#[tokio::test]
async fn a_hanging_receiver_is_a_retry() {
    let fake = fakes::webhook::start(SECRET, now()).await;
    fake.script(Script::Hang);
    assert_timeout(
        &hook(&fake, SECRET, impatient_client())
            .send(&message(), &ctx())
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn a_retry_carries_the_same_id_and_the_receiver_drops_it() {
    let fake = fakes::webhook::start(SECRET, now()).await;
    let hook = hook(&fake, SECRET, client());
    // The receiver took the first, but its answer was lost: hongyan sends again.
    for _ in 0..2 {
        let outcome = hook.send(&message(), &ctx()).await.unwrap();
        assert_eq!(outcome, SendOutcome::delivered(None));
    }
    assert!(fake.seen().iter().all(|s| s.signature_ok));
    assert_eq!(
        fakes::webhook::taken(&fake),
        ["monthly_reminder:m-1:2026-03"],
        "one id, taken once"
    );
}
