//! 消息: a notification the SMS provider refused for good shows as failed, with its error and
//! the recipient masked; once the cause is fixed, the department's 重发 sends it once, through
//! the notifier's own replay path (the console never writes the notifier's tables), and a
//! second 重发 sends nothing.

use hongyan_domain::Phone;
use hongyan_domain::ids::{EventId, MemberId};
use hongyan_domain::notify::{NotificationRequest, Recipient, Role};

use super::{DEPARTMENT_PHONE, department_world, sign_in, table_rows};
use crate::browser::{self, Driver, Screen};
use crate::env::config_dir;
use crate::fakes::{self, Script};
use crate::notifier::{Env, checked_in_params, start, use_aliyun};

/// k2's phone in the department's world (the second member away).
const K2_PHONE: &str = "13900008101";

fn to_k2_request() -> NotificationRequest {
    let recipient = Recipient {
        role: Role::Member,
        name: "党员k2".into(),
        phone: Phone::parse(K2_PHONE).unwrap(),
        channels: vec!["sms".into()],
        member_id: Some(MemberId::parse("k2").unwrap()),
        org_id: None,
    };
    let event = EventId::parse("7d0c8a8e-5a1e-4f7e-9b8e-0000000000c2").unwrap();
    NotificationRequest::new("checked_in_branch", recipient, event, &checked_in_params())
}

/// k2's notification as the notifier stored it.
const K2: &str =
    "FROM notifications WHERE recipient->>'member_id' = 'k2' AND template = 'checked_in_branch'";

/// The notifier sending SMS through the Aliyun fake with a provider template code for every
/// template, so that everything but the refused SMS goes out.
async fn notifier_at(day: chrono::DateTime<chrono::Utc>) -> (fakes::Fake, Env) {
    let fake = fakes::aliyun::start("test-key-id", "test-secret", day).await;
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_aliyun(s, url);
        let dir = config_dir().join("templates");
        for (i, f) in std::fs::read_dir(dir).unwrap().enumerate() {
            let path = f.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                let code = format!("SMS_2000{i:02}");
                s.notifier.sms.templates.insert(name, code);
            }
        }
    })
    .await;
    (fake, e)
}

/// Everything the world asked for sent, then k2's SMS refused for good by the provider (then
/// taking SMS again): the SMS to k2's phone before it.
async fn refused_to_k2(e: &Env, fake: &fakes::Fake) -> usize {
    e.env
        .eventually("the requests relayed and taken in", || async {
            e.env.scalar_i64("SELECT count(*) FROM outbox").await == 0
                && e.env.queue_depth(&e.env.names.notifier()).await == 0
        })
        .await;
    e.round().await;
    e.round().await;
    let failed = "SELECT count(*) FROM notifications WHERE status = 'failed'";
    assert_eq!(e.env.scalar_i64(failed).await, 0);
    let earlier = to_k2(fake);
    fake.script(Script::Fail("isv.MOBILE_NUMBER_ILLEGAL".into()));
    e.send(&[to_k2_request()]).await;
    let stored = "SELECT count(*) FROM notifications WHERE recipient->>'member_id' = 'k2' AND template = 'checked_in_branch'";
    e.env
        .eventually("k2's request stored", || async {
            e.env.scalar_i64(stored).await == 1
        })
        .await;
    e.round().await;
    assert_eq!(to_k2(fake) - earlier, 1);
    fake.script(Script::Succeed);
    earlier
}

/// SMS the fake took for k2's phone.
fn to_k2(fake: &fakes::Fake) -> usize {
    fake.sends()
        .iter()
        .filter(|s| fakes::aliyun::params(s)["PhoneNumbers"].ends_with(K2_PHONE))
        .count()
}

async fn failed_then_replayed(screen: Screen, shots: &'static str) {
    let Some((chromium, chromedriver)) = browser::tools(shots) else {
        return;
    };
    let day = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 10, 10, 2, 0, 0).unwrap();
    let (fake, mut e) = notifier_at(day).await;
    let base = department_world(&mut e.env).await;
    let mut sms = e.env.watch("notification.requested").await;
    let earlier = refused_to_k2(&e, &fake).await;

    let b = Driver::start_as(&chromium, &chromedriver, shots, screen).await;
    sign_in(&b, &base, DEPARTMENT_PHONE, &mut sms).await;
    b.press("消息").await;
    let all = b.source_with("发给本组织及下级组织").await;
    assert!(all.contains("已送达"), "delivered ones are listed too");
    assert!(!all.contains(K2_PHONE), "phones are masked");
    b.screenshot("13_messages").await;
    b.press("发送失败").await;
    let failed = b.source_with("重发").await;
    let rows = table_rows(&failed);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(
        row[1..5],
        ["党员k2 139****8101", "报到情况反馈", "短信", "发送失败"]
    );
    assert!(row[6].contains("isv.MOBILE_NUMBER_ILLEGAL"), "{row:?}");
    b.screenshot("14_messages_failed").await;

    b.press("重发").await;
    b.source_with("发送失败").await;
    e.env
        .eventually("the notifier revived it", || async {
            let q = format!("SELECT count(*) {K2} AND status = 'failed'");
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(q))
                .fetch_one(&e.env.pool)
                .await
                .unwrap()
                == 0
        })
        .await;
    e.round().await;
    assert_eq!(to_k2(&fake) - earlier, 2, "the replay sent it once");
    let status: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT status {K2}")))
        .fetch_one(&e.env.pool)
        .await
        .unwrap();
    assert_eq!(status, "delivered");
    b.open(&format!("{base}/console/messages?status=failed"))
        .await;
    b.source_with("没有发送失败的消息").await;
    b.screenshot("15_messages_replayed").await;
    replayed_again(&b, &base, &e).await;
    e.round().await;
    assert_eq!(to_k2(&fake) - earlier, 2, "nothing more");
    b.quit().await;
    e.finish().await;
}

/// A second 重发 of the same (now delivered) notification is refused, and sends nothing.
async fn replayed_again(b: &Driver, base: &str, e: &Env) {
    let id: uuid::Uuid = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT id {K2}")))
        .fetch_one(&e.env.pool)
        .await
        .unwrap();
    let page = b.source().await;
    let at = page.find("name=\"form_token\" value=\"").unwrap() + 25;
    let token = &page[at..at + page[at..].find('"').unwrap()];
    let res = reqwest::Client::new()
        .post(format!("{base}/console/messages/{id}/replay"))
        .header(
            "cookie",
            format!("hy_console={}", b.cookie("hy_console").await),
        )
        .header("origin", base)
        .form(&[("form_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("不是发送失败的消息"));
}

#[tokio::test]
async fn a_failed_message_is_replayed_once_on_a_phone() {
    failed_then_replayed(Screen::PHONE_390, "console-department/phone").await;
}

#[tokio::test]
async fn a_failed_message_is_replayed_once_at_a_desktop_without_javascript() {
    failed_then_replayed(
        Screen::DESKTOP.without_javascript(),
        "console-department/desktop",
    )
    .await;
}
