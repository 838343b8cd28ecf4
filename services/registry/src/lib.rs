//! The registry role: applies registration events to the ledger (PostgreSQL) and the live
//! directory (Redis), and relays the outbox (DESIGN.md sections 2, 3 and 6).

mod apply;
pub mod batch;
mod consumer;
pub mod disposition;
mod notices;
pub mod sql;
pub mod tally;
mod waiting;

pub use apply::Outcome;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use hongyan_adapters::amqp::Names;
use hongyan_adapters::directory::{self, Directory};
use hongyan_adapters::heartbeat::{Heartbeat, Role};
use hongyan_adapters::supervise::{supervise, wait_for};
use hongyan_adapters::tasks::Tasks;
use hongyan_adapters::{Settings, outbox, store};
use hongyan_domain::clock::{Clock, SystemClock};
use hongyan_domain::ledger::LedgerPolicy;
use sqlx::PgPool;
use tally::Tally;
use tokio_util::sync::CancellationToken;

/// How often the directory checks it is still there (a Redis restart or flush empties it).
const DIRECTORY_CHECK: Duration = Duration::from_secs(2);

/// What the registry's tasks share.
pub struct Registry {
    pub settings: Settings,
    pub pool: PgPool,
    pub directory: Directory,
    pub names: Names,
    pub policy: LedgerPolicy,
    pub clock: Arc<dyn Clock>,
    /// Set when a write-through failed: the directory needs a rebuild.
    pub directory_behind: Arc<AtomicBool>,
    /// What the consumer settled since start.
    pub tally: Arc<Tally>,
    /// Beaten by the consumer's loop while it takes deliveries (`hongyan health registry`).
    pub alive: Heartbeat,
}

impl Registry {
    /// Connects to PostgreSQL (lazily) and Redis (waiting for it, until shutdown).
    pub async fn connect(
        settings: Settings,
        clock: Arc<dyn Clock>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<Self>> {
        let pool = store::pool(&settings.database)?;
        let Some(directory) =
            wait_for("Redis", shutdown, || Directory::connect(&settings.redis)).await
        else {
            return Ok(None);
        };
        Ok(Some(Self {
            alive: Heartbeat::new(&settings.redis, Role::Registry, clock.clone())?,
            names: Names::new(&settings.amqp.prefix),
            policy: LedgerPolicy {
                certificate_max_months: settings.policy.certificate_max_months,
            },
            settings,
            pool,
            directory,
            clock,
            directory_behind: Arc::new(AtomicBool::new(false)),
            tally: Arc::default(),
        }))
    }
}

/// Runs the registry until `shutdown` fires.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with_clock(settings, Arc::new(SystemClock), shutdown).await
}

/// Runs the registry with a given clock (tests set the time).
pub async fn run_with_clock(
    settings: Settings,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_with(settings, clock, Arc::default(), shutdown).await
}

/// Runs the registry with a given clock, counting what it settles in `tally` (tests and
/// benchmarks read it).
pub async fn run_with(
    settings: Settings,
    clock: Arc<dyn Clock>,
    tally: Arc<Tally>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Some(mut reg) = Registry::connect(settings, clock, &shutdown).await? else {
        return Ok(());
    };
    reg.tally = tally;
    let reg = Arc::new(reg);
    let mut tasks = Tasks::new(&shutdown);
    {
        // One consumer per process, on a queue with a single active consumer
        // (`topology::declare_registry` says why): events are applied in the order sent, and
        // the other replicas stand by.
        let (reg, stop) = (reg.clone(), shutdown.clone());
        tasks.spawn("registry consumer", async move {
            let tag = format!(
                "registry-{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            supervise("registry consumer", stop.clone(), || {
                consumer::consume(&reg, &tag, &stop)
            })
            .await;
        });
    }
    {
        let (reg, stop) = (reg.clone(), shutdown.clone());
        tasks.spawn("outbox relay", async move {
            supervise("outbox relay", stop.clone(), || {
                outbox::run(&reg.settings, reg.pool.clone(), stop.clone())
            })
            .await;
        });
    }
    tasks.spawn(
        "directory watch",
        directory::watch(
            reg.directory.clone(),
            reg.pool.clone(),
            DIRECTORY_CHECK,
            reg.directory_behind.clone(),
            shutdown.clone(),
        ),
    );
    let ended = tasks.wait().await;
    reg.alive.stopped().await;
    reg.pool.close().await;
    ended
}
