//! The political birthday (政治生日) and the return peaks (春节, 五一, 国庆).

use super::*;

async fn greeted(env: &TestEnv, local: &str) -> Vec<(String, String)> {
    clear_outbox(env).await;
    fire!(env, jobs::political_birthday, "political_birthday", local);
    requests(env, "political_birthday")
        .await
        .into_iter()
        .map(|(_, r)| {
            (
                r["recipient"]["member_id"].as_str().unwrap().to_owned(),
                r["params"]["years"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_political_birthday_greets_on_the_anniversary_and_29_february_on_the_28th() {
    let env = TestEnv::new().await;
    org(&env, "b1", "branch", &["b1"], "522627001", None).await;
    for (id, joined) in [
        ("leap", "2004-02-29"),
        ("feb28", "2005-02-28"),
        ("july", "2010-07-01"),
        ("new", "2026-02-28"),
    ] {
        member(
            &env,
            &M {
                id,
                branch: "b1",
                phone: "13911110001",
                joined,
                pair: None,
            },
        )
        .await;
    }
    let s = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        greeted(&env, "2026-02-27 08:00").await,
        s(&[]),
        "the day before"
    );
    assert_eq!(
        greeted(&env, "2026-02-28 08:00").await,
        s(&[("feb28", "21"), ("leap", "22")]),
        "the day, and 29 February in a year without one; not on the joining day itself"
    );
    assert_eq!(
        greeted(&env, "2026-03-01 08:00").await,
        s(&[]),
        "the day after"
    );
    assert_eq!(
        greeted(&env, "2028-02-28 08:00").await,
        s(&[("feb28", "23"), ("new", "2")]),
        "in a leap year, 29 February waits for its own day"
    );
    assert_eq!(
        greeted(&env, "2028-02-29 08:00").await,
        s(&[("leap", "24")])
    );
    assert_eq!(
        greeted(&env, "2026-07-01 08:00").await,
        s(&[("july", "16")])
    );
    let sent = requests(&env, "political_birthday").await;
    assert_eq!(
        sent[0].1["key"],
        "political_birthday:2026-07-01:member:july"
    );
    assert_eq!(sent[0].1["params"]["branch_name"], "b1党支部");
    env.finish().await;
}

#[tokio::test]
async fn return_peaks_ask_each_branch_with_members_away_exactly_14_days_before() {
    let env = TestEnv::new().await;
    org(&env, "b1", "branch", &["b1"], "522627001", None).await;
    org(&env, "b2", "branch", &["b2"], "522627002", None).await;
    member(
        &env,
        &M {
            id: "m1",
            branch: "b1",
            phone: "13911110001",
            joined: "2010-07-01",
            pair: None,
        },
    )
    .await;
    member(
        &env,
        &M {
            id: "m2",
            branch: "b1",
            phone: "13911110002",
            joined: "2010-07-01",
            pair: None,
        },
    )
    .await;
    record(&env, "m1", "b1", true, None, None).await;
    record(&env, "m2", "b1", true, None, None).await;
    // The shipped config lists 春节 2027 on 6 February: notice on 23 January.
    assert_eq!(
        fire!(env, jobs::return_peaks, "return_peaks", "2027-01-22 09:00"),
        0
    );
    assert_eq!(
        fire!(env, jobs::return_peaks, "return_peaks", "2027-01-23 09:00"),
        1,
        "b1 only: b2 has nobody away"
    );
    assert_eq!(
        fire!(env, jobs::return_peaks, "return_peaks", "2027-01-24 09:00"),
        0
    );
    let sent = requests(&env, "return_peak").await;
    let r = &sent[0].1;
    assert_eq!(r["recipient"]["org_id"], "b1");
    assert_eq!(r["params"]["peak_name"], "春节");
    assert_eq!(r["params"]["peak_date"], "2月6日");
    assert_eq!(r["params"]["count"], "2");
    assert_eq!(r["key"], "return_peak:2027-02-06:org:b1");
    // 国庆 2026 across a month end: 17 September.
    assert_eq!(
        fire!(env, jobs::return_peaks, "return_peaks", "2026-09-17 09:00"),
        1
    );
    env.finish().await;
}

#[tokio::test]
async fn a_greeting_fired_twice_reaches_the_member_once() {
    let e = start(|_| {}).await;
    let env = &e.env;
    org(env, "b1", "branch", &["b1"], "522627001", None).await;
    member(
        env,
        &M {
            id: "m1",
            branch: "b1",
            phone: "13911110001",
            joined: "2004-02-29",
            pair: None,
        },
    )
    .await;
    e.env.clock.set(at("2026-02-28 08:30"));
    for _ in 0..2 {
        assert_eq!(
            fire!(
                env,
                jobs::political_birthday,
                "political_birthday",
                "2026-02-28 08:00"
            ),
            1
        );
        outbox::relay_once(&env.pool, &env.publisher, &env.names, 100)
            .await
            .unwrap();
    }
    env.eventually("the greeting taken in, its repeat dropped", || async {
        env.queue_depth(&env.names.notifier()).await == 0
            && env
                .scalar_i64(
                    "SELECT count(*) FROM notifications WHERE template = 'political_birthday'",
                )
                .await
                == 1
    })
    .await;
    while e.round().await > 0 {}
    let greetings: Vec<String> = e
        .console
        .sent()
        .into_iter()
        .filter(|s| s.text.contains("政治生日"))
        .map(|s| s.text)
        .collect();
    assert_eq!(greetings.len(), 1, "{greetings:?}");
    assert!(greetings[0].contains("22年前的今天"), "{}", greetings[0]);
    e.finish().await;
}
