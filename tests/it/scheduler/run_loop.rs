//! The scheduler's top-level loop on an injected clock.

use super::*;

/// The test's clock, counting how often the loop looks at it.
struct CountedClock {
    clock: hongyan_domain::clock::FixedClock,
    reads: std::sync::atomic::AtomicUsize,
}

impl hongyan_domain::clock::Clock for CountedClock {
    fn now(&self) -> DateTime<Utc> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.clock.now()
    }
}

impl CountedClock {
    fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn reminder_firings(env: &TestEnv) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar(
        "SELECT due FROM schedule_firings WHERE schedule = 'monthly_reminder' AND outcome = 'fired' ORDER BY due",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap()
}

/// Only the reminder falls between 1 December and 1 January here.
fn only_the_reminder(env: &mut TestEnv) {
    let sch = &mut env.settings.schedules;
    for s in [
        &mut sch.monthly_review,
        &mut sch.monthly_second_nudge,
        &mut sch.activity_day,
        &mut sch.study_send_at,
        &mut sch.quarterly_dispatch,
        &mut sch.quarterly_talk,
        &mut sch.quarterly_talk_followup,
        &mut sch.family_visit,
        &mut sch.political_birthday,
        &mut sch.return_peaks,
    ] {
        *s = "0 0 9 1 Jul *".into();
    }
}

#[tokio::test]
async fn the_run_loop_fires_a_due_schedule_once_notices_a_moved_clock_and_stops_on_shutdown() {
    let mut env = TestEnv::new().await;
    env.settings.api.link_secret = Some(SECRET.into());
    county(&env).await;
    open_record(&env, "m1", "2026-10-31").await;
    only_the_reminder(&mut env);
    let clock = std::sync::Arc::new(CountedClock {
        clock: hongyan_domain::clock::FixedClock::at(at(2026, 12, 1, 9, 1)),
        reads: 0.into(),
    });
    let stop = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(hongyan_scheduler::run_looking_every(
        env.settings.clone(),
        clock.clone(),
        stop.clone(),
        std::time::Duration::from_millis(10),
    ));

    // Started a minute after the reminder was due (within the grace): it fires, once.
    env.eventually("the due reminder fires", || async {
        !reminder_firings(&env).await.is_empty()
    })
    .await;
    let after_firing = clock.reads();
    env.eventually("the loop goes round a few more times", || async {
        clock.reads() > after_firing + 20
    })
    .await;
    assert_eq!(reminder_firings(&env).await, [at(2026, 12, 1, 9, 0)]);
    assert_eq!(requests(&env).await.len(), 1);

    // A month later on its clock, the loop fires the next one.
    clock.clock.set(at(2027, 1, 1, 9, 0));
    env.eventually("January's reminder fires", || async {
        reminder_firings(&env).await.len() == 2
    })
    .await;
    let keys: Vec<String> = requests(&env).await.into_iter().map(|r| r.1).collect();
    assert_eq!(
        keys,
        [
            "monthly_reminder:2026-12:member:m1",
            "monthly_reminder:2027-01:member:m1"
        ]
    );

    stop.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), run)
        .await
        .expect("the loop stops on shutdown")
        .unwrap()
        .unwrap();
    env.finish().await;
}

/// A scheduler deployed alone, with no registry or notifier running, publishes what it queues:
/// it runs its own outbox relay.
#[tokio::test]
async fn a_scheduler_alone_publishes_what_it_queues() {
    use futures::StreamExt;
    let mut env = TestEnv::new().await;
    env.settings.api.link_secret = Some(SECRET.into());
    county(&env).await;
    open_record(&env, "m1", "2026-10-31").await;
    only_the_reminder(&mut env);
    let mut sent = env.watch("notification.requested").await;
    let stop = tokio_util::sync::CancellationToken::new();
    let clock = hongyan_domain::clock::FixedClock::at(at(2026, 12, 1, 9, 1));
    let run = tokio::spawn(hongyan_scheduler::run_with_clock(
        env.settings.clone(),
        std::sync::Arc::new(clock),
        stop.clone(),
    ));
    let d = tokio::time::timeout(std::time::Duration::from_secs(30), sent.next())
        .await
        .expect("the reminder reaches the broker with no other role running")
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_slice(&d.data).unwrap();
    assert_eq!(v["data"]["key"], "monthly_reminder:2026-12:member:m1");
    stop.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), run)
        .await
        .expect("the scheduler and its relay stop on shutdown")
        .unwrap()
        .unwrap();
    env.finish().await;
}
