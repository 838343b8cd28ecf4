//! Delivery round by round: one send per key, quiet hours, fallback, backoff, a send that
//! may have gone out, and the per-phone limit.

use super::*;

#[tokio::test]
async fn the_same_key_twice_sends_once_and_the_delivery_is_recorded_and_announced() {
    let e = start(|_| {}).await;
    let r = request(EV1, "13911110001", &["sms"]);
    e.send(&[r.clone(), r.clone()]).await;
    e.wait_rows(1).await;
    assert_eq!(e.round().await, 1);
    assert_eq!(e.round().await, 0, "nothing left to send");

    let sent = e.console.sent();
    assert_eq!(sent.len(), 1, "one key, one message");
    assert!(
        sent[0].text.contains("王小明") && sent[0].text.contains("天河软件园党委"),
        "{}",
        sent[0].text
    );
    assert_eq!(
        sent[0].phone.as_deref(),
        Some("13911110001"),
        "sent to the recipient's phone"
    );
    assert!(
        sent[0].line.contains("139****0006") && !sent[0].line.contains("13900000006"),
        "the log line masks phones: {}",
        sent[0].line
    );
    assert_eq!(e.status().await, [("delivered".into(), 1, String::new())]);
    assert_eq!(
        e.attempts().await,
        [("sms".into(), "console".into(), "delivered".into(), None)]
    );
    let announced = e.announced("notification.delivered").await;
    assert_eq!(announced.len(), 1);
    assert_eq!(announced[0]["data"]["recipient"], "139****0001");
    assert_eq!(announced[0]["data"]["key"], r.key.as_str());
    e.finish().await;
}

#[tokio::test]
async fn sms_in_quiet_hours_waits_for_the_morning() {
    let e = start(|_| {}).await;
    // 22:30 in Shanghai.
    e.env
        .clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 14, 30, 0).unwrap());
    e.send(&[request(EV1, "13911110001", &["sms"])]).await;
    e.wait_rows(1).await;
    e.round().await;
    assert!(e.console.sent().is_empty(), "held during quiet hours");
    let next: DateTime<Utc> = sqlx::query_scalar("SELECT next_attempt_at FROM notifications")
        .fetch_one(&e.env.pool)
        .await
        .unwrap();
    assert_eq!(
        next,
        Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap(),
        "08:00 the next morning in Shanghai"
    );
    assert_eq!(e.status().await[0].1, 0, "holding is not an attempt");

    e.env
        .clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 23, 59, 0).unwrap());
    assert_eq!(e.round().await, 0, "07:59 is still quiet");
    e.env
        .clock
        .set(Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap());
    e.round().await;
    assert_eq!(e.console.sent().len(), 1);
    e.finish().await;
}

/// A sign-in code is the one SMS the quiet hours do not hold (DESIGN.md section 12: a person is
/// waiting for it); any other SMS asked for at the same minute waits for the morning.
#[tokio::test]
async fn a_sign_in_code_goes_out_in_the_quiet_hours() {
    let e = start(|_| {}).await;
    // 23:10 in Shanghai.
    e.env
        .clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 15, 10, 0).unwrap());
    let recipient = Recipient {
        role: Role::OrgContact,
        name: "李书记".into(),
        phone: Phone::parse("13800138000").unwrap(),
        channels: vec!["sms".into()],
        member_id: None,
        org_id: Some(hongyan_domain::ids::OrgId::parse("b1").unwrap()),
    };
    let code = NotificationRequest::new(
        "login_code",
        recipient,
        EventId::parse("7d0c8a8e-5a1e-4f7e-9b8e-0c7a1e2b3c77").unwrap(),
        &[("code", "042917".into()), ("minutes", "5".into())],
    );
    e.send(&[code, request(EV1, "13911110001", &["sms"])]).await;
    e.wait_rows(2).await;
    e.round().await;
    let sent = e.console.sent();
    assert_eq!(sent.len(), 1, "the code only: {sent:?}");
    assert!(sent[0].text.contains("042917"), "{}", sent[0].text);
    assert_eq!(sent[0].phone.as_deref(), Some("13800138000"));
    e.finish().await;
}

