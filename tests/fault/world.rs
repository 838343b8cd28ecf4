//! One case's world: its own servers, the SMS gateway, the registry and the notifier as
//! processes, the test's producer, and what the case watches (events applied, SMS taken)
//! while it injects its fault.

use std::time::{Duration, Instant};

use hongyan_adapters::config::{DatabaseSettings, RedisSettings};
use hongyan_adapters::directory::Directory;
use hongyan_adapters::store;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use sqlx::PgPool;

use crate::producer::{self, Producer};
use crate::roles::{self, Role};
use crate::servers::{Servers, wait_until};
use crate::sms::Gateway;
use crate::workload::Workload;

/// Members in a case: with their events, a little over 20,000 registration events.
pub const MEMBERS: usize = 2_020;
/// How long a case may take to settle after its fault.
const SETTLE: Duration = Duration::from_secs(150);

pub struct World {
    pub case: &'static str,
    pub started: Instant,
    pub work: Workload,
    pub gateway: Gateway,
    pub env: Vec<(String, String)>,
    pub registry: Role,
    pub notifier: Role,
    pub pool: PgPool,
    pub producer: Producer,
    /// Bad events the case published, which must be parked (and nothing else).
    pub malformed: usize,
    /// What the case adds to its figures line (e.g. how long a SIGTERM took).
    pub note: String,
    // Dropped last: the roles and the pool go before the servers stop.
    pub servers: Servers,
    /// This case's turn: under `cargo test` the cases share one process, and each one loads
    /// the machine enough on its own (under nextest each case is its own process and the
    /// test group `fault` runs one at a time).
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl World {
    /// Starts everything with the base settings and `tune` on top, waits until both roles
    /// take from their queues, and applies the org tree.
    pub async fn start(case: &'static str, tune: &[(&str, &str)]) -> anyhow::Result<Self> {
        let turn = ONE_AT_A_TIME.lock().await;
        let started = Instant::now();
        let servers = Servers::start().await?;
        let db = DatabaseSettings {
            url: servers.pg.url("hongyan"),
            max_connections: 4,
        };
        store::migrate(&db).await?;
        let pool = store::pool(&db)?;
        let gateway = Gateway::start().await;
        let mut env = roles::base_env(&servers, &gateway.base_url);
        env.extend(tune.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let registry = Role::start("registry", &env, servers.dir())?;
        let notifier = Role::start("notifier", &env, servers.dir())?;
        let mut me = Self {
            case,
            started,
            work: Workload::new(MEMBERS),
            producer: Producer::new(servers.rabbit.url()),
            gateway,
            env,
            registry,
            notifier,
            pool,
            malformed: 0,
            note: String::new(),
            servers,
            _turn: turn,
        };
        me.wait_consuming().await?;
        let orgs: Vec<_> = me.work.orgs.iter().map(producer::outgoing).collect();
        me.producer.send(&orgs).await?;
        me.wait_applied(orgs.len()).await?;
        eprintln!(
            "[{case}] servers and roles up, org tree applied in {:.1} s",
            me.started.elapsed().as_secs_f64()
        );
        Ok(me)
    }

    /// Waits until the registry and the notifier each consume from their queue.
    pub async fn wait_consuming(&self) -> anyhow::Result<()> {
        let names = hongyan_adapters::amqp::Names::new("");
        for queue in [names.registry(), names.notifier()] {
            let url = self.servers.rabbit.url();
            wait_until(&format!("a consumer on {queue}"), SETTLE, || {
                consumers(url.clone(), queue.clone())
            })
            .await?;
        }
        Ok(())
    }

    /// The stream's events from `from` to `to` (fractions of it), published with confirms.
    pub async fn publish_part(&mut self, from: f64, to: f64) -> anyhow::Result<()> {
        let n = self.work.stream.len() as f64;
        let (a, b) = ((n * from) as usize, (n * to) as usize);
        let msgs: Vec<_> = self.work.stream[a..b]
            .iter()
            .map(producer::outgoing)
            .collect();
        self.producer.send(&msgs).await
    }

    /// Events the registry has taken for good (applied, or kept in history).
    pub async fn applied(&self) -> Option<usize> {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM processed_events")
            .fetch_one(&self.pool)
            .await
            .ok()
            .map(|n| n as usize)
    }

    pub async fn wait_applied(&self, n: usize) -> anyhow::Result<()> {
        wait_until(&format!("{n} events applied"), SETTLE, || async {
            self.applied().await.is_some_and(|a| a >= n)
        })
        .await
    }

    /// Waits until `share` of the workload's events are applied: the fault comes mid-stream.
    pub async fn wait_share_applied(&self, share: f64) -> anyhow::Result<()> {
        self.wait_applied((self.work.events() as f64 * share) as usize)
            .await
    }

    /// (notifications, of which settled: delivered or failed).
    pub async fn notifications(&self) -> Option<(usize, usize)> {
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT count(*), count(*) FILTER (WHERE status IN ('delivered', 'failed')) FROM notifications",
        )
        .fetch_one(&self.pool)
        .await
        .ok()
        .map(|(a, b)| (a as usize, b as usize))
    }

    /// Waits until every good event is applied and every SMS the workload causes is settled.
    pub async fn settle(&self) -> anyhow::Result<()> {
        let (events, sms) = (self.work.events(), self.work.sms_total());
        let settled = wait_until("the workload settled", SETTLE, || async {
            self.applied().await == Some(events) && self.notifications().await == Some((sms, sms))
        })
        .await;
        if settled.is_err() {
            anyhow::bail!(
                "not settled within {SETTLE:?}: {:?} of {events} events applied, (notifications, settled) {:?} of {sms}, {} SMS taken by the gateway",
                self.applied().await,
                self.notifications().await,
                self.gateway.taken()
            );
        }
        Ok(())
    }

    /// After a fault ended at `since`: seconds until each role made progress again (the registry applied
    /// another event, the gateway took another SMS); `None` when a role had nothing left to do.
    pub async fn recovery(&self, since: Instant) -> anyhow::Result<Recovery> {
        let (events, sms) = (self.work.events(), self.work.sms_total());
        let base_events = self.applied().await;
        let base_sms = self.gateway.taken();
        let registry = async {
            if base_events.is_some_and(|a| a >= events) {
                return Ok(None);
            }
            wait_until("the registry's recovery", SETTLE, || async {
                match (self.applied().await, base_events) {
                    (Some(now), Some(base)) => now > base,
                    (Some(_), None) => true,
                    _ => false,
                }
            })
            .await
            .map(|()| Some(since.elapsed().as_secs_f64()))
        };
        let notifier = async {
            if base_sms >= sms {
                return Ok(None);
            }
            wait_until("the notifier's recovery", SETTLE, || async {
                self.gateway.taken() > base_sms
            })
            .await
            .map(|()| Some(since.elapsed().as_secs_f64()))
        };
        let (registry, notifier) = tokio::join!(registry, notifier);
        Ok(Recovery {
            registry: registry?,
            notifier: notifier?,
        })
    }

    /// Waits until `n` messages wait in the parked queue (bad input goes there after its
    /// looks through the retry tiers, if any).
    pub async fn wait_parked(&self, n: usize) -> anyhow::Result<()> {
        let url = self.servers.rabbit.url();
        wait_until(&format!("{n} parked"), SETTLE, || {
            depth(
                url.clone(),
                hongyan_adapters::amqp::Names::new("").parked(),
                n,
            )
        })
        .await
    }

    /// A new process of the role, replacing the one that ended.
    pub fn restart(&mut self, name: &'static str) -> anyhow::Result<()> {
        let role = Role::start(name, &self.env, self.servers.dir())?;
        match name {
            "registry" => self.registry = role,
            _ => self.notifier = role,
        }
        Ok(())
    }

    pub async fn directory(&self) -> anyhow::Result<Directory> {
        Directory::connect(&RedisSettings {
            url: self.servers.redis.url(),
            prefix: "hongyan:".into(),
        })
        .await
    }
}

/// How long each role took to make progress again after a fault.
#[derive(Clone, Copy, Debug, Default)]
pub struct Recovery {
    pub registry: Option<f64>,
    pub notifier: Option<f64>,
}

/// True once `queue` holds at least `n` messages.
async fn depth(url: String, queue: String, n: usize) -> bool {
    queue_state(url, queue)
        .await
        .is_some_and(|(messages, _)| messages >= n)
}

/// True once `queue` has a consumer.
async fn consumers(url: String, queue: String) -> bool {
    queue_state(url, queue)
        .await
        .is_some_and(|(_, consumers)| consumers > 0)
}

/// (messages, consumers) of a queue, asked with a passive declare.
async fn queue_state(url: String, queue: String) -> Option<(usize, usize)> {
    let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .ok()?;
    let mut found = None;
    if let Ok(ch) = conn.create_channel().await {
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        if let Ok(q) = ch
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await
        {
            found = Some((q.message_count() as usize, q.consumer_count() as usize));
        }
    }
    let _ = conn.close(200, "checked".into()).await;
    found
}
