//! `cargo run --release -p hongyan-tests --bin bench-console -- [--records 1250000]`
//!
//! The department pages of the console (issue 18, "Speed") over the ledger `bench-dispatch`
//! loads (`ledger_data`: a city of `--counties` county departments, `--branches` branches,
//! `--records` flow records of which 80% are open, so the default 1,250,000 gives 1,000,000
//! open records). One console user per county department, signed in; the API is served in
//! this process on loopback, and `--users` people at once (each at their own county) ask for
//! 工作台 (`GET /console/`), then 分布 (`GET /console/distribution`), for `--seconds` each,
//! first as served (figures reused for `api.console_figures_secs`), then with the figures
//! counted on every request. Prints p50, p99 and requests/s per page, the query plans (`EXPLAIN ANALYZE`) of both pages'
//! queries for one county, and, measured in the same run on the same server, the raw rate of
//! the simplest read those pages build on (one county's open records counted through the
//! index, as many at once). Own database, dropped afterwards unless `--keep`; `--reuse NAME`
//! runs again on a kept one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use clap::Parser;
use hongyan_adapters::amqp::publisher::Publisher;
use hongyan_adapters::amqp::{self, Names, topology};
use hongyan_adapters::directory::Directory;
use hongyan_adapters::store;
use hongyan_api::console::{session, todo, users};
use hongyan_api::state::AppState;
use hongyan_domain::Phone;
use hongyan_domain::clock::FixedClock;
use tokio_util::sync::CancellationToken;

mod isolated;
mod ledger_data;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10)]
    counties: usize,
    #[arg(long, default_value_t = 10_000)]
    branches: usize,
    #[arg(long, default_value_t = 1_250_000)]
    records: usize,
    /// People asking at once.
    #[arg(long, default_value_t = 8)]
    users: usize,
    /// Seconds of requests per page.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long)]
    keep: bool,
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
    s.database.max_connections = 16;
    s.amqp.queue_expires_ms = Some(60_000);
    store::migrate(&s.database).await?;
    let pool = store::pool(&s.database)?;
    println!(
        "hongyan console benchmark: {} counties, {} branches, {} records, {} users at once (release build: {}); the machine is shared with other work",
        args.counties,
        args.branches,
        args.records,
        args.users,
        !cfg!(debug_assertions)
    );
    let result = run(&args, s, &pool).await;
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

async fn run(
    args: &Args,
    s: hongyan_adapters::Settings,
    pool: &sqlx::PgPool,
) -> anyhow::Result<()> {
    if args.reuse.is_none() {
        let t = Instant::now();
        let n = ledger_data::load(pool, args.counties, args.branches, args.records).await?;
        sqlx::query("VACUUM ANALYZE").execute(pool).await?;
        println!("loaded {n} rows in {:.1} s", t.elapsed().as_secs_f64());
    }
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM flow_records WHERE is_open")
        .fetch_one(pool)
        .await?;
    println!("open records: {open}");
    let (state, conn) = app_state(&s, pool).await?;
    let cookies = sign_in(&state, args.counties).await?;
    plans(&state, pool).await?;
    let raw = raw_rate(pool, args.users, Duration::from_secs(5)).await?;
    println!(
        "raw PostgreSQL: one county's open records counted through the index, {} at once: {raw:.0}/s",
        args.users
    );

    // The same API with the figures counted on every request (`api.console_figures_secs = 0`):
    // what the first person of a county in a while waits for.
    let mut uncached = s.clone();
    uncached.api.console_figures_secs = 0;
    let uncached = AppState {
        settings: Arc::new(uncached),
        figures: Default::default(),
        ..state.clone()
    };
    let stop = CancellationToken::new();
    let (base, server) = serve(state, &stop).await?;
    let (base_uncached, server_uncached) = serve(uncached, &stop).await?;
    let client = reqwest::Client::builder().build()?;
    let pages = [
        ("工作台", &base, "/console/", true),
        ("分布", &base, "/console/distribution", true),
        (
            "工作台 counted on every request",
            &base_uncached,
            "/console/",
            false,
        ),
        (
            "分布 counted on every request",
            &base_uncached,
            "/console/distribution",
            false,
        ),
    ];
    for (page, base, path, target) in pages {
        measure(&client, (page, base, path), &cookies, args, raw, target).await;
    }
    stop.cancel();
    let _ = server.await;
    let _ = server_uncached.await;
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}

/// The API's state on 10 October 2026, 10:00 in Shanghai (the records' dates lie before
/// it), and the RabbitMQ connection its publisher uses.
async fn app_state(
    s: &hongyan_adapters::Settings,
    pool: &sqlx::PgPool,
) -> anyhow::Result<(AppState, lapin::Connection)> {
    let clock = FixedClock::at(chrono::Utc.with_ymd_and_hms(2026, 10, 10, 2, 0, 0).unwrap());
    let conn = amqp::connect(&s.amqp, "bench-console").await?;
    topology::declare_base(
        &conn.create_channel().await?,
        &Names::new(&s.amqp.prefix),
        &s.amqp,
    )
    .await?;
    let state = AppState {
        settings: Arc::new(s.clone()),
        pool: pool.clone(),
        directory: Directory::connect(&s.redis).await?,
        publisher: Publisher::open(&conn).await?,
        clock: Arc::new(clock),
        figures: Default::default(),
    };
    Ok((state, conn))
}

