//! Replies (上行短信, DESIGN.md section 5): members answer a reminder by SMS, pushed by the
//! providers' fakes to the notifier's receipts listener. What is checked is what a branch
//! secretary and a member would see: the ledger's confirmation, the SMS each got, the member's
//! history, and the next monthly reminder.

use chrono::{DateTime, TimeZone, Utc};
use hongyan_domain::TZ;
use hongyan_scheduler::engine::{self, Fired};
use serde_json::{Value, json};

use crate::fakes;
use crate::fixtures::*;
use crate::metrics::metric;
use crate::notifier::{Env, morning, start};

/// `notifier.receipts_token`: the secret path segment of the receipt and reply URLs.
const TOKEN: &str = "r3pl13s-t0ken-0f-th3-t3st";
/// m1 (branch b1, whose contact is 13900000003) and m2 (branch b2).
const M1_PHONE: &str = "13911119001";
const M2_PHONE: &str = "13911119002";
const B1_CONTACT: &str = "13900000003";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The notifier with its receipts listener on `port`, the registry running, and m1 and m2 away
/// (left in February; nothing confirmed in March yet). `b1_chat`: b1's group robot, if any.
async fn away(port: u16, b1_chat: Option<String>) -> Env {
    let mut e = start(move |s| {
        s.notifier.receipts_listen = format!("127.0.0.1:{port}");
        s.notifier.receipts_token = Some(TOKEN.into());
        s.api.link_secret = Some("replies-link-secret".to_owned().into());
    })
    .await;
    tokio::spawn(hongyan_notifier::receipts::serve(
        e.n.clone(),
        e.stop.clone(),
    ));
    let mut evs = county();
    if let Some(url) = b1_chat {
        let b1 = evs.iter_mut().find(|e| e["data"]["id"] == "b1").unwrap();
        b1["data"]["chat"] = json!({"provider": "wecom", "webhook": url});
    }
    evs.extend([member("m1", "b1", M1_PHONE), member("m2", "b2", M2_PHONE)]);
    evs.push(outbound("m1", "b1", "2026-02-10T09:00:00", 4, None));
    evs.push(outbound("m2", "b2", "2026-02-11T09:00:00", 4, None));
    e.env.publish_all(&evs).await;
    e.env.start_registry();
    e.env.wait_processed(&evt_id(evs.last().unwrap())).await;
    e.env.clock.set(morning());
    e
}

fn url(port: u16, kind: &str, provider: &str) -> String {
    format!("http://127.0.0.1:{port}/v1/{kind}/{TOKEN}/{provider}")
}

/// The notifications of `template`: (recipient's phone, the params).
async fn notices(e: &Env, template: &str) -> Vec<(String, Value)> {
    sqlx::query_as(
        "SELECT recipient->>'phone', params FROM notifications WHERE template = $1 ORDER BY created_at",
    )
    .bind(template)
    .fetch_all(&e.env.pool)
    .await
    .unwrap()
}

/// The member's history: (event type, data), oldest first.
async fn history(e: &Env, member: &str) -> Vec<(String, Value)> {
    sqlx::query_as("SELECT event_type, data FROM history WHERE member_id = $1 ORDER BY id")
        .bind(member)
        .fetch_all(&e.env.pool)
        .await
        .unwrap()
}

/// The SMS the console sink sent to `phone`, delivering what is due first.
async fn texts_to(e: &Env, phone: &str) -> Vec<String> {
    while e.round().await > 0 {}
    e.console
        .sent()
        .into_iter()
        .filter(|r| r.phone.as_deref() == Some(phone))
        .map(|r| r.text)
        .collect()
}

