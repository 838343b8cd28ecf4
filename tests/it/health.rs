//! `hongyan health ROLE` asks the role's own process on this host: its main loop's heartbeat
//! in Redis (`{redis.prefix}alive:{role}:{host}`), not only that some consumer somewhere exists.

use std::sync::Arc;
use std::time::Duration;

use hongyan_adapters::heartbeat::{self, Heartbeat, Liveness, Role};
use tokio_util::sync::CancellationToken;

use crate::env::TestEnv;

/// `hongyan health ROLE` on this host, or as `host` when given: (passed, stdout).
async fn health(env: &TestEnv, role: &str, host: Option<&str>) -> (bool, String) {
    let mut cmd = env.hongyan();
    cmd.args(["health", role]);
    if let Some(host) = host {
        cmd.env("HOSTNAME", host);
    }
    let out = cmd.output().await.expect("hongyan runs");
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

async fn wait_alive(env: &TestEnv, role: Role) {
    let host = heartbeat::this_host();
    env.eventually(&format!("the {} beats", role.name()), || async {
        heartbeat::check(&env.settings.redis, role, &host)
            .await
            .unwrap()
            .is_alive()
    })
    .await;
}

#[tokio::test]
async fn the_registry_is_healthy_while_its_consumer_runs_and_not_once_it_stopped() {
    let mut env = TestEnv::new().await;
    env.start_registry();
    wait_alive(&env, Role::Registry).await;
    let (ok, out) = health(&env, "registry", None).await;
    assert!(ok, "{out}");
    assert!(out.contains("registry: heartbeat on this host"), "{out}");
    assert!(out.contains("1 consumer(s)"), "{out}");

    // The beat runs out by itself if the loop stops beating.
    let mut c = redis::Client::open(env.settings.redis.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = heartbeat::key(
        &env.settings.redis.prefix,
        Role::Registry,
        &heartbeat::this_host(),
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        0 < ttl && ttl <= heartbeat::TTL.as_millis() as i64,
        "{key}: {ttl} ms"
    );

    env.stop_registry().await;
    let (ok, out) = health(&env, "registry", None).await;
    assert!(!ok, "a stopped registry is not healthy: {out}");
    assert!(
        out.contains("no heartbeat from the registry on this host"),
        "{out}"
    );
    assert!(out.contains("shut down"), "{out}");
    env.finish().await;
}

#[tokio::test]
async fn the_scheduler_is_healthy_while_its_loop_runs_and_not_once_it_stopped() {
    let env = TestEnv::new().await;
    let (ok, out) = health(&env, "scheduler", None).await;
    assert!(!ok, "no scheduler ran yet: {out}");
    assert!(
        out.contains("no heartbeat from the scheduler on this host") && out.contains("see its log"),
        "{out}"
    );

    let stop = CancellationToken::new();
    let running = tokio::spawn(hongyan_scheduler::run_with_clock(
        env.settings.clone(),
        Arc::new(env.clock.clone()),
        stop.clone(),
    ));
    wait_alive(&env, Role::Scheduler).await;
    let (ok, out) = health(&env, "scheduler", None).await;
    assert!(ok, "{out}");
    assert!(out.contains("scheduler: heartbeat on this host"), "{out}");

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the scheduler stops in time")
        .unwrap()
        .unwrap();
    let (ok, out) = health(&env, "scheduler", None).await;
    assert!(!ok, "a stopped scheduler is not healthy: {out}");
    assert!(
        out.contains("no heartbeat from the scheduler on this host"),
        "{out}"
    );
    env.finish().await;
}

#[tokio::test]
async fn the_notifier_is_healthy_while_its_delivery_loop_runs_and_not_once_it_stopped() {
    let mut env = TestEnv::new().await;
    env.settings.notifier.templates_dir = crate::env::config_dir()
        .join("templates")
        .to_string_lossy()
        .into_owned();
    env.settings.notifier.receipts_listen = String::new();
    let stop = CancellationToken::new();
    let n = hongyan_notifier::Notifier::new(
        env.settings.clone(),
        Arc::new(env.clock.clone()),
        hongyan_notifier::providers::console::Console::new(),
        &stop,
    )
    .await
    .expect("notifier builds")
    .expect("Redis is up");
    let running = tokio::spawn(hongyan_notifier::run_notifier(Arc::new(n), stop.clone()));
    wait_alive(&env, Role::Notifier).await;
    // The intake consumer (which the check also asks for) may still be starting.
    env.eventually("hongyan health notifier passes", || async {
        health(&env, "notifier", None).await.0
    })
    .await;
    let (ok, out) = health(&env, "notifier", None).await;
    assert!(ok, "{out}");
    assert!(out.contains("notifier: heartbeat on this host"), "{out}");

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the notifier stops in time")
        .unwrap()
        .unwrap();
    let (ok, out) = health(&env, "notifier", None).await;
    assert!(!ok, "a stopped notifier is not healthy: {out}");
    assert!(
        out.contains("no heartbeat from the notifier on this host"),
        "{out}"
    );
    env.finish().await;
}

#[tokio::test]
async fn another_hosts_heartbeat_does_not_make_this_host_healthy() {
    let env = TestEnv::new().await;
    let elsewhere = Heartbeat::on_host(
        &env.settings.redis,
        Role::Scheduler,
        "another-host",
        Arc::new(env.clock.clone()),
    )
    .unwrap();
    elsewhere.beat().await;
    assert!(matches!(
        heartbeat::check(&env.settings.redis, Role::Scheduler, "another-host")
            .await
            .unwrap(),
        Liveness::Alive { .. }
    ));

    let (ok, out) = health(&env, "scheduler", Some("this-host")).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("no heartbeat from the scheduler on this host (this-host)"),
        "{out}"
    );
    // Asked on the host that beats, the same check passes.
    let (ok, out) = health(&env, "scheduler", Some("another-host")).await;
    assert!(ok, "{out}");
    env.finish().await;
}

/// The notifier's heartbeat covers its intake: a delivery loop that beats beside an intake
/// that is not consuming (RabbitMQ away, its consumer failed) is not healthy, and `hongyan
/// health` names the intake. Before, the delivery loop's beat alone made it healthy.
#[tokio::test]
async fn the_notifier_is_not_healthy_while_its_intake_is_down() {
    let mut env = TestEnv::new().await;
    env.settings.notifier.templates_dir = crate::env::config_dir()
        .join("templates")
        .to_string_lossy()
        .into_owned();
    env.settings.notifier.receipts_listen = String::new();
    let stop = CancellationToken::new();
    let n = Arc::new(
        hongyan_notifier::Notifier::new(
            env.settings.clone(),
            Arc::new(env.clock.clone()),
            hongyan_notifier::providers::console::Console::new(),
            &stop,
        )
        .await
        .expect("notifier builds")
        .expect("Redis is up"),
    );
    // The delivery loop alone: it beats, the intake never starts.
    let delivery = {
        let (n, stop) = (n.clone(), stop.clone());
        tokio::spawn(async move { hongyan_notifier::deliver::run(&n, &stop).await })
    };
    let host = heartbeat::this_host();
    env.eventually("the delivery loop beats", || async {
        !matches!(
            heartbeat::check(&env.settings.redis, Role::Notifier, &host)
                .await
                .unwrap(),
            Liveness::Missing
        )
    })
    .await;
    let seen = heartbeat::check(&env.settings.redis, Role::Notifier, &host)
        .await
        .unwrap();
    assert!(
        matches!(&seen, Liveness::PartsDown { parts, .. } if parts == &["intake".to_owned()]),
        "{seen:?}"
    );
    let (ok, out) = health(&env, "notifier", None).await;
    assert!(!ok, "a notifier whose intake is down is not healthy: {out}");
    assert!(out.contains("its intake is not running"), "{out}");

    // Once the intake consumes, the next beat is whole.
    let intake = tokio::spawn(hongyan_notifier::run_intake(n.clone(), stop.clone()));
    wait_alive(&env, Role::Notifier).await;
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(20), delivery).await;
    let _ = tokio::time::timeout(Duration::from_secs(20), intake).await;
    env.finish().await;
}

