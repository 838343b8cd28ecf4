//! `cargo run --release -p hongyan-tests --bin bench-registry`
//!
//! Publishes `--events` registration.update events over `--members` members with confirms and
//! prints events/s from first publish to the last batch settled (committed, then acknowledged),
//! as the registry's own tally counts them, next to two raw limits measured in the
//! same run on the same servers: RabbitMQ persistent publish+consume on a quorum queue, and a
//! PostgreSQL batched upsert. Uses its own database, queue prefix and Redis prefix, and drops
//! them afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{TimeZone, Utc};
use clap::Parser;
use futures::StreamExt;
use hongyan_adapters::Settings;
use hongyan_adapters::amqp::publisher::{Outgoing, Publisher};
use hongyan_adapters::amqp::{self, Names};
use hongyan_adapters::store::{self, rows::MemberRow};
use hongyan_domain::clock::SystemClock;
use hongyan_domain::ledger::{self, LedgerPolicy};
use hongyan_domain::payloads::{Location, MemberUpsert, Outbound, Subject};
use hongyan_domain::{EmployerType, MemberId, OrgId, Phone, Reason, RegionCode};
use hongyan_registry::sql::writes;
use hongyan_registry::tally::Tally;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use serde_json::json;
use tokio_util::sync::CancellationToken;

mod cpu;
mod isolated;

use cpu::{CpuUse, rss_mib};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    members: usize,
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Messages for the raw RabbitMQ and PostgreSQL measurements.
    #[arg(long, default_value_t = 200_000)]
    raw: usize,
}

