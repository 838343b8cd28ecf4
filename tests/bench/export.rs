//! `cargo run --release -p hongyan-tests --bin bench-export [-- --records 100000]`
//!
//! A county of `--records` open records (10 townships, 100 branches), loaded with COPY, is
//! exported as CSV and as XLSX through HTTP on loopback (a router with a route calling
//! `hongyan_api::ledger::export`, served in this process), and read by a client that only
//! counts bytes. Prints rows/s for each format, the process's RSS growth while streaming and
//! its peak (VmHWM: server, client and the seeding together), and the CPU time spent in this
//! process and in the PostgreSQL backends serving its database: on a shared machine those two
//! move less than the rate does. Uses its own database and drops it afterwards, unless
//! `--keep-database` (to try `EXPLAIN ANALYZE` on it; it prints the name).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{NaiveDate, TimeZone, Utc};
use clap::Parser;
use hongyan_adapters::amqp::{self, publisher::Publisher};
use hongyan_adapters::directory::Directory;
use hongyan_adapters::store;
use hongyan_api::ledger::{self, LedgerFormat, LedgerScope};
use hongyan_api::state::AppState;
use hongyan_domain::clock::SystemClock;
use hongyan_domain::ledger::{FlowRecord, LastContacts};
use hongyan_domain::payloads::{Contact, Location};
use hongyan_domain::{
    CertificateNo, EmployerType, MemberId, OrgId, Phone, Reason, RegionCode, Status,
};

mod cpu;
mod isolated;

use cpu::{CpuUse, rss_mib};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Leave the seeded database in place (its name is printed) instead of dropping it.
    #[arg(long)]
    keep_database: bool,
}

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOWNSHIPS: usize = 10;
const BRANCHES_PER_TOWNSHIP: usize = 10;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (id, s) = isolated::settings()?;
    store::migrate(&s.database).await?;
    let pool = store::pool(&s.database)?;
    println!(
        "hongyan ledger export benchmark: {} records in one county (release build: {})",
        args.records,
        !cfg!(debug_assertions)
    );
    let seeding = Instant::now();
    seed(&pool, args.records).await.context("seeding")?;
    println!(
        "seeded with COPY in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    sqlx::query("ANALYZE").execute(&pool).await?;

    let conn = amqp::connect(&s.amqp, "bench-export").await?;
    let state = AppState {
        settings: Arc::new(s.clone()),
        pool: pool.clone(),
        directory: Directory::connect(&s.redis).await?,
        publisher: Publisher::open(&conn).await?,
        clock: Arc::new(SystemClock),
        figures: Default::default(),
    };
    let app = axum::Router::new()
        .route("/ledger/{format}", axum::routing::get(route))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();

    for format in ["csv", "xlsx", "csv", "xlsx"] {
        let (rss_before, _) = rss_mib();
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = tokio::spawn(peak_rss_while(sampling.clone()));
        let pg_at_start = backend_cpu(&pool, &id).await?;
        let (start, cpu_at_start) = (Instant::now(), CpuUse::now());
        let mut res = http
            .get(format!("{base}/ledger/{format}"))
            .send()
            .await?
            .error_for_status()?;
        let (mut bytes, mut lines) = (0usize, 0usize);
        while let Some(chunk) = res.chunk().await? {
            bytes += chunk.len();
            lines += chunk.iter().filter(|&&b| b == b'\n').count();
        }
        let elapsed = start.elapsed();
        let cpu = CpuUse::now().since(cpu_at_start);
        let pg_jiffies = backend_cpu_since(&pool, &id, &pg_at_start).await?;
        sampling.store(false, Ordering::Relaxed);
        let peak_during = sampler.await?;
        let (_, hwm) = rss_mib();
        let rate = args.records as f64 / elapsed.as_secs_f64();
        println!(
            "{format:>4}: {rate:>9.0} rows/s ({:.2} s, {:.1} MiB{})",
            elapsed.as_secs_f64(),
            bytes as f64 / 1048576.0,
            if format == "csv" {
                format!(", {} rows", lines.saturating_sub(1))
            } else {
                String::new()
            }
        );
        println!(
            "      RSS {rss_before:.0} MiB before, at most {peak_during:.0} MiB while streaming \
             (growth {:.0} MiB); process peak VmHWM {hwm:.0} MiB",
            (peak_during - rss_before).max(0.0)
        );
        println!(
            "      {}; PostgreSQL backends {:.0} ms",
            cpu.per_thousand(args.records, "rows"),
            pg_jiffies as f64 * 10.0 * 1000.0 / args.records as f64
        );
    }

    pool.close().await;
    if args.keep_database {
        println!("kept the database: psql -h 127.0.0.1 -U postgres {id}");
        let _ = conn.close(200, "done".into()).await;
        return Ok(());
    }
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres").await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {id} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}

/// The county department reads its whole subtree (every phone in full).
async fn route(State(state): State<AppState>, Path(format): Path<String>) -> Response {
    let format = if format == "xlsx" {
        LedgerFormat::Xlsx
    } else {
        LedgerFormat::Csv
    };
    ledger::export(&state, "bc", "bc", LedgerScope::Subtree, format).await
}

/// CPU time (utime + stime, in jiffies) of each PostgreSQL backend connected to `database`,
/// by pid, from /proc (the server runs on this machine); empty where /proc is missing.
async fn backend_cpu(
    pool: &sqlx::PgPool,
    database: &str,
) -> anyhow::Result<std::collections::HashMap<i32, u64>> {
    let pids: Vec<i32> = sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
        .bind(database)
        .fetch_all(pool)
        .await?;
    Ok(pids
        .into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after = stat.rsplit_once(')')?.1;
            // After the name: state, then ppid (field 4) on; utime and stime are fields 14
            // and 15.
            let field =
                |n: usize| -> Option<u64> { after.split_whitespace().nth(n - 3)?.parse().ok() };
            Some((pid, field(14)? + field(15)?))
        })
        .collect())
}

