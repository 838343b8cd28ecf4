//! Idempotency and order (DESIGN.md section 2): the same event id twice changes nothing the
//! second time; an event older than the ledger is kept in history without rolling the state
//! back; an event that cannot apply yet is retried until it can.

use std::sync::Arc;
use std::time::Duration;

use hongyan_registry::tally::{Counts, Tally};
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

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

/// Issue 7: a deferral that remains (the producer really sent the child first) looks again as
/// soon as the batch it may wait for commits, not only after its retry tier. With a first tier
/// of a minute, a departure published before its member's `member.upserted` is applied within
/// seconds, and its tier copy (the safety net if the process died) still waits.
#[tokio::test]
async fn a_departure_sent_before_its_member_applies_once_the_member_commits_not_after_the_tier() {
    let mut env = TestEnv::new().await;
    let setup = county();
    env.publish_all(&setup).await;
    long_retry_tiers(&mut env, 60_000).await;
    env.start_registry();
    env.wait_processed(&evt_id(setup.last().unwrap())).await;

    let out = outbound("m1", "b1", "2026-03-01T09:00:00", 4, None);
    let m = member("m1", "b1", "13911110001");
    let out_id = evt_id(&out);
    env.publish(&out).await;
    env.publish(&m).await;

    env.eventually_within(
        Duration::from_secs(10),
        "the departure applied, well before its minute-long retry tier",
        || env.processed(&out_id),
    )
    .await;
    assert_eq!(env.record("m1").await.unwrap()["status"], "out");
    assert!(env.parked().await.is_empty());
    let tier = env.names.retry(&env.names.registry(), 1);
    assert_eq!(
        env.queue_depth(&tier).await,
        1,
        "the departure was deferred: its tier copy waits, to come back as a duplicate"
    );
    env.finish().await;
}

/// Gives this test's registry retry tiers of `first_ms` and more: the tier queues that
/// `TestEnv::new` declared with the short test delays are deleted, and the registry declares
/// them again with these (a queue's message TTL is fixed when it is declared). The notifier's
/// go too: every role declares the whole topology, and RabbitMQ refuses a declaration whose
/// TTL differs from the queue's (PRECONDITION_FAILED).
async fn long_retry_tiers(env: &mut TestEnv, first_ms: u64) {
    let ch = env.conn.create_channel().await.unwrap();
    for queue in [env.names.registry(), env.names.notifier()] {
        for n in 1..=env.settings.amqp.retry_delays_ms.len() {
            let q = env.names.retry(&queue, n);
            ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await
                .unwrap();
        }
    }
    let _ = ch.close(200, "done".into()).await;
    env.settings.amqp.retry_delays_ms = vec![first_ms, first_ms * 2, first_ms * 4];
}

/// A county department `cNN` (region `5226NN`, NN from 10), a township and five branches.
fn county_tree(n: usize) -> Vec<Value> {
    let dept = format!("c{n:02}");
    let region = format!("5226{:02}", n + 10);
    let town = format!("{dept}-t");
    let mut tree = vec![
        org(&dept, "department", None, &region, "13900000001"),
        org(
            &town,
            "committee",
            Some(&dept),
            &format!("{region}100"),
            "13900000002",
        ),
    ];
    for b in 0..5 {
        tree.push(org(
            &format!("{dept}-b{b}"),
            "branch",
            Some(&town),
            &format!("{region}1002{b:02}"),
            "13900000003",
        ));
    }
    tree
}

fn departure(member: &str, home: &str) -> Value {
    event(
        "registration.outbound",
        home,
        "2026-03-01T09:00:00",
        json!({"member_id": member, "left_on": "2026-03-01", "reason": "work", "expected_months": 4,
               "destination": {"region_code": "440106001", "address": "天河路1号", "employer": null,
                               "employer_type": "private"}}),
    )
}

/// Issue 7: a department's first load (org tree, members, departures), published in order at
/// full speed, is applied in order by two registry replicas: nothing waits in a retry tier,
/// nothing is parked.
#[tokio::test]
async fn an_ordered_stream_is_applied_in_order_by_two_replicas() {
    const COUNTIES: usize = 10;
    const MEMBERS: usize = 10_000;
    let env = TestEnv::new().await;
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            let (stop, tally) = (CancellationToken::new(), Arc::new(Tally::default()));
            let run = tokio::spawn(hongyan_registry::run_with(
                env.settings.clone(),
                Arc::new(env.clock.clone()),
                tally.clone(),
                stop.clone(),
            ));
            (stop, tally, run)
        })
        .collect();
    // With a single active consumer the broker counts only the active one here.
    env.eventually("a replica attached to the registry queue", || async {
        consumers(&env, &env.names.registry()).await >= 1
    })
    .await;

    let mut stream: Vec<Value> = (0..COUNTIES).flat_map(county_tree).collect();
    let home = |i: usize| format!("c{:02}-b{}", i % COUNTIES, (i / COUNTIES) % 5);
    for i in 0..MEMBERS {
        stream.push(member(&format!("m{i:05}"), &home(i), &format!("139{i:08}")));
    }
    for i in 0..MEMBERS {
        stream.push(departure(&format!("m{i:05}"), &home(i)));
    }
    env.publish_all(&stream).await;

    env.eventually_within(
        Duration::from_secs(240),
        "every departure applied",
        || async { env.scalar_i64("SELECT count(*) FROM flow_records").await == MEMBERS as i64 },
    )
    .await;
    let mut total = Counts::default();
    for (stop, tally, run) in replicas {
        stop.cancel();
        run.await.unwrap().unwrap();
        let c = tally.counts();
        total.applied += c.applied;
        total.parked += c.parked;
        total.deferred += c.deferred;
    }
    assert_eq!(total.deferred, 0, "nothing waits for a retry: {total:?}");
    assert_eq!(total.parked, 0, "nothing parked: {total:?}");
    assert_eq!(total.applied, stream.len() as u64, "{total:?}");
    assert!(env.parked().await.is_empty());
    assert_eq!(
        env.scalar_i64(
            "SELECT count(*) FROM history WHERE event_type = 'registration.outbound' AND applied"
        )
        .await,
        MEMBERS as i64
    );
    assert_eq!(
        env.scalar_i64("SELECT count(DISTINCT certificate_no) FROM flow_records")
            .await,
        MEMBERS as i64,
        "every departure got its own certificate"
    );
    env.finish().await;
}

/// Consumers attached to `queue` (what `rabbitmqctl list_queues name consumers` shows).
async fn consumers(env: &TestEnv, queue: &str) -> u32 {
    let ch = env.conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = ch.close(200, "done".into()).await;
    q.consumer_count()
}
