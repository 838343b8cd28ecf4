//! Layered configuration (DESIGN.md section 10): `config/default.toml`, then
//! `config/$HONGYAN_ENV.toml`, then `HONGYAN__SECTION__KEY` environment variables. Typed and
//! checked at start, with a message that names the bad key.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
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
    pub policy: PolicySettings,
}

#[derive(Clone, Debug, Deserialize)]
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
    pub queue_expires_ms: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    /// Put before every key; `hongyan:` in production, unique per test.
    pub prefix: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ApiSettings {
    pub listen: String,
    /// Base of links sent to members.
    pub public_url: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    /// `pretty` for people, `json` for log collectors.
    pub format: String,
    /// A `tracing` filter, e.g. `info,hongyan_registry=debug`; `RUST_LOG` wins when set.
    pub filter: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ShutdownSettings {
    /// How long in-flight work may take to finish after SIGTERM.
    pub deadline_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RegistrySettings {
    /// Consumers per process, each with its own channel and transaction: while one commits,
    /// another applies.
    pub consumers: usize,
    /// Deliveries applied in one transaction.
    pub batch_size: usize,
    /// How long a batch waits for more deliveries once it has one.
    pub batch_linger_ms: u64,
    /// Transient failures (database or Redis away) are retried in place this many times, with
    /// growing delays, before the batch goes to the retry tiers.
    pub transient_attempts: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct OutboxSettings {
    pub batch_size: i64,
    /// The relay also polls this often, in case a notification was missed.
    pub poll_interval_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct NotifierSettings {
    /// Where the message templates are (`config/templates`).
    pub templates_dir: String,
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
    /// A provider that answers "paused" (quota, balance, credentials) is left alone this long.
    pub pause_secs: u64,
    /// An SMS whose worker died mid-send waits this long for the provider's receipt before
    /// it is sent again.
    pub receipt_wait_secs: u64,
    /// Where SMS providers post delivery receipts (`/v1/receipts/aliyun`, `/v1/receipts/tencent`);
    /// empty: not served.
    pub receipts_listen: String,
    pub limits: NotifierLimits,
    pub sms: SmsSettings,
    /// The generic one-to-one webhook, for members whose channels include `webhook`.
    pub webhook: WebhookSettings,
}

#[derive(Clone, Debug, Deserialize)]
pub struct NotifierLimits {
    /// Per group robot (WeCom and DingTalk document 20 a minute).
    pub robot_per_minute: u32,
    /// Per SMS provider, across replicas.
    pub sms_per_second: u32,
    /// Per phone number and day (Aliyun's default is 50 per signature and template).
    pub phone_per_day: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SmsSettings {
    /// `console`, `aliyun` or `tencent`.
    pub provider: String,
    pub aliyun: AliyunSettings,
    pub tencent: TencentSettings,
    /// Provider template code per message template.
    #[serde(default)]
    pub templates: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AliyunSettings {
    pub base_url: String,
    pub sign_name: String,
    /// From `HONGYAN__NOTIFIER__SMS__ALIYUN__ACCESS_KEY_ID` only.
    pub access_key_id: Option<String>,
    pub access_key_secret: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TencentSettings {
    pub base_url: String,
    pub sdk_app_id: String,
    pub sign_name: String,
    pub region: String,
    /// From `HONGYAN__NOTIFIER__SMS__TENCENT__SECRET_ID` only.
    pub secret_id: Option<String>,
    pub secret_key: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WebhookSettings {
    /// Empty: no generic webhook; a member whose channels name it falls back to the next.
    pub url: String,
    pub secret: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PolicySettings {
    /// Activity certificate only for absences of this many months or fewer (应转尽转).
    pub certificate_max_months: u32,
    /// When SMS is held, Asia/Shanghai (`21:00-08:00`); empty turns it off.
    pub sms_quiet_hours: String,
}

impl Settings {
    /// Loads from `dir` (usually `config/`), the environment's file, and the variables.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let env = std::env::var("HONGYAN_ENV").ok();
        let mut builder = config::Config::builder()
            .add_source(config::File::from(dir.join("default.toml")).required(true));
        if let Some(env) = env.as_deref().filter(|e| !e.is_empty()) {
            builder = builder
                .add_source(config::File::from(dir.join(format!("{env}.toml"))).required(false));
        }
        let built = builder
            .add_source(
                config::Environment::with_prefix("HONGYAN")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("amqp.retry_delays_ms")
                    .with_list_parse_key("notifier.retry_delays_secs"),
            )
            .build()
            .with_context(|| format!("Could not read the configuration in {}", dir.display()))?;
        let settings: Settings = built.try_deserialize().context(
            "The configuration does not fit: check the key named above in config/*.toml or its HONGYAN__ variable",
        )?;
        settings.validate()?;
        Ok(settings)
    }

    /// The config directory: `HONGYAN_CONFIG_DIR`, else `config` under the working directory.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("HONGYAN_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"))
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        fn scheme(key: &str, url: &str, schemes: &[&str]) -> anyhow::Result<()> {
            if !schemes.iter().any(|s| url.starts_with(s)) {
                bail!(
                    "{key} = {:?} must start with {}",
                    redact(url),
                    schemes.join(" or ")
                );
            }
            Ok(())
        }
        scheme("amqp.url", &self.amqp.url, &["amqp://", "amqps://"])?;
        scheme(
            "database.url",
            &self.database.url,
            &["postgres://", "postgresql://"],
        )?;
        scheme("redis.url", &self.redis.url, &["redis://", "rediss://"])?;
        if !(1..=5000).contains(&self.registry.batch_size) {
            bail!(
                "registry.batch_size = {} must be between 1 and 5000",
                self.registry.batch_size
            );
        }
        if usize::from(self.amqp.prefetch) < self.registry.batch_size {
            bail!(
                "amqp.prefetch = {} must be at least registry.batch_size = {}, or batches never fill",
                self.amqp.prefetch,
                self.registry.batch_size
            );
        }
        if self.amqp.retry_delays_ms.is_empty() || self.amqp.retry_delays_ms.contains(&0) {
            bail!("amqp.retry_delays_ms must list at least one delay, each above 0 ms");
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            bail!(
                "log.format = {:?} must be \"pretty\" or \"json\"",
                self.log.format
            );
        }
        let sms = self.notifier.sms.provider.as_str();
        if !matches!(sms, "console" | "aliyun" | "tencent") {
            bail!("notifier.sms.provider = {sms:?} must be console, aliyun or tencent");
        }
        if sms == "aliyun"
            && (self.notifier.sms.aliyun.access_key_id.is_none()
                || self.notifier.sms.aliyun.access_key_secret.is_none())
        {
            bail!(
                "notifier.sms.provider = \"aliyun\" needs HONGYAN__NOTIFIER__SMS__ALIYUN__ACCESS_KEY_ID and ..._ACCESS_KEY_SECRET in the environment"
            );
        }
        if sms == "tencent"
            && (self.notifier.sms.tencent.secret_id.is_none()
                || self.notifier.sms.tencent.secret_key.is_none())
        {
            bail!(
                "notifier.sms.provider = \"tencent\" needs HONGYAN__NOTIFIER__SMS__TENCENT__SECRET_ID and ..._SECRET_KEY in the environment"
            );
        }
        if self.notifier.retry_delays_secs.is_empty() {
            bail!("notifier.retry_delays_secs must list at least one delay");
        }
        if self.notifier.concurrency == 0 || self.notifier.batch_size <= 0 {
            bail!("notifier.concurrency and notifier.batch_size must be above 0");
        }
        if self.database.max_connections < 2 {
            bail!(
                "database.max_connections must be at least 2 (the consumer and the outbox relay each hold one)"
            );
        }
        Ok(())
    }
}

/// A URL with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact("amqp://guest:secret@host:5672/%2f"),
            "amqp://guest:***@host:5672/%2f"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn the_shipped_defaults_load_and_validate() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let s = Settings::load(&dir).unwrap();
        assert_eq!(s.amqp.url, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(s.database.url, "postgres://postgres@127.0.0.1:5432/hongyan");
        assert_eq!(s.redis.url, "redis://127.0.0.1:6379");
        assert_eq!(s.api.listen, "127.0.0.1:8080");
        assert_eq!(s.policy.certificate_max_months, 6);
    }
}
