//! The ledger the benchmarks read, bulk-loaded with COPY: a city of county departments, their
//! branches, members away and a history line each. Shared by `bench-dispatch` and
//! `bench-console`, so both measure the same data.

use std::fmt::Write as _;

use chrono::{Days, NaiveDate};

/// Rows per COPY data message.
const CHUNK: usize = 20_000;

pub fn county_code(c: usize) -> String {
    format!("5226{:02}", c + 1)
}

struct Sizes {
    counties: usize,
    branches: usize,
    records: usize,
}

/// COPYs `sql`'s rows, made by `row` for 0..n, in chunks. Returns n.
async fn copy(
    pool: &sqlx::PgPool,
    sql: &str,
    n: usize,
    mut row: impl FnMut(usize, &mut String),
) -> anyhow::Result<usize> {
    let mut conn = pool.acquire().await?;
    let mut copy = conn.copy_in_raw(sql).await?;
    let mut buf = String::with_capacity(CHUNK * 400);
    for i in 0..n {
        row(i, &mut buf);
        if (i + 1) % CHUNK == 0 || i + 1 == n {
            copy.send(buf.as_bytes()).await?;
            buf.clear();
        }
    }
    copy.finish().await?;
    Ok(n)
}

/// Loads a city (`city`, 522600) of `counties` county departments (`c00`…, 522601…) with
/// `branches` branches (`b00000`…) and `records` flow records (members `m0000000`…, one history
/// line each), 80% of them open, by COPY. Returns the rows loaded.
pub async fn load(
    pool: &sqlx::PgPool,
    counties: usize,
    branches: usize,
    records: usize,
) -> anyhow::Result<usize> {
    let args = Sizes {
        counties,
        branches,
        records,
    };
    let per_county = args.branches / args.counties;
    let per_branch = args.records / args.branches;
    let contact = r#"{"name": "王书记", "phone": "13800000000"}"#;
    let orgs = copy(
        pool,
        "COPY orgs (id, name, kind, parent_id, path, region_code, contact, state_at) FROM STDIN",
        1 + args.counties + args.branches,
        |i, b| {
            let now = "2026-01-01 00:00:00+08";
            if i == 0 {
                writeln!(b, "city\t黔东南州委组织部\tdepartment\t\\N\t{{city}}\t522600\t{contact}\t{now}").unwrap();
            } else if i <= args.counties {
                let c = i - 1;
                writeln!(b, "c{c:02}\t县委组织部{c}\tdepartment\tcity\t{{city,c{c:02}}}\t{}\t{contact}\t{now}", county_code(c)).unwrap();
            } else {
                let br = i - 1 - args.counties;
                let c = br / per_county;
                writeln!(b, "b{br:05}\t第{br}党支部\tbranch\tc{c:02}\t{{city,c{c:02},b{br:05}}}\t{}{:03}\t{contact}\t{now}", county_code(c), br % per_county % 1000).unwrap();
            }
        },
    )
    .await?;
    let members = copy(
        pool,
        "COPY members (id, home_org_id, phone, doc, state_at) FROM STDIN",
        args.records,
        |i, b| {
            let br = i / per_branch;
            writeln!(b, "m{i:07}\tb{br:05}\t139{i:08}\t{{\"id\": \"m{i:07}\", \"name\": \"党员{i}\", \"joined_party_on\": \"2010-07-01\"}}\t2026-01-01 00:00:00+08").unwrap();
        },
    )
    .await?;
    let q3_start = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    let year_start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let mut cert_seq = vec![0usize; args.counties];
    let records = copy(
        pool,
        "COPY flow_records (id, member_id, home_org_id, status, is_open, region_code, certificate_no, phone,
           last_confirmed_on, version, state_at, doc) FROM STDIN",
        args.records,
        |i, b| {
            let br = i / per_branch;
            let c = (br / per_county).min(args.counties - 1);
            let county = county_code(c);
            let (status, open) = match i % 10 {
                0 => ("returned", false),
                1 => ("transferred", false),
                2..=5 => ("out", true),
                6..=8 => ("checked_in", true),
                _ => ("home_visit", true),
            };
            let region = match i % 3 {
                0 => "440305".to_owned(),
                1 => "520102".to_owned(),
                _ => county.clone(),
            };
            let left = year_start + Days::new((i % 270) as u64);
            let arrived = (status == "checked_in").then(|| left + Days::new(5));
            let confirmed = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + Days::new((i % 200) as u64);
            let closed = (!open).then(|| q3_start + Days::new((i % 90) as u64));
            let cert = (i % 2 == 0).then(|| {
                cert_seq[c] += 1;
                format!("{county}2026{:05}", cert_seq[c])
            });
            let employer = ["private", "state_owned", "self_employed", "government", "other"][i % 5];
            let talk = (i % 4 == 0).then(|| confirmed.to_string());
            let q = |d: Option<String>| d.map_or("null".to_owned(), |d| format!("\"{d}\""));
            let doc = format!(
                "{{\"member_id\": \"m{i:07}\", \"home_org_id\": \"b{br:05}\", \"status\": \"{status}\", \
                 \"location\": {{\"region_code\": \"{region}\", \"address\": \"某路{i}号\", \"employer\": \"某公司\", \"employer_type\": \"{employer}\"}}, \
                 \"left_on\": \"{left}\", \"arrived_on\": {}, \"last_confirmed_on\": \"{confirmed}\", \"closed_on\": {}, \
                 \"transfer_suggested\": {}, \"flags\": [], \
                 \"contacts\": {{\"talk\": {}, \"family_visit\": null, \"home_meeting\": null, \"phone\": null}}}}",
                q(arrived.map(|d| d.to_string())),
                q(closed.map(|d| d.to_string())),
                i % 7 == 0,
                q(talk),
            );
            writeln!(
                b,
                "{}\tm{i:07}\tb{br:05}\t{status}\t{open}\t{region}\t{}\t139{i:08}\t{confirmed}\t1\t2026-09-01 00:00:00+08\t{doc}",
                uuid::Uuid::from_u128(i as u128 + 1),
                cert.as_deref().unwrap_or("\\N"),
            )
            .unwrap();
        },
    )
    .await?;
    let history = copy(
        pool,
        "COPY history (event_id, event_type, member_id, occurred_at, actor, data, applied) FROM STDIN",
        args.records,
        |i, b| {
            let at = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + Days::new((i % 200) as u64);
            writeln!(b, "{}\tregistration.update\tm{i:07}\t{at} 10:00:00+08\t{{}}\t{{}}\ttrue", uuid::Uuid::from_u128((1 << 64) + i as u128)).unwrap();
        },
    )
    .await?;
    Ok(orgs + members + records + history)
}
