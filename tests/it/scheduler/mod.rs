//! The scheduler (DESIGN.md section 4) against the real PostgreSQL: the engine's fire keys,
//! catch-up after downtime, and the three monthly jobs at their boundaries. The ledger is
//! written directly so every date sits exactly where a test needs it.

mod review;
mod run_loop;

use chrono::{DateTime, TimeZone, Utc};
use hongyan_domain::TZ;
use hongyan_scheduler::engine::{self, Engine, Fired, Schedule};
use serde_json::{Value, json};

use crate::env::TestEnv;

const SECRET: &str = "test-link-secret";

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    TZ.with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn org(env: &TestEnv, id: &str, kind: &str, path: &[&str], region: &str, phone: &str) {
    sqlx::query(
        "INSERT INTO orgs (id, name, kind, parent_id, path, region_code, contact, state_at)
         VALUES ($1, $1 || '党组织', $2, $3, $4, $5, jsonb_build_object('name', '王书记', 'phone', $6::text), now())",
    )
    .bind(id)
    .bind(kind)
    .bind((path.len() > 1).then(|| path[path.len() - 2]))
    .bind(path)
    .bind(region)
    .bind(phone)
    .execute(&env.pool)
    .await
    .unwrap();
}

/// An open record of `member` at branch `b1`, last confirmed on `confirmed`.
async fn open_record(env: &TestEnv, member: &str, confirmed: &str) {
    sqlx::query(
        "INSERT INTO members (id, home_org_id, phone, doc, state_at)
         VALUES ($1, 'b1', '13900000001', jsonb_build_object('name', '党员' || $1, 'channels', '[\"sms\"]'::jsonb), now())",
    )
    .bind(member)
    .execute(&env.pool)
    .await
    .unwrap();
    let doc = json!({
        "member_id": member, "home_org_id": "b1", "status": "out",
        "location": {"region_code": "440305", "address": "某路1号", "employer": null, "employer_type": "private"},
        "left_on": "2026-01-05", "arrived_on": null, "last_confirmed_on": confirmed,
        "months_unconfirmed": 0, "transfer_suggested": false, "flags": [], "version": 1,
        "contacts": {"talk": null, "family_visit": null, "home_meeting": null, "phone": null},
    });
    sqlx::query(
        "INSERT INTO flow_records (id, member_id, home_org_id, status, is_open, region_code, phone,
             last_confirmed_on, version, state_at, doc)
         VALUES (gen_random_uuid(), $1, 'b1', 'out', true, '440305', '13900000001', $2::date, 1, now(), $3)",
    )
    .bind(member)
    .bind(confirmed)
    .bind(doc)
    .execute(&env.pool)
    .await
    .unwrap();
}

/// A county department over branch b1 (county contact 13800000002, branch contact 13800000001).
async fn county(env: &TestEnv) {
    org(env, "qx", "department", &["qx"], "522627", "13800000002").await;
    org(
        env,
        "b1",
        "branch",
        &["qx", "b1"],
        "522627001",
        "13800000001",
    )
    .await;
}

/// The notification requests in the outbox, as (template, key).
async fn requests(env: &TestEnv) -> Vec<(String, String, Value)> {
    let rows: Vec<(Value,)> = sqlx::query_as(
        "SELECT payload::jsonb FROM outbox WHERE routing_key = 'notification.requested' ORDER BY id",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(p,)| {
            let d = p["data"].clone();
            (
                d["template"].as_str().unwrap().to_owned(),
                d["key"].as_str().unwrap().to_owned(),
                d,
            )
        })
        .collect()
}

async fn fire(env: &TestEnv, name: &str, due: DateTime<Utc>) -> Fired {
    engine::fire(&env.pool, &env.settings, name, due, due, true)
        .await
        .unwrap()
}

