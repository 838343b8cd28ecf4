//! The notifier and its providers' receipts (DESIGN.md section 5): receipts posted back update
//! and, when a message never arrived, fail a notification; and a notifier killed mid-burst
//! neither loses a notification nor texts anyone twice, because it waits for the receipt of a
//! send it may have made before sending again.

use std::time::Duration;

use chrono::Utc;

use crate::env::{TestEnv, config_dir};
use crate::fakes;
use crate::notifier::{envelope, morning, request, start, use_aliyun};

const EV1: &str = "7d0c8a8e-5a1e-4f7e-9b8e-000000000001";
/// `notifier.receipts_token`: the secret path segment of the receipt URLs.
const TOKEN: &str = "r3c31pt-t0ken-0f-th3-t3st";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn receipts_posted_by_the_provider_update_the_notification() {
    let port = free_port();
    let receipts = format!("http://127.0.0.1:{port}/v1/receipts/{TOKEN}/aliyun");
    let fake = fakes::aliyun::start_with_receipts(
        "test-key-id",
        "test-secret",
        morning(),
        Some((receipts.clone(), Duration::ZERO)),
    )
    .await;
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_aliyun(s, url);
        s.notifier.receipts_listen = format!("127.0.0.1:{port}");
        s.notifier.receipts_token = Some(TOKEN.into());
    })
    .await;
    tokio::spawn(hongyan_notifier::receipts::serve(
        e.n.clone(),
        e.stop.clone(),
    ));
    e.send(&[request(EV1, "13911110001", &["sms"])]).await;
    e.wait_rows(1).await;
    e.round().await;
    e.env
        .eventually("the receipt recorded", || async {
            e.env
                .scalar_i64(
                    "SELECT count(*) FROM notifications WHERE receipt LIKE 'delivered DELIVERED%'",
                )
                .await
                == 1
        })
        .await;
    let out_id = fakes::aliyun::params(&fake.only())
        .get("OutId")
        .cloned()
        .unwrap();
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM notifications")
        .fetch_one(&e.env.pool)
        .await
        .unwrap();
    assert_eq!(
        out_id,
        id.to_string(),
        "our notification id travels as OutId and comes back"
    );

    // A failed receipt for the same message: the provider's last word.
    let client = reqwest::Client::new();
    let biz: String = sqlx::query_scalar("SELECT provider_message_id FROM notifications")
        .fetch_one(&e.env.pool)
        .await
        .unwrap();
    let failed_receipt = serde_json::json!([{"phone_number": "13911110001", "send_time": "2026-03-02 10:00:00", "report_time": "2026-03-02 10:01:00",
        "success": false, "err_code": "MK:0001", "err_msg": "用户关机", "biz_id": biz, "out_id": ""}]);
    let post_failed = || client.post(&receipts).json(&failed_receipt).send();
    let answer = post_failed().await.unwrap();
    assert!(answer.status().is_success());
    assert_eq!(
        answer.text().await.unwrap(),
        r#"{"code":0,"msg":"接收成功"}"#
    );
    assert_eq!(e.status().await[0].0, "failed");
    let failed = e.announced("notification.failed").await;
    assert_eq!(failed.len(), 1, "the failure is announced");
    assert!(
        failed[0]["data"]["error"]
            .as_str()
            .unwrap()
            .contains("MK:0001"),
        "{}",
        failed[0]
    );
    assert_eq!(failed[0]["data"]["recipient"], "139****0001");
    let parked: Vec<(String, String)> = sqlx::query_as(
        "SELECT park_reason, park_source_queue FROM outbox WHERE park_reason IS NOT NULL",
    )
    .fetch_all(&e.env.pool)
    .await
    .unwrap();
    assert_eq!(parked.len(), 1, "and the request parked for a replay");
    assert!(parked[0].0.contains("用户关机"), "{}", parked[0].0);
    assert_eq!(parked[0].1, e.env.names.notifier());
    // The same receipt posted again (providers repeat them) changes nothing more.
    assert!(post_failed().await.unwrap().status().is_success());
    assert_eq!(e.announced("notification.failed").await.len(), 1);
    // Not a receipt list: refused with a reason, nothing changed.
    let bad = client
        .post(&receipts)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("receipt"));
    e.finish().await;
}

