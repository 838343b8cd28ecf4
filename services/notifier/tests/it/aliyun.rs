use std::time::Duration;

use hongyan_domain::Phone;
use hongyan_notifier::providers::aliyun::{AliyunSettings, AliyunSms};
use hongyan_notifier::providers::{Lookup, Secret, SendOutcome, SentWithin, SmsMessage};

use crate::fakes::{self, Fake, Script};
use crate::{assert_code, assert_timeout, client, ctx, impatient_client, now};

const KEY_ID: &str = "LTAI5tTestKeyId";
const SECRET: &str = "testsecret0123456789";

fn sms_provider(fake: &Fake, secret: &str, client: reqwest::Client) -> AliyunSms {
    let settings = AliyunSettings {
        base_url: fake.base_url.clone(),
        access_key_id: KEY_ID.into(),
        access_key_secret: Secret::new(secret),
        sign_name: "红岩".into(),
    };
    AliyunSms::new(settings, client).unwrap()
}

fn message() -> SmsMessage {
    SmsMessage {
        notification_id: "0195f3a2-7c1e-7d00-8000-000000000001".into(),
        phone: Phone::parse("13812345678").unwrap(),
        template: "SMS_465123456".into(),
        // A space, `*` and `~` exercise the encoding rules the signature depends on.
        params: vec![
            ("name".into(), "张三 *~".into()),
            ("month".into(), "2026年3月".into()),
        ],
    }
}

#[tokio::test]
async fn a_good_send_is_delivered_with_the_biz_id_and_our_id_in_out_id() {
    let fake = fakes::aliyun::start(KEY_ID, SECRET, now()).await;
    let outcome = sms_provider(&fake, SECRET, client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    let biz_id = Some("900619746936498440^0".to_owned());
    assert_eq!(outcome, SendOutcome::delivered(biz_id));
    let seen = fake.only();
    assert!(seen.signature_ok);
    let params = fakes::aliyun::params(&seen);
    assert_eq!(params["PhoneNumbers"], "13812345678");
    assert_eq!(params["SignName"], "红岩");
    assert_eq!(params["TemplateCode"], "SMS_465123456");
    assert_eq!(params["OutId"], message().notification_id);
    assert_eq!(params["Timestamp"], "2026-03-01T08:00:00Z");
    assert_eq!(params["Format"], "JSON");
    assert_eq!(params["RegionId"], "cn-hangzhou");
    let template: serde_json::Value = serde_json::from_str(&params["TemplateParam"]).unwrap();
    assert_eq!(
        template,
        serde_json::json!({"name": "张三 *~", "month": "2026年3月"})
    );
}

/// PROVIDERS.md lists no Aliyun authentication code; like Tencent's `AuthFailure.*`, a
/// rejected signature stops the whole provider, since no message can pass.
#[tokio::test]
async fn a_wrong_secret_is_rejected_and_pauses_the_channel() {
    let fake = fakes::aliyun::start(KEY_ID, SECRET, now()).await;
    let outcome = sms_provider(&fake, "wrong", client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_pause(), "{outcome:?}");
    assert_code(&outcome, "SignatureDoesNotMatch");
    assert!(!fake.only().signature_ok);
}

#[tokio::test]
async fn a_reused_nonce_is_refused_and_retried() {
    let fake = fakes::aliyun::start(KEY_ID, SECRET, now()).await;
    let provider = sms_provider(&fake, SECRET, client());
    let same = ctx();
    assert!(
        provider
            .send(&message(), &same)
            .await
            .unwrap()
            .is_delivered()
    );
    let again = provider.send(&message(), &same).await.unwrap();
    assert!(again.is_retry(), "{again:?}");
    assert_code(&again, "SignatureNonceUsed");
}

#[tokio::test]
async fn the_per_number_limit_is_a_retry() {
    let fake = fakes::aliyun::start(KEY_ID, SECRET, now()).await;
    fake.script(Script::Fail("isv.BUSINESS_LIMIT_CONTROL".into()));
    let outcome = sms_provider(&fake, SECRET, client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_retry(), "{outcome:?}");
    assert_eq!(outcome.retry_after(), Some(Duration::from_secs(60)));
}

#[tokio::test]
async fn an_illegal_number_is_permanent() {
    let fake = fakes::aliyun::start(KEY_ID, SECRET, now()).await;
    fake.script(Script::Fail("isv.MOBILE_NUMBER_ILLEGAL".into()));
    let outcome = sms_provider(&fake, SECRET, client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_permanent(), "{outcome:?}");
}

#[tokio::test]
async fn an_empty_balance_pauses_the_channel() {
    let fake = fakes::aliyun::start(KEY_ID, SECRET, now()).await;
    fake.script(Script::Fail("isv.AMOUNT_NOT_ENOUGH".into()));
    let outcome = sms_provider(&fake, SECRET, client())
        .send(&message(), &ctx())
        .await
        .unwrap();
    assert!(outcome.is_pause(), "{outcome:?}");
}

#[tokio::test]
async fn a_hanging_gateway_is_a_retry_that_may_have_sent() {
    let fake = fakes::aliyun::start(KEY_ID, SECRET, now()).await;
    fake.script(Script::Hang);
    let provider = sms_provider(&fake, SECRET, impatient_client());
    assert_timeout(&provider.send(&message(), &ctx()).await.unwrap());
}

fn within() -> SentWithin {
    SentWithin {
        since: now(),
        until: now() + chrono::Duration::seconds(150),
    }
}

/// A gateway that took the SMS and answered after the timeout: `QuerySendDetails` for the
/// phone and the send's date finds the row carrying our `OutId`; another notification's id
/// to the same phone is not there.
#[tokio::test]
async fn a_send_answered_too_late_is_found_by_its_out_id() {
    let fake = fakes::aliyun::start(KEY_ID, SECRET, now()).await;
    fake.script(Script::Late(Duration::from_secs(1)));
    let sms = sms_provider(&fake, SECRET, impatient_client());
    assert_timeout(&sms.send(&message(), &ctx()).await.unwrap());
    let found = sms.look_up(&message(), within(), &ctx()).await;
    assert_eq!(
        found,
        Lookup::Found {
            provider_message_id: None
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
    let asked = fakes::aliyun::params(&fake.queries()[0]);
    assert!(fake.queries().iter().all(|q| q.signature_ok));
    assert_eq!(asked["PhoneNumber"], "13812345678");
    assert_eq!(asked["SendDate"], "20260301", "the send's date in Beijing");
}

/// An error code or a question left hanging is no answer: never "not found".
#[tokio::test]
async fn a_question_that_fails_is_unanswered() {
    let fake = fakes::aliyun::start(KEY_ID, SECRET, now()).await;
    let sms = sms_provider(&fake, SECRET, impatient_client());
    fake.script_queries(Script::Fail("isp.SYSTEM_ERROR".into()));
    let failed = sms.look_up(&message(), within(), &ctx()).await;
    assert!(
        matches!(&failed, Lookup::Unanswered { code, .. } if code == "isp.SYSTEM_ERROR"),
        "{failed:?}"
    );
    fake.script_queries(Script::Hang);
    let hung = sms.look_up(&message(), within(), &ctx()).await;
    assert!(
        matches!(&hung, Lookup::Unanswered { code, .. } if code == "timeout"),
        "{hung:?}"
    );
    let wrong = sms_provider(&fake, "wrong", client());
    fake.script_queries(Script::Succeed);
    let refused = wrong.look_up(&message(), within(), &ctx()).await;
    assert!(
        matches!(&refused, Lookup::Unanswered { code, .. } if code == "SignatureDoesNotMatch"),
        "{refused:?}"
    );
}
