//! The small county the dispatch tests report on, written straight into the ledger tables
//! (orgs, members, flow records, a few history rows) so every date sits where a test needs it.

use serde_json::json;

use crate::env::TestEnv;

async fn org(env: &TestEnv, id: &str, kind: &str, path: &[&str], region: &str) {
    let parent = (path.len() > 1).then(|| path[path.len() - 2]);
    sqlx::query(
        "INSERT INTO orgs (id, name, kind, parent_id, path, region_code, contact, state_at)
         VALUES ($1, $1 || '党组织', $2, $3, $4, $5, '{\"name\": \"王书记\", \"phone\": \"13800000000\"}', now())",
    )
    .bind(id)
    .bind(kind)
    .bind(parent)
    .bind(path)
    .bind(region)
    .execute(&env.pool)
    .await
    .unwrap();
}

/// One flow record: `(member, branch, status, region, left_on, arrived_on, last_confirmed_on,
/// closed_on, employer_type, certificate, transfer_suggested, last talk)`.
type Rec<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    bool,
    bool,
    Option<&'a str>,
);

async fn record(env: &TestEnv, r: Rec<'_>) {
    let (
        member,
        branch,
        status,
        region,
        left,
        arrived,
        confirmed,
        closed,
        employer,
        cert,
        transfer,
        talk,
    ) = r;
    sqlx::query(
        "INSERT INTO members (id, home_org_id, phone, doc, state_at) VALUES ($1, $2, '13900000000', '{}', now())",
    )
    .bind(member)
    .bind(branch)
    .execute(&env.pool)
    .await
    .unwrap();
    let doc = json!({
        "member_id": member, "home_org_id": branch, "status": status,
        "location": {"region_code": region, "address": "某路1号", "employer": "某公司", "employer_type": employer},
        "left_on": left, "arrived_on": arrived, "last_confirmed_on": confirmed, "closed_on": closed,
        "transfer_suggested": transfer,
        "contacts": {"talk": talk, "family_visit": null, "home_meeting": null, "phone": null},
        "flags": [],
    });
    let open = !matches!(status, "returned" | "transferred");
    sqlx::query(
        "INSERT INTO flow_records (id, member_id, home_org_id, status, is_open, region_code, certificate_no,
           phone, last_confirmed_on, version, state_at, doc)
         VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, '13900000000', $7::date, 1, now(), $8)",
    )
    .bind(member)
    .bind(branch)
    .bind(status)
    .bind(open)
    .bind(region)
    .bind(cert.then(|| format!("5226272026{:05}", member.len() * 7 + member.as_bytes()[1] as usize)))
    .bind(confirmed)
    .bind(doc)
    .execute(&env.pool)
    .await
    .unwrap();
}

async fn confirmed_by(env: &TestEnv, member: &str, kind: &str, at: &str) {
    sqlx::query(
        "INSERT INTO history (event_id, event_type, member_id, occurred_at, actor, data, applied)
         VALUES (gen_random_uuid(), $1, $2, $3::timestamptz, '{}', '{}', true)",
    )
    .bind(kind)
    .bind(member)
    .bind(at)
    .execute(&env.pool)
    .await
    .unwrap();
}

async fn unmatched(env: &TestEnv, org: &str, arrived: &str, resolved: Option<&str>) {
    sqlx::query(
        "INSERT INTO unmatched_arrivals (event_id, receiving_org_id, county, name, phone, arrived_on, location, resolved_at)
         VALUES (gen_random_uuid(), $1, '522627', '张三', '13700000000', $2::date, '{}', $3::timestamptz)",
    )
    .bind(org)
    .bind(arrived)
    .bind(resolved)
    .execute(&env.pool)
    .await
    .unwrap();
}

/// A city department (522600) over a county department (522627) with two branches.
pub async fn county(env: &TestEnv) {
    org(env, "qn", "department", &["qn"], "522600").await;
    org(env, "qx", "department", &["qn", "qx"], "522627").await;
    org(env, "b1", "branch", &["qn", "qx", "b1"], "522627001").await;
    org(env, "b2", "branch", &["qn", "qx", "b2"], "522627002").await;
    let (s, n) = (Some, None::<&str>);
    let recs: [Rec<'_>; 9] = [
        // b1: out to Shenzhen (cross-province), left in the quarter, confirmed in September.
        (
            "m1",
            "b1",
            "out",
            "440305",
            s("2026-07-10"),
            n,
            s("2026-09-05"),
            n,
            "private",
            true,
            false,
            n,
        ),
        // b1: checked in at Guiyang (in province, other city), arrived in August: stale.
        (
            "m2",
            "b1",
            "checked_in",
            "520102",
            s("2026-03-01"),
            s("2026-08-02"),
            s("2026-08-02"),
            n,
            "state_owned",
            false,
            false,
            n,
        ),
        // b1: home visit, same city, last confirmed in May: lost contact, but a talk in April
        // keeps it under the five months of the lapse warning.
        (
            "m3",
            "b1",
            "home_visit",
            "522601",
            s("2025-11-01"),
            n,
            s("2026-05-10"),
            n,
            "private",
            true,
            false,
            s("2026-04-01"),
        ),
        // b1: returned for good in August.
        (
            "m4",
            "b1",
            "returned",
            "440305",
            s("2026-01-05"),
            n,
            s("2026-01-05"),
            s("2026-08-20"),
            "private",
            false,
            false,
            n,
        ),
        // b2: out to Hangzhou since February, last confirmed in March: lost contact, lapse risk.
        (
            "m5",
            "b2",
            "out",
            "330106",
            s("2026-02-01"),
            n,
            s("2026-03-15"),
            n,
            "private",
            false,
            true,
            n,
        ),
        // b2: left on 1 October, after the quarter: not in any figure.
        (
            "m6",
            "b2",
            "out",
            "330106",
            s("2026-10-01"),
            n,
            s("2026-10-01"),
            n,
            "private",
            true,
            false,
            n,
        ),
        // b2: transferred in September.
        (
            "m7",
            "b2",
            "transferred",
            "330106",
            s("2025-06-01"),
            n,
            s("2025-06-01"),
            s("2026-09-10"),
            "private",
            false,
            false,
            n,
        ),
        // b2: returned in June, before the quarter.
        (
            "m8",
            "b2",
            "returned",
            "330106",
            s("2025-06-01"),
            n,
            s("2025-06-01"),
            s("2026-06-30"),
            "private",
            false,
            false,
            n,
        ),
        // b2: left and checked in within the county in September.
        (
            "m9",
            "b2",
            "checked_in",
            "522627",
            s("2026-09-20"),
            s("2026-09-25"),
            s("2026-09-25"),
            n,
            "self_employed",
            true,
            false,
            n,
        ),
    ];
    for r in recs {
        record(env, r).await;
    }
    confirmed_by(
        env,
        "m1",
        "registration.outbound",
        "2026-07-10T10:00:00+08:00",
    )
    .await;
    confirmed_by(
        env,
        "m1",
        "registration.update",
        "2026-08-15T10:00:00+08:00",
    )
    .await;
    // A contact is not a confirmation.
    confirmed_by(env, "m2", "contact.recorded", "2026-09-15T10:00:00+08:00").await;
    unmatched(env, "b1", "2026-09-01", None).await;
    unmatched(env, "b1", "2026-09-01", Some("2026-09-15T10:00:00+08:00")).await;
}