#[test]
fn a_bad_schedule_is_refused_naming_it() {
    let e = Schedule::parse("monthly_reminder", "0 0 9 1 *").unwrap_err();
    assert!(e.to_string().contains("schedules.monthly_reminder"), "{e}");
    let e = Schedule::parse("quarterly_talk", "0 0 9 * * 2").unwrap_err();
    assert!(e.to_string().contains("day names"), "{e}");
    let e = Schedule::parse("family_visit", "0 0 9 10 Jax *").unwrap_err();
    assert!(e.to_string().contains("schedules.family_visit"), "{e}");
    let mut s = crate::env::test_settings("hyt_bad");
    s.schedules.monthly_review = "every month".into();
    let e = engine::parse_all(&s).unwrap_err();
    assert!(e.to_string().contains("schedules.monthly_review"), "{e}");
    // An unknown schedule name is refused by the config loader, naming it.
    let dir = std::env::temp_dir().join(format!("hyt_sched_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let defaults = std::fs::read_to_string(crate::env::config_dir().join("default.toml")).unwrap();
    std::fs::write(
        dir.join("default.toml"),
        defaults.replace(
            "[schedules]\n",
            "[schedules]\nmonthly_reveiw = \"0 0 8 1 * *\"\n",
        ),
    )
    .unwrap();
    let e = hongyan_adapters::Settings::load(&dir).unwrap_err();
    assert!(format!("{e:#}").contains("monthly_reveiw"), "{e:#}");
}

#[test]
fn the_monthly_schedules_fall_on_their_days_in_shanghai() {
    let s = crate::env::test_settings("hyt_days");
    let all = engine::parse_all(&s).unwrap();
    let get = |n: &str| all.iter().find(|x| x.name == n).unwrap().clone();
    let reminder = get("monthly_reminder");
    // The day before, the day, the day after: due at 09:00 on the 1st, Asia/Shanghai.
    assert_eq!(
        reminder.after(at(2026, 11, 30, 9, 0)).next(),
        Some(at(2026, 12, 1, 9, 0))
    );
    assert_eq!(
        reminder.latest_due(at(2026, 12, 1, 8, 59)),
        Some(at(2026, 11, 1, 9, 0))
    );
    assert_eq!(
        reminder.latest_due(at(2026, 12, 2, 9, 0)),
        Some(at(2026, 12, 1, 9, 0))
    );
    assert_eq!(
        get("monthly_review").after(at(2026, 12, 31, 23, 0)).next(),
        Some(at(2027, 1, 1, 8, 0))
    );
    let nudge = get("monthly_second_nudge");
    assert_eq!(
        nudge.after(at(2027, 2, 1, 0, 0)).next(),
        Some(at(2027, 2, 20, 9, 0))
    );
    assert_eq!(
        nudge.after(at(2026, 12, 20, 9, 0)).next(),
        Some(at(2027, 1, 20, 9, 0))
    );
}

#[tokio::test]
async fn the_reminder_goes_to_the_unconfirmed_with_their_link_and_a_rerun_sends_nothing() {
    let mut env = TestEnv::new().await;
    env.settings.api.link_secret = Some(SECRET.into());
    county(&env).await;
    open_record(&env, "m-oct", "2026-10-31").await;
    open_record(&env, "m-nov", "2026-11-30").await;
    open_record(&env, "m-dec", "2026-12-01").await;
    let due = at(2026, 12, 1, 9, 0);
    assert_eq!(fire(&env, "monthly_reminder", due).await, Fired::Done(2));
    let sent = requests(&env).await;
    let keys: Vec<&str> = sent.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "monthly_reminder:2026-12:member:m-nov",
            "monthly_reminder:2026-12:member:m-oct"
        ]
    );
    let params = &sent[0].2["params"];
    assert_eq!(params["month"], "12月");
    let url = params["url"].as_str().unwrap();
    let token = url.rsplit('/').next().unwrap();
    let link = hongyan_domain::link::check(SECRET.as_bytes(), token, due).unwrap();
    assert_eq!(link.member_id.as_str(), "m-nov");
    assert_eq!(link.month.to_string(), "2026-12");
    // The same due time again, by hand: the fire key is taken, nothing is written.
    assert_eq!(
        fire(&env, "monthly_reminder", due).await,
        Fired::AlreadyTaken
    );
    assert_eq!(requests(&env).await.len(), 2);
    // The second nudge on the 20th skips the member who confirmed meanwhile.
    sqlx::query(
        "UPDATE flow_records SET last_confirmed_on = '2026-12-05' WHERE member_id = 'm-oct'",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        fire(&env, "monthly_second_nudge", at(2026, 12, 20, 9, 0)).await,
        Fired::Done(1)
    );
    let sent = requests(&env).await;
    assert_eq!(sent[2].1, "monthly_second_nudge:2026-12:member:m-nov");
    env.finish().await;
}

