//! `bench-api`: directory lookups over HTTP (issue 9, "Speed"). 100,000 members away are
//! loaded into the directory, the API is served in this process on loopback, and 64
//! keep-alive connections ask `GET /v1/members/{id}/location` for random members for the
//! given seconds. Prints requests/s, p50 and p99, beside the raw Redis rate of the same lookup
//! (`HGETALL` through the directory, 64 at a time) measured in the same run.
//!
//! `cargo run --release -p hongyan-tests --bin bench-api -- [--seconds 10]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use hongyan_adapters::amqp::publisher::Publisher;
use hongyan_adapters::amqp::{self, Names, topology};
use hongyan_adapters::directory::{Directory, Place};
use hongyan_adapters::store::{self, keys};
use hongyan_api::state::AppState;
use hongyan_domain::clock::SystemClock;
use rand::Rng as _;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MEMBERS: usize = 100_000;
const CONNECTIONS: usize = 64;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .map(|s| s.parse().expect("--seconds takes a whole number"))
        .unwrap_or(10);
    let id = format!("hyb_api_{}", std::process::id());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut s = hongyan_adapters::Settings::load(&dir)?;
    s.amqp.prefix = format!("{id}.");
    s.amqp.queue_expires_ms = Some(60_000);
    s.redis.prefix = format!("{id}:");
    s.database.url = format!("postgres://postgres@127.0.0.1:5432/{id}");
    s.database.max_connections = 8;
    s.api.requests_per_minute = u32::MAX;
    store::migrate(&s.database).await?;
    let pool = store::pool(&s.database)?;
    sqlx::query(
        "INSERT INTO orgs (id, name, kind, parent_id, path, region_code, contact, state_at) VALUES \
         ('c1', '县委组织部', 'department', NULL, ARRAY['c1'], '522636', '{}', now()), \
         ('b1', '一支部', 'branch', 'c1', ARRAY['c1','b1'], '522636100201', '{}', now())",
    )
    .execute(&pool)
    .await?;
    let (_, key) = keys::create(&pool, "c1", "bench").await?;
    let directory = Directory::connect(&s.redis).await?;
    let started = Instant::now();
    let places: Vec<Place> = (0..MEMBERS)
        .map(|i| Place {
            member_id: format!("m{i}"),
            version: 1,
            status: "out".into(),
            region_code: "440106001".into(),
            inflow_org_id: None,
            home_org_id: "b1".into(),
        })
        .collect();
    for chunk in places.chunks(2_000) {
        directory.put(chunk).await?;
    }
    println!(
        "Loaded {MEMBERS} members into the directory in {:.1} s.",
        started.elapsed().as_secs_f64()
    );

    let raw = raw_redis(&directory, Duration::from_secs(3)).await;
    println!("Raw Redis lookups (HGETALL via the directory, 64 in flight): {raw:.0}/s");

    let conn = amqp::connect(&s.amqp, "bench-api").await?;
    topology::declare_base(
        &conn.create_channel().await?,
        &Names::new(&s.amqp.prefix),
        &s.amqp,
    )
    .await?;
    let state = AppState {
        settings: Arc::new(s.clone()),
        pool: pool.clone(),
        directory: directory.clone(),
        publisher: Publisher::open(&conn).await?,
        clock: Arc::new(SystemClock),
        figures: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let stop = CancellationToken::new();
    let server = tokio::spawn(hongyan_api::serve(state, listener, stop.clone()));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()?;
    // Warm up: every connection opened, caches filled.
    let warm = Instant::now() + Duration::from_secs(1);
    load(&client, &base, &key, warm).await;
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let (mut lat, errors) = load(&client, &base, &key, until).await;
    let took = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1000.0;
    println!(
        "GET /v1/members/{{id}}/location over {CONNECTIONS} keep-alive connections, {seconds} s: \
         {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors (target >= 10000/s, p99 < 10 ms); \
         {:.0}% of the raw Redis rate",
        lat.len() as f64 / took,
        pct(0.50),
        pct(0.99),
        100.0 * lat.len() as f64 / took / raw
    );

    stop.cancel();
    let _ = server.await;
    pool.close().await;
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres").await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {id} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    let client = redis::Client::open(s.redis.url.as_str())?;
    let mut c = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{id}:*"))
        .query_async(&mut c)
        .await?;
    for chunk in keys.chunks(10_000) {
        let _: () = redis::cmd("DEL").arg(chunk).query_async(&mut c).await?;
    }
    Ok(())
}

/// Latencies in microseconds of every successful request, and the count of failures.
async fn load(client: &reqwest::Client, base: &str, key: &str, until: Instant) -> (Vec<u32>, u64) {
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, base, key) = (client.clone(), base.to_owned(), key.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            while Instant::now() < until {
                let m = rand::rng().random_range(0..MEMBERS);
                let t = Instant::now();
                let ok = match client
                    .get(format!("{base}/v1/members/m{m}/location"))
                    .bearer_auth(&key)
                    .send()
                    .await
                {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    lat.push(t.elapsed().as_micros() as u32);
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("a load task panicked");
        all.extend(l);
        errors += e;
    }
    (all, errors)
}

async fn raw_redis(directory: &Directory, d: Duration) -> f64 {
    let until = Instant::now() + d;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let dir = directory.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                let m = rand::rng().random_range(0..MEMBERS);
                if dir.get(&format!("m{m}")).await.is_ok() {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut n = 0;
    for t in tasks {
        n += t.await.unwrap_or(0);
    }
    n as f64 / started.elapsed().as_secs_f64()
}
