//! The monthly update (一月一更新, DESIGN.md section 4) end to end, with the registry running
//! against the real servers: the records come from departures the registry applied, each
//! schedule is fired as `hongyan schedule run NAME --at TIME` fires it (`engine::fire` by hand
//! at an injected due time), and one member confirms in between by a `registration.update`
//! that the running registry applies.
//!
//! What is checked is what a branch secretary would check: who was sent which message (the
//! notification requests in the outbox, by key and phone) and where each record stands on the
//! staleness ladder.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use hongyan_domain::TZ;
use hongyan_scheduler::engine::{self, Fired};
use serde_json::{Value, json};

use crate::env::TestEnv;
use crate::fixtures::*;

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    TZ.with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// `2026-09-10T09:00:00` in Asia/Shanghai.
fn local(t: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").unwrap();
    TZ.from_local_datetime(&naive).unwrap().with_timezone(&Utc)
}

/// The members away, their branch, phone and the day they left (their last confirmation).
const AWAY: [(&str, &str, &str, &str); 4] = [
    ("m-sep", "b1", "13911110001", "2026-09-10T09:00:00"),
    ("m-oct", "b1", "13911110002", "2026-10-10T09:00:00"),
    ("m-late", "b1", "13911110003", "2026-10-12T09:00:00"),
    ("m-b2", "b2", "13911110004", "2026-10-15T09:00:00"),
];

/// The county of `fixtures::county`, its members, and their departures, all applied by the
/// running registry.
async fn away_members(env: &mut TestEnv) {
    env.clock.set(at(2026, 9, 1, 9));
    let mut evs = county();
    evs.extend(
        AWAY.iter()
            .map(|(m, home, phone, _)| member(m, home, phone)),
    );
    env.publish_all(&evs).await;
    env.start_registry();
    env.wait_processed(&evt_id(evs.last().unwrap())).await;
    for (m, home, _, left) in AWAY {
        env.clock.set(local(left));
        let e = outbound(m, home, left, 4, None);
        env.publish(&e).await;
        env.wait_processed(&evt_id(&e)).await;
    }
}

/// The schedule fired by hand at `due`, as the operator's command does.
async fn run(env: &TestEnv, schedule: &str, due: DateTime<Utc>) -> u64 {
    match engine::fire(&env.pool, &env.settings, schedule, due, due, true)
        .await
        .unwrap()
    {
        Fired::Done(rows) => rows,
        Fired::AlreadyTaken => panic!("{schedule} at {due} was already fired"),
    }
}

/// A message as the secretary sees it: (key, template, phone, the count a list carries: the
/// branch's members two months unconfirmed, the county's lost contact).
type Sent = (String, String, String, String);

/// The keys of the messages the monthly schedules send (the registry's own notices about the
/// departures are not this test's business).
const SCHEDULED: [&str; 4] = [
    "monthly_reminder:",
    "monthly_second_nudge:",
    "stale_list_branch:",
    "lost_contact_county:",
];

/// The next `n` scheduled notification requests the outbox relay publishes, by key. The relay
/// deletes what it has published, so the broker is where the messages are seen.
async fn next_sent(watch: &mut lapin::Consumer, n: usize) -> Vec<Sent> {
    let mut out = Vec::new();
    while out.len() < n {
        let d = tokio::time::timeout(Duration::from_secs(30), watch.next())
            .await
            .expect("the scheduled messages reach the broker")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&d.data).unwrap();
        let d = &v["data"];
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        if SCHEDULED.iter().any(|k| s(&d["key"]).starts_with(k)) {
            out.push((
                s(&d["key"]),
                s(&d["template"]),
                s(&d["recipient"]["phone"]),
                s(d["params"]
                    .get("count")
                    .unwrap_or(&d["params"]["lost_contact"])),
            ));
        }
    }
    out.sort();
    out
}

fn expect(rows: &[(&str, &str, &str, &str)]) -> Vec<Sent> {
    rows.iter()
        .map(|(k, t, p, c)| {
            (
                (*k).to_owned(),
                (*t).to_owned(),
                (*p).to_owned(),
                (*c).to_owned(),
            )
        })
        .collect()
}

/// Where a member's open record stands on `day` (Asia/Shanghai), as the ledger export shows
/// it: (months unconfirmed, flags, last confirmed on). The ladder is derived where it is read
/// (the review writes no record).
async fn ladder(env: &TestEnv, member: &str, day: DateTime<Utc>) -> (u32, Value, String) {
    let today = day.with_timezone(&TZ).date_naive();
    let (months, flags) = crate::ledger_views::standing(env, member, today).await;
    let confirmed: String = sqlx::query_scalar(
        "SELECT last_confirmed_on::text FROM api_ledger_records WHERE member_id = $1",
    )
    .bind(member)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    (months, flags, confirmed)
}