/// A firing beats between its batches (issue 15): the scheduler's heartbeat, never beaten
/// before, is written while the monthly reminder goes through its batch, so a firing longer
/// than the heartbeat's TTL does not mark the role dead.
#[tokio::test]
async fn a_long_firing_beats_between_its_batches() {
    use crate::fixtures::*;
    use chrono::TimeZone;
    let mut env = TestEnv::new().await;
    env.settings.api.link_secret = Some("health-test-secret".to_owned().into());
    env.start_registry();
    let mut events = county();
    events.push(member("hb1", "b1", "13900007001"));
    events.push(outbound("hb1", "b1", "2026-03-01T09:00:00", 4, None));
    env.publish_all(&events).await;
    env.wait_processed(events.last().unwrap()["event_id"].as_str().unwrap())
        .await;
    let alive = Heartbeat::on_host(
        &env.settings.redis,
        Role::Scheduler,
        "firing-host",
        Arc::new(env.clock.clone()),
    )
    .unwrap();
    let before = heartbeat::check(&env.settings.redis, Role::Scheduler, "firing-host")
        .await
        .unwrap();
    assert!(matches!(before, Liveness::Missing), "{before:?}");
    let due = chrono::Utc.with_ymd_and_hms(2026, 5, 1, 1, 0, 0).unwrap();
    let fired = hongyan_scheduler::engine::fire_beating(
        &env.pool,
        &env.settings,
        "monthly_reminder",
        due,
        due,
        false,
        Some(&alive),
    )
    .await
    .unwrap();
    assert_eq!(fired, hongyan_scheduler::engine::Fired::Done(1));
    let after = heartbeat::check(&env.settings.redis, Role::Scheduler, "firing-host")
        .await
        .unwrap();
    assert!(after.is_alive(), "the firing beat: {after:?}");
    env.stop_registry().await;
    env.finish().await;
}
