//! The scheduler's jobs other than the monthly ones (DESIGN.md section 4), each called directly
//! inside a transaction with a firing at a chosen due time, against a real PostgreSQL: the
//! quarterly talk and its follow-up, the family visit, the political birthday, the return peaks,
//! and study packs on the activity day and at their `send_at`, the last end to end through the
//! notifier to a signed robot fake and, for a branch without a robot, its away members by SMS.
//! The ledger is written directly (as in dispatch.rs), so every date sits where the test needs.

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
        };
        let mut tx = $env.pool.begin().await.unwrap();
        let conn: &mut PgConnection = &mut tx;
        let n = $job(conn, &firing).await.unwrap();
        tx.commit().await.unwrap();
        n
    }};
}

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

/// Branch b1 (and b2 under the same township), their members, pairs and contacts:
/// - m1 (pair 13700000001): talked on 30 September, the day before the fourth quarter;
/// - m2 (same pair): talked on 1 October, the quarter's first day;
/// - m3 (same pair, in b2): never talked;
/// - m4 (no pair): never talked, so b1's contact gets the name;
/// - m5 (same pair): record closed, not away any more.
async fn talk_county(env: &TestEnv) {
    org(env, "qx", "department", &["qx"], "522627", None).await;
    org(env, "b1", "branch", &["qx", "b1"], "522627001", None).await;
    org(env, "b2", "branch", &["qx", "b2"], "522627002", None).await;
    let pair = Some(("龙支委", "13700000001"));
    let people = [
        ("m1", "b1", pair, Some("2026-09-30")),
        ("m2", "b1", pair, Some("2026-10-01")),
        ("m3", "b2", pair, None),
        ("m4", "b1", None, None),
    ];
    for (i, (id, branch, pair, talk)) in people.into_iter().enumerate() {
        let phone = format!("1391111000{i}");
        member(
            env,
            &M {
                id,
                branch,
                phone: &phone,
                joined: "2010-07-01",
                pair,
            },
        )
        .await;
        record(env, id, branch, true, talk, None).await;
    }
    member(
        env,
        &M {
            id: "m5",
            branch: "b1",
            phone: "13911110009",
            joined: "2010-07-01",
            pair,
        },
    )
    .await;
    record(env, "m5", "b1", false, None, None).await;
}

