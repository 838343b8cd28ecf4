//! Idempotency and order (DESIGN.md section 2): the same event id twice changes nothing the
//! second time; an event older than the ledger is kept in history without rolling the state
//! back; an event that cannot apply yet is retried until it can.

use serde_json::json;

use crate::env::TestEnv;
use crate::fixtures::*;

async fn county_with_member(env: &mut TestEnv, member_id: &str, phone: &str) {
    let m = member(member_id, "b1", phone);
    env.publish_all(&county()).await;
    env.publish(&m).await;
    env.start_registry();
    env.wait_processed(&evt_id(&m)).await;
}

#[tokio::test]
async fn the_same_event_twice_is_applied_once() {
    let mut env = TestEnv::new().await;
    county_with_member(&mut env, "m1", "13911110001").await;
    let out = outbound("m1", "b1", "2026-03-01T09:00:00", 4, None);
    env.publish(&out).await;
    env.publish(&out).await;
    let later = update(
        "m1",
        "b1",
        "2026-03-02T09:00:00",
        json!({"confirmed_unchanged": true}),
    );
    env.publish(&later).await;
    env.wait_processed(&evt_id(&later)).await;

    assert_eq!(env.scalar_i64("SELECT count(*) FROM flow_records").await, 1);
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM history WHERE event_type = 'registration.outbound'")
            .await,
        1
    );
    let rec = env.record("m1").await.unwrap();
    assert_eq!(
        rec["certificate_no"], "522636202600001",
        "one certificate issued, not two"
    );
    assert_eq!(rec["version"], 2);
    env.finish().await;
}

#[tokio::test]
async fn an_older_update_is_kept_in_history_but_never_rolls_the_state_back() {
    let mut env = TestEnv::new().await;
    county_with_member(&mut env, "m1", "13911110001").await;
    let out = outbound("m1", "b1", "2026-03-01T09:00:00", 4, None);
    let newer = update(
        "m1",
        "b1",
        "2026-03-10T09:00:00",
        json!({"phone": "13922220002"}),
    );
    let older = update(
        "m1",
        "b1",
        "2026-03-05T09:00:00",
        json!({"phone": "13933330003"}),
    );
    env.publish_all(&[out, newer.clone(), older.clone()]).await;
    env.wait_processed(&evt_id(&newer)).await;
    env.wait_processed(&evt_id(&older)).await;

    let rec = env.record("m1").await.unwrap();
    assert_eq!(rec["phone"], "13922220002");
    assert_eq!(rec["last_confirmed_on"], "2026-03-10");
    let kept: Vec<(bool, Option<String>)> =
        sqlx::query_as("SELECT applied, note FROM history WHERE event_type = 'registration.update' ORDER BY occurred_at")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(kept.len(), 2, "both updates are in the member's history");
    // Whichever arrived second: if the older came last it changed nothing.
    assert!(kept[1].0, "the newer update is applied: {kept:?}");
    if !kept[0].0 {
        assert!(kept[0].1.as_deref().unwrap().contains("newer"), "{kept:?}");
    }
    env.finish().await;
}

#[tokio::test]
async fn events_delivered_before_their_departure_are_applied_once_the_departure_is() {
    let mut env = TestEnv::new().await;
    env.settings.registry.consumers = 1;
    county_with_member(&mut env, "m2", "13911110002").await;
    let m3 = member("m3", "b1", "13911110003");
    env.publish(&m3).await;
    env.wait_processed(&evt_id(&m3)).await;
    // Delivered in the wrong order: an update, and a visit home, each before the departure.
    let upd = update(
        "m2",
        "b1",
        "2026-03-10T09:00:00",
        json!({"confirmed_unchanged": true}),
    );
    let back = event(
        "registration.return",
        "b1",
        "2026-03-20T09:00:00",
        json!({"member_id": "m3", "returned_on": "2026-03-20", "permanent": false}),
    );
    let outs = [
        outbound("m2", "b1", "2026-03-01T09:00:00", 4, None),
        outbound("m3", "b1", "2026-03-01T09:00:00", 4, None),
    ];
    env.publish_all(&[upd.clone(), back.clone(), outs[0].clone(), outs[1].clone()])
        .await;
    env.wait_processed(&evt_id(&upd)).await;
    env.wait_processed(&evt_id(&back)).await;

    let m2 = env.record("m2").await.unwrap();
    assert_eq!(m2["last_confirmed_on"], "2026-03-10");
    assert_eq!(m2["version"], 2);
    assert_eq!(env.record("m3").await.unwrap()["status"], "home_visit");
    assert!(env.parked().await.is_empty());
    env.finish().await;
}

#[tokio::test]
async fn an_event_that_never_becomes_applicable_is_parked_after_the_retry_tiers() {
    let mut env = TestEnv::new().await;
    county_with_member(&mut env, "m3", "13911110003").await;
    let talk = event(
        "contact.recorded",
        "b1",
        "2026-03-02T09:00:00",
        json!({"member_id": "m3", "kind": "talk", "on": "2026-03-02", "by": "李书记"}),
    );
    env.publish(&talk).await;
    let parked = env.wait_parked(1).await;
    assert!(
        parked[0].reason.contains("no open flow record"),
        "{}",
        parked[0].reason
    );
    assert!(
        parked[0].reason.contains("gave up after 4 attempts"),
        "{}",
        parked[0].reason
    );
    assert_eq!(parked[0].attempts, 4);
    assert!(!env.processed(&evt_id(&talk)).await);
    env.finish().await;
}