#[tokio::test]
async fn reminder_confirmation_second_nudge_and_review_over_one_month() {
    let mut env = TestEnv::new().await;
    env.settings.api.link_secret = Some("test-link-secret".into());
    away_members(&mut env).await;
    let mut watch = env.watch("notification.requested").await;

    // 1 December, 08:00: the review finds every record unconfirmed since it left; two months
    // puts m-sep on b1's list, which goes to b1's contact as a count.
    let dec1 = at(2026, 12, 1, 8);
    let rows = run(&env, "monthly_review", dec1).await;
    assert_eq!(rows, 1, "one list, and no record written");
    assert_eq!(
        next_sent(&mut watch, 1).await,
        expect(&[(
            "stale_list_branch:2026-12:org:b1",
            "stale_list_branch",
            "13900000003",
            "1"
        )])
    );
    assert_eq!(
        ladder(&env, "m-sep", dec1).await,
        (2, json!(["stale"]), "2026-09-10".into())
    );
    assert_eq!(
        ladder(&env, "m-oct", dec1).await,
        (1, json!(["stale"]), "2026-10-10".into())
    );

    // 09:00: every open record unconfirmed this month is reminded, on the member's own phone.
    assert_eq!(run(&env, "monthly_reminder", at(2026, 12, 1, 9)).await, 4);
    assert_eq!(
        next_sent(&mut watch, 4).await,
        expect(&[
            (
                "monthly_reminder:2026-12:member:m-b2",
                "monthly_reminder",
                "13911110004",
                ""
            ),
            (
                "monthly_reminder:2026-12:member:m-late",
                "monthly_reminder",
                "13911110003",
                ""
            ),
            (
                "monthly_reminder:2026-12:member:m-oct",
                "monthly_reminder",
                "13911110002",
                ""
            ),
            (
                "monthly_reminder:2026-12:member:m-sep",
                "monthly_reminder",
                "13911110001",
                ""
            ),
        ])
    );

    // 5 December: m-oct confirms through the registry; the scheduler does not take part.
    let dec5 = at(2026, 12, 5, 10);
    env.clock.set(dec5);
    let confirm = update(
        "m-oct",
        "b1",
        "2026-12-05T10:00:00",
        json!({"confirmed_unchanged": true}),
    );
    env.publish(&confirm).await;
    env.as_batches_settle(
        "the registry applies m-oct's update to the ledger",
        || async { ladder(&env, "m-oct", dec5).await.2 == "2026-12-05" },
    )
    .await;
    assert_eq!(
        ladder(&env, "m-oct", dec5).await,
        (0, json!([]), "2026-12-05".into()),
        "a confirmation takes the ladder's mark off"
    );

    // 20 December: the second nudge skips m-oct and reaches the other three, no one else.
    assert_eq!(
        run(&env, "monthly_second_nudge", at(2026, 12, 20, 9)).await,
        3
    );
    assert_eq!(
        next_sent(&mut watch, 3).await,
        expect(&[
            (
                "monthly_second_nudge:2026-12:member:m-b2",
                "monthly_reminder",
                "13911110004",
                ""
            ),
            (
                "monthly_second_nudge:2026-12:member:m-late",
                "monthly_reminder",
                "13911110003",
                ""
            ),
            (
                "monthly_second_nudge:2026-12:member:m-sep",
                "monthly_reminder",
                "13911110001",
                ""
            ),
        ])
    );

    // 1 January, 08:00: the review moves the others a month up the ladder: two months puts
    // m-late and m-b2 on their branches' lists (with m-sep on b1's), three months makes m-sep
    // lost contact and tells the county department. Nobody is five months without
    // organizational life yet: no lapse warning.
    let jan1 = at(2027, 1, 1, 8);
    let rows = run(&env, "monthly_review", jan1).await;
    assert_eq!(rows, 3, "three lists, and no record written");
    assert_eq!(
        next_sent(&mut watch, 3).await,
        expect(&[
            (
                "lost_contact_county:2027-01:org:c1",
                "lost_contact_county",
                "13900000001",
                "1"
            ),
            (
                "stale_list_branch:2027-01:org:b1",
                "stale_list_branch",
                "13900000003",
                "2"
            ),
            (
                "stale_list_branch:2027-01:org:b2",
                "stale_list_branch",
                "13900000004",
                "1"
            ),
        ])
    );
    assert_eq!(
        ladder(&env, "m-oct", jan1).await,
        (0, json!([]), "2026-12-05".into())
    );
    assert_eq!(
        ladder(&env, "m-late", jan1).await,
        (2, json!(["stale"]), "2026-10-12".into())
    );
    assert_eq!(
        ladder(&env, "m-b2", jan1).await,
        (2, json!(["stale"]), "2026-10-15".into())
    );
    assert_eq!(
        ladder(&env, "m-sep", jan1).await,
        (3, json!(["lost_contact"]), "2026-09-10".into())
    );
    env.finish().await;
}
