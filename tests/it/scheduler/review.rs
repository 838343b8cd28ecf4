//! `monthly_review` through the engine: the ladder, the lists, and that it writes no ledger
//! table (the registry is the only writer; the ladder is derived where it is read).

use super::*;
use crate::ledger_views::standing;
use futures::StreamExt;

#[tokio::test]
async fn the_review_reads_the_ladder_from_the_ledger_and_sends_the_lists() {
    let env = TestEnv::new().await;
    county(&env).await;
    open_record(&env, "m-nov", "2026-11-30").await; // current
    open_record(&env, "m-oct", "2026-10-31").await; // 1 month: stale
    open_record(&env, "m-sep", "2026-09-30").await; // 2: stale, on the branch's list
    open_record(&env, "m-aug", "2026-08-31").await; // 3: lost contact, county list
    open_record(&env, "m-jun", "2026-06-30").await; // 5: lost contact and the lapse warning
    let due = at(2026, 12, 1, 8, 0);
    assert!(matches!(
        fire(&env, "monthly_review", due).await,
        Fired::Done(_)
    ));
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let flags = |m: &'static str| standing(&env, m, today);
    assert_eq!(flags("m-nov").await, (0, json!([])));
    assert_eq!(flags("m-oct").await, (1, json!(["stale"])));
    assert_eq!(flags("m-sep").await, (2, json!(["stale"])));
    assert_eq!(flags("m-aug").await, (3, json!(["lost_contact"])));
    assert_eq!(flags("m-jun").await, (5, json!(["lost_contact"])));
    // The review wrote no ledger table: every record as it was, no history line, and no
    // ledger.changed (the ladder moves with the month, where it is read).
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM flow_records WHERE version <> 1")
            .await,
        0
    );
    assert_eq!(env.scalar_i64("SELECT count(*) FROM history").await, 0);
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM outbox WHERE routing_key = 'ledger.changed'")
            .await,
        0
    );
    let mut sent: Vec<(String, String)> = requests(&env)
        .await
        .into_iter()
        .map(|(t, k, _)| (t, k))
        .collect();
    sent.sort();
    let expect = [
        (
            "lapse_warning",
            "lapse_warning:2026-12:member:m-jun:to:branch",
        ),
        (
            "lapse_warning",
            "lapse_warning:2026-12:member:m-jun:to:county",
        ),
        ("lost_contact_county", "lost_contact_county:2026-12:org:qx"),
        ("stale_list_branch", "stale_list_branch:2026-12:org:b1"),
    ];
    assert_eq!(
        sent,
        expect
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    // The lists carry counts, never names: 3 on the branch's list, 2 lost in the county.
    let lists = requests(&env).await;
    let count = |t: &str| {
        lists.iter().find(|r| r.0 == t).unwrap().2["params"]["count"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(count("stale_list_branch"), "3");
    assert_eq!(count("lost_contact_county"), "2");
    // Their links open the console's ledger narrowed to the list, never an API path.
    let url = |t: &str| {
        lists.iter().find(|r| r.0 == t).unwrap().2["params"]["url"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        url("stale_list_branch").ends_with("/console/ledger?months=2"),
        "{}",
        url("stale_list_branch")
    );
    assert!(
        url("lost_contact_county").ends_with("/console/ledger?flag=%E5%A4%B1%E8%81%94"),
        "{}",
        url("lost_contact_county")
    );
    env.finish().await;
}

#[tokio::test]
async fn the_review_locks_no_record_and_a_failed_firing_leaves_nothing_behind() {
    let env = TestEnv::new().await;
    county(&env).await;
    open_record(&env, "m-nov", "2026-11-30").await;
    open_record(&env, "m-sep", "2026-09-30").await; // 2 months: stale, on the branch's list
    open_record(&env, "m-jun", "2026-06-30").await; // 5: lost contact and the lapse warning
    let due = at(2026, 12, 1, 8, 0);
    let firing = hongyan_scheduler::firing::Firing {
        schedule: "monthly_review",
        due,
        settings: &env.settings,
        pool: &env.pool,
        alive: None,
    };
    // The firing's transaction, held open as the engine holds it until the job returns.
    let mut key = env.pool.begin().await.unwrap();
    hongyan_scheduler::monthly::review::run(&mut key, &firing)
        .await
        .unwrap();
    // Meanwhile the registry can take a reviewed record at once to apply a confirmation.
    let mut registry = env.pool.acquire().await.unwrap();
    sqlx::query("SELECT 1 FROM flow_records WHERE member_id = 'm-sep' FOR UPDATE NOWAIT")
        .fetch_one(&mut *registry)
        .await
        .expect("the review locks no record");
    drop(registry);
    // The firing fails: its fire key and everything it queued roll back together.
    key.rollback().await.unwrap();
    assert_eq!(env.scalar_i64("SELECT count(*) FROM outbox").await, 0);
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM schedule_firings")
            .await,
        0
    );

    // Run again (a replica's catch-up, or by hand): every message goes once.
    assert!(matches!(
        fire(&env, "monthly_review", due).await,
        Fired::Done(_)
    ));
    let mut keys: Vec<String> = requests(&env)
        .await
        .into_iter()
        .map(|(_, k, _)| k)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "lapse_warning:2026-12:member:m-jun:to:branch",
            "lapse_warning:2026-12:member:m-jun:to:county",
            "lost_contact_county:2026-12:org:qx",
            "stale_list_branch:2026-12:org:b1",
        ]
    );
    env.finish().await;
}

