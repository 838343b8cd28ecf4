//! The quarterly talk (一季度一谈心) and its follow-up, and the family visit (每半年家访).

use super::*;

/// Branch b1 (and b2 under the same township), their members, pairs and contacts:
/// - m1 (pair 13700000001): talked on 30 September, the day before the fourth quarter;
/// - m2 (same pair): talked on 1 October, the quarter's first day;
/// - m3 (same pair, in b2): never talked;
/// - m4 (no pair): never talked, so b1's contact gets the name;
/// - m5 (same pair): record closed, not away any more.
async fn talk_county(env: &TestEnv) {
    org(env, "qx", "department", &["qx"], "522627", None).await;
    org(env, "b1", "branch", &["qx", "b1"], "522627001", None).await;
    org(env, "b2", "branch", &["qx", "b2"], "522627002", None).await;
    let pair = Some(("龙支委", "13700000001"));
    let people = [
        ("m1", "b1", pair, Some("2026-09-30")),
        ("m2", "b1", pair, Some("2026-10-01")),
        ("m3", "b2", pair, None),
        ("m4", "b1", None, None),
    ];
    for (i, (id, branch, pair, talk)) in people.into_iter().enumerate() {
        let phone = format!("1391111000{i}");
        member(
            env,
            &M {
                id,
                branch,
                phone: &phone,
                joined: "2010-07-01",
                pair,
            },
        )
        .await;
        record(env, id, branch, true, talk, None).await;
    }
    member(
        env,
        &M {
            id: "m5",
            branch: "b1",
            phone: "13911110009",
            joined: "2010-07-01",
            pair,
        },
    )
    .await;
    record(env, "m5", "b1", false, None, None).await;
}

#[tokio::test]
async fn the_quarterly_talk_reminds_each_pair_once_of_their_members_not_yet_talked_to() {
    let env = TestEnv::new().await;
    talk_county(&env).await;

    let n = fire!(
        env,
        jobs::quarterly_talk,
        "quarterly_talk",
        "2026-10-02 09:00"
    );
    assert_eq!(
        n, 2,
        "one list to the pair, one to b1's contact for the unpaired"
    );
    let sent = requests(&env, "quarterly_talk").await;
    let pair = &sent
        .iter()
        .find(|(_, r)| r["recipient"]["role"] == "pair")
        .unwrap()
        .1;
    assert_eq!(pair["recipient"]["phone"], "13700000001");
    assert_eq!(
        pair["params"]["count"], "2",
        "m1 (talked the day before the quarter) and m3; not m2 (the day), not m5 (closed)"
    );
    assert_eq!(pair["params"]["names"], "党员m1、党员m3");
    assert_eq!(pair["params"]["quarter"], "2026年第四季度");
    assert!(
        pair["key"]
            .as_str()
            .unwrap()
            .starts_with("quarterly_talk:2026Q4:person:")
    );
    assert!(
        !pair["key"].as_str().unwrap().contains("13700000001"),
        "the key holds no phone"
    );
    let branch = &sent
        .iter()
        .find(|(_, r)| r["recipient"]["role"] == "org_contact")
        .unwrap()
        .1;
    assert_eq!(branch["recipient"]["org_id"], "b1");
    assert_eq!(branch["params"]["names"], "党员m4");
    assert_eq!(branch["key"], "quarterly_talk:2026Q4:org:b1");

    // Run again for the same due time: the very same keys and message ids, which the notifier
    // drops as repeats (the end-to-end test below shows it for the birthday).
    clear_outbox(&env).await;
    assert_eq!(
        fire!(
            env,
            jobs::quarterly_talk,
            "quarterly_talk",
            "2026-10-02 09:00"
        ),
        2
    );
    let again = requests(&env, "quarterly_talk").await;
    let ids = |v: &[(String, Value)]| {
        v.iter()
            .map(|(id, r)| (id.clone(), r["key"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&again), ids(&sent));

    // The follow-up on 16 December asks about the same quarter: m1 has talked since.
    sqlx::query("UPDATE flow_records SET doc = jsonb_set(doc, '{contacts,talk}', '\"2026-10-20\"') WHERE member_id = 'm1'")
        .execute(&env.pool)
        .await
        .unwrap();
    assert_eq!(
        fire!(
            env,
            jobs::quarterly_talk_followup,
            "quarterly_talk_followup",
            "2026-12-16 09:00"
        ),
        2
    );
    let follow = requests(&env, "quarterly_talk_followup").await;
    let pair = &follow
        .iter()
        .find(|(_, r)| r["recipient"]["role"] == "pair")
        .unwrap()
        .1;
    assert_eq!(pair["params"]["names"], "党员m3");
    assert!(
        pair["key"]
            .as_str()
            .unwrap()
            .starts_with("quarterly_talk_followup:2026Q4:")
    );

    // The next quarter's first reminder counts again from 1 January: everybody is owed.
    clear_outbox(&env).await;
    fire!(
        env,
        jobs::quarterly_talk,
        "quarterly_talk",
        "2027-01-02 09:00"
    );
    let next = requests(&env, "quarterly_talk").await;
    let pair = &next
        .iter()
        .find(|(_, r)| r["recipient"]["role"] == "pair")
        .unwrap()
        .1;
    assert_eq!(pair["params"]["count"], "3");
    assert_eq!(pair["params"]["quarter"], "2027年第一季度");
    env.finish().await;
}

#[tokio::test]
async fn the_family_visit_list_names_the_families_not_visited_in_the_half_year() {
    let env = TestEnv::new().await;
    org(&env, "qx", "department", &["qx"], "522627", None).await;
    org(&env, "b1", "branch", &["qx", "b1"], "522627001", None).await;
    let visits = [
        ("m1", Some("2026-06-30")), // the day before the half year
        ("m2", Some("2026-07-01")), // its first day
        ("m3", Some("2027-01-05")), // this January, before the list
        ("m4", None),
    ];
    for (i, (id, visit)) in visits.into_iter().enumerate() {
        let phone = format!("1391111000{i}");
        member(
            &env,
            &M {
                id,
                branch: "b1",
                phone: &phone,
                joined: "2010-07-01",
                pair: None,
            },
        )
        .await;
        record(&env, id, "b1", true, None, visit).await;
    }
    assert_eq!(
        fire!(env, jobs::family_visit, "family_visit", "2027-01-10 09:00"),
        1
    );
    let sent = requests(&env, "family_visit").await;
    let list = &sent[0].1;
    assert_eq!(list["recipient"]["org_id"], "b1");
    assert_eq!(list["recipient"]["role"], "org_contact");
    assert_eq!(list["params"]["names"], "党员m1、党员m4");
    assert_eq!(list["params"]["half_year"], "2026年下半年");
    assert_eq!(list["key"], "family_visit:2026H2:org:b1");

    // On 10 July the half year looked back over is January to June: m1's visit counts.
    clear_outbox(&env).await;
    fire!(env, jobs::family_visit, "family_visit", "2026-07-10 09:00");
    let july = requests(&env, "family_visit").await;
    assert_eq!(
        july[0].1["params"]["names"], "党员m4",
        "m1's visit on 30 June counts for January to June"
    );
    assert_eq!(july[0].1["key"], "family_visit:2026H1:org:b1");
    env.finish().await;
}
