//! Heartbeats: each role's main loop (the registry's consumer, the notifier's delivery loop,
//! the scheduler's engine loop) writes `{redis.prefix}alive:{role}:{host}` with a TTL of a few
//! beats, and `hongyan health ROLE`, run in the same container, reads its own host's key. The
//! beat is written from inside the loop, never by a timer task of its own, so a loop that is
//! stuck stops beating even while the process and its other tasks live on.
//!
//! A role with more than one loop (the notifier: intake and delivery) beats from one of them
//! and has the others report through a [`Part`]: a beat names every part that is down, and a
//! role with a part down is not alive (`hongyan health` says which part).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use hongyan_domain::clock::Clock;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::config::RedisSettings;

/// How often a loop beats (at most; a busy loop does not write Redis on every turn).
pub const EVERY: Duration = Duration::from_secs(5);
/// How long a beat counts: six beats, so a Redis hiccup or a slow turn of the loop does not
/// mark a working role dead, while a stuck one is seen within half a minute.
pub const TTL: Duration = Duration::from_secs(30);
/// One write may take this long before the loop goes on without it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// The roles that beat (the api answers `/healthz` instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Registry,
    Notifier,
    Scheduler,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Registry => "registry",
            Role::Notifier => "notifier",
            Role::Scheduler => "scheduler",
        }
    }

    /// The role named on the command line, if it beats.
    pub fn parse(name: &str) -> Option<Self> {
        [Role::Registry, Role::Notifier, Role::Scheduler]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

/// The key of `role`'s heartbeat on `host`: the one place it is named.
pub fn key(prefix: &str, role: Role, host: &str) -> String {
    format!("{prefix}alive:{}:{host}", role.name())
}

/// This machine's (this container's) name: `HOSTNAME` if set, else the system's host name.
/// A role and `hongyan health` in one container agree on it.
pub fn this_host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| whoami::hostname().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// What a beat holds, for the operator reading `hongyan health`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Beat {
    pub pid: u32,
    /// The role's clock at the beat (RFC 3339).
    pub at: String,
    /// Set by a clean shutdown: the role stopped on purpose.
    #[serde(default)]
    pub stopped: bool,
    /// The role's parts that were down at the beat (e.g. `["intake"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub down: Vec<String>,
}

/// A part of a role that must be up for the role to be alive, beside the loop that beats: the
/// notifier's intake consumer, whose loop waits on the broker and so cannot beat itself. The
/// part says it is up once it consumes and down when it stops (a guard from [`Part::up`]).
#[derive(Clone, Debug)]
pub struct Part {
    name: &'static str,
    up: Arc<AtomicBool>,
}

impl Part {
    /// Marks the part up until the returned guard is dropped (the consumer stopped or failed).
    pub fn up(&self) -> PartUp {
        self.up.store(true, Ordering::Relaxed);
        PartUp(self.clone())
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

/// The part is up while this lives.
#[derive(Debug)]
pub struct PartUp(Part);

impl Drop for PartUp {
    fn drop(&mut self) {
        self.0.up.store(false, Ordering::Relaxed);
    }
}

/// A role's heartbeat writer, owned by its main loop.
pub struct Heartbeat {
    client: redis::Client,
    /// Connected on the first beat, so a role whose work needs no Redis (the scheduler) starts
    /// while Redis is away; its health says so until Redis is back.
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    key: String,
    role: Role,
    clock: Arc<dyn Clock>,
    next: std::sync::Mutex<Option<tokio::time::Instant>>,
    failing: AtomicBool,
    /// The parts that must be up too; registered once at start, read at every beat.
    parts: std::sync::Mutex<Vec<Part>>,
}

impl Heartbeat {
    /// The heartbeat of `role` on this host. Fails only on a `redis.url` that is not a URL.
    pub fn new(redis: &RedisSettings, role: Role, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::on_host(redis, role, &this_host(), clock)
    }

    /// The same on a named host (tests beat as another host).
    pub fn on_host(
        redis: &RedisSettings,
        role: Role,
        host: &str,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let client =
            redis::Client::open(redis.url.as_str()).context("redis.url is not a Redis URL")?;
        Ok(Self {
            client,
            conn: tokio::sync::Mutex::new(None),
            key: key(&redis.prefix, role, host),
            role,
            clock,
            next: std::sync::Mutex::new(None),
            failing: AtomicBool::new(false),
            parts: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// A part that must be up for the role to be alive; down until it says otherwise.
    pub fn part(&self, name: &'static str) -> Part {
        let part = Part {
            name,
            up: Arc::new(AtomicBool::new(false)),
        };
        self.parts.lock().expect("parts lock").push(part.clone());
        part
    }

    /// The names of the parts that are down now.
    fn parts_down(&self) -> Vec<String> {
        let parts = self.parts.lock().expect("parts lock");
        parts
            .iter()
            .filter(|p| !p.is_up())
            .map(|p| p.name.to_owned())
            .collect()
    }

    /// Beats if the last beat is [`EVERY`] old: call it on every turn of the loop. A failed
    /// write is logged (once until it works again) and never fails the loop: the role's work
    /// goes on, and its health check tells the operator.
    pub async fn beat(&self) {
        let now = tokio::time::Instant::now();
        {
            let mut next = self.next.lock().expect("heartbeat lock");
            if next.is_some_and(|n| now < n) {
                return;
            }
            *next = Some(now + EVERY);
        }
        self.write(false).await;
    }

    /// Awaits `fut` (the loop waiting for its next piece of work), beating while it waits, so
    /// an idle loop keeps beating and a loop stuck elsewhere does not.
    pub async fn beating<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        loop {
            self.beat().await;
            let due = self
                .next
                .lock()
                .expect("heartbeat lock")
                .unwrap_or_else(tokio::time::Instant::now);
            tokio::select! {
                out = &mut fut => return out,
                _ = tokio::time::sleep_until(due) => {}
            }
        }
    }

    /// Marks the role stopped on this host (a clean shutdown), so its health fails at once
    /// instead of when the last beat runs out.
    pub async fn stopped(&self) {
        self.write(true).await;
    }

    async fn write(&self, stopped: bool) {
        let beat = Beat {
            pid: std::process::id(),
            at: self.clock.now().to_rfc3339(),
            stopped,
            down: self.parts_down(),
        };
        let value = serde_json::to_string(&beat).expect("a beat serializes");
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            let mut guard = self.conn.lock().await;
            if guard.is_none() {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(WRITE_TIMEOUT))
                    .set_response_timeout(Some(WRITE_TIMEOUT));
                *guard =
                    Some(ConnectionManager::new_with_config(self.client.clone(), config).await?);
            }
            let conn = guard.as_mut().expect("connected above");
            conn.set_ex::<_, _, ()>(&self.key, value, TTL.as_secs())
                .await
        })
        .await;
        let error = match written {
            Ok(Ok(())) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(role = self.role.name(), key = %self.key, "Heartbeat written again.");
                }
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("Redis did not answer within {} s", WRITE_TIMEOUT.as_secs()),
        };
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                role = self.role.name(),
                key = %self.key,
                error,
                "Could not write the heartbeat; `hongyan health` reports this role dead until Redis answers again."
            );
        }
    }
}

