//! Rate limits shared across replicas (DESIGN.md section 5), against the real Redis and driven by
//! a simulated clock: a limited send waits for the time it is given, is never dropped, and never
//! asks twice for the same slot.

use futures::future::join_all;
use hongyan_adapters::ratelimit::{Decision, Limit, RateLimiter};
use redis::aio::ConnectionManager;

use crate::env::test_settings;

/// 2026-03-01 09:00 Shanghai, in milliseconds: the simulated clock's start.
const T0: i64 = 1_772_326_800_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// A test's own key prefix; its keys are deleted when it is dropped, pass or fail.
struct Space {
    prefix: String,
    url: String,
}

impl Space {
    fn new() -> Self {
        let id = format!("rlt_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let settings = test_settings(&id);
        Self {
            prefix: settings.redis.prefix,
            url: settings.redis.url,
        }
    }

    /// A replica's limiter, on its own connection.
    async fn replica(&self) -> RateLimiter {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let conn = ConnectionManager::new(client)
            .await
            .expect("Redis reachable");
        RateLimiter::new(conn, &self.prefix)
    }
}

impl Drop for Space {
    fn drop(&mut self) {
        let Ok(mut c) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut c)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut c);
        }
    }
}

/// The most sends in any window `[t, t + len)`; the busiest window starts at a send.
fn busiest_window(sent_at: &[i64], len: i64) -> usize {
    sent_at
        .iter()
        .map(|&t| sent_at.iter().filter(|&&s| s >= t && s < t + len).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_burst_of_100_to_one_robot_waits_its_turn_and_none_is_dropped() {
    let space = Space::new();
    let limiter = space.replica().await;
    let robot = Limit::per_minute(20);

    let mut now = T0;
    let mut sent_at = Vec::new();
    let mut waits = 0;
    for send in 0..100 {
        let mut waits_for_this_send = 0;
        loop {
            match limiter.acquire("robot:b1", robot, now).await.unwrap() {
                Decision::Allowed => break,
                Decision::Wait { until_ms } => {
                    assert!(until_ms > now, "send {send}: told to wait for the past");
                    waits += 1;
                    waits_for_this_send += 1;
                    now = until_ms;
                }
            }
        }
        assert!(
            waits_for_this_send <= 1,
            "send {send} was refused at the time it was told to come back"
        );
        sent_at.push(now);
    }

    assert_eq!(sent_at.len(), 100);
    assert_eq!(busiest_window(&sent_at, MINUTE), 20);
    let last = sent_at.last().unwrap() - T0;
    assert!(
        (4 * MINUTE - 1_000..=4 * MINUTE + 1_000).contains(&last),
        "the last send went after {last} ms, not about 4 minutes"
    );
    // The first 20 go at once, then each later group of 20 waits once for the next window.
    assert_eq!(waits, 4);

    // Idle keys vanish: the key lives no longer than one window past its latest send.
    let mut conn = ConnectionManager::new(redis::Client::open(space.url.as_str()).unwrap())
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(limiter.key("robot:b1"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=MINUTE).contains(&ttl), "PTTL {ttl}");
}

#[tokio::test]
async fn two_replicas_sharing_a_robot_never_exceed_its_limit() {
    let space = Space::new();
    let (a, b) = (space.replica().await, space.replica().await);
    let robot = Limit::per_minute(10);

    for round in 0..3 {
        let now = T0 + round * MINUTE;
        // 30 sends from each replica, all in flight at once.
        let calls = (0..60).map(|i| {
            let replica = if i % 2 == 0 { &a } else { &b };
            replica.acquire("robot:b1", robot, now)
        });
        let answers: Vec<Decision> = join_all(calls)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let allowed = answers.iter().filter(|d| d.is_allowed()).count();
        assert_eq!(allowed, 10, "round {round}");
        for d in answers.iter().filter(|d| !d.is_allowed()) {
            assert_eq!(
                *d,
                Decision::Wait {
                    until_ms: now + MINUTE
                },
                "round {round}"
            );
        }
    }
}

#[tokio::test]
async fn an_sms_waits_for_its_phone_without_taking_the_providers_slot() {
    let space = Space::new();
    let limiter = space.replica().await;
    let provider = Limit::per_second(5);
    let phone = Limit::per_day(3);
    let sms = |to: &'static str| [("sms:aliyun", provider), (to, phone)];

    for (i, at) in [T0, T0 + 1_000, T0 + 2_000].into_iter().enumerate() {
        let d = limiter.acquire_all(&sms("phone:a"), at).await.unwrap();
        assert_eq!(d, Decision::Allowed, "phone a, send {i}");
    }
    // Phone a has had its three today: it waits for a day after its first, the provider's
    // window is free.
    let now = T0 + 3_000;
    assert_eq!(
        limiter.acquire_all(&sms("phone:a"), now).await.unwrap(),
        Decision::Wait { until_ms: T0 + DAY }
    );
    // The refused send took none of the provider's five this second: phone b sends five now.
    // (Had it been counted, the fifth would wait.)
    for i in 0..5 {
        let to = ["phone:b", "phone:c", "phone:d", "phone:e", "phone:f"][i];
        let d = limiter.acquire_all(&sms(to), now).await.unwrap();
        assert_eq!(d, Decision::Allowed, "send {i} to another phone");
    }
    // Now the provider is full for this second, and a new phone waits for the next one.
    assert_eq!(
        limiter.acquire_all(&sms("phone:g"), now).await.unwrap(),
        Decision::Wait {
            until_ms: now + 1_000
        }
    );
    // Both full: the answer is the later of the two times, when both have room.
    assert_eq!(
        limiter.acquire_all(&sms("phone:a"), now).await.unwrap(),
        Decision::Wait { until_ms: T0 + DAY }
    );
    // Phone g was refused, not counted, so it goes as soon as the provider has room.
    assert_eq!(
        limiter
            .acquire_all(&sms("phone:g"), now + 1_000)
            .await
            .unwrap(),
        Decision::Allowed
    );
    // And phone a goes at the time it was given.
    assert_eq!(
        limiter
            .acquire_all(&sms("phone:a"), T0 + DAY)
            .await
            .unwrap(),
        Decision::Allowed
    );

    // One send cannot be counted twice against the same key.
    let same = [("phone:a", phone), ("phone:a", phone)];
    assert!(limiter.acquire_all(&same, T0 + DAY).await.is_err());
}

#[tokio::test]
async fn a_refused_send_costs_no_capacity() {
    let space = Space::new();
    let limiter = space.replica().await;
    let robot = Limit::per_minute(3);

    for _ in 0..3 {
        assert!(
            limiter
                .acquire("robot:b2", robot, T0)
                .await
                .unwrap()
                .is_allowed()
        );
    }
    // Fifty refusals through the minute; were any counted, the window would move later.
    for i in 1..=50 {
        let d = limiter
            .acquire("robot:b2", robot, T0 + i * 1_000)
            .await
            .unwrap();
        assert_eq!(
            d,
            Decision::Wait {
                until_ms: T0 + MINUTE
            },
            "refusal {i}"
        );
    }
    // The next window holds exactly three again.
    let next = T0 + MINUTE;
    for _ in 0..3 {
        assert!(
            limiter
                .acquire("robot:b2", robot, next)
                .await
                .unwrap()
                .is_allowed()
        );
    }
    assert_eq!(
        limiter.acquire("robot:b2", robot, next).await.unwrap(),
        Decision::Wait {
            until_ms: next + MINUTE
        }
    );
}

#[tokio::test]
async fn a_round_of_sends_asked_at_once_is_answered_in_order() {
    let space = Space::new();
    let limiter = space.replica().await;
    let provider = Limit::per_second(500);
    let phone = Limit::per_day(3);
    let names: Vec<String> = (0..200).map(|i| format!("phone:{i}")).collect();
    let sms = |to: &str| vec![("sms:aliyun".to_owned(), provider), (to.to_owned(), phone)];
    // Phone x four times, a send with no limits, then 600 sends over 200 phones: more than
    // one script call's worth, so the answers span calls.
    let mut sends: Vec<Vec<(String, Limit)>> = vec![sms("phone:x"); 4];
    sends.push(Vec::new());
    sends.extend((0..600).map(|i| sms(&names[i % 200])));
    let borrowed: Vec<Vec<(&str, Limit)>> = sends
        .iter()
        .map(|w| w.iter().map(|(n, l)| (n.as_str(), *l)).collect())
        .collect();
    let asked: Vec<&[(&str, Limit)]> = borrowed.iter().map(Vec::as_slice).collect();
    let decisions = limiter.acquire_each(&asked, T0).await.unwrap();

    assert_eq!(decisions.len(), sends.len(), "one answer per send");
    assert!(decisions[..3].iter().all(Decision::is_allowed));
    assert_eq!(
        decisions[3],
        Decision::Wait { until_ms: T0 + DAY },
        "phone x's fourth waits a day"
    );
    assert_eq!(decisions[4], Decision::Allowed, "no limits, no wait");
    // The provider's 500 this second: 3 went to phone x, the refused fourth took none.
    let (now, later) = decisions[5..].split_at(497);
    assert!(now.iter().all(Decision::is_allowed));
    assert!(
        later.iter().all(|d| *d
            == Decision::Wait {
                until_ms: T0 + 1_000
            }),
        "the rest wait for the provider's next second: {later:?}"
    );
}