#[tokio::test]
async fn a_confirmation_by_aliyun_confirms_the_month_and_thanks_once() {
    let port = free_port();
    let e = away(port, None).await;
    let replies = url(port, "replies", "aliyun");
    // Full-width digit and spaces, as phones type them.
    let body = fakes::aliyun::reply(M1_PHONE, " １ ", "2026-03-02 09:58:00");
    let (status, answer) = fakes::aliyun::push_replies(&replies, &body).await;
    assert_eq!(
        (status, answer.as_str()),
        (200, r#"{"code":0,"msg":"成功"}"#)
    );
    e.env
        .eventually("m1's March confirmed in the ledger", || async {
            e.env.record("m1").await.unwrap()["last_confirmed_on"] == "2026-03-02"
        })
        .await;
    let thanks = notices(&e, "reply_thanks").await;
    assert_eq!(thanks.len(), 1, "{thanks:?}");
    assert_eq!(thanks[0].0, M1_PHONE);
    let sent = texts_to(&e, M1_PHONE).await;
    let thanked: Vec<&String> = sent
        .iter()
        .filter(|t| t.contains("确认无变化，谢谢"))
        .collect();
    assert_eq!(thanked.len(), 1, "{sent:?}");
    // Aliyun pushes the same reply again: nothing more.
    let (status, _) = fakes::aliyun::push_replies(&replies, &body).await;
    assert_eq!(status, 200);
    // Another "没变" the same month confirms again but thanks no more.
    let again = fakes::aliyun::reply(M1_PHONE, "没变。", "2026-03-02 10:30:00");
    assert_eq!(fakes::aliyun::push_replies(&replies, &again).await.0, 200);
    e.env
        .eventually("both replies stored", || async {
            e.env.scalar_i64("SELECT count(*) FROM sms_replies").await == 2
        })
        .await;
    e.env
        .eventually("the second confirmation applied", || async {
            let updates = history(&e, "m1").await;
            updates
                .iter()
                .filter(|(t, _)| t == "registration.update")
                .count()
                == 2
        })
        .await;
    assert_eq!(notices(&e, "reply_thanks").await.len(), 1);
    let sent = texts_to(&e, M1_PHONE).await;
    assert_eq!(
        sent.iter().filter(|t| t.contains("谢谢")).count(),
        1,
        "{sent:?}"
    );
    assert!(
        metric(
            "hongyan_replies_total",
            &[("provider", "aliyun"), ("meaning", "confirm")]
        )
        .unwrap()
            >= 2.0
    );
    assert!(
        metric(
            "hongyan_replies_total",
            &[("provider", "aliyun"), ("meaning", "duplicate")]
        )
        .unwrap()
            >= 1.0
    );
    e.finish().await;
}

#[tokio::test]
async fn a_phone_with_no_open_record_is_kept_and_nothing_is_sent() {
    let port = free_port();
    let e = away(port, None).await;
    let body = fakes::aliyun::reply("13700001111", "1", "2026-03-02 09:59:00");
    let (status, answer) =
        fakes::aliyun::push_replies(&url(port, "replies", "aliyun"), &body).await;
    assert_eq!(
        (status, answer.as_str()),
        (200, r#"{"code":0,"msg":"成功"}"#)
    );
    let kept: Vec<(String, Vec<String>)> =
        sqlx::query_as("SELECT meaning, member_ids FROM sms_replies")
            .fetch_all(&e.env.pool)
            .await
            .unwrap();
    assert_eq!(kept, vec![("unmatched".to_owned(), Vec::new())]);
    let caused = e
        .env
        .scalar_i64("SELECT count(*) FROM notifications WHERE template LIKE 'reply%'")
        .await;
    assert_eq!(caused, 0);
    let events = e
        .env
        .scalar_i64("SELECT count(*) FROM history WHERE event_type IN ('registration.update', 'contact.recorded')")
        .await;
    assert_eq!(events, 0);
    assert!(
        metric(
            "hongyan_replies_total",
            &[("provider", "aliyun"), ("meaning", "unmatched")]
        )
        .unwrap()
            >= 1.0
    );
    e.finish().await;
}

#[tokio::test]
async fn a_body_not_in_the_providers_shape_is_refused_and_receipts_still_answer() {
    let port = free_port();
    let e = away(port, None).await;
    let client = reqwest::Client::new();
    for (provider, body) in [
        ("aliyun", "not json"),
        ("aliyun", r#"{"phone_number":"13911119001","content":"1"}"#),
        ("aliyun", r#"[{"content":"1"}]"#),
        ("tencent", r#"{"text":"1","time":1772330400}"#),
        ("tencent", "[1, 2"),
    ] {
        let r = client
            .post(url(port, "replies", provider))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{provider} {body}");
        assert!(r.text().await.unwrap().contains("reply"), "{body}");
    }
    assert_eq!(
        e.env.scalar_i64("SELECT count(*) FROM sms_replies").await,
        0
    );
    // The wrong token is a path that does not exist.
    let wrong = format!("http://127.0.0.1:{port}/v1/replies/not-the-token-at-all/aliyun");
    let body = fakes::aliyun::reply(M1_PHONE, "1", "2026-03-02 09:58:00");
    assert_eq!(fakes::aliyun::push_replies(&wrong, &body).await.0, 404);
    // The listener is up: a receipt list is still taken.
    let receipt = json!([{"phone_number": M1_PHONE, "send_time": "2026-03-02 10:00:00", "report_time": "2026-03-02 10:01:00",
        "success": true, "err_code": "DELIVERED", "err_msg": "用户接收成功", "biz_id": "b-1", "out_id": ""}]);
    let r = client
        .post(url(port, "receipts", "aliyun"))
        .json(&receipt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    e.finish().await;
}

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    TZ.with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// The monthly reminder fired at `due` (as `hongyan schedule run` does); returns the members
/// it was queued for, once the notifier has taken them in.
async fn remind(e: &Env, due: DateTime<Utc>, expect: usize) -> Vec<String> {
    match engine::fire(
        &e.env.pool,
        &e.env.settings,
        "monthly_reminder",
        due,
        due,
        true,
    )
    .await
    .unwrap()
    {
        Fired::Done(n) => assert_eq!(n as usize, expect),
        Fired::AlreadyTaken => panic!("fired twice"),
    }
    let month = format!(
        "monthly_reminder:{}",
        &due.with_timezone(&TZ).to_rfc3339()[..7]
    );
    let like = format!("{month}%");
    e.env
        .eventually("the reminders taken in", || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM notifications WHERE key LIKE $1")
                .bind(&like)
                .fetch_one(&e.env.pool)
                .await
                .unwrap()
                == expect as i64
        })
        .await;
    sqlx::query_scalar(
        "SELECT recipient->>'member_id' FROM notifications WHERE key LIKE $1 ORDER BY 1",
    )
    .bind(&like)
    .fetch_all(&e.env.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn unsubscribing_by_tencent_stops_the_reminder_sms_and_tells_the_branch() {
    let port = free_port();
    let mut e = away(port, None).await;
    let body = fakes::tencent::reply(M1_PHONE, "退订", 1_772_416_680);
    let (status, answer) =
        fakes::tencent::push_reply(&url(port, "replies", "tencent"), &body).await;
    assert_eq!(
        (status, answer.as_str()),
        (200, r#"{"result":0,"errmsg":"OK"}"#)
    );
    e.env
        .eventually("m1's reminders stopped in the ledger", || async {
            e.env.record("m1").await.unwrap()["reminders_stopped"] == true
        })
        .await;
    // 退订 is no confirmation.
    assert_eq!(
        e.env.record("m1").await.unwrap()["last_confirmed_on"],
        "2026-02-10"
    );
    let told = texts_to(&e, B1_CONTACT).await;
    let told: Vec<&String> = told.iter().filter(|t| t.contains("退订")).collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains("党员m1"), "{}", told[0]);
    assert_eq!(notices(&e, "reply_stopped").await.len(), 1);
    // The next monthly reminder skips m1's phone; m2 gets it, ending with how to answer.
    e.env.clock.set(at(2026, 4, 1, 9));
    assert_eq!(
        remind(&e, at(2026, 4, 1, 9), 1).await,
        vec!["m2".to_owned()]
    );
    let reminder = texts_to(&e, M2_PHONE).await;
    let reminder: Vec<&String> = reminder.iter().filter(|t| t.contains("4月")).collect();
    assert_eq!(reminder.len(), 1, "{reminder:?}");
    assert!(reminder[0].ends_with("回复1确认无变化"), "{}", reminder[0]);
    // The branch turns them back on (as POST /v1/events or the member page would).
    let on = update(
        "m1",
        "b1",
        "2026-04-02T09:00:00",
        json!({"reminders": true}),
    );
    e.env.publish(&on).await;
    e.env.wait_processed(&evt_id(&on)).await;
    assert_eq!(
        e.env.record("m1").await.unwrap()["reminders_stopped"],
        false
    );
    e.env.clock.set(at(2026, 5, 1, 9));
    let may = remind(&e, at(2026, 5, 1, 9), 2).await;
    assert_eq!(may, vec!["m1".to_owned(), "m2".to_owned()]);
    assert!(
        metric(
            "hongyan_replies_total",
            &[("provider", "tencent"), ("meaning", "stop_reminders")]
        )
        .unwrap()
            >= 1.0
    );
    e.env.stop_registry().await;
    e.finish().await;
}

#[tokio::test]
async fn any_other_text_goes_to_the_branch_contact_and_the_history_never_to_a_group() {
    let port = free_port();
    let robot = fakes::wecom::start("b1-robot", morning()).await;
    let e = away(port, Some(fakes::wecom::webhook(&robot, "b1-robot"))).await;
    let text = "我换厂了，现在在东莞长安";
    let body = fakes::aliyun::reply(M1_PHONE, text, "2026-03-02 09:57:00");
    let (status, _) = fakes::aliyun::push_replies(&url(port, "replies", "aliyun"), &body).await;
    assert_eq!(status, 200);
    e.env
        .eventually("the reply in m1's history", || async {
            history(&e, "m1")
                .await
                .iter()
                .any(|(t, d)| t == "contact.recorded" && d["kind"] == "reply" && d["text"] == text)
        })
        .await;
    let forwarded = texts_to(&e, B1_CONTACT).await;
    let forwarded: Vec<&String> = forwarded.iter().filter(|t| t.contains(text)).collect();
    assert_eq!(forwarded.len(), 1, "{forwarded:?}");
    assert!(forwarded[0].contains("党员m1"), "{}", forwarded[0]);
    // Not a confirmation, and nothing to a group: b1's robot got nothing.
    assert_eq!(
        e.env.record("m1").await.unwrap()["last_confirmed_on"],
        "2026-02-10"
    );
    assert!(robot.seen().is_empty(), "the branch's robot was posted to");
    let group = e
        .env
        .scalar_i64(
            "SELECT count(*) FROM notifications WHERE template LIKE 'reply%' AND recipient IS NULL",
        )
        .await;
    assert_eq!(group, 0);
    assert_eq!(
        e.console
            .sent()
            .iter()
            .filter(|r| r.channel != "sms")
            .count(),
        0
    );
    assert!(
        metric(
            "hongyan_replies_total",
            &[("provider", "aliyun"), ("meaning", "other")]
        )
        .unwrap()
            >= 1.0
    );
    e.finish().await;
}