/// What `hongyan health ROLE` finds in its own host's key.
#[derive(Debug)]
pub enum Liveness {
    /// Beating: the last beat is `age` old.
    Alive { age: Duration, beat: Beat },
    /// Shut down cleanly at `at` (the role's clock).
    Stopped { at: String },
    /// Its main loop beats, but these parts of it are down (e.g. the notifier's intake).
    PartsDown { parts: Vec<String>, beat: Beat },
    /// No beat for at least [`TTL`], or never.
    Missing,
}

/// Reads `role`'s heartbeat on `host`.
pub async fn check(redis: &RedisSettings, role: Role, host: &str) -> anyhow::Result<Liveness> {
    let client = redis::Client::open(redis.url.as_str()).context("redis.url is not a Redis URL")?;
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .context("Could not connect to Redis; start it (scripts/services) or fix redis.url")?;
    let key = key(&redis.prefix, role, host);
    let (value, pttl): (Option<String>, i64) = redis::pipe()
        .get(&key)
        .pttl(&key)
        .query_async(&mut c)
        .await?;
    let Some(value) = value else {
        return Ok(Liveness::Missing);
    };
    let beat: Beat = serde_json::from_str(&value)
        .with_context(|| format!("{key} holds {value:?}, not a heartbeat"))?;
    if beat.stopped {
        return Ok(Liveness::Stopped { at: beat.at });
    }
    if !beat.down.is_empty() {
        return Ok(Liveness::PartsDown {
            parts: beat.down.clone(),
            beat,
        });
    }
    let left = Duration::from_millis(u64::try_from(pttl).unwrap_or(0));
    Ok(Liveness::Alive {
        age: TTL.saturating_sub(left),
        beat,
    })
}

impl Liveness {
    /// A line for `hongyan health`: what is wrong and what to do, or how fresh the beat is.
    pub fn describe(&self, role: Role, host: &str) -> String {
        let role = role.name();
        match self {
            Liveness::Alive { age, beat } => format!(
                "{role}: heartbeat on this host ({host}) {} s ago (pid {})",
                age.as_secs(),
                beat.pid
            ),
            Liveness::PartsDown { parts, beat } => format!(
                "{role}: its main loop beats on this host ({host}, pid {}), but its {} is not running (at {}); see its log for why, e.g. RabbitMQ away",
                beat.pid,
                parts.join(" and "),
                beat.at
            ),
            Liveness::Stopped { at } => format!(
                "{role}: no heartbeat from the {role} on this host ({host}) since it shut down at {at}; start it again, or see its log for why it stopped"
            ),
            Liveness::Missing => format!(
                "{role}: no heartbeat from the {role} on this host ({host}) for {} s; it is not running or its loop is stuck: see its log",
                TTL.as_secs()
            ),
        }
    }

    pub fn is_alive(&self) -> bool {
        matches!(self, Liveness::Alive { .. })
    }
}