/// 应转尽转 through the registry: the review asks the branch and tells the registry
/// (`review.transfer_suggested`), which marks the record, so the next month's review does not
/// ask again.
#[tokio::test]
async fn a_transfer_suggestion_reaches_the_registry_and_is_asked_once() {
    use crate::fixtures as fx;
    let mut env = TestEnv::new().await;
    let mut evs = fx::county();
    evs.push(fx::member("m1", "b1", "13911110001"));
    // Four months with an employer: a certificate, and no suggestion at the departure.
    evs.push(fx::outbound(
        "m1",
        "b1",
        "2026-03-01T09:00:00",
        4,
        Some("某公司"),
    ));
    env.publish_all(&evs).await;
    env.start_registry();
    env.wait_processed(&fx::evt_id(evs.last().unwrap())).await;
    assert_eq!(env.record("m1").await.unwrap()["transfer_suggested"], false);

    // 1 September: six whole months at one place with an employer.
    let mut asked = env.watch("notification.requested").await;
    let september = at(2026, 9, 1, 8, 0);
    assert!(matches!(
        fire(&env, "monthly_review", september).await,
        Fired::Done(_)
    ));
    let record_id = env.record("m1").await.unwrap()["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let firing = hongyan_domain::rules::keys::firing_id("monthly_review", september);
    let event = hongyan_domain::rules::keys::id_of(&format!(
        "review.transfer_suggested:{firing}:{record_id}"
    ));
    env.wait_processed(&event.to_string()).await;
    let rec = env.record("m1").await.unwrap();
    assert_eq!(
        (rec["transfer_suggested"].clone(), rec["version"].clone()),
        (json!(true), json!(2))
    );
    // The branch was asked (the registry's relay published the review's rows).
    loop {
        let d = tokio::time::timeout(std::time::Duration::from_secs(30), asked.next())
            .await
            .expect("the transfer suggestion reaches the broker")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&d.data).unwrap();
        if v["data"]["template"] == "transfer_suggestion_branch" {
            assert_eq!(
                v["data"]["key"],
                "transfer_suggestion_branch:2026-09:member:m1"
            );
            break;
        }
    }

    // 1 October, the registry stopped so the outbox keeps what the review queues: the record
    // is marked, so the branch is not asked again and the registry not told again.
    env.stop_registry().await;
    assert!(matches!(
        fire(&env, "monthly_review", at(2026, 10, 1, 8, 0)).await,
        Fired::Done(_)
    ));
    assert_eq!(
        env.scalar_i64(
            "SELECT count(*) FROM outbox WHERE routing_key = 'review.transfer_suggested'
                OR payload::jsonb->'data'->>'template' = 'transfer_suggestion_branch'"
        )
        .await,
        0
    );
    assert!(
        env.scalar_i64("SELECT count(*) FROM outbox").await > 0,
        "the October review queued its other messages"
    );
    env.finish().await;
}
