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
    // One summary per contact, counts and never names: 3 on the branch's list, 2 of them lost,
    // 1 without organizational life for five months (m-jun); 2 lost in the county, 1 at risk.
    let lists = requests(&env).await;
    let param = |t: &str, p: &str| {
        lists.iter().find(|r| r.0 == t).unwrap().2["params"][p]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(param("stale_list_branch", "count"), "3");
    assert_eq!(param("stale_list_branch", "lost_contact"), "2");
    assert_eq!(param("stale_list_branch", "lapse_risk"), "1");
    assert_eq!(param("stale_list_branch", "transfer_suggested"), "0");
    assert_eq!(param("lost_contact_county", "lost_contact"), "2");
    assert_eq!(param("lost_contact_county", "lapse_risk"), "1");
    // Their links open the console's 工作台, where the lists are, never an API path.
    for t in ["stale_list_branch", "lost_contact_county"] {
        let url = param(t, "url");
        assert!(url.ends_with("/console/"), "{url}");
        assert!(url.starts_with(&env.settings.api.public_url), "{url}");
    }
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
    // The branch was asked, in its summary of the firing (the registry's relay published the
    // review's rows).
    loop {
        let d = tokio::time::timeout(std::time::Duration::from_secs(30), asked.next())
            .await
            .expect("the branch's summary reaches the broker")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&d.data).unwrap();
        if v["data"]["template"] == "stale_list_branch" {
            assert_eq!(v["data"]["key"], "stale_list_branch:2026-09:org:b1");
            assert_eq!(v["data"]["params"]["transfer_suggested"], "1");
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
                OR payload::jsonb->'data'->'params'->>'transfer_suggested' <> '0'"
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

/// Forty members of one county lost contact for six months, without any organizational life:
/// its department's contact hears of them in one SMS with the count and the console's link,
/// and so does the branch's. (It was forty lapse warnings and the list, forty-one SMS to one
/// phone, the last pushed to the next day by the per-phone daily cap.)
#[tokio::test]
async fn one_firing_tells_each_contact_once_with_the_count_and_the_link() {
    let env = TestEnv::new().await;
    county(&env).await;
    for i in 0..40 {
        open_record(&env, &format!("m-{i:02}"), "2026-05-31").await;
    }
    assert!(matches!(
        fire(&env, "monthly_review", at(2026, 12, 1, 8, 0)).await,
        Fired::Done(_)
    ));
    let sent = requests(&env).await;
    let to = |phone: &str| -> Vec<&Value> {
        sent.iter()
            .map(|r| &r.2)
            .filter(|d| d["recipient"]["phone"] == phone)
            .collect()
    };
    let county_sms = to("13800000002");
    assert_eq!(
        county_sms.len(),
        1,
        "one SMS to the county's contact: {county_sms:?}"
    );
    let p = &county_sms[0]["params"];
    assert_eq!(county_sms[0]["template"], "lost_contact_county");
    assert_eq!(
        (p["lost_contact"].as_str(), p["lapse_risk"].as_str()),
        (Some("40"), Some("40"))
    );
    assert!(p["url"].as_str().unwrap().ends_with("/console/"), "{p}");
    assert!(
        !county_sms[0].to_string().contains("党员m-"),
        "no names in an SMS"
    );
    let branch_sms = to("13800000001");
    assert_eq!(branch_sms.len(), 1, "one SMS to the branch's contact");
    assert_eq!(branch_sms[0]["params"]["count"], "40");
    assert_eq!(sent.len(), 2);
    env.finish().await;
}
