//! The notifier end to end (DESIGN.md section 5), against the real RabbitMQ, PostgreSQL and
//! Redis and the providers' fakes: requests come in through the queue, and the delivery loop
//! is driven round by round under a set clock, so quiet hours and backoff take no real time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hongyan_domain::Phone;
use hongyan_domain::ids::{EventId, MemberId};
use hongyan_domain::notify::{NotificationRequest, Recipient, Role};
use hongyan_domain::outgoing::system_envelope;
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

/// SMS through the Tencent fake at `url` (secret id `tc-id`, key `tc-key`), with the template
/// id the tests' requests need.
pub(crate) fn use_tencent(s: &mut hongyan_adapters::Settings, url: String) {
    s.notifier.sms.provider = "tencent".into();
    s.notifier.sms.tencent.base_url = url;
    s.notifier.sms.tencent.secret_id = Some("tc-id".into());
    s.notifier.sms.tencent.secret_key = Some("tc-key".into());
    s.notifier
        .sms
        .templates
        .insert("checked_in_branch".into(), "100001".into());
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

mod delivery;
mod digest;
mod logs_and_start;
mod timed_out;
