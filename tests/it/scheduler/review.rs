//! `monthly_review` through the engine: the ladder, the lists, and its locks per batch.

use super::*;

#[tokio::test]
async fn the_review_moves_the_ladder_through_the_ledger_and_sends_the_lists() {
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
    let flags = |m: &'static str| {
        let pool = env.pool.clone();
        async move {
            let (months, flags): (i32, Value) = sqlx::query_as(
                "SELECT months_unconfirmed, doc->'flags' FROM flow_records WHERE member_id = $1",
            )
            .bind(m)
            .fetch_one(&pool)
            .await
            .unwrap();
            (months, flags)
        }
    };
    assert_eq!(flags("m-nov").await, (0, json!([])));
    assert_eq!(flags("m-oct").await, (1, json!(["stale"])));
    assert_eq!(flags("m-sep").await, (2, json!(["stale"])));
    assert_eq!(flags("m-aug").await, (3, json!(["lost_contact"])));
    assert_eq!(flags("m-jun").await, (5, json!(["lost_contact"])));
    // Every change went through the ledger: a history line and ledger.changed each.
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM history WHERE event_type = 'monthly_review'")
            .await,
        4
    );
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM outbox WHERE routing_key = 'ledger.changed'")
            .await,
        4
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
    env.finish().await;
}

#[tokio::test]
async fn the_review_locks_a_batch_at_a_time_and_a_failed_firing_run_again_changes_nothing_twice() {
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
        .expect("no record stays locked by the firing once its batch is written");
    drop(registry);
    // The firing fails after its batches committed: its fire key and lists roll back.
    key.rollback().await.unwrap();
    let changes = "SELECT count(*) FROM history WHERE event_type = 'monthly_review'";
    let changed = "SELECT count(*) FROM outbox WHERE routing_key = 'ledger.changed'";
    assert_eq!(env.scalar_i64(changes).await, 2);
    assert_eq!(env.scalar_i64(changed).await, 2);
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM schedule_firings")
            .await,
        0
    );

    // Run again (a replica's catch-up, or by hand): the records are already reviewed.
    assert!(matches!(
        fire(&env, "monthly_review", due).await,
        Fired::Done(_)
    ));
    assert_eq!(env.scalar_i64(changes).await, 2, "no second history line");
    assert_eq!(env.scalar_i64(changed).await, 2, "no second ledger.changed");
    let mut sent: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT message_id, payload::jsonb->'data'->>'key' FROM outbox
         WHERE routing_key = 'notification.requested'",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    sent.sort_by(|a, b| a.1.cmp(&b.1));
    let keys: Vec<&str> = sent.iter().map(|(_, k)| k.as_str()).collect();
    // The lapse warnings were queued by both runs, with the same event ids (which the
    // notifier drops); the lists went once, with the fire key.
    assert_eq!(
        keys,
        [
            "lapse_warning:2026-12:member:m-jun:to:branch",
            "lapse_warning:2026-12:member:m-jun:to:county",
            "lost_contact_county:2026-12:org:qx",
            "stale_list_branch:2026-12:org:b1",
        ]
    );
    assert_eq!(
        env.scalar_i64(
            "SELECT count(*) FROM outbox WHERE payload::jsonb->'data'->>'template' IN ('stale_list_branch', 'lost_contact_county')"
        )
        .await,
        2
    );
    env.finish().await;
}