#[tokio::test]
async fn a_permanent_failure_falls_back_to_the_next_channel() {
    let fake = fakes::webhook::start("hook-secret", morning()).await;
    fake.script(Script::Fail("404".into()));
    let url = fake.base_url.clone();
    let e = start(move |s| {
        s.notifier.webhook.url = format!("{url}/hook");
        s.notifier.webhook.secret = Some("hook-secret".into());
    })
    .await;
    e.send(&[request(EV1, "13911110001", &["webhook", "sms"])])
        .await;
    e.wait_rows(1).await;
    e.round().await;
    e.round().await;
    assert!(
        fake.only().signature_ok,
        "the webhook was signed as the receiver checks"
    );
    assert_eq!(
        e.attempts().await,
        [
            (
                "webhook".into(),
                "webhook".into(),
                "permanent".into(),
                Some("http_404".into())
            ),
            ("sms".into(), "console".into(), "delivered".into(), None),
        ]
    );
    assert_eq!(e.console.sent().len(), 1);
    let counted = |provider, status| {
        crate::metrics::metric(
            "hongyan_notifications_total",
            &[("provider", provider), ("status", status)],
        )
    };
    assert_eq!(
        (
            counted("webhook", "permanent"),
            counted("console", "delivered")
        ),
        (Some(1.0), Some(1.0)),
        "/metrics counts each attempt by provider and status"
    );
    e.finish().await;
}

#[tokio::test]
async fn transient_failures_back_off_then_fail_with_a_reason() {
    let fake = fakes::aliyun::start("test-key-id", "test-secret", morning()).await;
    fake.script(Script::Fail("isp.SYSTEM_ERROR".into()));
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_aliyun(s, url);
        s.notifier.retry_delays_secs = vec![10, 60, 600];
        // A system error may have sent it; with no receipt wait, the backoff alone decides
        // when the provider is asked, and it says it has none.
        s.notifier.receipt_wait_secs = 0;
    })
    .await;
    e.send(&[request(EV1, "13911110001", &["sms"])]).await;
    e.wait_rows(1).await;
    let mut at = morning();
    for (attempt, wait) in [(1, 10), (2, 60), (3, 600)] {
        e.round().await;
        assert_eq!(fake.sends().len(), attempt);
        assert_eq!(e.round().await, 0, "not before its delay");
        at += chrono::Duration::seconds(wait);
        e.env.clock.set(at);
    }
    e.round().await;
    assert_eq!(
        fake.sends().len(),
        4,
        "bounded: the first try and three retries"
    );
    assert_eq!(
        fake.queries().len(),
        3,
        "before each retry, the provider was asked whether the system error had sent it"
    );
    assert!(fake.seen().iter().all(|s| s.signature_ok));
    let (status, attempts, error) = e.status().await.remove(0);
    assert_eq!((status.as_str(), attempts), ("failed", 4));
    assert!(
        error.contains("Gave up after 4 attempts") && error.contains("isp.SYSTEM_ERROR"),
        "{error}"
    );
    let failed = e.announced("notification.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["data"]["provider"], "aliyun");
    e.finish().await;
}

#[tokio::test]
async fn an_sms_that_timed_out_waits_for_its_receipt_then_the_provider_is_asked() {
    let fake = fakes::aliyun::start("test-key-id", "test-secret", morning()).await;
    fake.script(Script::Hang);
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_aliyun(s, url);
        s.notifier.send_timeout_ms = 300;
    })
    .await;
    e.send(&[request(EV1, "13911110001", &["sms"])]).await;
    e.wait_rows(1).await;
    e.round().await;
    let attempts = e.attempts().await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].2.as_str(), attempts[0].3.as_deref()),
        ("retry", Some("timeout"))
    );
    let (status, next, since): (String, DateTime<Utc>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT status, next_attempt_at, uncertain_since FROM notifications")
            .fetch_one(&e.env.pool)
            .await
            .unwrap();
    // It may have gone out: not the 10 s retry delay, but the receipt wait.
    let wait = chrono::Duration::seconds(e.n.settings.notifier.receipt_wait_secs as i64);
    assert_eq!((status.as_str(), next), ("pending", morning() + wait));
    assert_eq!(
        since,
        Some(morning()),
        "uncertain since the send, by the notifier's clock"
    );
    e.env.clock.set(morning() + chrono::Duration::seconds(10));
    assert_eq!(e.round().await, 0, "not resent after the retry delay");
    assert_eq!(fake.seen().len(), 1);
    // No receipt came within the wait: the provider is asked, and it has the SMS (the gateway
    // took it, then never answered), so it is not sent again.
    fake.script(Script::Succeed);
    e.env.clock.set(morning() + wait);
    assert_eq!(e.round().await, 1);
    assert_eq!(fake.queries().len(), 1);
    assert_eq!(fake.sends().len(), 1, "one SMS");
    let attempts = e.attempts().await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].2, "found");
    assert_eq!(e.status().await[0].0, "delivered");
    e.finish().await;
}

