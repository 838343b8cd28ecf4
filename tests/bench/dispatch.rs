//! `cargo run --release -p hongyan-tests --bin bench-dispatch`
//!
//! The quarterly dispatch (一季一调度, DESIGN.md section 4) over a city of `--counties` county
//! departments with `--branches` branches and `--records` flow records (members and one history
//! line each), bulk-loaded with COPY. Prints the seconds `quarterly_dispatch` takes, records/s
//! and this process's peak RSS, next to two raw PostgreSQL rates measured in the same run on
//! the same server: the COPY load itself, and one sequential pass over the records reading the
//! JSON fields the figures read. Uses its own database and drops it afterwards (unless
//! `--keep`; `--reuse NAME` runs again on a kept one without loading it again).

use std::time::Instant;

use chrono::{TimeZone, Utc};
use clap::Parser;
use hongyan_adapters::{Settings, store};
use hongyan_scheduler::dispatch::quarterly_dispatch;
use hongyan_scheduler::firing::Firing;

mod cpu;
mod isolated;
mod ledger_data;

use cpu::{CpuUse, rss_mib};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10)]
    counties: usize,
    #[arg(long, default_value_t = 10_000)]
    branches: usize,
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// Keep the loaded database afterwards (its name is printed), to run again with `--reuse`.
    #[arg(long)]
    keep: bool,
    /// Skip the load and run on a database kept by an earlier `--keep` run with the same sizes
    /// (its reports and outbox rows are deleted first).
    #[arg(long)]
    reuse: Option<String>,
}

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (mut id, mut s) = isolated::settings()?;
    if let Some(kept) = &args.reuse {
        id.clone_from(kept);
        s.database.url = format!("postgres://postgres@127.0.0.1:5432/{id}");
    }
    store::migrate(&s.database).await?;
    let pool = store::pool(&s.database)?;
    println!(
        "hongyan dispatch benchmark: {} counties, {} branches, {} records (release build: {})",
        args.counties,
        args.branches,
        args.records,
        !cfg!(debug_assertions)
    );
    let result = run(&args, &s, &pool).await;
    pool.close().await;
    if args.keep || args.reuse.is_some() {
        println!("database kept: run again with --reuse {id}");
        return result;
    }
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres").await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {id} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    result
}

async fn run(args: &Args, s: &Settings, pool: &sqlx::PgPool) -> anyhow::Result<()> {
    if args.reuse.is_some() {
        sqlx::query("TRUNCATE dispatch_reports, outbox")
            .execute(pool)
            .await?;
    } else {
        let t = Instant::now();
        let loaded = ledger_data::load(pool, args.counties, args.branches, args.records).await?;
        let load_secs = t.elapsed().as_secs_f64();
        sqlx::query("ANALYZE").execute(pool).await?;
        println!(
            "raw PostgreSQL COPY load: {loaded} rows (orgs, members, records, history) in {load_secs:.1} s: {:>9.0} rows/s",
            loaded as f64 / load_secs
        );
    }
    let t = Instant::now();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE COALESCE((doc->>'left_on')::date, (doc->>'arrived_on')::date) <= '2026-09-30'
                                 AND (doc->'contacts'->>'talk') IS DISTINCT FROM 'x')
         FROM flow_records",
    )
    .fetch_one(pool)
    .await?;
    let scan = t.elapsed().as_secs_f64();
    let raw_scan = args.records as f64 / scan;
    println!(
        "raw PostgreSQL pass over the records reading their JSON ({n} matched): {scan:.2} s: {raw_scan:>9.0} rows/s"
    );

    let due = hongyan_domain::TZ
        .with_ymd_and_hms(2026, 10, 1, 9, 30, 0)
        .unwrap()
        .with_timezone(&Utc);
    let firing = Firing {
        schedule: "quarterly_dispatch",
        due,
        settings: s,
        pool,
        alive: None,
    };
    let (start, cpu0) = (Instant::now(), CpuUse::now());
    let mut tx = pool.begin().await?;
    let rows = quarterly_dispatch(&mut tx, &firing).await?;
    tx.commit().await?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = CpuUse::now().since(cpu0);
    let (_, peak) = rss_mib();
    let rate = args.records as f64 / secs;
    println!(
        "quarterly_dispatch: {} departments' reports ({rows} outbox rows) over {} records in {secs:.1} s: {rate:>9.0} records/s",
        args.counties + 1,
        args.records
    );
    println!("  peak RSS (VmHWM) of this process: {peak:.0} MiB");
    println!(
        "  ratio to the raw pass over the records: {:.2}",
        rate / raw_scan
    );
    println!("  {}", cpu.per_thousand(args.records, "records"));
    println!(
        "  target: at most 60 s: {}",
        if secs <= 60.0 { "met" } else { "NOT met" }
    );
    Ok(())
}
