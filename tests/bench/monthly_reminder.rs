//! `cargo run --release -p hongyan-tests --bin bench-monthly-reminder [-- --records N]`
//!
//! Loads `--records` open flow records (default 1,000,000) with COPY, then fires
//! `monthly_reminder` once (planned and enqueued into the outbox, in the firing's transaction)
//! and prints seconds, rows/s and peak RSS, next to the raw PostgreSQL rate of the same kind of
//! insert (client-built JSON rows, UNNEST batches of 5,000) measured in the same run. Uses its
//! own database and drops it afterwards.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use clap::Parser;
use hongyan_adapters::{Settings, store};
use hongyan_scheduler::engine::{self, Fired};

#[allow(dead_code)] // the CPU sampler is used by the other benches
mod cpu;
mod isolated;

use cpu::rss_mib;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
}

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (id, mut s) = isolated::settings()?;
    s.api.link_secret = Some("bench-link-secret".into());
    store::migrate(&s.database).await?;
    let pool = store::pool(&s.database)?;
    println!(
        "hongyan monthly_reminder benchmark: {} open records (release build: {})",
        args.records,
        !cfg!(debug_assertions)
    );
    let result = bench(&pool, &s, args.records).await;
    pool.close().await;
    cleanup(&id).await;
    result
}

async fn bench(pool: &sqlx::PgPool, s: &Settings, n: usize) -> anyhow::Result<()> {
    let t = Instant::now();
    load(pool, n).await?;
    println!(
        "loaded {n} records with COPY in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let raw = raw_insert(pool, n).await?;
    println!("raw PostgreSQL insert (JSON rows, UNNEST batches of 5000): {raw:>9.0} rows/s");

    let due = hongyan_domain::TZ
        .with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let t = Instant::now();
    let fired = engine::fire(pool, s, "monthly_reminder", due, due, true).await?;
    let secs = t.elapsed().as_secs_f64();
    let Fired::Done(rows) = fired else {
        anyhow::bail!("the firing was already taken in a fresh database");
    };
    let (_, peak) = rss_mib();
    println!(
        "monthly_reminder: {rows} reminders in {secs:.1} s = {:.0} rows/s ({:.0}% of raw); peak RSS {peak:.0} MiB",
        rows as f64 / secs,
        100.0 * rows as f64 / secs / raw
    );
    println!("targets: at most 60 s and 200 MiB");
    Ok(())
}

/// Orgs, members and open records, streamed to COPY in text format.
async fn load(pool: &sqlx::PgPool, n: usize) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO orgs (id, name, kind, path, region_code, contact, state_at)
         VALUES ('qx', '县委组织部', 'department', '{qx}', '522627', '{\"name\":\"王\",\"phone\":\"13800000000\"}', now()),
                ('b1', '支部', 'branch', '{qx,b1}', '522627001', '{\"name\":\"李\",\"phone\":\"13800000001\"}', now())",
    )
    .execute(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    let mut copy = conn
        .copy_in_raw("COPY members (id, home_org_id, phone, doc, state_at) FROM STDIN")
        .await?;
    let mut buf = String::new();
    for i in 0..n {
        buf.push_str(&format!(
            "m{i:07}\tb1\t139{i:08}\t{{\"name\": \"党员{i}\", \"channels\": [\"sms\"]}}\t2026-01-01 00:00:00+00\n"
        ));
        if buf.len() > 1 << 20 {
            copy.send(buf.as_bytes()).await?;
            buf.clear();
        }
    }
    copy.send(buf.as_bytes()).await?;
    copy.finish().await?;
    let mut copy = conn
        .copy_in_raw(
            "COPY flow_records (id, member_id, home_org_id, status, is_open, region_code, phone, last_confirmed_on, version, state_at, doc) FROM STDIN",
        )
        .await?;
    buf.clear();
    for i in 0..n {
        buf.push_str(&format!(
            "{}\tm{i:07}\tb1\tout\tt\t440305\t139{i:08}\t2026-10-15\t1\t2026-01-01 00:00:00+00\t{{\"status\": \"out\"}}\n",
            uuid::Uuid::now_v7()
        ));
        if buf.len() > 1 << 20 {
            copy.send(buf.as_bytes()).await?;
            buf.clear();
        }
    }
    copy.send(buf.as_bytes()).await?;
    copy.finish().await?;
    sqlx::query("ANALYZE members").execute(&mut *conn).await?;
    sqlx::query("ANALYZE flow_records")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The raw rate of the job's kind of write: client-built JSON payloads inserted in UNNEST
/// batches of 5,000 in one transaction, into a table shaped like the outbox.
async fn raw_insert(pool: &sqlx::PgPool, n: usize) -> anyhow::Result<f64> {
    sqlx::query("CREATE TABLE raw_outbox (id bigserial PRIMARY KEY, routing_key text, message_id text, payload jsonb)")
        .execute(pool)
        .await?;
    let t = Instant::now();
    let mut tx = pool.begin().await?;
    for start in (0..n).step_by(5_000) {
        let end = (start + 5_000).min(n);
        let ids: Vec<String> = (start..end)
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        let bodies: Vec<String> = (start..end)
            .map(|i| format!("{{\"data\": {{\"key\": \"monthly_reminder:2026-12:member:m{i:07}\", \"params\": {{\"url\": \"http://127.0.0.1:8080/m/abcdefghijklmnopqrstuvwxyz0123456789\"}}}}}}"))
            .collect();
        sqlx::query("INSERT INTO raw_outbox (routing_key, message_id, payload) SELECT 'notification.requested', m, p::json FROM UNNEST($1::text[], $2::text[]) AS t(m, p)")
            .bind(ids)
            .bind(bodies)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

async fn cleanup(id: &str) {
    if let Ok(admin) = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres").await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {id} WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
    }
}