#[tokio::test]
async fn a_phone_over_its_daily_limit_waits_for_its_window_and_others_go_on() {
    let e = start(|s| s.notifier.limits.phone_per_day = 2).await;
    e.send(&[
        request(EV1, "13911110001", &["sms"]),
        request(EV2, "13911110001", &["sms"]),
        request(EV3, "13911110001", &["sms"]),
    ])
    .await;
    e.wait_rows(3).await;
    e.round().await;
    assert_eq!(e.console.sent().len(), 2, "two a day for this phone");
    let waiting: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT next_attempt_at FROM notifications WHERE status = 'pending'")
            .fetch_all(&e.env.pool)
            .await
            .unwrap();
    assert_eq!(
        waiting,
        [morning() + chrono::Duration::days(1)],
        "rescheduled for when the window frees, not dropped"
    );
    let other = request(
        "7d0c8a8e-5a1e-4f7e-9b8e-000000000004",
        "13922220002",
        &["sms"],
    );
    e.send(&[other]).await;
    e.wait_rows(4).await;
    e.round().await;
    assert_eq!(e.console.sent().len(), 3, "another phone is not held up");
    e.finish().await;
}

/// A county department's contact at the daily cap of member-level notices still gets the
/// county's summary that day: summaries have their own budget per phone
/// (`notifier.limits.summaries_per_phone_per_day`), so they never wait behind the others.
#[tokio::test]
async fn a_summary_goes_out_the_day_its_phone_is_at_the_cap_of_member_messages() {
    let e = start(|s| s.notifier.limits.phone_per_day = 2).await;
    let phone = "13911110009";
    e.send(&[
        request(EV1, phone, &["sms"]),
        request(EV2, phone, &["sms"]),
        request(EV3, phone, &["sms"]),
    ])
    .await;
    e.wait_rows(3).await;
    e.round().await;
    assert_eq!(e.console.sent().len(), 2, "the member-level cap is reached");

    let county = hongyan_domain::ids::OrgId::parse("c1").unwrap();
    let contact = hongyan_domain::payloads::Contact {
        name: "县委组织部联系人".into(),
        phone: Phone::parse(phone).unwrap(),
    };
    let summary = NotificationRequest::new(
        "lost_contact_county",
        Recipient::org_contact(&county, &contact),
        EventId::parse("7d0c8a8e-5a1e-4f7e-9b8e-000000000005").unwrap(),
        &[
            ("org_name", "c1组织".to_owned()),
            ("month", "12月".to_owned()),
            ("lost_contact", "40".to_owned()),
            ("lapse_risk", "40".to_owned()),
            ("url", "http://127.0.0.1:8080/console/".to_owned()),
        ],
    );
    e.send(&[summary]).await;
    e.wait_rows(4).await;
    e.round().await;
    let sent = e.console.sent();
    assert_eq!(sent.len(), 3, "the summary went the same day");
    assert!(
        sent[2].text.contains("失联") && sent[2].text.contains("40"),
        "{}",
        sent[2].text
    );
    let waiting: Vec<String> =
        sqlx::query_scalar("SELECT template FROM notifications WHERE status = 'pending'")
            .fetch_all(&e.env.pool)
            .await
            .unwrap();
    assert_eq!(
        waiting,
        ["checked_in_branch"],
        "the third notice waits for tomorrow"
    );
    e.finish().await;
}
