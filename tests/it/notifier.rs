//! The notifier end to end (DESIGN.md section 5), against the real RabbitMQ, PostgreSQL and
//! Redis and the providers' fakes: requests come in through the queue, and the delivery loop
//! is driven round by round under a set clock, so quiet hours and backoff take no real time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hongyan_domain::Phone;
use hongyan_domain::envelope::system_envelope;
use hongyan_domain::ids::{EventId, MemberId};
use hongyan_domain::notify::{NotificationRequest, Recipient, Role};
use hongyan_notifier::providers::console::Console;
use hongyan_notifier::{Notifier, deliver};
use tokio_util::sync::CancellationToken;

use crate::env::{TestEnv, config_dir};
use crate::fakes::{self, Script};

pub(crate) struct Env {
    pub(crate) env: TestEnv,
    pub(crate) n: Arc<Notifier>,
    pub(crate) console: Console,
    pub(crate) stop: CancellationToken,
}

/// 10:00 in Shanghai, outside quiet hours.
pub(crate) fn morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
}

pub(crate) async fn start(tune: impl FnOnce(&mut hongyan_adapters::Settings)) -> Env {
    let mut env = TestEnv::new().await;
    env.clock.set(morning());
    env.settings.notifier.templates_dir = config_dir()
        .join("templates")
        .to_string_lossy()
        .into_owned();
    tune(&mut env.settings);
    let console = Console::new();
    let stop = CancellationToken::new();
    let n = Arc::new(
        Notifier::new(
            env.settings.clone(),
            Arc::new(env.clock.clone()),
            console.clone(),
            &stop,
        )
        .await
        .expect("notifier builds")
        .expect("Redis is up"),
    );
    tokio::spawn(hongyan_notifier::run_intake(n.clone(), stop.clone()));
    Env {
        env,
        n,
        console,
        stop,
    }
}

/// SMS through the Aliyun fake at `url`, with the template code the tests' requests need.
pub(crate) fn use_aliyun(s: &mut hongyan_adapters::Settings, url: String) {
    s.notifier.sms.provider = "aliyun".into();
    s.notifier.sms.aliyun.base_url = url;
    s.notifier.sms.aliyun.access_key_id = Some("test-key-id".into());
    s.notifier.sms.aliyun.access_key_secret = Some("test-secret".into());
    s.notifier
        .sms
        .templates
        .insert("checked_in_branch".into(), "SMS_100001".into());
}

pub(crate) fn request(key_event: &str, phone: &str, channels: &[&str]) -> NotificationRequest {
    let recipient = Recipient {
        role: Role::Member,
        name: "王小明".into(),
        phone: Phone::parse(phone).unwrap(),
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        member_id: Some(MemberId::parse("m1").unwrap()),
        org_id: None,
    };
    let event = EventId::parse(key_event).unwrap();
    NotificationRequest::new("checked_in_branch", recipient, event, &checked_in_params())
}