#[tokio::test]
async fn the_reminder_refuses_without_a_link_secret_and_keeps_nothing() {
    let mut env = TestEnv::new().await;
    env.settings.api.link_secret = None;
    county(&env).await;
    open_record(&env, "m1", "2026-10-31").await;
    let due = at(2026, 12, 1, 9, 0);
    let e = engine::fire(&env.pool, &env.settings, "monthly_reminder", due, due, true)
        .await
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("HONGYAN__API__LINK_SECRET"),
        "{e:#}"
    );
    assert_eq!(env.scalar_i64("SELECT count(*) FROM outbox").await, 0);
    // The fire key rolled back with the work: once the secret is set, it fires.
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM schedule_firings")
            .await,
        0
    );
    env.finish().await;
}

#[tokio::test]
async fn two_replicas_racing_one_firing_send_every_message_once() {
    let mut env = TestEnv::new().await;
    env.settings.api.link_secret = Some(SECRET.into());
    county(&env).await;
    for i in 0..50 {
        open_record(&env, &format!("m{i:02}"), "2026-10-31").await;
    }
    let due = at(2026, 12, 1, 9, 0);
    let (a, b) = tokio::join!(
        engine::fire(
            &env.pool,
            &env.settings,
            "monthly_reminder",
            due,
            due,
            false
        ),
        engine::fire(
            &env.pool,
            &env.settings,
            "monthly_reminder",
            due,
            due,
            false
        ),
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| matches!(o, Fired::AlreadyTaken));
    assert_eq!(outcomes, [Fired::Done(50), Fired::AlreadyTaken]);
    assert_eq!(
        env.scalar_i64("SELECT count(DISTINCT message_id) FROM outbox")
            .await,
        50
    );
    assert_eq!(env.scalar_i64("SELECT count(*) FROM outbox").await, 50);
    env.finish().await;
}