/// The backends' CPU time since `start` (a backend that connected meanwhile counts whole).
async fn backend_cpu_since(
    pool: &sqlx::PgPool,
    database: &str,
    start: &std::collections::HashMap<i32, u64>,
) -> anyhow::Result<u64> {
    let now = backend_cpu(pool, database).await?;
    Ok(now
        .iter()
        .map(|(pid, t)| t.saturating_sub(start.get(pid).copied().unwrap_or(0)))
        .sum())
}

/// The highest VmRSS seen every 10 ms until told to stop, in MiB.
async fn peak_rss_while(on: Arc<AtomicBool>) -> f64 {
    let mut peak = 0.0f64;
    while on.load(Ordering::Relaxed) {
        peak = peak.max(rss_mib().0);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    peak.max(rss_mib().0)
}

async fn seed(pool: &sqlx::PgPool, records: usize) -> anyhow::Result<()> {
    let contact = serde_json::json!({"name": "联系人", "phone": "13900000001"});
    let mut orgs = vec![("bc".to_owned(), None, vec!["bc".to_owned()], "522636")];
    for t in 0..TOWNSHIPS {
        let tid = format!("bt{t}");
        orgs.push((
            tid.clone(),
            Some("bc".to_owned()),
            vec!["bc".into(), tid.clone()],
            "522636100",
        ));
        for b in 0..BRANCHES_PER_TOWNSHIP {
            let bid = format!("bb{t}{b}");
            orgs.push((
                bid.clone(),
                Some(tid.clone()),
                vec!["bc".into(), tid.clone(), bid],
                "522636100201",
            ));
        }
    }
    for (oid, parent, path, region) in &orgs {
        let kind = match path.len() {
            1 => "department",
            2 => "committee",
            _ => "branch",
        };
        sqlx::query(
            "INSERT INTO orgs (id, name, kind, parent_id, path, region_code, contact, state_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now())",
        )
        .bind(oid)
        .bind(format!("{oid}党支部"))
        .bind(kind)
        .bind(parent)
        .bind(path)
        .bind(region)
        .bind(&contact)
        .execute(pool)
        .await?;
    }
    let branches: Vec<&String> = orgs
        .iter()
        .filter(|o| o.2.len() == 3)
        .map(|o| &o.0)
        .collect();
    let at = Utc
        .with_ymd_and_hms(2026, 2, 10, 1, 0, 0)
        .unwrap()
        .fixed_offset();
    let left = NaiveDate::from_ymd_opt(2026, 2, 10).unwrap();
    let mut conn = pool.acquire().await?;
    for (table, columns) in [
        ("members", "id, home_org_id, phone, doc, state_at"),
        (
            "flow_records",
            "id, member_id, home_org_id, status, is_open, region_code, inflow_org_id, \
             certificate_no, phone, last_confirmed_on, version, state_at, doc",
        ),
    ] {
        let mut copy = conn
            .copy_in_raw(&format!(
                "COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"
            ))
            .await?;
        let mut w = csv::Writer::from_writer(Vec::with_capacity(1 << 20));
        for i in 0..records {
            let member = format!("m{i:06}");
            let home = branches[i % branches.len()];
            let phone = format!("139{i:08}");
            if table == "members" {
                let doc = serde_json::json!({"id": member, "name": format!("党员{i}"), "phone": phone,
                    "home_org_id": home, "joined_party_on": "2010-07-01", "pair": null, "channels": ["sms"]});
                let (doc, state_at) = (doc.to_string(), at.to_rfc3339());
                w.write_record([
                    member.as_str(),
                    home.as_str(),
                    phone.as_str(),
                    doc.as_str(),
                    state_at.as_str(),
                ])?;
            } else {
                let rec = record(i, &member, home, &phone, at, left);
                let cert = rec.certificate_no.as_ref().map(|c| c.as_str().to_owned());
                let (rid, state_at, doc) = (
                    rec.record_id.to_string(),
                    at.to_rfc3339(),
                    serde_json::to_string(&rec)?,
                );
                w.write_record([
                    rid.as_str(),
                    member.as_str(),
                    home.as_str(),
                    "out",
                    "t",
                    rec.location.region_code.as_str(),
                    "",
                    cert.as_deref().unwrap_or(""),
                    phone.as_str(),
                    "2026-02-10",
                    "1",
                    state_at.as_str(),
                    doc.as_str(),
                ])?;
            }
            if (i + 1) % 10_000 == 0 || i + 1 == records {
                let buf = std::mem::replace(
                    &mut w,
                    csv::Writer::from_writer(Vec::with_capacity(1 << 20)),
                )
                .into_inner()
                .map_err(|e| anyhow::anyhow!("csv buffer: {e}"))?;
                copy.send(buf).await?;
            }
        }
        copy.finish().await?;
    }
    Ok(())
}

fn record(
    i: usize,
    member: &str,
    home: &str,
    phone: &str,
    at: chrono::DateTime<chrono::FixedOffset>,
    left: NaiveDate,
) -> FlowRecord {
    // Counties' townships in Guangdong and Zhejiang, so the place names vary.
    let region = ["440106001", "440305003", "330106004", "320583101"][i % 4];
    FlowRecord {
        record_id: uuid::Uuid::now_v7(),
        member_id: MemberId::parse(member).unwrap(),
        home_org_id: OrgId::parse(home).unwrap(),
        status: Status::Out,
        reason: Some(Reason::Work),
        expected_months: Some(4),
        location: Location {
            region_code: RegionCode::parse(region).unwrap(),
            address: format!("天河路{}号{}栋", i % 500, i % 30),
            employer: Some(format!("某某电子科技有限公司{}厂", i % 50)),
            employer_type: EmployerType::Private,
        },
        phone: Phone::parse(phone).unwrap(),
        inflow_org_id: None,
        inflow_contact: Some(Contact {
            name: "王书记".into(),
            phone: Phone::parse("13700000007").unwrap(),
        }),
        certificate_no: (i < 99_999).then(|| CertificateNo::compose("522636", 2026, i as u32 + 1)),
        left_on: Some(left),
        arrived_on: None,
        last_confirmed_on: Some(left),
        closed_on: None,
        new_org: None,
        flags: Vec::new(),
        transfer_suggested: false,
        reminders_stopped: false,
        contacts: LastContacts {
            talk: Some(left),
            ..LastContacts::default()
        },
        version: 1,
        state_at: at,
    }
}
