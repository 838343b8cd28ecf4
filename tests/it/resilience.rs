//! Reliability (DESIGN.md section 8): the broker dropping our connections, PostgreSQL dropping
//! its sessions, and `kill -9` of a worker mid-batch each end with every event applied exactly
//! once. Each test disturbs only its own connections, so the suite still runs in parallel.

use serde_json::{Value, json};

use crate::env::TestEnv;
use crate::fixtures::*;

const MEMBERS: usize = 200;

/// Setup events, then `rounds` confirmations per member, each newer than the last.
fn workload(rounds: usize) -> (Vec<Value>, Vec<Value>) {
    let mut setup = county();
    for m in 0..MEMBERS {
        setup.push(member(&format!("w{m:04}"), "b1", &format!("1390000{m:04}")));
    }
    for m in 0..MEMBERS {
        setup.push(outbound(
            &format!("w{m:04}"),
            "b1",
            "2026-03-01T09:00:00",
            4,
            None,
        ));
    }
    let mut updates = Vec::new();
    for r in 0..rounds {
        for m in 0..MEMBERS {
            let at = format!("2026-03-02T{:02}:{:02}:00", 9 + r / 60, r % 60);
            updates.push(update(
                &format!("w{m:04}"),
                "b1",
                &at,
                json!({"confirmed_unchanged": true}),
            ));
        }
    }
    (setup, updates)
}

/// Every event applied once: one history line each, each record counting exactly the changes
/// applied to it and holding the newest, one certificate per departure, nothing parked. (An
/// update that a redelivery or retry brought in after a newer one is kept in history only.)
async fn assert_exactly_once(env: &TestEnv, setup: &[Value], updates: &[Value]) {
    let total = (setup.len() + updates.len()) as i64;
    env.as_batches_settle("every event processed", || async {
        env.scalar_i64("SELECT count(*) FROM processed_events")
            .await
            == total
    })
    .await;
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM history").await,
        total,
        "one history line per event"
    );
    assert_eq!(
        env.scalar_i64("SELECT count(DISTINCT event_id) FROM history")
            .await,
        total
    );
    let miscounted = env
        .scalar_i64(
            "SELECT count(*) FROM flow_records f WHERE f.version <> (SELECT count(*) FROM history h
                WHERE h.member_id = f.member_id AND h.applied AND h.event_type LIKE 'registration.%')",
        )
        .await;
    assert_eq!(
        miscounted, 0,
        "each record's version counts the changes applied to it, once each"
    );
    let behind = env
        .scalar_i64("SELECT count(*) FROM flow_records f WHERE f.state_at <> (SELECT max(occurred_at) FROM history h WHERE h.member_id = f.member_id)")
        .await;
    assert_eq!(behind, 0, "each record reflects its member's newest event");
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM flow_records").await,
        MEMBERS as i64
    );
    let certs = env
        .scalar_i64("SELECT count(DISTINCT certificate_no) FROM flow_records")
        .await;
    assert_eq!(
        certs, MEMBERS as i64,
        "one certificate per departure, none issued twice"
    );
    assert!(env.parked().await.is_empty());
}

async fn processed_count(env: &TestEnv) -> i64 {
    env.scalar_i64("SELECT count(*) FROM processed_events")
        .await
}

/// Closes this test's connections from the broker's side, as a broker restart does.
fn drop_broker_connections(prefix: &str) -> usize {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["list_connections", "pid", "client_properties", "-q"])
        .output()
        .expect("rabbitmqctl runs");
    let mine = format!("{prefix}hongyan-registry");
    let mut closed = 0;
    for line in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&mine))
    {
        let pid = line.split_whitespace().next().unwrap();
        let ok = std::process::Command::new("rabbitmqctl")
            .args(["close_connection", pid, "test: broker restart"])
            .output()
            .unwrap();
        closed += usize::from(ok.status.success());
    }
    closed
}

#[tokio::test]
async fn the_broker_dropping_every_connection_mid_stream_loses_and_repeats_nothing() {
    let mut env = TestEnv::new().await;
    let rounds = 5;
    let (setup, updates) = workload(rounds);
    env.publish_all(&setup).await;
    env.start_registry();
    let half = updates.len() / 2;
    env.publish_all(&updates[..half]).await;
    env.as_batches_settle("some updates applied", || async {
        processed_count(&env).await > setup.len() as i64 + 50
    })
    .await;
    let closed = tokio::task::spawn_blocking({
        let prefix = env.settings.amqp.prefix.clone();
        move || drop_broker_connections(&prefix)
    })
    .await
    .unwrap();
    assert!(
        closed >= 1,
        "the registry's connections (one consumer since the single active consumer) were found and closed ({closed})"
    );
    env.publish_all(&updates[half..]).await;
    assert_exactly_once(&env, &setup, &updates).await;
    env.finish().await;
}

#[tokio::test]
async fn postgresql_dropping_its_sessions_mid_stream_loses_and_repeats_nothing() {
    let mut env = TestEnv::new().await;
    let rounds = 5;
    let (setup, updates) = workload(rounds);
    env.publish_all(&setup).await;
    env.start_registry();
    env.publish_all(&updates).await;
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    for _ in 0..3 {
        let seen = processed_count(&env).await;
        env.as_batches_settle("progress", || async {
            processed_count(&env).await > seen || seen == (setup.len() + updates.len()) as i64
        })
        .await;
        // What a PostgreSQL restart does to every open session of this database.
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
            .bind(&env.id)
            .execute(&admin)
            .await
            .unwrap();
    }
    assert_exactly_once(&env, &setup, &updates).await;
    admin.close().await;
    env.finish().await;
}

fn spawn_registry(env: &TestEnv) -> tokio::process::Child {
    let mut cmd = env.hongyan();
    cmd.arg("registry")
        .env("HONGYAN__REGISTRY__BATCH_SIZE", "100")
        .env("HONGYAN__NOTIFIER__INTAKE_BATCH_SIZE", "100")
        .env("HONGYAN__AMQP__PREFETCH", "200")
        .kill_on_drop(true);
    cmd.spawn().expect("hongyan starts")
}

#[tokio::test]
async fn kill_9_of_a_worker_mid_batch_loses_and_repeats_nothing() {
    let env = TestEnv::new().await;
    let rounds = 10;
    let (setup, updates) = workload(rounds);
    env.publish_all(&setup).await;
    env.publish_all(&updates).await;
    let total = (setup.len() + updates.len()) as i64;

    let mut first = spawn_registry(&env);
    env.eventually("the first worker is mid-stream", || async {
        processed_count(&env).await > setup.len() as i64
    })
    .await;
    first.start_kill().unwrap(); // SIGKILL: no goodbye to the broker or the database
    first.wait().await.unwrap();
    let at_kill = processed_count(&env).await;
    assert!(
        at_kill < total,
        "killed before the end ({at_kill} of {total})"
    );

    let mut second = spawn_registry(&env);
    assert_exactly_once(&env, &setup, &updates).await;
    second.start_kill().unwrap();
    second.wait().await.unwrap();
    env.finish().await;
}
