//! `cargo run --release -p hongyan-tests --bin bench-notifier`
//!
//! Publishes `--count` notification requests with confirms and lets the notifier (intake,
//! delivery loop and outbox relay, in this process) deliver them, once to the console sink and
//! once to a fake Aliyun SMS gateway that never limits. Prints notifications/s from first
//! publish to the last recorded delivery, and the latency from enqueue to recorded delivery.
//! Each run uses its own database, queue prefix and Redis prefix, and drops them afterwards.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::{Parser, ValueEnum};
use hongyan_adapters::Settings;
use hongyan_adapters::amqp::publisher::{Outgoing, Publisher};
use hongyan_adapters::amqp::{self, Names, topology};
use hongyan_adapters::store;
use hongyan_domain::Phone;
use hongyan_domain::clock::SystemClock;
use hongyan_domain::ids::{EventId, MemberId};
use hongyan_domain::notify::{NotificationRequest, ROUTING_KEY, Recipient, Role};
use hongyan_domain::outgoing::system_envelope;
use hongyan_notifier::Notifier;
use hongyan_notifier::providers::console::Console;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;

mod cpu;
mod fake_sms;

use cpu::{CpuUse, rss_mib};
use fake_sms::FakeSms;

#[derive(Parser)]
struct Args {
    /// Notifications per run.
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    /// Run one sink only.
    #[arg(long, value_enum)]
    only: Option<Sink>,
    /// How often the driver counts delivered notifications to see the end.
    #[arg(long, default_value_t = 250)]
    poll_ms: u64,
    /// Overrides `notifier.batch_size` (notifications claimed per round).
    #[arg(long)]
    batch_size: Option<i64>,
    /// Overrides `notifier.concurrency` (sends in flight at once).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Overrides `database.max_connections` (the notifier's pool).
    #[arg(long)]
    max_connections: Option<u32>,
    /// Queue every request before the notifier starts, then time the notifier alone draining
    /// the backlog: the rate without this driver and RabbitMQ taking CPU to publish. Latencies
    /// are then the backlog's and are not printed.
    #[arg(long)]
    preload: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Sink {
    /// `notifier.sms.provider = "console"`: prints (here: to no subscriber) and records.
    Console,
    /// `notifier.sms.provider = "aliyun"` against a local fake with no rate limit.
    Sms,
}

/// What one run measured.
struct Figures {
    rate: f64,
    /// From the last publish confirm to the last recorded delivery.
    rate_after: f64,
    elapsed: Duration,
    published: Duration,
    /// Enqueue to recorded delivery: p50, p99, max, in milliseconds.
    total: [f64; 3],
    /// Enqueue to intake (the row's `created_at`): p50, p99, max.
    intake: [f64; 3],
    /// Intake to recorded delivery: p50, p99, max.
    delivery: [f64; 3],
    failed: i64,
    other_attempts: i64,
    sent: u64,
    cpu: CpuUse,
}

// glibc's allocator showed up at about 9% of the machine in the benchmark profiles; mimalloc
// handles the many small, short-lived allocations of message handling better.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The console sink logs every message at INFO (its way of delivering); at WARN the run
    // measures the notifier rather than the terminal, and still shows anything that went wrong.
    hongyan_adapters::telemetry::init(&hongyan_adapters::config::LogSettings {
        format: "pretty".into(),
        filter: "warn".into(),
    });
    let args = Args::parse();
    println!(
        "hongyan notifier benchmark: {} notifications per run (release build: {})",
        args.count,
        !cfg!(debug_assertions)
    );
    for sink in [Sink::Console, Sink::Sms] {
        if args.only.is_some_and(|o| o != sink) {
            continue;
        }
        let f = run(sink, &args).await?;
        if args.preload {
            println!(
                "{sink:?}: {} queued requests drained by the notifier alone: {:>7.0} notifications/s ({:.1} s)",
                args.count,
                f.rate,
                f.elapsed.as_secs_f64()
            );
            println!("  {}", f.cpu.per_thousand(args.count, "notifications"));
            println!(
                "  check: {} sent by the sink, {} failed, {} attempts other than delivered",
                f.sent, f.failed, f.other_attempts
            );
            let (rss, hwm) = rss_mib();
            println!("  process RSS now {rss:.0} MiB, peak so far {hwm:.0} MiB");
            continue;
        }
        let (rss, hwm) = rss_mib();
        let ms =
            |v: [f64; 3]| format!("p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms", v[0], v[1], v[2]);
        println!(
            "{sink:?}: first publish to last recorded delivery: {:>7.0} notifications/s ({:.1} s)",
            f.rate,
            f.elapsed.as_secs_f64()
        );
        println!(
            "  published {} requests with confirms in {:.1} s ({:.0}/s)",
            args.count,
            f.published.as_secs_f64(),
            args.count as f64 / f.published.as_secs_f64()
        );
        println!(
            "  after the last publish confirm: {:.0} notifications/s",
            f.rate_after
        );
        println!("  {}", f.cpu.per_thousand(args.count, "notifications"));
        println!("  enqueue to recorded delivery: {}", ms(f.total));
        println!("    of which enqueue to intake: {}", ms(f.intake));
        println!("    and intake to recorded delivery: {}", ms(f.delivery));
        println!(
            "  check: {} sent by the sink, {} failed, {} attempts other than delivered",
            f.sent, f.failed, f.other_attempts
        );
        println!(
            "  process RSS now {rss:.0} MiB, peak so far {hwm:.0} MiB (notifier, fake provider and this driver in one process)"
        );
    }
    Ok(())
}