/// One page asked for by `args.users` people for `args.seconds` after a warm-up; prints its
/// figures (`target`: whether the target applies).
async fn measure(
    client: &reqwest::Client,
    (page, base, path): (&str, &str, &str),
    cookies: &[String],
    args: &Args,
    raw: f64,
    target: bool,
) {
    let warm = Instant::now() + Duration::from_secs(2);
    ask(client, base, path, cookies, args.users, warm).await;
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let (mut lat, errors) = ask(client, base, path, cookies, args.users, until).await;
    let took = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    let rate = lat.len() as f64 / took;
    let verdict = match (target, pct(0.99) < 300.0) {
        (false, _) => "for comparison",
        (true, true) => "target p99 < 300 ms: met",
        (true, false) => "target p99 < 300 ms: NOT met",
    };
    println!(
        "{page}: GET {path}, {} users, {} s: {rate:.1} requests/s, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms, {errors} errors ({verdict}); {:.1}% of the raw rate",
        args.users,
        args.seconds,
        pct(0.50),
        pct(0.99),
        pct(1.0),
        100.0 * rate / raw
    );
}

/// Serves `state` on a loopback port of its own: its base URL and the server's task.
async fn serve(
    state: AppState,
    stop: &CancellationToken,
) -> anyhow::Result<(String, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    Ok((
        base,
        tokio::spawn(hongyan_api::serve(state, listener, stop.clone())),
    ))
}

/// A department user per county, signed in: their session cookies, county by county.
async fn sign_in(state: &AppState, counties: usize) -> anyhow::Result<Vec<String>> {
    sqlx::query("DELETE FROM console_sessions")
        .execute(&state.pool)
        .await?;
    sqlx::query("DELETE FROM console_users")
        .execute(&state.pool)
        .await?;
    let mut cookies = Vec::new();
    for c in 0..counties {
        let phone = Phone::parse(&format!("1370000{c:04}"))?;
        let now = state.clock.now();
        let user = users::create(
            &state.pool,
            &format!("c{c:02}"),
            "部长",
            &phone,
            "bench",
            now,
        )
        .await?;
        cookies.push(session::start(state, &user).await?);
    }
    Ok(cookies)
}

/// The plans of both pages' queries for county c00, as PostgreSQL ran them.
async fn plans(state: &AppState, pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let day = todo::Day::of(state);
    let sql = format!("EXPLAIN (ANALYZE, BUFFERS) {}", todo::counts_sql());
    // As the page runs it: without JIT (`todo::count`).
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    let q = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql)).bind("c00");
    let rows = day.bind(q).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    println!("EXPLAIN ANALYZE of 工作台's counts for c00:");
    for (line,) in rows {
        println!("  {line}");
    }
    let sql = format!(
        "EXPLAIN (ANALYZE, BUFFERS) {}",
        hongyan_api::console::department::dist::SPREAD
    );
    let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind("c00")
        .fetch_all(pool)
        .await?;
    println!("EXPLAIN ANALYZE of 分布's counts for c00:");
    for (line,) in rows {
        println!("  {line}");
    }
    Ok(())
}

/// One county's open records counted through the index, `n` at once, for `d`: per second.
async fn raw_rate(pool: &sqlx::PgPool, n: usize, d: Duration) -> anyhow::Result<f64> {
    let until = Instant::now() + d;
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < until {
                    let _: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM flow_records WHERE is_open
                         AND home_org_id IN (SELECT id FROM orgs WHERE path @> ARRAY[$1::text])",
                    )
                    .bind(format!("c{:02}", i % 10))
                    .fetch_one(&pool)
                    .await
                    .expect("the raw count");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// `users` people asking for `path` one request after another until `until`, each signed in
/// at their own county: every latency in microseconds, and the answers that were not 200.
async fn ask(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    cookies: &[String],
    users: usize,
    until: Instant,
) -> (Vec<u64>, usize) {
    let tasks: Vec<_> = (0..users)
        .map(|u| {
            let client = client.clone();
            let url = format!("{base}{path}");
            let cookie = format!("{}={}", session::COOKIE, cookies[u % cookies.len()]);
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0);
                while Instant::now() < until {
                    let t = Instant::now();
                    let res = client.get(&url).header("cookie", &cookie).send().await;
                    let ok = match res {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    lat.push(t.elapsed().as_micros() as u64);
                    if !ok {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (lat, e) = t.await.expect("a user's task");
        all.extend(lat);
        errors += e;
    }
    (all, errors)
}