/// Neither provider signs its receipts, so only a URL with the secret segment takes them
/// (DESIGN.md section 5): a wrong token, the old tokenless path, or any other path answers 404
/// and changes nothing.
#[tokio::test]
async fn receipts_are_taken_only_at_the_secret_path() {
    let port = free_port();
    let e = start(move |s| {
        s.notifier.receipts_listen = format!("127.0.0.1:{port}");
        s.notifier.receipts_token = Some(TOKEN.into());
    })
    .await;
    tokio::spawn(hongyan_notifier::receipts::serve(
        e.n.clone(),
        e.stop.clone(),
    ));
    e.send(&[request(EV1, "13911110001", &["sms"])]).await;
    e.wait_rows(1).await;
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM notifications")
        .fetch_one(&e.env.pool)
        .await
        .unwrap();
    let failed = serde_json::json!([{"phone_number": "13911110001", "send_time": "2026-03-02 10:00:00", "report_time": "2026-03-02 10:01:00",
        "success": false, "err_code": "MK:0001", "err_msg": "用户关机", "biz_id": "b-1", "out_id": id.to_string()}]);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let post = |path: String| client.post(format!("{base}{path}")).json(&failed).send();
    let ready = || async {
        post(format!("/v1/receipts/{TOKEN}/nothing-here"))
            .await
            .is_ok()
    };
    e.env
        .eventually("the receipts endpoint listens", ready)
        .await;
    let wrong_length = format!("{TOKEN}x");
    let same_length = format!("{}X", &TOKEN[..TOKEN.len() - 1]);
    for path in [
        "/v1/receipts/aliyun".to_owned(),
        "/v1/receipts/tencent".to_owned(),
        format!("/v1/receipts/{wrong_length}/aliyun"),
        format!("/v1/receipts/{same_length}/aliyun"),
        format!("/v1/receipts/{same_length}/tencent"),
        format!("/v1/receipts/{TOKEN}"),
        format!("/{TOKEN}/aliyun"),
    ] {
        let answer = post(path.clone()).await.unwrap();
        assert_eq!(answer.status(), 404, "{path}");
    }
    assert_eq!(
        e.env
            .scalar_i64(
                "SELECT count(*) FROM notifications WHERE receipt IS NOT NULL OR status = 'failed'"
            )
            .await,
        0,
        "a receipt at a wrong path changes nothing"
    );
    let answer = post(format!("/v1/receipts/{TOKEN}/aliyun")).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(e.status().await[0].0, "failed", "the secret path takes it");
    e.finish().await;
}

/// Without a token the endpoint is not served at all, and the notifier says so at start.
#[tokio::test]
async fn without_a_token_no_receipts_are_served() {
    let env = TestEnv::new().await;
    let port = free_port();
    let mut cmd = env.hongyan();
    cmd.arg("notifier")
        .env(
            "HONGYAN__NOTIFIER__TEMPLATES_DIR",
            config_dir().join("templates"),
        )
        .env(
            "HONGYAN__NOTIFIER__RECEIPTS_LISTEN",
            format!("127.0.0.1:{port}"),
        )
        .env_remove("HONGYAN__NOTIFIER__RECEIPTS_TOKEN")
        .env("HONGYAN__LOG__FILTER", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("hongyan notifier starts");
    let mut lines = crate::env::log_lines(&mut child);
    let said = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.recv().await {
            if line.contains("Receipts endpoint not served") {
                return line;
            }
        }
        String::new()
    })
    .await
    .expect("the notifier says at start that receipts are not served");
    assert!(said.contains("HONGYAN__NOTIFIER__RECEIPTS_TOKEN"), "{said}");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "nothing listens for receipts"
    );
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    env.finish().await;
}

#[tokio::test]
async fn the_notifier_killed_mid_burst_sends_nothing_twice_and_loses_nothing() {
    // Receipts come 3 s after each send: later than a dead worker's claim runs out (2 s), so
    // waiting for the receipt (up to 10 s) or asking the provider keeps the restarted
    // notifier from resending.
    killed_mid_burst(true).await;
}