/// One run against its own database, queues and Redis keys, cleaned up whatever the outcome.
async fn run(sink: Sink, args: &Args) -> anyhow::Result<Figures> {
    let id = format!(
        "hybench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut s = Settings::load(&dir)?;
    s.amqp.prefix = format!("{id}.");
    s.amqp.queue_expires_ms = Some(600_000);
    s.redis.prefix = format!("{id}:");
    s.database.url = format!("postgres://postgres@127.0.0.1:5432/{id}");
    s.notifier.templates_dir = dir.join("templates").to_string_lossy().into_owned();
    s.policy.sms_quiet_hours = String::new();
    // No receipts come from the fake, and a fixed port could clash with a running notifier.
    s.notifier.receipts_listen = String::new();
    // No limit: the run measures the notifier, not DESIGN.md's provider and per-phone limits.
    // Recipients are spread over `count` phones as well, so no phone's window binds either.
    s.notifier.limits.sms_per_second = 1_000_000;
    s.notifier.limits.phone_per_day = 1_000_000;
    if let Some(b) = args.batch_size {
        s.notifier.batch_size = b;
    }
    if let Some(c) = args.concurrency {
        s.notifier.concurrency = c;
    }
    if let Some(m) = args.max_connections {
        s.database.max_connections = m;
    }
    let fake = if sink == Sink::Sms {
        let fake = FakeSms::start().await?;
        s.notifier.sms.provider = "aliyun".into();
        s.notifier.sms.aliyun.base_url = fake.base_url.clone();
        s.notifier.sms.aliyun.access_key_id = Some("bench-key-id".into());
        s.notifier.sms.aliyun.access_key_secret = Some("bench-secret".into());
        s.notifier
            .sms
            .templates
            .insert("checked_in_branch".into(), "SMS_100001".into());
        Some(fake)
    } else {
        None
    };
    s.validate()?;
    println!(
        "{sink:?}: notifier.batch_size {}, notifier.concurrency {}, database.max_connections {}",
        s.notifier.batch_size, s.notifier.concurrency, s.database.max_connections
    );
    let conn = amqp::connect(&s.amqp, "bench").await?;
    let outcome = measure(&s, args, fake.as_ref()).await;
    cleanup(&conn, &s, &id).await;
    conn.close(200, "done".into()).await.ok();
    if let Some(f) = fake {
        f.stop.cancel();
    }
    outcome
}

async fn measure(s: &Settings, args: &Args, fake: Option<&FakeSms>) -> anyhow::Result<Figures> {
    let (count, poll_ms) = (args.count, args.poll_ms);
    store::migrate(&s.database).await?;
    // The driver's own pool, so its polling does not take connections from the notifier's.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&s.database.url)
        .await?;
    let console = Console::new();
    let stop = CancellationToken::new();
    let notifier = Notifier::new(s.clone(), Arc::new(SystemClock), console.clone(), &stop)
        .await?
        .ok_or_else(|| anyhow::anyhow!("stopped while waiting for Redis"))?;
    let notifier = Arc::new(notifier);
    // Stops the notifier also when the run ends early with an error.
    let _stop_on_error = stop.clone().drop_guard();
    let conn = amqp::connect(&s.amqp, "bench-publisher").await?;
    let names = Names::new(&s.amqp.prefix);
    // Declared here too, so the passive check below finds the queue instead of closing its
    // channel (which lapin logs as an error) while intake is still connecting.
    topology::declare_all(&conn.create_channel().await?, &names, &s.amqp).await?;
    let start_notifier = || async {
        let running = tokio::spawn(hongyan_notifier::run_notifier(
            notifier.clone(),
            stop.clone(),
        ));
        // Let intake attach before the clock starts.
        wait_for_consumers(&conn, &names.notifier()).await?;
        anyhow::Ok(running)
    };
    let mut running = match args.preload {
        true => None,
        false => Some(start_notifier().await?),
    };

    let publisher = Publisher::open(&conn).await?;
    let exchange = names.internal_exchange();
    let (start, started_at, cpu_at_start) = (Instant::now(), Utc::now(), CpuUse::now());
    // Latency from enqueue: a request's row gets `created_at` only at intake, so the driver
    // keeps, per request (by its distinct `caused_by`), the wall-clock time at which its chunk
    // of 1000 began publishing, and SQL joins that with `delivery_attempts.at` afterwards. The
    // chunk's start over-states each request's wait by at most the chunk's publish time, which
    // errs on the safe side, and leaves the requests exactly what the registry sends.
    let publishing = tokio::spawn(async move {
        let mut caused = Vec::with_capacity(count);
        let mut enqueued = Vec::with_capacity(count);
        let mut batch = Vec::with_capacity(1000);
        for i in 0..count {
            let event = EventId::new_v7();
            caused.push(event.0);
            let body = system_envelope(ROUTING_KEY, Utc::now(), request(i, event))
                .1
                .into_bytes();
            batch.push(Outgoing {
                exchange: exchange.clone(),
                routing_key: ROUTING_KEY.into(),
                body,
                headers: FieldTable::default(),
                message_id: None,
            });
            if batch.len() == 1000 || i + 1 == count {
                let at = Utc::now();
                enqueued.extend(std::iter::repeat_n(at, batch.len()));
                publisher.publish_all(&batch).await?;
                batch.clear();
            }
        }
        anyhow::Ok((Instant::now(), Utc::now(), caused, enqueued))
    });
    let (mut start, mut started_at, mut cpu_at_start) = (start, started_at, cpu_at_start);
    let mut publishing = Some(publishing);
    let mut preloaded = None;
    if args.preload {
        preloaded = Some(publishing.take().expect("publishing").await??);
        running = Some(start_notifier().await?);
        (start, started_at, cpu_at_start) = (Instant::now(), Utc::now(), CpuUse::now());
    }
    let running = running.expect("the notifier is running");

    // Counted in `delivery_attempts` (narrow, insert-only) rather than `notifications`, whose
    // rows are wide and every update leaves a dead version behind (none is HOT: `status` is in
    // the partial index's predicate): there a count took 56 ms towards the end of a run.
    let mut last_report = Instant::now();
    let cpu: CpuUse;
    let (mut last_done, mut last_progress) = (0, Instant::now());
    loop {
        let delivered: i64 =
            sqlx::query_scalar("SELECT count(*) FROM delivery_attempts WHERE status = 'delivered'")
                .fetch_one(&pool)
                .await?;
        if delivered >= count as i64 {
            cpu = CpuUse::now().since(cpu_at_start);
            break;
        }
        if delivered > last_done {
            (last_done, last_progress) = (delivered, Instant::now());
        } else if last_progress.elapsed() > Duration::from_secs(60) {
            let failed: i64 =
                sqlx::query_scalar("SELECT count(*) FROM notifications WHERE status = 'failed'")
                    .fetch_one(&pool)
                    .await?;
            anyhow::bail!("no progress for a minute at {delivered} delivered, {failed} failed");
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            println!(
                "  … {delivered} delivered after {:.1} s",
                start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(poll_ms)).await;
    }
    // The end is the last recorded delivery, read back rather than seen by the poll: exact
    // whatever the poll interval, so the poll can stay rare: on this 2-core machine, counting
    // `notifications` every 25 ms took a quarter of a core from PostgreSQL and 15-20 % off
    // the figure.
    let last: DateTime<Utc> =
        sqlx::query_scalar("SELECT max(at) FROM delivery_attempts WHERE status = 'delivered'")
            .fetch_one(&pool)
            .await?;
    let elapsed = (last - started_at).to_std().unwrap_or_default();
    let (published_at, published_wall, caused, enqueued) = match preloaded {
        Some(p) => p,
        None => publishing.expect("publishing").await??,
    };
    // What the notifier does once the driver and RabbitMQ stop taking CPU for the publishing
    // (two cores for everything here): the deliveries recorded after the last confirm.
    let during: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM delivery_attempts WHERE status = 'delivered' AND at <= $1",
    )
    .bind(published_wall)
    .fetch_one(&pool)
    .await?;
    let after = (last - published_wall).to_std().unwrap_or_default();
    let rate_after = (count as i64 - during) as f64 / after.as_secs_f64();

    // `delivery_attempts.at` is `now()` in the settling transaction: when the delivery was
    // recorded (its commit follows within a few round trips).
    let latency = |from: &'static str, to: &'static str| {
        let (caused, enqueued, pool) = (&caused, &enqueued, &pool);
        async move {
            let sql = format!(
                "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY ms), max(ms)
                 FROM (SELECT extract(epoch FROM {to} - {from})::float8 * 1000 AS ms
                       FROM UNNEST($1::uuid[], $2::timestamptz[]) AS e(caused_by, enqueued_at)
                       JOIN notifications n ON n.caused_by = e.caused_by
                       JOIN delivery_attempts a ON a.notification_id = n.id AND a.status = 'delivered') t"
            );
            let (p, max): (Vec<f64>, f64) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(caused)
                .bind(enqueued)
                .fetch_one(pool)
                .await?;
            anyhow::Ok([p[0], p[1], max])
        }
    };
    let total = latency("e.enqueued_at", "a.at").await?;
    let intake = latency("e.enqueued_at", "n.created_at").await?;
    let delivery = latency("n.created_at", "a.at").await?;
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE status = 'failed'")
            .fetch_one(&pool)
            .await?;
    let other_attempts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM delivery_attempts WHERE status <> 'delivered'")
            .fetch_one(&pool)
            .await?;
    stop.cancel();
    running.await??;
    pool.close().await;
    conn.close(200, "done".into()).await.ok();
    let sent = match fake {
        Some(f) => f.answered.load(Ordering::Relaxed),
        None => console.sent_count(),
    };
    Ok(Figures {
        rate: count as f64 / elapsed.as_secs_f64(),
        rate_after,
        elapsed,
        published: published_at.duration_since(start),
        total,
        intake,
        delivery,
        failed,
        other_attempts,
        sent,
        cpu,
    })
}

/// The request the registry sends a branch when its member checked in elsewhere, to one of
/// `count` distinct phones and members; `event` makes its key distinct.
fn request(i: usize, event: EventId) -> NotificationRequest {
    let recipient = Recipient {
        role: Role::Member,
        name: "王小明".into(),
        phone: Phone::parse(&format!("139{i:08}")).expect("a mobile number"),
        channels: vec!["sms".into()],
        member_id: Some(MemberId::parse(&format!("m{i:06}")).expect("a member id")),
        org_id: None,
    };
    NotificationRequest::new(
        "checked_in_branch",
        recipient,
        event,
        &[
            ("member_name", "王小明".into()),
            ("receiving_org", "天河软件园党委".into()),
            ("receiving_contact", "赵书记".into()),
            ("receiving_phone", "13900000006".into()),
            ("arrived_on", "2026-03-01".into()),
            ("address", "天河路1号".into()),
        ],
    )
}

async fn wait_for_consumers(conn: &lapin::Connection, queue: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        let ch = conn.create_channel().await?;
        if let Ok(q) = ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            && q.consumer_count() > 0
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the notifier did not start consuming")
}

async fn cleanup(conn: &lapin::Connection, s: &Settings, id: &str) {
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .ok();
    if let Some(admin) = admin {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {id} WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
        admin.close().await;
    }
    if let Ok(client) = redis::Client::open(s.redis.url.as_str())
        && let Ok(mut c) = client.get_multiplexed_async_connection().await
    {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", s.redis.prefix))
            .query_async(&mut c)
            .await
            .unwrap_or_default();
        for chunk in keys.chunks(10_000) {
            let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(&mut c).await;
        }
    }
    let names = Names::new(&s.amqp.prefix);
    if let Ok(ch) = conn.create_channel().await {
        let mut queues = vec![names.registry(), names.notifier(), names.parked()];
        for n in 1..=s.amqp.retry_delays_ms.len() {
            queues.push(names.retry(&names.registry(), n));
            queues.push(names.retry(&names.notifier(), n));
        }
        for q in queues {
            let _ = ch
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
    }
}
