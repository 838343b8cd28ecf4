//! Reading the layers, refusing what does not belong, and the checks that need several keys.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::Settings;
use super::secrets::{SECRET_KEYS, variable};

impl Settings {
    /// Loads from `dir` (usually `config/`), the environment's file, and the variables.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let files = Self::files(dir);
        refuse_secrets_in_files(&files)?;
        let mut builder = config::Config::builder();
        for f in &files {
            builder = builder.add_source(config::File::from(f.as_path()).required(true));
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
        let settings: Settings = built.try_deserialize().map_err(|e| {
            anyhow::anyhow!(
                "The configuration does not fit: {e}. Fix that key in {} or its HONGYAN__SECTION__KEY variable (an unknown key is refused: check its spelling against config/default.toml).",
                files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" or ")
            )
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// `default.toml`, then `$HONGYAN_ENV.toml` when that is set and the file exists.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut files = vec![dir.join("default.toml")];
        if let Some(env) = std::env::var("HONGYAN_ENV").ok().filter(|e| !e.is_empty()) {
            let f = dir.join(format!("{env}.toml"));
            if f.exists() {
                files.push(f);
            }
        }
        files
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
        scheme(
            "api.public_url",
            &self.api.public_url,
            &["http://", "https://"],
        )?;
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
        if !(1..=5000).contains(&self.notifier.intake_batch_size)
            || usize::from(self.amqp.prefetch) < self.notifier.intake_batch_size
        {
            bail!(
                "notifier.intake_batch_size = {} must be between 1 and 5000 and at most amqp.prefetch = {}: lower the batch or raise the prefetch",
                self.notifier.intake_batch_size,
                self.amqp.prefetch
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
        self.validate_sms()?;
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
        if self.scheduler.batch_size == 0 {
            bail!("scheduler.batch_size must be above 0");
        }
        if self.api.link_valid_days == 0 || self.api.body_limit_bytes == 0 {
            bail!("api.link_valid_days and api.body_limit_bytes must be above 0");
        }
        self.validate_policy()
    }

    fn validate_sms(&self) -> anyhow::Result<()> {
        let sms = &self.notifier.sms;
        let needs = |keys: [&str; 2], set: [bool; 2]| -> anyhow::Result<()> {
            if set.iter().all(|s| *s) {
                return Ok(());
            }
            bail!(
                "notifier.sms.provider = {:?} needs {} and {} in the environment",
                sms.provider,
                variable(keys[0]),
                variable(keys[1])
            )
        };
        match sms.provider.as_str() {
            "console" => Ok(()),
            "aliyun" => needs(
                [
                    "notifier.sms.aliyun.access_key_id",
                    "notifier.sms.aliyun.access_key_secret",
                ],
                [
                    sms.aliyun.access_key_id.is_some(),
                    sms.aliyun.access_key_secret.is_some(),
                ],
            ),
            "tencent" => needs(
                [
                    "notifier.sms.tencent.secret_id",
                    "notifier.sms.tencent.secret_key",
                ],
                [
                    sms.tencent.secret_id.is_some(),
                    sms.tencent.secret_key.is_some(),
                ],
            ),
            other => bail!("notifier.sms.provider = {other:?} must be console, aliyun or tencent"),
        }
    }

    fn validate_policy(&self) -> anyhow::Result<()> {
        let p = &self.policy;
        if !(p.stale_after_months >= 1
            && p.stale_after_months <= p.branch_list_after_months
            && p.branch_list_after_months <= p.lost_contact_after_months)
        {
            bail!(
                "policy: the staleness ladder must climb: 1 <= stale_after_months ({}) <= branch_list_after_months ({}) <= lost_contact_after_months ({})",
                p.stale_after_months,
                p.branch_list_after_months,
                p.lost_contact_after_months
            );
        }
        if !(0.0..=1.0).contains(&p.spot_check_share) || p.spot_check_min > p.spot_check_max {
            bail!(
                "policy: spot_check_share ({}) must be between 0 and 1, and spot_check_min ({}) at most spot_check_max ({})",
                p.spot_check_share,
                p.spot_check_min,
                p.spot_check_max
            );
        }
        p.return_peaks.dates()?;
        Ok(())
    }
}

/// Refuses a configuration file that sets a secret, naming the file, the key and the variable
/// to use instead.
fn refuse_secrets_in_files(files: &[PathBuf]) -> anyhow::Result<()> {
    for f in files {
        let cfg = config::Config::builder()
            .add_source(config::File::from(f.as_path()).required(true))
            .build()
            .with_context(|| format!("Could not read {}", f.display()))?;
        for key in SECRET_KEYS {
            if cfg.get::<config::Value>(key).is_ok() {
                bail!(
                    "{} sets {key}, a secret: secrets come from the environment only. Remove it from the file and set {} instead.",
                    f.display(),
                    variable(key)
                );
            }
        }
    }
    Ok(())
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

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
    }

    /// A config directory holding the shipped defaults with `from` replaced by `to`.
    fn edited_defaults(from: &str, to: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let text = std::fs::read_to_string(shipped().join("default.toml")).unwrap();
        assert!(text.contains(from), "default.toml holds {from:?}");
        std::fs::write(dir.path().join("default.toml"), text.replacen(from, to, 1)).unwrap();
        let p = dir.path().to_owned();
        (dir, p)
    }

    mod tempdir {
        /// A directory removed when dropped.
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let p = std::env::temp_dir().join(format!("hongyan-cfg-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

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
        let s = Settings::load(&shipped()).unwrap();
        assert_eq!(s.amqp.url, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(s.database.url, "postgres://postgres@127.0.0.1:5432/hongyan");
        assert_eq!(s.redis.url, "redis://127.0.0.1:6379");
        assert_eq!(s.api.listen, "127.0.0.1:8080");
        assert_eq!(s.api.link_valid_days, 45);
        assert_eq!(s.policy.certificate_max_months, 6);
        assert_eq!(s.schedules.monthly_reminder, "0 0 9 1 * *");
        assert_eq!(s.schedules.quarterly_dispatch, "0 30 9 1 Jan,Apr,Jul,Oct *");
        assert_eq!(s.policy.return_peaks.dates().unwrap().len(), 6);
    }

    #[test]
    fn an_unknown_key_stops_the_start_and_is_named() {
        let (_d, dir) = edited_defaults("robot_per_minute", "robot_per_minuet");
        let err = format!("{:#}", Settings::load(&dir).unwrap_err());
        assert!(err.contains("robot_per_minuet"), "{err}");
        let (_d, dir) = edited_defaults("monthly_reminder =", "monthly_remindr =");
        let err = format!("{:#}", Settings::load(&dir).unwrap_err());
        assert!(err.contains("monthly_remindr"), "{err}");
        let (_d, dir) = edited_defaults("[shutdown]", "[nonsense]\nx = 1\n\n[shutdown]");
        let err = format!("{:#}", Settings::load(&dir).unwrap_err());
        assert!(err.contains("nonsense"), "{err}");
    }

    #[test]
    fn a_secret_in_a_file_is_refused_with_the_variable_to_use() {
        let (_d, dir) = edited_defaults("[api]\n", "[api]\nlink_secret = \"in-the-repo\"\n");
        let err = format!("{:#}", Settings::load(&dir).unwrap_err());
        assert!(
            err.contains("api.link_secret") && err.contains("HONGYAN__API__LINK_SECRET"),
            "{err}"
        );
        assert!(
            !err.contains("in-the-repo"),
            "the secret itself is not echoed: {err}"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let mut s = Settings::load(&shipped()).unwrap();
        s.api.link_secret = Some("hunter2-link".into());
        s.notifier.sms.aliyun.access_key_secret = Some("hunter2-aliyun".into());
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn a_return_peak_in_the_wrong_year_is_named() {
        let (_d, dir) = edited_defaults("2027 = [\"2027-02-06\"", "2027 = [\"2026-02-06\"");
        let err = format!("{:#}", Settings::load(&dir).unwrap_err());
        assert!(err.contains("policy.return_peaks.2027"), "{err}");
    }
}
