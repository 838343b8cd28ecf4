//! The notifier role: renders, routes, rate-limits and delivers notifications (DESIGN.md
//! section 5).

pub mod announce;
pub mod channels;
pub mod deliver;
pub mod intake;
pub mod providers;
pub mod quiet;
pub mod receipts;
pub mod render;
pub mod replies;
pub mod route;
pub mod store;
pub mod templates;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hongyan_adapters::amqp::Names;
use hongyan_adapters::amqp::consumer::{BatchOptions, consume_batches};
use hongyan_adapters::heartbeat::{Heartbeat, Role};
use hongyan_adapters::ratelimit::RateLimiter;
use hongyan_adapters::supervise::{supervise, wait_for};
use hongyan_adapters::tasks::Tasks;
use hongyan_adapters::{Settings, outbox, store as pg};
use hongyan_domain::clock::{Clock, SystemClock};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::channels::Channels;
use crate::providers::Provider;
use crate::providers::console::Console;
use crate::quiet::QuietHours;
use crate::templates::Templates;

/// What the notifier's tasks share.
pub struct Notifier {
    pub settings: Settings,
    pub pool: PgPool,
    pub names: Names,
    pub clock: Arc<dyn Clock>,
    pub templates: Templates,
    pub channels: Channels,
    /// The `console` channel (and the SMS channel when `notifier.sms.provider` is console).
    pub console: Provider,
    pub limiter: RateLimiter,
    pub quiet: QuietHours,
    /// Intake wakes the delivery loop.
    pub wake: Notify,
    /// Beaten by the delivery loop on every round (`hongyan health notifier`).
    pub alive: Heartbeat,
    /// The intake's part of the heartbeat: its consumer waits on the broker and cannot beat,
    /// so it says when it consumes, and a beat with the intake down is not alive.
    pub intake: hongyan_adapters::heartbeat::Part,
}

impl Notifier {
    /// Builds the notifier: templates, providers, the rate limiter. Fails with a message naming
    /// the bad template or setting; waits for Redis like the registry does, and gives `None`
    /// if `shutdown` fires first.
    pub async fn new(
        settings: Settings,
        clock: Arc<dyn Clock>,
        console: Console,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<Self>> {
        let templates =
            Templates::load(Path::new(&settings.notifier.templates_dir)).with_context(|| {
                format!(
                    "Could not load the templates in {}",
                    settings.notifier.templates_dir
                )
            })?;
        let quiet = QuietHours::parse(&settings.policy.sms_quiet_hours)?;
        receipts::checked_token(settings.notifier.receipts_token.as_ref())?;
        let channels = Channels::from_settings(&settings.notifier, console.clone())?;
        let client = redis::Client::open(settings.redis.url.as_str())
            .context("redis.url is not a Redis URL")?;
        // Each try is short: `wait_for` does the waiting, and says so in the log.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2);
        let connect = || async {
            redis::aio::ConnectionManager::new_with_config(client.clone(), config.clone())
                .await
                .context("Could not connect to Redis; start it (scripts/services) or fix redis.url")
        };
        let Some(conn) = wait_for("Redis", shutdown, connect).await else {
            return Ok(None);
        };
        let alive = Heartbeat::new(&settings.redis, Role::Notifier, clock.clone())?;
        Ok(Some(Self {
            intake: alive.part("intake"),
            alive,
            pool: pg::pool(&settings.database)?,
            names: Names::new(&settings.amqp.prefix),
            limiter: RateLimiter::new(conn, &settings.redis.prefix),
            console: Provider::Console(console),
            settings,
            clock,
            templates,
            channels,
            quiet,
            wake: Notify::new(),
        }))
    }
}

/// Runs the notifier until `shutdown` fires.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Some(n) = Notifier::new(settings, Arc::new(SystemClock), Console::new(), &shutdown).await?
    else {
        return Ok(());
    };
    let n = Arc::new(n);
    run_notifier(n, shutdown).await
}

/// Takes notification requests from the queue into the table until shutdown.
pub async fn run_intake(n: Arc<Notifier>, stop: CancellationToken) {
    let tag = format!("notifier-{}", std::process::id());
    let queue = n.names.notifier();
    let handler = intake::Intake(&n);
    supervise("notifier intake", stop.clone(), || {
        let opts = BatchOptions {
            queue: &queue,
            tag: &tag,
            batch_size: n.settings.notifier.intake_batch_size,
            linger: Duration::from_millis(5),
            part: Some(&n.intake),
        };
        consume_batches(&n.settings.amqp, &n.names, opts, &stop, &handler)
    })
    .await;
}

/// Runs a built notifier: intake, delivery, and an outbox relay for its announcements.
pub async fn run_notifier(n: Arc<Notifier>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut tasks = Tasks::new(&shutdown);
    tasks.spawn("notifier intake", run_intake(n.clone(), shutdown.clone()));
    {
        let (n, stop) = (n.clone(), shutdown.clone());
        tasks.spawn("notifier delivery", async move {
            supervise("notifier delivery", stop.clone(), || {
                deliver::run(&n, &stop)
            })
            .await
        });
    }
    {
        let (n, stop) = (n.clone(), shutdown.clone());
        tasks.spawn("outbox relay", async move {
            supervise("outbox relay", stop.clone(), || {
                outbox::run(&n.settings, n.pool.clone(), stop.clone())
            })
            .await
        });
    }
    let listen = &n.settings.notifier.receipts_listen;
    let token = n.settings.notifier.receipts_token.as_ref();
    if listen.is_empty() {
        tracing::info!("Receipts endpoint not served: notifier.receipts_listen is empty.");
    } else if token.is_none() {
        // An open receipt URL would let anyone fail anyone's notifications (DESIGN.md
        // section 5): without the secret path segment, nothing is served.
        tracing::info!(listen = %listen, "Receipts endpoint not served: HONGYAN__NOTIFIER__RECEIPTS_TOKEN is unset. Set it to take SMS delivery receipts at /v1/receipts/{{token}}/aliyun and .../tencent.");
    } else {
        let (n, stop) = (n.clone(), shutdown.clone());
        tasks.spawn("receipts endpoint", async move {
            supervise("receipts endpoint", stop.clone(), || {
                receipts::serve(n.clone(), stop.clone())
            })
            .await
        });
    }
    let ended = tasks.wait().await;
    n.alive.stopped().await;
    n.pool.close().await;
    ended
}
