//! No message is unroutable for want of a role (DESIGN.md section 8): a registry started on a
//! new broker before any notifier declares the notifier's queue too, so its notification
//! requests wait there, and every `ledger.changed` goes out at once. Before, the broker
//! returned the requests, the relay failed its batch and backed off, and the announcements
//! behind them waited (issue 15: 495 of 10,000 departures announced after 87 s).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::env::{TestEnv, config_dir};
use crate::fixtures::*;

const DEPARTURES: usize = 30;

#[tokio::test]
async fn a_registry_alone_announces_at_once_and_its_notifications_wait_for_the_notifier() {
    let mut env = TestEnv::without_queues().await;
    // Small relay batches, so returned rows (before the fix) fill whole batches.
    env.settings.outbox.batch_size = 10;
    env.start_registry();
    // The registry declares the notifier's queue too (after its own).
    let notifier_queue = env.names.notifier();
    env.eventually("the registry declared the notifier's queue", || {
        env.queue_exists(&notifier_queue)
    })
    .await;
    let mut announced = env.watch("ledger.changed").await;

    let mut events = county();
    for i in 0..DEPARTURES {
        let id = format!("tp{i:03}");
        events.push(member(&id, "b1", &format!("1390000{:04}", 7100 + i)));
        events.push(outbound(&id, "b1", "2026-03-01T09:00:00", 4, None));
    }
    env.publish_all(&events).await;

    // Every departure announced, with no notifier anywhere.
    let mut changed = std::collections::HashSet::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while changed.len() < DEPARTURES {
            let d = announced
                .next()
                .await
                .expect("watching")
                .expect("a delivery");
            let v: serde_json::Value = serde_json::from_slice(&d.data).unwrap();
            changed.insert(v["data"]["member_id"].as_str().unwrap().to_owned());
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "only {} of {DEPARTURES} departures announced in 20 s without a notifier",
            changed.len()
        )
    });
    env.eventually("the outbox empties", || async {
        env.scalar_i64("SELECT count(*) FROM outbox").await == 0
    })
    .await;
    let waiting = env.queue_depth(&env.names.notifier()).await;
    assert!(
        waiting as usize >= 2 * DEPARTURES,
        "each departure's messages (member, branch) wait in the notifier's queue: {waiting}"
    );

    // The notifier comes later and sends every one of them, once.
    env.settings.notifier.templates_dir = config_dir().join("templates").to_string_lossy().into();
    env.settings.notifier.receipts_listen = String::new();
    let console = hongyan_notifier::providers::console::Console::new();
    let stop = CancellationToken::new();
    let n = hongyan_notifier::Notifier::new(
        env.settings.clone(),
        Arc::new(env.clock.clone()),
        console.clone(),
        &stop,
    )
    .await
    .expect("notifier builds")
    .expect("Redis is up");
    let running = tokio::spawn(hongyan_notifier::run_notifier(Arc::new(n), stop.clone()));
    // Every request taken in; each member's own SMS sent at once (the branch contact's notices
    // are gathered into digests, DESIGN.md section 5, so they are not counted here).
    env.eventually("the waiting notifications are taken in", || async {
        // The digests the notifier gathers for org contacts are rows of its own, not requests.
        let sql = "SELECT count(*) FROM notifications WHERE template <> 'org_digest'";
        env.scalar_i64(sql).await == i64::from(waiting)
    })
    .await;
    let to_members = || {
        console
            .sent()
            .iter()
            .filter(|r| {
                r.phone
                    .as_deref()
                    .is_some_and(|p| p.starts_with("13900007"))
            })
            .count()
    };
    env.eventually("every member's departure SMS is sent", || async {
        to_members() >= DEPARTURES
    })
    .await;
    assert_eq!(to_members(), DEPARTURES, "each once");
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(20), running).await;
    env.stop_registry().await;
    env.finish().await;
}
