//! The scheduler role (DESIGN.md section 4): the monthly review and reminders, study packs on
//! the activity day, the quarterly dispatch report, and the daily greetings, each firing once
//! across replicas and writing its work to the outbox, which its own relay publishes: a
//! scheduler deployed alone still sends what it queues (no other role needs to be running).

pub mod dispatch;
pub mod engine;
pub mod firing;
pub mod jobs;
pub mod monthly;
pub mod study;
pub mod table;

use std::sync::Arc;

use hongyan_adapters::heartbeat::{self, Heartbeat, Role};
use hongyan_adapters::supervise::supervise;
use hongyan_adapters::{Settings, outbox, store};
use hongyan_domain::clock::{Clock, SystemClock};
use tokio_util::sync::CancellationToken;
use tracing::info;

use engine::{Engine, local};

/// The longest the loop sleeps without looking at the clock again, so a clock that jumps (or a
/// test's clock that is moved) is noticed within this time.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the scheduler until `shutdown` fires.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with_clock(settings, Arc::new(SystemClock), shutdown).await
}

/// The same, on `clock` (tests pass a clock they move): the firing loop and the outbox relay
/// side by side. The loop ending (a bad schedule, a lost database) stops the relay too, and
/// its error is the role's.
pub async fn run_with_clock(
    settings: Settings,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let pool = store::pool(&settings.database)?;
    let stop_relay = shutdown.child_token();
    let relay = relay(&settings, pool, stop_relay.clone());
    let firing = async {
        let ended = run_looking_every(settings.clone(), clock, shutdown.clone(), MAX_SLEEP).await;
        stop_relay.cancel();
        ended
    };
    let (ended, ()) = tokio::join!(firing, relay);
    ended
}

/// The scheduler's own outbox relay, as the registry and the notifier run theirs: what a
/// firing queues is published after its commit by whichever relay takes the row first
/// (`FOR UPDATE SKIP LOCKED`), so it never waits for another role to be deployed. A relay
/// that cannot publish (RabbitMQ away, or no queue bound for a request: the notifier or the
/// registry never started) logs why and starts again with growing delays; the rows wait.
async fn relay(settings: &Settings, pool: sqlx::PgPool, stop: CancellationToken) {
    info!("Scheduler outbox relay started.");
    supervise("outbox relay", stop.clone(), || {
        outbox::run(settings, pool.clone(), stop.clone())
    })
    .await;
}

/// The firing loop alone (no relay: [`run_with_clock`] adds it): fires what is due on
/// `clock`, then sleeps until the next due time but at most `max_sleep`, so a test that moves
/// its clock has it noticed within that time.
pub async fn run_looking_every(
    settings: Settings,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
    max_sleep: std::time::Duration,
) -> anyhow::Result<()> {
    // Parse before connecting, so a bad schedule stops the start at once, naming it.
    engine::parse_all(&settings)?;
    let pool = store::pool(&settings.database)?;
    let alive = Arc::new(Heartbeat::new(
        &settings.redis,
        Role::Scheduler,
        clock.clone(),
    )?);
    let mut engine = Engine::start(&pool, &settings, clock.now())
        .await?
        .beating(alive.clone());
    let next: Vec<String> = engine
        .schedules()
        .map(|s| {
            let at = s.after(clock.now()).next().map(local).unwrap_or_default();
            format!("{}={at}", s.name)
        })
        .collect();
    info!(next_firings = %next.join(", "), "scheduler started");
    loop {
        alive.beat().await;
        engine.tick(&pool, &settings, clock.now()).await?;
        // Wakes at least once a heartbeat (`hongyan health scheduler`), beating from here: a
        // firing that hangs stops the beat.
        let wait = engine
            .next_due()
            .map(|due| (due - clock.now()).to_std().unwrap_or_default())
            .unwrap_or(max_sleep)
            .min(max_sleep)
            .min(heartbeat::EVERY);
        tokio::select! {
            _ = shutdown.cancelled() => {
                alive.stopped().await;
                info!(at = %local(clock.now()), "Scheduler stopped.");
                return Ok(());
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