/// The same without receipts (they are optional with both providers): once the claim and the
/// receipt wait run out, only asking the provider (`QuerySendDetails`) keeps the restarted
/// notifier from sending what the dead one sent.
#[tokio::test]
async fn the_notifier_killed_mid_burst_without_receipts_sends_nothing_twice() {
    killed_mid_burst(false).await;
}

async fn killed_mid_burst(with_receipts: bool) {
    const COUNT: usize = 600;
    let env = TestEnv::new().await;
    let port = free_port();
    let receipts = format!("http://127.0.0.1:{port}/v1/receipts/{TOKEN}/aliyun");
    let fake = fakes::aliyun::start_with_receipts(
        "test-key-id",
        "test-secret",
        Utc::now(),
        with_receipts.then_some((receipts, Duration::from_secs(3))),
    )
    .await;
    let reqs: Vec<serde_json::Value> = (0..COUNT)
        .map(|i| {
            let ev = format!("7d0c8a8e-5a1e-4f7e-9b8e-{i:012}");
            let r = request(&ev, &format!("1391{i:07}"), &["sms"]);
            envelope(&r, Utc::now())
        })
        .collect();
    env.publish_all(&reqs).await;
    let notifier = |env: &TestEnv| {
        let mut cmd = env.hongyan();
        cmd.arg("notifier")
            .env(
                "HONGYAN__NOTIFIER__TEMPLATES_DIR",
                config_dir().join("templates"),
            )
            .env("HONGYAN__NOTIFIER__SMS__PROVIDER", "aliyun")
            .env("HONGYAN__NOTIFIER__SMS__ALIYUN__BASE_URL", &fake.base_url)
            .env(
                "HONGYAN__NOTIFIER__SMS__ALIYUN__ACCESS_KEY_ID",
                "test-key-id",
            )
            .env(
                "HONGYAN__NOTIFIER__SMS__ALIYUN__ACCESS_KEY_SECRET",
                "test-secret",
            )
            .env(
                "HONGYAN__NOTIFIER__SMS__TEMPLATES__CHECKED_IN_BRANCH",
                "SMS_100001",
            )
            .env(
                "HONGYAN__NOTIFIER__RECEIPTS_LISTEN",
                format!("127.0.0.1:{port}"),
            )
            .env("HONGYAN__NOTIFIER__RECEIPTS_TOKEN", TOKEN)
            .env("HONGYAN__NOTIFIER__RECEIPT_WAIT_SECS", "10")
            .env("HONGYAN__NOTIFIER__CLAIM_SECS", "2")
            .env("HONGYAN__NOTIFIER__BATCH_SIZE", "50")
            .env("HONGYAN__NOTIFIER__CONCURRENCY", "16")
            .env("HONGYAN__POLICY__SMS_QUIET_HOURS", "")
            .kill_on_drop(true);
        cmd.spawn().expect("hongyan notifier starts")
    };
    let delivered = || async {
        env.scalar_i64("SELECT count(*) FROM notifications WHERE status = 'delivered'")
            .await
    };

    let mut first = notifier(&env);
    env.eventually("a good part sent", || async {
        fake.sends().len() > COUNT / 4
    })
    .await;
    first.start_kill().unwrap(); // SIGKILL, with sends in flight
    first.wait().await.unwrap();
    let at_kill = fake.sends().len();
    assert!(
        at_kill < COUNT,
        "killed mid-burst ({at_kill} of {COUNT} sent)"
    );

    let mut second = notifier(&env);
    env.eventually_within(
        Duration::from_secs(120),
        "every notification delivered",
        || async { delivered().await == COUNT as i64 },
    )
    .await;
    second.start_kill().unwrap();
    second.wait().await.unwrap();

    let mut per_id = std::collections::HashMap::new();
    for seen in fake.sends() {
        *per_id
            .entry(fakes::aliyun::params(&seen).get("OutId").cloned().unwrap())
            .or_insert(0) += 1;
    }
    assert_eq!(
        per_id.len(),
        COUNT,
        "nothing lost: every notification reached the provider"
    );
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "nothing sent twice: {twice:?}");
    env.finish().await;
}
