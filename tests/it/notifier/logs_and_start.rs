//! Starting without Redis, and what the logs and reasons say: phones masked everywhere, and
//! SMS held by the quiet hours announced.

use super::*;

#[tokio::test]
async fn the_notifier_waits_for_redis_at_start_instead_of_giving_up() {
    let mut env = TestEnv::new().await;
    env.settings.notifier.templates_dir = config_dir()
        .join("templates")
        .to_string_lossy()
        .into_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.settings.redis.url = format!("redis://127.0.0.1:{port}");
    let stop = CancellationToken::new();
    let (settings, clock) = (env.settings.clone(), env.clock.clone());
    let stop2 = stop.clone();
    let mut building = tokio::spawn(async move {
        Notifier::new(settings, Arc::new(clock), Console::new(), &stop2).await
    });
    // Redis is away: the notifier must still be waiting, not have failed. (Without the wait,
    // the client library gives up after about ten seconds of its own retries.)
    let early = tokio::time::timeout(Duration::from_secs(12), &mut building).await;
    assert!(early.is_err(), "the notifier gave up while Redis was away");

    let mut redis = tokio::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server runs");
    let built = tokio::time::timeout(Duration::from_secs(30), building)
        .await
        .expect("the notifier connects once Redis is up")
        .unwrap()
        .expect("the notifier builds");
    assert!(built.is_some(), "built once Redis came");
    stop.cancel();
    redis.kill().await.ok();
}

/// Every stored, announced or logged reason of `e`, for a scan for whole phones.
async fn every_reason(e: &Env) -> Vec<String> {
    let mut all: Vec<String> =
        sqlx::query_scalar("SELECT coalesce(error, '') FROM delivery_attempts")
            .fetch_all(&e.env.pool)
            .await
            .unwrap();
    all.extend(
        sqlx::query_scalar::<_, String>("SELECT coalesce(last_error, '') FROM notifications")
            .fetch_all(&e.env.pool)
            .await
            .unwrap(),
    );
    for failed in e.announced("notification.failed").await {
        all.push(failed.to_string());
    }
    all
}

#[tokio::test]
async fn provider_error_bodies_that_echo_phones_are_masked_everywhere() {
    // Aliyun's SignatureDoesNotMatch echoes the whole string to sign, phone included.
    let aliyun = fakes::aliyun::start("test-key-id", "another-secret", morning()).await;
    let url = aliyun.base_url.clone();
    let e = start(move |s| use_aliyun(s, url)).await;
    e.send(&[request(EV1, "13911110001", &["sms"])]).await;
    e.wait_rows(1).await;
    e.round().await;
    let reasons = every_reason(&e).await;
    assert!(
        reasons.iter().any(|r| r.contains("string to sign")),
        "the echo is kept, masked: {reasons:?}"
    );
    assert!(
        reasons.iter().all(|r| !r.contains("13911110001")),
        "a whole phone in {reasons:?}"
    );
    e.finish().await;

    // Tencent names the refused number in E.164.
    let tencent = fakes::tencent::start("tc-id", "tc-key", morning()).await;
    tencent.script(Script::Fail(
        "InvalidParameterValue.IncorrectPhoneNumber".into(),
    ));
    let url = tencent.base_url.clone();
    let e = start(move |s| use_tencent(s, url)).await;
    e.send(&[request(EV2, "13911110002", &["sms"])]).await;
    e.wait_rows(1).await;
    e.round().await;
    let reasons = every_reason(&e).await;
    assert!(
        reasons.iter().any(|r| r.contains("+86139****0002")),
        "the refused number is named, masked: {reasons:?}"
    );
    assert!(
        reasons.iter().all(|r| !r.contains("13911110002")),
        "a whole phone in {reasons:?}"
    );
    e.finish().await;
}

/// Quiet hours hold SMS silently no more: the notifier says at INFO how many it holds and
/// until when, so an evening run is not mistaken for a stuck one (`scripts/run` turns them off
/// for the console demo).
#[tokio::test]
async fn sms_held_by_quiet_hours_are_announced_in_the_log() {
    let env = TestEnv::new().await;
    // Quiet all day but one minute, whenever the test runs.
    let release = {
        let now = Utc::now().with_timezone(&hongyan_domain::TZ);
        let end = now + chrono::Duration::hours(23);
        format!(
            "{}-{}",
            (end + chrono::Duration::minutes(1)).format("%H:%M"),
            end.format("%H:%M")
        )
    };
    env.publish_all(&[envelope(&request(EV1, "13911110001", &["sms"]), Utc::now())])
        .await;
    let mut cmd = env.hongyan();
    cmd.arg("notifier")
        .env(
            "HONGYAN__NOTIFIER__TEMPLATES_DIR",
            config_dir().join("templates"),
        )
        .env("HONGYAN__POLICY__SMS_QUIET_HOURS", &release)
        .env("HONGYAN__LOG__FILTER", "info")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("hongyan notifier starts");
    let mut lines = crate::env::log_lines(&mut child);
    let said = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.recv().await {
            if line.contains("quiet hours") && line.contains("held") {
                return line;
            }
        }
        String::new()
    })
    .await
    .expect("the notifier says it holds SMS for the quiet hours");
    // Without the terminal's colours.
    let mut said = said;
    while let Some(at) = said.find('\u{1b}') {
        let end = said[at..].find('m').map_or(said.len(), |m| at + m + 1);
        said.replace_range(at..end, "");
    }
    assert!(
        said.contains("held=1") || said.contains("held: 1") || said.contains("\"held\":1"),
        "{said}"
    );
    assert!(said.contains("until"), "{said}");
    env.eventually("the SMS held, not sent", || async {
        env.scalar_i64(
            "SELECT count(*) FROM notifications WHERE status = 'pending' AND attempts = 0",
        )
        .await
            == 1
    })
    .await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    env.finish().await;
}