#[tokio::test]
async fn the_quarterly_talk_reminds_each_pair_once_of_their_members_not_yet_talked_to() {
    let env = TestEnv::new().await;
    talk_county(&env).await;

    let n = fire!(
        env,
        jobs::quarterly_talk,
        "quarterly_talk",
        "2026-10-02 09:00"
    );
    assert_eq!(
        n, 2,
        "one list to the pair, one to b1's contact for the unpaired"
    );
    let sent = requests(&env, "quarterly_talk").await;
    let pair = &sent
        .iter()
        .find(|(_, r)| r["recipient"]["role"] == "pair")
        .unwrap()
        .1;
    assert_eq!(pair["recipient"]["phone"], "13700000001");
    assert_eq!(
        pair["params"]["count"], "2",
        "m1 (talked the day before the quarter) and m3; not m2 (the day), not m5 (closed)"
    );
    assert_eq!(pair["params"]["names"], "党员m1、党员m3");
    assert_eq!(pair["params"]["quarter"], "2026年第四季度");
    assert!(
        pair["key"]
            .as_str()
            .unwrap()
            .starts_with("quarterly_talk:2026Q4:person:")
    );
    assert!(
        !pair["key"].as_str().unwrap().contains("13700000001"),
        "the key holds no phone"
    );
    let branch = &sent
        .iter()
        .find(|(_, r)| r["recipient"]["role"] == "org_contact")
        .unwrap()
        .1;
    assert_eq!(branch["recipient"]["org_id"], "b1");
    assert_eq!(branch["params"]["names"], "党员m4");
    assert_eq!(branch["key"], "quarterly_talk:2026Q4:org:b1");

    // Run again for the same due time: the very same keys and message ids, which the notifier
    // drops as repeats (the end-to-end test below shows it for the birthday).
    clear_outbox(&env).await;
    assert_eq!(
        fire!(
            env,
            jobs::quarterly_talk,
            "quarterly_talk",
            "2026-10-02 09:00"
        ),
        2
    );
    let again = requests(&env, "quarterly_talk").await;
    let ids = |v: &[(String, Value)]| {
        v.iter()
            .map(|(id, r)| (id.clone(), r["key"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&again), ids(&sent));

    // The follow-up on 16 December asks about the same quarter: m1 has talked since.
    sqlx::query("UPDATE flow_records SET doc = jsonb_set(doc, '{contacts,talk}', '\"2026-10-20\"') WHERE member_id = 'm1'")
        .execute(&env.pool)
        .await
        .unwrap();
    assert_eq!(
        fire!(
            env,
            jobs::quarterly_talk_followup,
            "quarterly_talk_followup",
            "2026-12-16 09:00"
        ),
        2
    );
    let follow = requests(&env, "quarterly_talk_followup").await;
    let pair = &follow
        .iter()
        .find(|(_, r)| r["recipient"]["role"] == "pair")
        .unwrap()
        .1;
    assert_eq!(pair["params"]["names"], "党员m3");
    assert!(
        pair["key"]
            .as_str()
            .unwrap()
            .starts_with("quarterly_talk_followup:2026Q4:")
    );

    // The next quarter's first reminder counts again from 1 January: everybody is owed.
    clear_outbox(&env).await;
    fire!(
        env,
        jobs::quarterly_talk,
        "quarterly_talk",
        "2027-01-02 09:00"
    );
    let next = requests(&env, "quarterly_talk").await;
    let pair = &next
        .iter()
        .find(|(_, r)| r["recipient"]["role"] == "pair")
        .unwrap()
        .1;
    assert_eq!(pair["params"]["count"], "3");
    assert_eq!(pair["params"]["quarter"], "2027年第一季度");
    env.finish().await;
}

#[tokio::test]
async fn the_family_visit_list_names_the_families_not_visited_in_the_half_year() {
    let env = TestEnv::new().await;
    org(&env, "qx", "department", &["qx"], "522627", None).await;
    org(&env, "b1", "branch", &["qx", "b1"], "522627001", None).await;
    let visits = [
        ("m1", Some("2026-06-30")), // the day before the half year
        ("m2", Some("2026-07-01")), // its first day
        ("m3", Some("2027-01-05")), // this January, before the list
        ("m4", None),
    ];
    for (i, (id, visit)) in visits.into_iter().enumerate() {
        let phone = format!("1391111000{i}");
        member(
            &env,
            &M {
                id,
                branch: "b1",
                phone: &phone,
                joined: "2010-07-01",
                pair: None,
            },
        )
        .await;
        record(&env, id, "b1", true, None, visit).await;
    }
    assert_eq!(
        fire!(env, jobs::family_visit, "family_visit", "2027-01-10 09:00"),
        1
    );
    let sent = requests(&env, "family_visit").await;
    let list = &sent[0].1;
    assert_eq!(list["recipient"]["org_id"], "b1");
    assert_eq!(list["recipient"]["role"], "org_contact");
    assert_eq!(list["params"]["names"], "党员m1、党员m4");
    assert_eq!(list["params"]["half_year"], "2026年下半年");
    assert_eq!(list["key"], "family_visit:2026H2:org:b1");

    // On 10 July the half year looked back over is January to June: m1's visit counts.
    clear_outbox(&env).await;
    fire!(env, jobs::family_visit, "family_visit", "2026-07-10 09:00");
    let july = requests(&env, "family_visit").await;
    assert_eq!(
        july[0].1["params"]["names"], "党员m4",
        "m1's visit on 30 June counts for January to June"
    );
    assert_eq!(july[0].1["key"], "family_visit:2026H1:org:b1");
    env.finish().await;
}

async fn greeted(env: &TestEnv, local: &str) -> Vec<(String, String)> {
    clear_outbox(env).await;
    fire!(env, jobs::political_birthday, "political_birthday", local);
    requests(env, "political_birthday")
        .await
        .into_iter()
        .map(|(_, r)| {
            (
                r["recipient"]["member_id"].as_str().unwrap().to_owned(),
                r["params"]["years"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_political_birthday_greets_on_the_anniversary_and_29_february_on_the_28th() {
    let env = TestEnv::new().await;
    org(&env, "b1", "branch", &["b1"], "522627001", None).await;
    for (id, joined) in [
        ("leap", "2004-02-29"),
        ("feb28", "2005-02-28"),
        ("july", "2010-07-01"),
        ("new", "2026-02-28"),
    ] {
        member(
            &env,
            &M {
                id,
                branch: "b1",
                phone: "13911110001",
                joined,
                pair: None,
            },
        )
        .await;
    }
    let s = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        greeted(&env, "2026-02-27 08:00").await,
        s(&[]),
        "the day before"
    );
    assert_eq!(
        greeted(&env, "2026-02-28 08:00").await,
        s(&[("feb28", "21"), ("leap", "22")]),
        "the day, and 29 February in a year without one; not on the joining day itself"
    );
    assert_eq!(
        greeted(&env, "2026-03-01 08:00").await,
        s(&[]),
        "the day after"
    );
    assert_eq!(
        greeted(&env, "2028-02-28 08:00").await,
        s(&[("feb28", "23"), ("new", "2")]),
        "in a leap year, 29 February waits for its own day"
    );
    assert_eq!(
        greeted(&env, "2028-02-29 08:00").await,
        s(&[("leap", "24")])
    );
    assert_eq!(
        greeted(&env, "2026-07-01 08:00").await,
        s(&[("july", "16")])
    );
    let sent = requests(&env, "political_birthday").await;
    assert_eq!(
        sent[0].1["key"],
        "political_birthday:2026-07-01:member:july"
    );
    assert_eq!(sent[0].1["params"]["branch_name"], "b1党支部");
    env.finish().await;
}

#[tokio::test]
async fn return_peaks_ask_each_branch_with_members_away_exactly_14_days_before() {
    let env = TestEnv::new().await;
    org(&env, "b1", "branch", &["b1"], "522627001", None).await;
    org(&env, "b2", "branch", &["b2"], "522627002", None).await;
    member(
        &env,
        &M {
            id: "m1",
            branch: "b1",
            phone: "13911110001",
            joined: "2010-07-01",
            pair: None,
        },
    )
    .await;
    member(
        &env,
        &M {
            id: "m2",
            branch: "b1",
            phone: "13911110002",
            joined: "2010-07-01",
            pair: None,
        },
    )
    .await;
    record(&env, "m1", "b1", true, None, None).await;
    record(&env, "m2", "b1", true, None, None).await;
    // The shipped config lists 春节 2027 on 6 February: notice on 23 January.
    assert_eq!(
        fire!(env, jobs::return_peaks, "return_peaks", "2027-01-22 09:00"),
        0
    );
    assert_eq!(
        fire!(env, jobs::return_peaks, "return_peaks", "2027-01-23 09:00"),
        1,
        "b1 only: b2 has nobody away"
    );
    assert_eq!(
        fire!(env, jobs::return_peaks, "return_peaks", "2027-01-24 09:00"),
        0
    );
    let sent = requests(&env, "return_peak").await;
    let r = &sent[0].1;
    assert_eq!(r["recipient"]["org_id"], "b1");
    assert_eq!(r["params"]["peak_name"], "春节");
    assert_eq!(r["params"]["peak_date"], "2月6日");
    assert_eq!(r["params"]["count"], "2");
    assert_eq!(r["key"], "return_peak:2027-02-06:org:b1");
    // 国庆 2026 across a month end: 17 September.
    assert_eq!(
        fire!(env, jobs::return_peaks, "return_peaks", "2026-09-17 09:00"),
        1
    );
    env.finish().await;
}

async fn pack(
    env: &TestEnv,
    id: &str,
    audience: (&[&str], &[&str]),
    published: &str,
    send_at: Option<&str>,
) {
    sqlx::query(
        "INSERT INTO study_packs (id, title, summary, items, audience_org_ids, audience_region_codes, published_by,
           send_at, published_at, event_id, state_at)
         VALUES ($1, '学习党章第' || $1 || '期', '一月一课：党章第一章。', '[]', $2, $3, 'qx', $4::timestamptz,
           $5::timestamptz, gen_random_uuid(), now())",
    )
    .bind(id)
    .bind(audience.0)
    .bind(audience.1)
    .bind(send_at)
    .bind(published)
    .execute(&env.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_study_pack_goes_once_to_a_signed_robot_and_by_sms_to_the_away_members_of_a_branch_without_one()
 {
    let robot = fakes::dingtalk::start("tok", "SECret", at("2026-03-09 10:00")).await;
    let webhook = fakes::dingtalk::webhook(&robot, "tok");
    let e = start(|_| {}).await;
    let env = &e.env;
    org(env, "qx", "department", &["qx"], "522627", None).await;
    org(env, "b1", "branch", &["qx", "b1"], "522627001", None).await;
    org(
        env,
        "b2",
        "branch",
        &["qx", "b2"],
        "522627002",
        Some(json!({"provider": "dingtalk", "webhook": webhook, "secret": "SECret"})),
    )
    .await;
    // Outside the audience of a pack for b-subtrees only: a branch in another county.
    org(env, "far", "branch", &["far"], "440305001", None).await;
    for (id, branch, phone, open) in [
        ("m1", "b1", "13911110001", true),
        ("m2", "b1", "13911110002", true),
        ("m3", "b1", "13911110003", false), // back home: not an away member
        ("m4", "b2", "13911110004", true),
        ("m9", "far", "13911110009", true),
    ] {
        member(
            env,
            &M {
                id,
                branch,
                phone,
                joined: "2004-02-29",
                pair: None,
            },
        )
        .await;
        record(env, id, branch, open, None, None).await;
    }
    // For the activity day: the county's subtree. At its send_at: the county's region.
    pack(env, "p1", (&["qx"], &[]), "2026-03-05 10:00:00+08", None).await;
    pack(
        env,
        "p2",
        (&[], &["522627"]),
        "2026-03-05 10:00:00+08",
        Some("2026-03-20 10:00:00+08"),
    )
    .await;
    // Published after the activity day: it waits for April's.
    pack(env, "p3", (&["qx"], &[]), "2026-03-09 12:00:00+08", None).await;

    assert_eq!(
        fire!(env, activity_day, "activity_day", "2026-03-09 09:00"),
        2,
        "p1 to b1 and b2; qx has no robot and nobody away"
    );
    assert_eq!(
        fire!(env, activity_day, "activity_day", "2026-03-09 09:00"),
        0,
        "a rerun sends nothing: the pack is marked sent"
    );
    let sent = requests(env, "study_pack").await;
    let orgs: BTreeSet<&str> = sent
        .iter()
        .map(|(_, r)| r["org"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, BTreeSet::from(["b1", "b2"]));
    assert_eq!(sent[0].1["key"], "study_pack:p1:group:b1");
    assert_eq!(
        sent[0].1["params"]["url"],
        format!("{}/s/p1", env.settings.api.public_url)
    );

    // The notifier takes the broadcasts in and sends them.
    e.env.clock.set(at("2026-03-09 10:00"));
    outbox::relay_once(&env.pool, &env.publisher, &env.names, 100)
        .await
        .unwrap();
    env.eventually("two study packs taken in", || async {
        env.scalar_i64("SELECT count(*) FROM notifications WHERE template = 'study_pack' AND audience_org IS NOT NULL").await == 2
    })
    .await;
    let mut rounds = 0;
    while e.round().await > 0 {
        rounds += 1;
        assert!(rounds < 10, "rounds come to rest");
    }
    let cards = robot.seen();
    assert_eq!(cards.len(), 1, "b2's robot gets the card once");
    assert!(cards[0].signature_ok, "signed with the robot's secret");
    let card = cards[0].json();
    assert_eq!(card["actionCard"]["title"], "学习资源包｜学习党章第p1期");
    assert!(
        !card.to_string().contains("1391111"),
        "a group card carries no phone"
    );
    let sms: Vec<(Option<String>, String)> = e
        .console
        .sent()
        .into_iter()
        .filter(|s| s.text.contains("学习资源包"))
        .map(|s| (s.phone, s.text))
        .collect();
    let phones: BTreeSet<_> = sms.iter().filter_map(|(p, _)| p.as_deref()).collect();
    assert_eq!(
        phones,
        BTreeSet::from(["13911110001", "13911110002"]),
        "b1's away members, one SMS each; not m3 at home, not m4 (b2 has a robot), not m9"
    );
    assert!(
        sms.iter().all(|(_, t)| t.contains("/s/p1")),
        "a short text with the link: {sms:?}"
    );

    // p2 at its send_at, to the county's region: not a minute before.
    assert_eq!(
        fire!(env, study_send_at, "study_send_at", "2026-03-20 09:59"),
        0
    );
    assert_eq!(
        fire!(env, study_send_at, "study_send_at", "2026-03-20 10:00"),
        2
    );
    assert_eq!(
        fire!(env, study_send_at, "study_send_at", "2026-03-20 10:01"),
        0
    );
    let p2: BTreeSet<String> = requests(env, "study_pack")
        .await
        .into_iter()
        .map(|(_, r)| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        p2.contains("study_pack:p2:group:b1") && p2.contains("study_pack:p2:group:b2"),
        "{p2:?}"
    );
    assert!(!p2.iter().any(|k| k.contains("far")));
    // April's activity day takes p3.
    assert_eq!(
        fire!(env, activity_day, "activity_day", "2026-04-09 09:00"),
        2
    );
    e.finish().await;
}

#[tokio::test]
async fn a_greeting_fired_twice_reaches_the_member_once() {
    let e = start(|_| {}).await;
    let env = &e.env;
    org(env, "b1", "branch", &["b1"], "522627001", None).await;
    member(
        env,
        &M {
            id: "m1",
            branch: "b1",
            phone: "13911110001",
            joined: "2004-02-29",
            pair: None,
        },
    )
    .await;
    e.env.clock.set(at("2026-02-28 08:30"));
    for _ in 0..2 {
        assert_eq!(
            fire!(
                env,
                jobs::political_birthday,
                "political_birthday",
                "2026-02-28 08:00"
            ),
            1
        );
        outbox::relay_once(&env.pool, &env.publisher, &env.names, 100)
            .await
            .unwrap();
    }
    env.eventually("the greeting taken in, its repeat dropped", || async {
        env.queue_depth(&env.names.notifier()).await == 0
            && env
                .scalar_i64(
                    "SELECT count(*) FROM notifications WHERE template = 'political_birthday'",
                )
                .await
                == 1
    })
    .await;
    while e.round().await > 0 {}
    let greetings: Vec<String> = e
        .console
        .sent()
        .into_iter()
        .filter(|s| s.text.contains("政治生日"))
        .map(|s| s.text)
        .collect();
    assert_eq!(greetings.len(), 1, "{greetings:?}");
    assert!(greetings[0].contains("22年前的今天"), "{}", greetings[0]);
    e.finish().await;
}
