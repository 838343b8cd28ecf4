use std::time::Duration;

use hongyan_domain::Phone;
use hongyan_notifier::providers::tencent::{TencentSettings, TencentSms};
use hongyan_notifier::providers::{Lookup, Secret, SendOutcome, SentWithin, SmsMessage};

use crate::fakes::{self, Fake, Script};
use crate::{assert_code, assert_timeout, client, ctx, impatient_client, now};

const SECRET_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
const SECRET_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

fn sms_provider(fake: &Fake, secret_key: &str, client: reqwest::Client) -> TencentSms {
    let settings = TencentSettings {
        base_url: fake.base_url.clone(),
        secret_id: SECRET_ID.into(),
        secret_key: Secret::new(secret_key),
        sdk_app_id: "1400006666".into(),
        sign_name: "红岩".into(),
        region: "ap-guangzhou".into(),
    };
    TencentSms::new(settings, client).unwrap()
}

fn message() -> SmsMessage {
    SmsMessage {
        notification_id: "0195f3a2-7c1e-7d00-8000-000000000002".into(),
        phone: Phone::parse("13812345678").unwrap(),
        template: "449739".into(),
        params: vec![("name".into(), "张三".into()), ("month".into(), "3".into())],
    }
}

#[tokio::test]
async fn a_good_send_is_delivered_with_the_serial_no() {
    let fake = fakes::tencent::start(SECRET_ID, SECRET_KEY, now()).await;
    let outcome = sms_provider(&fake, SECRET_KEY, client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    assert_eq!(outcome, SendOutcome::delivered(Some("2106:3300".into())));
    let seen = fake.only();
    assert!(seen.signature_ok);
    assert_eq!(
        seen.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(seen.header("x-tc-timestamp"), Some("1772352000"));
    assert_eq!(seen.header("x-tc-region"), Some("ap-guangzhou"));
    let body = seen.json();
    assert_eq!(
        body["PhoneNumberSet"],
        serde_json::json!(["+8613812345678"])
    );
    assert_eq!(body["TemplateParamSet"], serde_json::json!(["张三", "3"]));
    assert_eq!(body["SessionContext"], message().notification_id);
    assert_eq!(body["SmsSdkAppId"], "1400006666");
    assert_eq!(body["TemplateId"], "449739");
}

/// PROVIDERS.md: `AuthFailure.*` pauses the channel (no message can pass with bad credentials).
#[tokio::test]
async fn a_wrong_secret_is_rejected_and_pauses_the_channel() {
    let fake = fakes::tencent::start(SECRET_ID, SECRET_KEY, now()).await;
    let outcome = sms_provider(&fake, "wrong", client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_pause(), "{outcome:?}");
    assert_code(&outcome, "AuthFailure.SignatureFailure");
    assert!(!fake.only().signature_ok);
}

#[tokio::test]
async fn the_thirty_second_limit_in_the_status_set_is_a_retry() {
    let fake = fakes::tencent::start(SECRET_ID, SECRET_KEY, now()).await;
    fake.script(Script::Fail(
        "LimitExceeded.PhoneNumberThirtySecondLimit".into(),
    ));
    let outcome = sms_provider(&fake, SECRET_KEY, client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_retry(), "{outcome:?}");
    assert_eq!(outcome.retry_after(), Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn an_incorrect_number_in_the_status_set_is_permanent() {
    let fake = fakes::tencent::start(SECRET_ID, SECRET_KEY, now()).await;
    fake.script(Script::Fail(
        "InvalidParameterValue.IncorrectPhoneNumber".into(),
    ));
    let outcome = sms_provider(&fake, SECRET_KEY, client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_permanent(), "{outcome:?}");
    assert_code(&outcome, "InvalidParameterValue.IncorrectPhoneNumber");
}

#[tokio::test]
async fn an_unapproved_template_in_response_error_is_permanent() {
    let fake = fakes::tencent::start(SECRET_ID, SECRET_KEY, now()).await;
    fake.script(Script::Fail(
        "FailedOperation.TemplateIncorrectOrUnapproved".into(),
    ));
    let outcome = sms_provider(&fake, SECRET_KEY, client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_permanent(), "{outcome:?}");
}

#[tokio::test]
async fn a_hanging_api_is_a_retry_that_may_have_sent() {
    let fake = fakes::tencent::start(SECRET_ID, SECRET_KEY, now()).await;
    fake.script(Script::Hang);
    let provider = sms_provider(&fake, SECRET_KEY, impatient_client());
    assert_timeout(&provider.send(&message(), &ctx()).await.unwrap());
}

fn within() -> SentWithin {
    SentWithin {
        since: now() + chrono::Duration::seconds(20),
        until: now() + chrono::Duration::seconds(150),
    }
}

/// A gateway that took the SMS and answered after the timeout: its status row names our
/// notification in `SessionContext` when the account has that enabled.
#[tokio::test]
async fn a_send_answered_too_late_is_found_by_its_session_context() {
    let options = fakes::tencent::Options {
        session_context: true,
        receipts_to: None,
    };
    let fake = fakes::tencent::start_with(SECRET_ID, SECRET_KEY, now(), options).await;
    fake.script(Script::Late(Duration::from_secs(1)));
    let sms = sms_provider(&fake, SECRET_KEY, impatient_client());
    assert_timeout(&sms.send(&message(), &ctx()).await.unwrap());
    let found = sms.look_up(&message(), within(), &ctx()).await;
    assert_eq!(
        found,
        Lookup::Found {
            provider_message_id: Some("2106:3300".into())
        }
    );
    let other = SmsMessage {
        notification_id: "0195f3a2-7c1e-7d00-8000-000000000009".into(),
        ..message()
    };
    assert_eq!(
        sms.look_up(&other, within(), &ctx()).await,
        Lookup::NotFound
    );
    assert_eq!((fake.sends().len(), fake.queries().len()), (1, 2));
    let asked = fake.queries()[0].json();
    assert!(fake.queries().iter().all(|q| q.signature_ok));
    assert_eq!(asked["PhoneNumber"], "+8613812345678");
    assert_eq!(asked["SmsSdkAppId"], "1400006666");
    assert_eq!(asked["Offset"], 0);
    assert_eq!(
        asked["BeginTime"],
        now().timestamp(),
        "from the start of the minute of the send"
    );
}

/// Without `SessionContext` in the rows, the phone and the minute of the send decide: a row
/// for the phone from that minute on is ours.
#[tokio::test]
async fn without_session_context_a_row_for_the_phone_from_the_minute_on_is_found() {
    let fake = fakes::tencent::start(SECRET_ID, SECRET_KEY, now()).await;
    let sms = sms_provider(&fake, SECRET_KEY, client());
    assert_eq!(
        sms.look_up(&message(), within(), &ctx()).await,
        Lookup::NotFound
    );
    fake.script(Script::Hang);
    assert_timeout(
        &sms_provider(&fake, SECRET_KEY, impatient_client())
            .send(&message(), &ctx())
            .await
            .unwrap(),
    );
    assert!(matches!(
        sms.look_up(&message(), within(), &ctx()).await,
        Lookup::Found { .. }
    ));
    fake.script_queries(Script::Fail("RequestLimitExceeded".into()));
    let limited = sms.look_up(&message(), within(), &ctx()).await;
    assert!(
        matches!(&limited, Lookup::Unanswered { code, .. } if code == "RequestLimitExceeded"),
        "{limited:?}"
    );
}
