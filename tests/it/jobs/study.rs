//! Study packs on the activity day and at their `send_at`, end to end through the notifier.

use super::*;

async fn pack(
    env: &TestEnv,
    id: &str,
    audience: (&[&str], &[&str]),
    published: &str,
    send_at: Option<&str>,
) {
    sqlx::query(
        "INSERT INTO study_packs (id, title, summary, items, audience_org_ids, audience_region_codes, published_by,
           send_at, published_at, event_id, state_at)
         VALUES ($1, '学习党章第' || $1 || '期', '一月一课：党章第一章。', '[]', $2, $3, 'qx', $4::timestamptz,
           $5::timestamptz, gen_random_uuid(), now())",
    )
    .bind(id)
    .bind(audience.0)
    .bind(audience.1)
    .bind(send_at)
    .bind(published)
    .execute(&env.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_study_pack_goes_once_to_a_signed_robot_and_by_sms_to_the_away_members_of_a_branch_without_one()
 {
    let robot = fakes::dingtalk::start("tok", "SECret", at("2026-03-09 10:00")).await;
    let webhook = fakes::dingtalk::webhook(&robot, "tok");
    let e = start(|s| s.api.link_secret = Some("jobs-test-secret".into())).await;
    let env = &e.env;
    org(env, "qx", "department", &["qx"], "522627", None).await;
    org(env, "b1", "branch", &["qx", "b1"], "522627001", None).await;
    org(
        env,
        "b2",
        "branch",
        &["qx", "b2"],
        "522627002",
        Some(json!({"provider": "dingtalk", "webhook": webhook, "secret": "SECret"})),
    )
    .await;
    // Outside the audience of a pack for b-subtrees only: a branch in another county.
    org(env, "far", "branch", &["far"], "440305001", None).await;
    for (id, branch, phone, open) in [
        ("m1", "b1", "13911110001", true),
        ("m2", "b1", "13911110002", true),
        ("m3", "b1", "13911110003", false), // back home: not an away member
        ("m4", "b2", "13911110004", true),
        ("m9", "far", "13911110009", true),
    ] {
        member(
            env,
            &M {
                id,
                branch,
                phone,
                joined: "2004-02-29",
                pair: None,
            },
        )
        .await;
        record(env, id, branch, open, None, None).await;
    }
    // For the activity day: the county's subtree. At its send_at: the county's region.
    pack(env, "p1", (&["qx"], &[]), "2026-03-05 10:00:00+08", None).await;
    pack(
        env,
        "p2",
        (&[], &["522627"]),
        "2026-03-05 10:00:00+08",
        Some("2026-03-20 10:00:00+08"),
    )
    .await;
    // Published after the activity day: it waits for April's.
    pack(env, "p3", (&["qx"], &[]), "2026-03-09 12:00:00+08", None).await;

    assert_eq!(
        fire!(env, activity_day, "activity_day", "2026-03-09 09:00"),
        3,
        "p1 as a card to b2's robot and by SMS to b1's two away members; qx has no robot and nobody away"
    );
    assert_eq!(
        fire!(env, activity_day, "activity_day", "2026-03-09 09:00"),
        0,
        "a rerun sends nothing: the pack is marked sent"
    );
    let sent = requests(env, "study_pack").await;
    let keys: BTreeSet<&str> = sent
        .iter()
        .map(|(_, r)| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "study_pack:p1:group:b2",
            "study_pack:p1:member:m1",
            "study_pack:p1:member:m2"
        ])
    );
    let card = sent.iter().find(|(_, r)| r["org"] == "b2").unwrap();
    assert_eq!(
        card.1["params"]["url"],
        format!("{}/s/p1", env.settings.api.public_url)
    );

    // The notifier takes the broadcasts in and sends them.
    e.env.clock.set(at("2026-03-09 10:00"));
    outbox::relay_once(&env.pool, &env.publisher, &env.names, 100)
        .await
        .unwrap();
    env.eventually("two study packs taken in", || async {
        env.scalar_i64("SELECT count(*) FROM notifications WHERE template = 'study_pack'")
            .await
            == 3
    })
    .await;
    let mut rounds = 0;
    while e.round().await > 0 {
        rounds += 1;
        assert!(rounds < 10, "rounds come to rest");
    }
    let cards = robot.seen();
    assert_eq!(cards.len(), 1, "b2's robot gets the card once");
    assert!(cards[0].signature_ok, "signed with the robot's secret");
    let card = cards[0].json();
    assert_eq!(card["actionCard"]["title"], "学习资源包｜学习党章第p1期");
    assert!(
        !card.to_string().contains("1391111"),
        "a group card carries no phone"
    );
    let sms: Vec<(Option<String>, String)> = e
        .console
        .sent()
        .into_iter()
        .filter(|s| s.text.contains("学习资源包"))
        .map(|s| (s.phone, s.text))
        .collect();
    let phones: BTreeSet<_> = sms.iter().filter_map(|(p, _)| p.as_deref()).collect();
    assert_eq!(
        phones,
        BTreeSet::from(["13911110001", "13911110002"]),
        "b1's away members, one SMS each; not m3 at home, not m4 (b2 has a robot), not m9"
    );
    assert!(
        sms.iter().all(|(_, t)| t.contains("/s/p1/")),
        "a short text with the member's own study link: {sms:?}"
    );

    // p2 at its send_at, to the county's region: not a minute before.
    assert_eq!(
        fire!(env, study_send_at, "study_send_at", "2026-03-20 09:59"),
        0
    );
    assert_eq!(
        fire!(env, study_send_at, "study_send_at", "2026-03-20 10:00"),
        3
    );
    assert_eq!(
        fire!(env, study_send_at, "study_send_at", "2026-03-20 10:01"),
        0
    );
    let p2: BTreeSet<String> = requests(env, "study_pack")
        .await
        .into_iter()
        .map(|(_, r)| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        p2.contains("study_pack:p2:member:m1") && p2.contains("study_pack:p2:group:b2"),
        "{p2:?}"
    );
    assert!(!p2.iter().any(|k| k.contains("far")));
    // April's activity day takes p3.
    assert_eq!(
        fire!(env, activity_day, "activity_day", "2026-04-09 09:00"),
        3
    );
    e.finish().await;
}
