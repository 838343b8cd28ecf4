//! hongyan's roles as separate processes of the real binary (`target/debug/hongyan`), pointed
//! at the test's own servers and SMS gateway by `HONGYAN__…` variables, each logging to a file
//! in the servers' directory.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::servers::Servers;
use crate::sms;

/// The provider template code of each message template the workload causes.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("outbound_member", "SMS_900001"),
    ("outbound_branch", "SMS_900002"),
    ("outbound_inflow", "SMS_900003"),
    ("checked_in_branch", "SMS_900004"),
    ("unreported_departure_branch", "SMS_900005"),
    ("home_visit_pair", "SMS_900006"),
];

pub fn template_code(name: &str) -> &'static str {
    TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .unwrap_or_else(|| panic!("no template code for {name}"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("hongyan");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p hongyan; scripts/test does)",
        bin.display()
    );
    bin
}

/// The variables every role of a case gets: the test's servers, short retry delays, no quiet
/// hours (the suite runs at any hour), SMS through the gateway with limits that do not get in
/// the way of 6,000 SMS to a few branch contacts.
pub fn base_env(servers: &Servers, gateway: &str) -> Vec<(String, String)> {
    let config = repo().join("config");
    let mut v: Vec<(String, String)> = [
        ("HONGYAN_CONFIG_DIR", config.display().to_string()),
        ("HONGYAN__AMQP__URL", servers.rabbit.url()),
        ("HONGYAN__AMQP__RETRY_DELAYS_MS", "500,1000,2000".into()),
        ("HONGYAN__DATABASE__URL", servers.pg.url("hongyan")),
        ("HONGYAN__REDIS__URL", servers.redis.url()),
        ("HONGYAN__OUTBOX__POLL_INTERVAL_MS", "100".into()),
        ("HONGYAN__SHUTDOWN__DEADLINE_SECS", "15".into()),
        ("HONGYAN__POLICY__SMS_QUIET_HOURS", String::new()),
        (
            "HONGYAN__NOTIFIER__TEMPLATES_DIR",
            config.join("templates").display().to_string(),
        ),
        ("HONGYAN__NOTIFIER__SMS__PROVIDER", "aliyun".into()),
        ("HONGYAN__NOTIFIER__SMS__ALIYUN__BASE_URL", gateway.into()),
        (
            "HONGYAN__NOTIFIER__SMS__ALIYUN__ACCESS_KEY_ID",
            sms::KEY_ID.into(),
        ),
        (
            "HONGYAN__NOTIFIER__SMS__ALIYUN__ACCESS_KEY_SECRET",
            sms::SECRET.into(),
        ),
        ("HONGYAN__NOTIFIER__SMS__ALIYUN__SIGN_NAME", "鸿雁".into()),
        ("HONGYAN__NOTIFIER__LIMITS__PHONE_PER_DAY", "1000000".into()),
        ("HONGYAN__NOTIFIER__LIMITS__SMS_PER_SECOND", "5000".into()),
        ("HONGYAN__NOTIFIER__RETRY_DELAYS_SECS", "1,2,3,5,8".into()),
        ("HONGYAN__NOTIFIER__SEND_TIMEOUT_MS", "3000".into()),
        ("HONGYAN__NOTIFIER__RECEIPT_WAIT_SECS", "2".into()),
        ("HONGYAN__NOTIFIER__CLAIM_SECS", "10".into()),
        // The suite counts one SMS per notice: the org contacts' digests (which gather notices
        // over ten minutes) are off here, and have their own crash tests (notifier::digest).
        ("HONGYAN__NOTIFIER__DIGEST_WINDOW_SECS", "0".into()),
        (
            "HONGYAN__LOG__FILTER",
            std::env::var("HONGYAN_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (name, code) in TEMPLATES {
        v.push((
            format!("HONGYAN__NOTIFIER__SMS__TEMPLATES__{}", name.to_uppercase()),
            (*code).into(),
        ));
    }
    v
}

/// One running role.
pub struct Role {
    pub name: &'static str,
    child: tokio::process::Child,
}

impl Role {
    /// Starts `hongyan <name>` with `env`, its output appended to `<dir>/<name>.log`.
    pub fn start(name: &'static str, env: &[(String, String)], dir: &Path) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{name}.log")))?;
        let child = tokio::process::Command::new(binary())
            .arg(name)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("hongyan {name} starts"))?;
        Ok(Self { name, child })
    }

    /// `kill -9`: no goodbye to the broker, the database or anyone.
    pub async fn kill9(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then waits for the exit: how it ended and how long it took.
    pub async fn terminate(
        &mut self,
        patience: Duration,
    ) -> anyhow::Result<(ExitStatus, Duration)> {
        let pid = self.child.id().context("the role is still running")?;
        let started = Instant::now();
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        let status = tokio::time::timeout(patience, self.child.wait())
            .await
            .with_context(|| {
                format!("{} did not exit within {patience:?} of SIGTERM", self.name)
            })??;
        Ok((status, started.elapsed()))
    }
}
