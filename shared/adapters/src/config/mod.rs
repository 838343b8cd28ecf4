//! Layered configuration (DESIGN.md section 10): `config/default.toml`, then
//! `config/$HONGYAN_ENV.toml`, then `HONGYAN__SECTION__KEY` environment variables. Typed and
//! checked at start, with a message that names the bad key: an unknown key is refused (a
//! misspelt setting must not be silently ignored), and so is a secret written in a file.

mod load;
mod policy;
mod secrets;

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;

pub use load::redact;
pub use policy::{PolicySettings, ReturnPeaks, SchedulesSettings};
pub use secrets::{SECRET_KEYS, expose};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub amqp: AmqpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub api: ApiSettings,
    pub log: LogSettings,
    pub shutdown: ShutdownSettings,
    pub registry: RegistrySettings,
    pub outbox: OutboxSettings,
    pub notifier: NotifierSettings,
    pub scheduler: SchedulerSettings,
    pub policy: PolicySettings,
    pub schedules: SchedulesSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpSettings {
    /// The broker, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub url: String,
    /// Put before every exchange and queue name; empty in production, unique per test.
    pub prefix: String,
    /// Deliveries a consumer may hold unacknowledged; at least `registry.batch_size`.
    pub prefetch: u16,
    /// Delays of the retry tiers, in milliseconds: a message deferred for the n-th time waits
    /// the n-th delay; after the last one it is parked.
    pub retry_delays_ms: Vec<u64>,
    /// When set, queues delete themselves after this long unused (tests only).
    #[serde(default)]
    pub queue_expires_ms: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: String,
    /// Put before every key; `hongyan:` in production, unique per test.
    pub prefix: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// The HTTP address the API listens on.
    pub listen: String,
    /// Base of links sent to members.
    pub public_url: String,
    /// The HMAC key of member links (DESIGN.md section 7); from `HONGYAN__API__LINK_SECRET`
    /// only. `scripts/run` makes a local one when it is unset.
    #[serde(default)]
    pub link_secret: Option<SecretString>,
    /// How long a member link works, in days.
    pub link_valid_days: u32,
    /// The largest request body taken, in bytes; a larger one is answered 413.
    pub body_limit_bytes: usize,
    /// Requests per minute one API key may make; more are answered 429 with `Retry-After`.
    pub requests_per_minute: u32,
    /// A request that takes longer is answered 503.
    pub request_timeout_secs: u64,
    /// How long the console's 工作台 and 分布 figures of an org are reused, in seconds: they
    /// count a whole county's open records, which takes a few hundred milliseconds; the member
    /// lists behind them are read live. 0 computes them on every request.
    pub console_figures_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` for people, `json` for log collectors.
    pub format: String,
    /// A `tracing` filter, e.g. `info,hongyan_registry=debug`; `RUST_LOG` wins when set.
    pub filter: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    /// How long in-flight work may take to finish after SIGTERM.
    pub deadline_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Deliveries applied in one transaction.
    pub batch_size: usize,
    /// How long a batch waits for more deliveries once it has one.
    pub batch_linger_ms: u64,
    /// Transient failures (database or Redis away) are retried in place this many times, with
    /// growing delays, before the batch goes to the retry tiers.
    pub transient_attempts: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    pub batch_size: i64,
    /// The relay also polls this often, in case a notification was missed.
    pub poll_interval_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierSettings {
    /// Where the message templates are (`config/templates`).
    pub templates_dir: String,
    /// Notification requests taken from the queue into the table in one transaction.
    pub intake_batch_size: usize,
    /// Notifications claimed per round of the delivery loop.
    pub batch_size: i64,
    /// Sends in flight at once per process.
    pub concurrency: usize,
    /// A claimed notification whose worker vanished is taken again after this long.
    pub claim_secs: u64,
    /// Every HTTP send gives up after this long (and counts as "retry later").
    pub send_timeout_ms: u64,
    /// Delays between attempts after a transient failure, in seconds (DESIGN.md section 5:
    /// e.g. 10 s, 1 min, 10 min, 1 h); after the last, the notification fails.
    pub retry_delays_secs: Vec<u64>,
    /// A broadcast to an org the ledger does not hold yet looks again after each of these
    /// delays, in seconds (its `org.upserted` may still be being applied), then fails.
    pub unknown_org_looks_secs: Vec<u64>,
    /// A provider that answers "paused" (quota, balance, credentials) is left alone this long.
    pub pause_secs: u64,
    /// An SMS that may have reached the provider without an answer (its worker died, it timed
    /// out, the gateway answered 5xx) waits this long for the provider's receipt; then the
    /// provider is asked, and it is sent again only if the provider has no record of it (SMS
    /// sends are not idempotent at the provider).
    pub receipt_wait_secs: u64,
    /// Digests for org contacts (DESIGN.md section 5): notices that events cause to an org's
    /// contact go out at most once per this many seconds per contact (org and phone); those
    /// that come meanwhile are gathered into one SMS with the count, the names and a link.
    pub digest_window_secs: u64,
    /// Where SMS providers post delivery receipts
    /// (`/v1/receipts/{receipts_token}/aliyun` and `.../tencent`); empty: not served.
    pub receipts_listen: String,
    /// The secret path segment of the receipt URLs (DESIGN.md section 5: neither provider
    /// signs its receipts); from `HONGYAN__NOTIFIER__RECEIPTS_TOKEN` only.
    #[serde(default)]
    pub receipts_token: Option<SecretString>,
    pub limits: NotifierLimits,
    pub sms: SmsSettings,
    /// The generic one-to-one webhook, for members whose channels include `webhook`.
    pub webhook: WebhookSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierLimits {
    /// Per group robot (WeCom and DingTalk document 20 a minute).
    pub robot_per_minute: u32,
    /// Per SMS provider, across replicas.
    pub sms_per_second: u32,
    /// Per phone number and day (Aliyun's default is 50 per signature and template).
    pub phone_per_day: u32,
    /// Per phone number and day, for org contacts' summaries (templates with `summary =
    /// true`): their own budget, so member-level messages never push a summary to the next
    /// day. With `phone_per_day` it stays within the provider's per-number limit.
    pub summaries_per_phone_per_day: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// `console`, `aliyun` or `tencent`.
    pub provider: String,
    pub aliyun: AliyunSettings,
    pub tencent: TencentSettings,
    /// Provider template code per message template.
    #[serde(default)]
    pub templates: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliyunSettings {
    pub base_url: String,
    pub sign_name: String,
    /// From `HONGYAN__NOTIFIER__SMS__ALIYUN__ACCESS_KEY_ID` only.
    #[serde(default)]
    pub access_key_id: Option<SecretString>,
    /// From `HONGYAN__NOTIFIER__SMS__ALIYUN__ACCESS_KEY_SECRET` only.
    #[serde(default)]
    pub access_key_secret: Option<SecretString>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TencentSettings {
    pub base_url: String,
    pub sdk_app_id: String,
    pub sign_name: String,
    pub region: String,
    /// From `HONGYAN__NOTIFIER__SMS__TENCENT__SECRET_ID` only.
    #[serde(default)]
    pub secret_id: Option<SecretString>,
    /// From `HONGYAN__NOTIFIER__SMS__TENCENT__SECRET_KEY` only.
    #[serde(default)]
    pub secret_key: Option<SecretString>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Empty: no generic webhook; a member whose channels name it falls back to the next.
    pub url: String,
    /// The HMAC key shared with the receiver; from `HONGYAN__NOTIFIER__WEBHOOK__SECRET` only.
    #[serde(default)]
    pub secret: Option<SecretString>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    /// Rows a firing plans and writes to the outbox per transaction, streamed from one query.
    pub batch_size: usize,
}