// glibc's allocator showed up at about 9% of the machine in the benchmark profiles; mimalloc
// handles the many small, short-lived allocations of message handling better.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (id, mut s) = isolated::settings()?;
    s.amqp.queue_expires_ms = Some(600_000);
    store::migrate(&s.database).await?;
    let pool = store::pool(&s.database)?;
    println!(
        "hongyan registry benchmark: {} events over {} members (release build: {})",
        args.events,
        args.members,
        !cfg!(debug_assertions)
    );

    let conn = amqp::connect(&s.amqp, "bench").await?;
    let raw_mq = raw_rabbitmq(&conn, &id, args.raw).await?;
    println!(
        "raw RabbitMQ persistent publish+consume (quorum queue, confirms, acks): {raw_mq:>9.0} msg/s"
    );
    let raw_pg = raw_postgres(&pool, args.raw).await?;
    println!(
        "raw PostgreSQL batched upsert (500 rows a statement and transaction): {raw_pg:>9.0} rows/s"
    );

    seed(&pool, args.members).await?;
    let before = processed(&pool).await?;

    let stop = CancellationToken::new();
    let tally = Arc::new(Tally::default());
    let registry = tokio::spawn(hongyan_registry::run_with(
        s.clone(),
        Arc::new(SystemClock),
        tally.clone(),
        stop.clone(),
    ));
    // Let the consumers declare the topology and attach before the clock starts.
    let names = Names::new(&s.amqp.prefix);
    wait_for_consumers(&conn, &names.registry()).await?;

    let publisher = Publisher::open(&conn).await?;
    let (start, cpu_at_start) = (Instant::now(), CpuUse::now());
    let exchange = names.exchange();
    let members = args.members;
    let events = args.events;
    let publishing = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(1000);
        for i in 0..events {
            let (m, round) = (i % members, i / members);
            let at = Utc.with_ymd_and_hms(2026, 4, 1, 1, 0, 0).unwrap()
                + chrono::Duration::minutes(round as i64 + 1);
            let body = serde_json::to_vec(&json!({
                "event_id": uuid::Uuid::new_v4(), "type": "registration.update", "schema_version": 1,
                "occurred_at": at.with_timezone(&hongyan_domain::TZ).to_rfc3339(),
                "actor": {"org_id": "bench-b"}, "data": {"member_id": format!("m{m:06}"), "confirmed_unchanged": true},
            }))
            .unwrap();
            batch.push(Outgoing {
                exchange: exchange.clone(),
                routing_key: "registration.update".into(),
                body,
                headers: FieldTable::default(),
                message_id: None,
            });
            if batch.len() == 1000 || i + 1 == events {
                publisher.publish_all(&batch).await.expect("publish");
                batch.clear();
            }
        }
        Instant::now()
    });
    let mut last_report = Instant::now();
    loop {
        // The registry's own count, read in process: counting `processed_events` here every
        // 25 ms (as this benchmark once did) kept a PostgreSQL backend busy scanning a growing
        // table, on the same two cores as the registry's transactions.
        let done = tally.counts().total();
        if done >= events as u64 {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            println!(
                "  … {done} applied after {:.1} s",
                start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (elapsed, cpu) = (start.elapsed(), CpuUse::now().since(cpu_at_start));
    let published = publishing.await?.duration_since(start);
    let rate = events as f64 / elapsed.as_secs_f64();
    let (rss, hwm) = rss_mib();
    println!(
        "published {} events with confirms in {:.1} s ({:.0}/s)",
        events,
        published.as_secs_f64(),
        events as f64 / published.as_secs_f64()
    );
    println!(
        "hongyan registry, first publish to last batch settled: {rate:>9.0} events/s ({:.1} s)",
        elapsed.as_secs_f64()
    );
    println!(
        "  ratio to raw RabbitMQ publish+consume: {:.2}",
        rate / raw_mq
    );
    println!(
        "  ratio to raw PostgreSQL batched upsert: {:.2}",
        rate / raw_pg
    );
    println!("  {}", cpu.per_thousand(events, "events"));
    println!(
        "  process RSS now {rss:.0} MiB, peak {hwm:.0} MiB (registry, publisher and this driver in one process)"
    );
    let applied = processed(&pool).await? - before;
    anyhow::ensure!(
        applied == events as i64,
        "the registry settled {events} events but processed_events holds {applied}"
    );
    let stale: i64 = sqlx::query_scalar("SELECT count(*) FROM history WHERE NOT applied")
        .fetch_one(&pool)
        .await?;
    let wrong: i64 =
        sqlx::query_scalar("SELECT count(*) FROM flow_records WHERE version <> 1 + $1")
            .bind((events / members) as i64)
            .fetch_one(&pool)
            .await?;
    println!(
        "  check: {stale} kept as older than the ledger, {wrong} records with an unexpected version"
    );

    stop.cancel();
    registry.await??;
    pool.close().await;
    cleanup(&conn, &s, &id).await;
    Ok(())
}

async fn processed(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(pool)
        .await?)
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
    anyhow::bail!("the registry did not start consuming")
}

/// 100,000 members of one branch, each with an open record, written straight to the store.
async fn seed(pool: &sqlx::PgPool, members: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let at = Utc
        .with_ymd_and_hms(2026, 3, 1, 1, 0, 0)
        .unwrap()
        .fixed_offset();
    sqlx::query("INSERT INTO orgs (id, name, kind, path, region_code, contact, state_at) VALUES ('bench-b', '基准支部', 'branch', ARRAY['bench-b'], '522636100201', '{\"name\":\"李书记\",\"phone\":\"13900000001\"}', now())")
        .execute(pool)
        .await?;
    let policy = LedgerPolicy::default();
    for chunk in (0..members).collect::<Vec<_>>().chunks(5000) {
        let mut rows = Vec::new();
        let mut recs = Vec::new();
        for i in chunk {
            let m = MemberUpsert {
                id: MemberId::parse(&format!("m{i:06}")).unwrap(),
                name: format!("党员{i}"),
                phone: Phone::parse(&format!("139{:08}", i)).unwrap(),
                home_org_id: OrgId::parse("bench-b").unwrap(),
                joined_party_on: chrono::NaiveDate::from_ymd_opt(2010, 7, 1).unwrap(),
                pair: None,
                channels: vec!["sms".into()],
            };
            let out = Outbound {
                subject: Subject::Known(m.id.clone()),
                left_on: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
                reason: Reason::Work,
                expected_months: 4,
                destination: Location {
                    region_code: RegionCode::parse("440106001").unwrap(),
                    address: "天河路1号".into(),
                    employer: Some("某厂".into()),
                    employer_type: EmployerType::Private,
                },
                inflow_org_id: None,
                inflow_contact: None,
            };
            recs.push(ledger::open_outbound(
                uuid::Uuid::now_v7(),
                &policy,
                &m,
                &out,
                0,
                at,
            ));
            rows.push(MemberRow {
                member: m,
                state_at: at,
            });
        }
        let mut tx = pool.begin().await?;
        writes::members(&mut tx, &rows.iter().collect::<Vec<_>>()).await?;
        writes::new_records(&mut tx, &recs.iter().collect::<Vec<_>>()).await?;
        tx.commit().await?;
    }
    sqlx::query("VACUUM ANALYZE flow_records")
        .execute(pool)
        .await?;
    println!(
        "seeded {members} members with open records in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn raw_rabbitmq(conn: &lapin::Connection, id: &str, n: usize) -> anyhow::Result<f64> {
    let q = format!("{id}.raw");
    let ch = conn.create_channel().await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    ch.queue_declare(
        q.as_str().into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args,
    )
    .await?;
    ch.basic_qos(1000, BasicQosOptions::default()).await?;
    let publisher = Publisher::open(conn).await?;
    let body = vec![b'x'; 300];
    let start = Instant::now();
    let mut consumer = ch
        .basic_consume(
            q.as_str().into(),
            "raw".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let consuming = tokio::spawn(async move {
        let mut got = 0;
        while let Some(d) = consumer.next().await {
            let d = d.expect("delivery");
            got += 1;
            if got % 500 == 0 || got == n {
                d.acker
                    .ack(BasicAckOptions { multiple: true })
                    .await
                    .expect("ack");
            }
            if got == n {
                break;
            }
        }
    });
    let batch: Vec<Outgoing> = (0..1000)
        .map(|_| Outgoing {
            exchange: String::new(),
            routing_key: q.clone(),
            body: body.clone(),
            headers: FieldTable::default(),
            message_id: None,
        })
        .collect();
    let mut sent = 0;
    while sent < n {
        let k = (n - sent).min(1000);
        publisher.publish_all(&batch[..k]).await?;
        sent += k;
    }
    consuming.await.context("raw consumer")?;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await?;
    Ok(rate)
}

async fn raw_postgres(pool: &sqlx::PgPool, n: usize) -> anyhow::Result<f64> {
    sqlx::query("CREATE TABLE bench_raw (id text PRIMARY KEY, version bigint NOT NULL, doc jsonb NOT NULL) WITH (fillfactor = 80)").execute(pool).await?;
    let doc = json!({"status": "checked_in", "address": "天河路1号", "employer": "某厂", "padding": "x".repeat(600)});
    let start = Instant::now();
    let rows = n / 2;
    for round in 0..2 {
        for base in (0..rows).step_by(500) {
            let ids: Vec<String> = (base..(base + 500).min(rows))
                .map(|i| format!("m{i:06}"))
                .collect();
            let versions: Vec<i64> = ids.iter().map(|_| round + 1).collect();
            let docs: Vec<serde_json::Value> = ids.iter().map(|_| doc.clone()).collect();
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO bench_raw SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::jsonb[]) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, doc = EXCLUDED.doc")
                .bind(&ids)
                .bind(&versions)
                .bind(&docs)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }
    let rate = (rows * 2) as f64 / start.elapsed().as_secs_f64();
    sqlx::query("DROP TABLE bench_raw").execute(pool).await?;
    Ok(rate)
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
