//! The scheduler's jobs other than the monthly ones (DESIGN.md section 4), each called directly
//! inside a transaction with a firing at a chosen due time, against a real PostgreSQL: the
//! quarterly talk and its follow-up, the family visit, the political birthday, the return peaks,
//! and study packs on the activity day and at their `send_at`, the last end to end through the
//! notifier to a signed robot fake and, for a branch without a robot, its away members by SMS.
//! The ledger is written directly (as in dispatch/county.rs), so every date sits where the test needs.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use hongyan_adapters::outbox;
use hongyan_scheduler::firing::Firing;
use hongyan_scheduler::jobs;
use hongyan_scheduler::study::{activity_day, study_send_at};
use serde_json::{Value, json};
use sqlx::PgConnection;

use crate::env::TestEnv;
use crate::fakes;
use crate::notifier::start;

/// A local (Asia/Shanghai) time `YYYY-MM-DD HH:MM`.
fn at(local: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
    hongyan_domain::TZ
        .from_local_datetime(&naive)
        .unwrap()
        .with_timezone(&Utc)
}

async fn org(
    env: &TestEnv,
    id: &str,
    kind: &str,
    path: &[&str],
    region: &str,
    chat: Option<Value>,
) {
    let parent = (path.len() > 1).then(|| path[path.len() - 2]);
    let phone = format!(
        "138000000{:02}",
        id.len() * 10 + usize::from(id.as_bytes()[id.len() - 1] % 10)
    );
    sqlx::query(
        "INSERT INTO orgs (id, name, kind, parent_id, path, region_code, contact, chat, state_at)
         VALUES ($1, $1 || '党支部', $2, $3, $4, $5, $6, $7, now())",
    )
    .bind(id)
    .bind(kind)
    .bind(parent)
    .bind(path)
    .bind(region)
    .bind(json!({"name": format!("{id}书记"), "phone": phone}))
    .bind(chat)
    .execute(&env.pool)
    .await
    .unwrap();
}

/// A member of `branch`, with their pair (if any) and joining date.
struct M<'a> {
    id: &'a str,
    branch: &'a str,
    phone: &'a str,
    joined: &'a str,
    pair: Option<(&'a str, &'a str)>,
}

async fn member(env: &TestEnv, m: &M<'_>) {
    let mut doc = json!({"id": m.id, "name": format!("党员{}", m.id), "phone": m.phone,
                         "home_org_id": m.branch, "joined_party_on": m.joined});
    if let Some((name, phone)) = m.pair {
        doc["pair"] = json!({"name": name, "phone": phone});
    }
    sqlx::query("INSERT INTO members (id, home_org_id, phone, doc, state_at) VALUES ($1, $2, $3, $4, now())")
        .bind(m.id)
        .bind(m.branch)
        .bind(m.phone)
        .bind(doc)
        .execute(&env.pool)
        .await
        .unwrap();
}

/// A flow record of the member: open or closed, with its last talk and family visit.
async fn record(
    env: &TestEnv,
    member: &str,
    branch: &str,
    open: bool,
    talk: Option<&str>,
    visit: Option<&str>,
) {
    let doc = json!({"member_id": member, "home_org_id": branch, "status": if open {"out"} else {"returned"},
                     "contacts": {"talk": talk, "family_visit": visit, "home_meeting": null, "phone": null},
                     "flags": []});
    sqlx::query(
        "INSERT INTO flow_records (id, member_id, home_org_id, status, is_open, region_code, phone, version, state_at, doc)
         SELECT gen_random_uuid(), $1, $2, $3, $4, '440305', m.phone, 1, now(), $5 FROM members m WHERE m.id = $1",
    )
    .bind(member)
    .bind(branch)
    .bind(if open { "out" } else { "returned" })
    .bind(open)
    .bind(doc)
    .execute(&env.pool)
    .await
    .unwrap();
}

/// A job as the engine calls it: inside the transaction of its fire key.
macro_rules! fire {
    ($env:expr, $job:path, $schedule:expr, $local:expr) => {{
        let firing = Firing {
            schedule: $schedule,
            due: at($local),
            settings: &$env.settings,
            pool: &$env.pool,
            alive: None,
        };
        let mut tx = $env.pool.begin().await.unwrap();
        let conn: &mut PgConnection = &mut tx;
        let n = $job(conn, &firing).await.unwrap();
        tx.commit().await.unwrap();
        n
    }};
}

mod greetings;
mod study;
mod talk;

/// The notification requests of `template` in the outbox: (message id, request).
async fn requests(env: &TestEnv, template: &str) -> Vec<(String, Value)> {
    sqlx::query_as(
        "SELECT message_id, payload->'data' FROM outbox
         WHERE routing_key = 'notification.requested' AND payload->'data'->>'template' = $1 ORDER BY id",
    )
    .bind(template)
    .fetch_all(&env.pool)
    .await
    .unwrap()
}

async fn clear_outbox(env: &TestEnv) {
    sqlx::query("DELETE FROM outbox")
        .execute(&env.pool)
        .await
        .unwrap();
}