#[tokio::test]
async fn after_downtime_the_latest_missed_firing_runs_once_and_older_ones_are_skipped() {
    let mut env = TestEnv::new().await;
    env.settings.api.link_secret = Some(SECRET.into());
    env.settings.schedules.grace_minutes = 720;
    county(&env).await;
    open_record(&env, "m1", "2026-09-30").await;
    // The scheduler last fired the reminder on 1 October, then was down until 1 December 10:00.
    sqlx::query(
        "INSERT INTO schedule_firings (schedule, due, outcome, at)
         SELECT s, $1, 'fired', $1 FROM unnest($2::text[]) s",
    )
    .bind(at(2026, 10, 1, 9, 0))
    .bind(hongyan_domain::schedule::ScheduleName::ALL.map(|n| n.as_str()))
    .execute(&env.pool)
    .await
    .unwrap();
    // Jobs of other branches are not wired in here; keep them out of this test's way.
    for s in [
        &mut env.settings.schedules.study_send_at,
        &mut env.settings.schedules.political_birthday,
        &mut env.settings.schedules.return_peaks,
        &mut env.settings.schedules.activity_day,
        &mut env.settings.schedules.monthly_review,
        &mut env.settings.schedules.quarterly_talk_followup,
        &mut env.settings.schedules.monthly_second_nudge,
    ] {
        *s = "0 0 9 1 Jan *".into();
    }
    let now = at(2026, 12, 1, 10, 0);
    let mut engine = Engine::start(&env.pool, &env.settings, now).await.unwrap();
    let reports = engine.tick(&env.pool, &env.settings, now).await.unwrap();
    let reminder = reports
        .iter()
        .find(|r| r.schedule == "monthly_reminder")
        .unwrap();
    // 1 November is older than the grace: skipped (and recorded); 1 December 09:00 runs.
    assert_eq!(reminder.skipped, vec![at(2026, 11, 1, 9, 0)]);
    assert_eq!(
        reminder.fired,
        Some((at(2026, 12, 1, 9, 0), Fired::Done(1)))
    );
    let keys: Vec<String> = requests(&env).await.into_iter().map(|r| r.1).collect();
    assert_eq!(keys, ["monthly_reminder:2026-12:member:m1"]);
    let outcomes: Vec<(String,)> = sqlx::query_as(
        "SELECT outcome FROM schedule_firings WHERE schedule = 'monthly_reminder' ORDER BY due",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    let outcomes: Vec<&str> = outcomes.iter().map(|o| o.0.as_str()).collect();
    assert_eq!(outcomes, ["fired", "skipped", "fired"]);
    let firings = |result| {
        crate::metrics::metric(
            "hongyan_schedule_firings_total",
            &[("schedule", "monthly_reminder"), ("result", result)],
        )
    };
    assert_eq!(
        (firings("fired"), firings("skipped")),
        (Some(1.0), Some(1.0)),
        "/metrics counts the firing and the skipped one"
    );
    // A second start (another replica, or a restart) finds nothing left to do.
    let mut again = Engine::start(&env.pool, &env.settings, now).await.unwrap();
    let reports = again.tick(&env.pool, &env.settings, now).await.unwrap();
    assert!(reports.iter().all(|r| r.fired.is_none()), "{reports:?}");
    assert_eq!(requests(&env).await.len(), 1);
    env.finish().await;
}

/// `hongyan schedule run`, `schedule list` and `link` through the binary, as an operator runs
/// them (README "Schedules").
#[tokio::test]
async fn an_operator_fires_a_schedule_by_hand_once_lists_it_and_mints_a_link() {
    let env = TestEnv::new().await;
    county(&env).await;
    open_record(&env, "m-nov", "2026-11-30").await;
    let run = |args: &'static [&'static str]| {
        let mut cmd = env.hongyan();
        cmd.args(args).env("HONGYAN__API__LINK_SECRET", SECRET);
        async move {
            let out = cmd.output().await.expect("hongyan runs");
            let stdout = String::from_utf8(out.stdout).unwrap();
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert!(out.status.success(), "{args:?}: {stdout}{stderr}");
            stdout
        }
    };
    let by_hand = &[
        "schedule",
        "run",
        "monthly_reminder",
        "--at",
        "2026-12-01T10:00",
    ];
    let out = run(by_hand).await;
    assert!(
        out.contains("monthly_reminder due 2026-12-01 09:00") && out.contains("fired, 1 messages"),
        "{out}"
    );
    let keys: Vec<String> = requests(&env).await.into_iter().map(|r| r.1).collect();
    assert_eq!(keys, ["monthly_reminder:2026-12:member:m-nov"]);
    let again = run(by_hand).await;
    assert!(again.contains("already fired"), "{again}");
    assert_eq!(
        requests(&env).await.len(),
        1,
        "the same fire key: nothing twice"
    );
    let list = run(&["schedule", "list"]).await;
    for name in hongyan_domain::schedule::ScheduleName::ALL {
        assert!(
            list.contains(&format!("{name}  \"")),
            "{name} listed: {list}"
        );
    }
    assert!(
        list.contains("last: 2026-12-01 09:00:00+08:00 (fired, 1 messages)"),
        "{list}"
    );
    let link = run(&["link", "--member", "m-nov", "--month", "2026-12"]).await;
    let token = link.trim().rsplit('/').next().unwrap();
    let now = at(2026, 12, 2, 9, 0);
    let checked = hongyan_domain::link::check(SECRET.as_bytes(), token, now).unwrap();
    assert_eq!(
        (checked.member_id.as_str(), checked.month.to_string()),
        ("m-nov", "2026-12".to_owned())
    );
    env.finish().await;
}