/// The params of `checked_in_branch`: who received the member, where and when.
pub(crate) fn checked_in_params() -> [(&'static str, String); 6] {
    [
        ("member_name", "王小明".into()),
        ("receiving_org", "天河软件园党委".into()),
        ("receiving_contact", "赵书记".into()),
        ("receiving_phone", "13900000006".into()),
        ("arrived_on", "2026-03-01".into()),
        ("address", "天河路1号".into()),
    ]
}

/// A request in the envelope the registry sends it in.
pub(crate) fn envelope(r: &NotificationRequest, now: DateTime<Utc>) -> serde_json::Value {
    let (_, json) = system_envelope(hongyan_domain::notify::ROUTING_KEY, now, r);
    serde_json::from_str(&json).unwrap()
}

impl Env {
    pub(crate) async fn send(&self, reqs: &[NotificationRequest]) {
        let envelopes: Vec<serde_json::Value> =
            reqs.iter().map(|r| envelope(r, morning())).collect();
        self.env.publish_all(&envelopes).await;
    }

    pub(crate) async fn wait_rows(&self, n: i64) {
        self.env
            .eventually(&format!("{n} notifications taken in"), || async {
                self.env
                    .scalar_i64("SELECT count(*) FROM notifications")
                    .await
                    == n
            })
            .await;
        self.env
            .eventually("the queue drained", || async {
                self.env.queue_depth(&self.env.names.notifier()).await == 0
            })
            .await;
    }

    pub(crate) async fn round(&self) -> usize {
        deliver::round(&self.n).await.unwrap()
    }

    pub(crate) async fn status(&self) -> Vec<(String, i32, String)> {
        sqlx::query_as("SELECT status, attempts, coalesce(last_error, '') FROM notifications ORDER BY created_at")
            .fetch_all(&self.env.pool)
            .await
            .unwrap()
    }

    pub(crate) async fn attempts(&self) -> Vec<(String, String, String, Option<String>)> {
        sqlx::query_as(
            "SELECT channel, provider, status, error_code FROM delivery_attempts ORDER BY id",
        )
        .fetch_all(&self.env.pool)
        .await
        .unwrap()
    }

    pub(crate) async fn announced(&self, kind: &str) -> Vec<serde_json::Value> {
        sqlx::query_scalar("SELECT payload FROM outbox WHERE routing_key = $1 ORDER BY id")
            .bind(kind)
            .fetch_all(&self.env.pool)
            .await
            .unwrap()
    }

    pub(crate) async fn finish(self) {
        self.stop.cancel();
        self.env.finish().await;
    }
}

const EV1: &str = "7d0c8a8e-5a1e-4f7e-9b8e-000000000001";
const EV2: &str = "7d0c8a8e-5a1e-4f7e-9b8e-000000000002";
const EV3: &str = "7d0c8a8e-5a1e-4f7e-9b8e-000000000003";

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
        // A system error may have sent it; with no receipt wait, the backoff alone decides.
        s.notifier.receipt_wait_secs = 0;
    })
    .await;
    e.send(&[request(EV1, "13911110001", &["sms"])]).await;
    e.wait_rows(1).await;
    let mut at = morning();
    for (attempt, wait) in [(1, 10), (2, 60), (3, 600)] {
        e.round().await;
        assert_eq!(fake.seen().len(), attempt);
        assert_eq!(e.round().await, 0, "not before its delay");
        at += chrono::Duration::seconds(wait);
        e.env.clock.set(at);
    }
    e.round().await;
    assert_eq!(
        fake.seen().len(),
        4,
        "bounded: the first try and three retries"
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
async fn an_sms_that_timed_out_waits_for_its_receipt_before_it_is_sent_again() {
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
    let (status, next): (String, DateTime<Utc>) =
        sqlx::query_as("SELECT status, next_attempt_at FROM notifications")
            .fetch_one(&e.env.pool)
            .await
            .unwrap();
    // It may have gone out: not the 10 s retry delay, but the receipt wait.
    let wait = chrono::Duration::seconds(e.n.settings.notifier.receipt_wait_secs as i64);
    assert_eq!((status.as_str(), next), ("pending", morning() + wait));
    e.env.clock.set(morning() + chrono::Duration::seconds(10));
    assert_eq!(e.round().await, 0, "not resent after the retry delay");
    assert_eq!(fake.seen().len(), 1);
    // No receipt came within the wait: it goes again, as attempt 2.
    fake.script(Script::Succeed);
    e.env.clock.set(morning() + wait);
    assert_eq!(e.round().await, 1);
    assert_eq!(fake.seen().len(), 2);
    let attempts = e.attempts().await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].2, "delivered");
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
    let e = start(move |s| {
        s.notifier.sms.provider = "tencent".into();
        s.notifier.sms.tencent.base_url = url;
        s.notifier.sms.tencent.secret_id = Some("tc-id".into());
        s.notifier.sms.tencent.secret_key = Some("tc-key".into());
        s.notifier
            .sms
            .templates
            .insert("checked_in_branch".into(), "100001".into());
    })
    .await;
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
