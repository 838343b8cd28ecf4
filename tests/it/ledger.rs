//! The ledger's rules end to end (DESIGN.md section 3): certificates, matching arrivals,
//! updates, returns, transfers, contacts, and who is told.

use futures::StreamExt;
use lapin::options::BasicGetOptions;
use serde_json::{Value, json};

use crate::env::TestEnv;
use crate::fixtures::*;

mod bounds_and_races;

/// Notification requests waiting for the notifier, read without taking them.
async fn notifications(env: &TestEnv) -> Vec<Value> {
    let ch = env.conn.create_channel().await.unwrap();
    let mut out = Vec::new();
    while let Some(m) = ch
        .basic_get(
            env.names.notifier().into(),
            BasicGetOptions { no_ack: false },
        )
        .await
        .unwrap()
    {
        out.push(serde_json::from_slice::<Value>(&m.delivery.data).unwrap()["data"].clone());
    }
    let _ = ch.close(200, "peeked".into()).await;
    out
}

async fn setup(env: &mut TestEnv, members: &[(&str, &str, &str)]) {
    let mut evs = county();
    evs.extend(
        members
            .iter()
            .map(|(id, home, phone)| member(id, home, phone)),
    );
    env.publish_all(&evs).await;
    env.start_registry();
    env.wait_processed(&evt_id(evs.last().unwrap())).await;
}

#[tokio::test]
async fn departures_get_certificates_in_sequence_or_are_asked_to_transfer() {
    let mut env = TestEnv::new().await;
    setup(
        &mut env,
        &[
            ("m1", "b1", "13911110001"),
            ("m2", "b1", "13911110002"),
            ("m3", "b2", "13911110003"),
        ],
    )
    .await;
    let evs = [
        outbound("m1", "b1", "2026-03-01T09:00:00", 4, Some("某厂")),
        outbound("m2", "b1", "2026-03-02T09:00:00", 24, None),
        outbound("m3", "b2", "2026-03-03T09:00:00", 12, Some("某厂")),
    ];
    env.publish_all(&evs).await;
    for e in &evs {
        env.wait_processed(&evt_id(e)).await;
    }

    let (r1, r2, r3) = (
        env.record("m1").await.unwrap(),
        env.record("m2").await.unwrap(),
        env.record("m3").await.unwrap(),
    );
    // Two consumers may apply these in either order; the county's sequence gives out 1 and 2.
    let mut certs = [
        r1["certificate_no"]
            .as_str()
            .expect("six months or less: certificate"),
        r2["certificate_no"]
            .as_str()
            .expect("no fixed employer: certificate"),
    ];
    certs.sort();
    assert_eq!(certs, ["522636202600001", "522636202600002"]);
    assert_eq!(
        r3["certificate_no"],
        Value::Null,
        "a year with an employer: no certificate"
    );
    assert_eq!(r3["transfer_suggested"], true, "应转尽转");

    env.eventually("nine notification requests", || async {
        env.queue_depth(&env.names.notifier()).await == 9
    })
    .await;
    let notes = notifications(&env).await;
    let to_m1 = notes
        .iter()
        .find(|n| n["template"] == "outbound_member" && n["recipient"]["member_id"] == "m1")
        .unwrap();
    assert_eq!(to_m1["params"]["certificate_no"], r1["certificate_no"]);
    assert_eq!(
        to_m1["params"]["station_name"], "gz-s1组织",
        "the station sharing most of the destination's region code"
    );
    assert_eq!(to_m1["recipient"]["phone"], "13911110001");
    let to_b1 = notes
        .iter()
        .find(|n| n["template"] == "outbound_branch")
        .unwrap();
    assert_eq!(
        to_b1["params"]["destination"], "广东省广州市天河区五山街道",
        "the branch reads the place by name, not its code 440106001"
    );
    let to_inflow = notes
        .iter()
        .filter(|n| n["template"] == "outbound_inflow")
        .count();
    let to_branch = notes
        .iter()
        .filter(|n| n["template"] == "outbound_branch")
        .count();
    assert_eq!((to_inflow, to_branch), (3, 3));
    env.finish().await;
}

#[tokio::test]
async fn arrivals_match_by_certificate_then_member_id_then_phone() {
    let mut env = TestEnv::new().await;
    setup(
        &mut env,
        &[
            ("m1", "b1", "13911110001"),
            ("m2", "b1", "13911110002"),
            ("m4", "b2", "13911110004"),
        ],
    )
    .await;
    let outs = [
        outbound("m1", "b1", "2026-03-01T09:00:00", 4, None),
        outbound("m2", "b1", "2026-03-01T10:00:00", 4, None),
    ];
    env.publish_all(&outs).await;
    for e in &outs {
        env.wait_processed(&evt_id(e)).await;
    }
    let cert = env.record("m1").await.unwrap()["certificate_no"].clone();
    let arrivals = [
        inbound(
            "gz-park",
            "2026-03-05T09:00:00",
            json!({"certificate_no": cert}),
        ),
        inbound("gz", "2026-03-05T10:00:00", json!({"member_id": "m2"})),
        // m4 never registered a departure: an unreported departure.
        inbound(
            "gz-park",
            "2026-03-05T11:00:00",
            json!({"member": {"name": "党员m4", "phone": "+8613911110004"}}),
        ),
    ];
    env.publish_all(&arrivals).await;
    for a in &arrivals {
        env.wait_processed(&evt_id(a)).await;
    }

    let r1 = env.record("m1").await.unwrap();
    assert_eq!(
        (r1["status"].as_str(), r1["inflow_org_id"].as_str()),
        (Some("checked_in"), Some("gz-park"))
    );
    assert_eq!(r1["arrived_on"], "2026-03-05");
    assert_eq!(env.record("m2").await.unwrap()["inflow_org_id"], "gz");
    let r4 = env.record("m4").await.unwrap();
    assert_eq!(r4["status"], "checked_in");
    assert_eq!(r4["flags"], json!(["unreported_departure"]));
    assert_eq!(r4["home_org_id"], "b2");

    env.eventually("3 + 3 + 3 notification requests", || async {
        env.queue_depth(&env.names.notifier()).await == 9
    })
    .await;
    let notes = notifications(&env).await;
    let told = |t: &str| {
        notes
            .iter()
            .filter(|n| n["template"] == t)
            .map(|n| n["recipient"]["org_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        told("checked_in_branch"),
        ["b1", "b1"],
        "情况反馈 to the home branch"
    );
    assert_eq!(told("unreported_departure_branch"), ["b2"]);
    env.finish().await;
}

#[tokio::test]
async fn updates_visits_returns_transfers_and_contacts_move_the_record() {
    let mut env = TestEnv::new().await;
    setup(
        &mut env,
        &[("m1", "b1", "13911110001"), ("m2", "b1", "13911110002")],
    )
    .await;
    let mut changes = env.watch("ledger.changed").await;
    let evs = vec![
        outbound("m1", "b1", "2026-03-01T09:00:00", 4, None),
        inbound("gz-park", "2026-03-05T09:00:00", json!({"member_id": "m1"})),
        // The org the member is checked in with may update; so may the member.
        update(
            "m1",
            "gz-park",
            "2026-04-02T09:00:00",
            json!({"location": {"region_code": "440106002", "address": "新地址", "employer_type": "self_employed"}}),
        ),
        event(
            "contact.recorded",
            "b1",
            "2026-04-03T09:00:00",
            json!({"member_id": "m1", "kind": "talk", "on": "2026-04-03", "by": "李书记"}),
        ),
        event(
            "registration.return",
            "b1",
            "2027-02-01T09:00:00",
            json!({"member_id": "m1", "returned_on": "2027-02-01", "permanent": false}),
        ),
        update(
            "m1",
            "b1",
            "2027-02-20T09:00:00",
            json!({"confirmed_unchanged": true}),
        ),
        event(
            "registration.return",
            "t1",
            "2027-06-01T09:00:00",
            json!({"member_id": "m1", "returned_on": "2027-06-01", "permanent": true}),
        ),
        outbound("m2", "b1", "2026-03-01T09:00:00", 4, None),
        event(
            "registration.transfer",
            "b1",
            "2026-09-01T09:00:00",
            json!({"member_id": "m2", "transferred_on": "2026-09-01", "new_org_name": "天河区某企业党支部"}),
        ),
    ];
    let mut member_update = update(
        "m1",
        "x",
        "2026-04-02T10:00:00",
        json!({"phone": "13999990000"}),
    );
    member_update["actor"] = json!({"member_id": "m1"});
    let mut all = evs.clone();
    all.insert(3, member_update);
    for e in &all {
        env.publish(e).await;
        env.wait_processed(&evt_id(e)).await;
    }

    let r1 = env.record("m1").await.unwrap();
    assert_eq!(r1["status"], "returned");
    assert_eq!(r1["closed_on"], "2027-06-01");
    assert_eq!(r1["location"]["address"], "新地址");
    assert_eq!(r1["phone"], "13999990000");
    assert_eq!(r1["contacts"]["talk"], "2026-04-03");
    assert_eq!(r1["last_confirmed_on"], "2027-02-20");
    assert_eq!(r1["version"], 8, "eight changes to m1's ledger");
    let r2 = env.record("m2").await.unwrap();
    assert_eq!(r2["status"], "transferred");
    assert_eq!(r2["new_org"], json!({"Named": "天河区某企业党支部"}));
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM flow_records WHERE is_open")
            .await,
        0
    );

    // ledger.changed follows every change, with the version and the event that caused it.
    let mut seen = Vec::new();
    while seen.len() < 10 {
        let d = tokio::time::timeout(std::time::Duration::from_secs(10), changes.next())
            .await
            .expect("ledger.changed arrives")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&d.data).unwrap();
        assert_eq!(v["actor"], json!({"system": "hongyan"}));
        seen.push((
            v["data"]["member_id"].as_str().unwrap().to_owned(),
            v["data"]["version"].as_i64().unwrap(),
        ));
    }
    seen.sort();
    let m1: Vec<i64> = seen
        .iter()
        .filter(|(m, _)| m == "m1")
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(m1, [1, 2, 3, 4, 5, 6, 7, 8]);

    // The visit home asked the paired committee member to meet (凡回乡必见面).
    let notes = notifications(&env).await;
    let pair = notes
        .iter()
        .find(|n| n["template"] == "home_visit_pair")
        .expect("pair told");
    assert_eq!(pair["recipient"]["role"], "pair");
    assert_eq!(pair["params"]["member_name"], "党员m1");
    env.finish().await;
}

#[tokio::test]
async fn a_branch_may_not_update_another_branchs_member_but_the_receiving_org_may() {
    let mut env = TestEnv::new().await;
    setup(&mut env, &[("m1", "b1", "13911110001")]).await;
    let evs = [
        outbound("m1", "b1", "2026-03-01T09:00:00", 4, None),
        inbound("gz-park", "2026-03-05T09:00:00", json!({"member_id": "m1"})),
    ];
    env.publish_all(&evs).await;
    for e in &evs {
        env.wait_processed(&evt_id(e)).await;
    }
    let foreign = update(
        "m1",
        "b2",
        "2026-03-06T09:00:00",
        json!({"confirmed_unchanged": true}),
    );
    let receiving = update(
        "m1",
        "gz-park",
        "2026-03-07T09:00:00",
        json!({"confirmed_unchanged": true}),
    );
    env.publish_all(&[foreign, receiving.clone()]).await;
    env.wait_processed(&evt_id(&receiving)).await;
    let parked = env.wait_parked(1).await;
    assert!(
        parked[0]
            .reason
            .contains("org b2 has no right to act for member m1"),
        "{}",
        parked[0].reason
    );
    assert_eq!(
        env.record("m1").await.unwrap()["last_confirmed_on"],
        "2026-03-07"
    );
    env.finish().await;
}

#[tokio::test]
async fn a_refused_departure_carrying_a_full_member_changes_no_member() {
    let mut env = TestEnv::new().await;
    setup(&mut env, &[("m1", "b1", "13911110001")]).await;
    let first = outbound("m1", "b1", "2026-03-01T09:00:00", 4, Some("某厂"));
    env.publish(&first).await;
    env.wait_processed(&evt_id(&first)).await;

    // m1 is already away: a second departure is refused, and its member block must not land.
    let mut second = outbound("m1", "b1", "2026-03-05T09:00:00", 4, Some("某厂"));
    let data = second["data"].as_object_mut().unwrap();
    data.remove("member_id");
    data.insert(
        "member".into(),
        json!({"id": "m1", "name": "改了名字", "phone": "13911119999", "home_org_id": "b1",
               "joined_party_on": "2010-07-01"}),
    );
    env.publish(&second).await;

    let parked = env.wait_parked(1).await;
    assert!(
        parked[0].reason.contains("already has an open flow record"),
        "{}",
        parked[0].reason
    );
    let (name, phone): (String, String) =
        sqlx::query_as("SELECT doc->>'name', phone FROM members WHERE id = 'm1'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), phone.as_str()), ("党员m1", "13911110001"));
    env.finish().await;
}

#[tokio::test]
async fn an_arrival_with_all_three_keys_is_matched_when_any_one_of_them_is_wrong() {
    let mut env = TestEnv::new().await;
    let people = [
        ("m1", "13911110001"),
        ("m2", "13911110002"),
        ("m3", "13911110003"),
        ("m4", "13911110004"),
    ];
    let members: Vec<_> = people.iter().map(|(m, p)| (*m, "b1", *p)).collect();
    setup(&mut env, &members).await;
    let outs: Vec<_> = people
        .iter()
        .enumerate()
        .map(|(n, (m, _))| outbound(m, "b1", &format!("2026-03-0{}T09:00:00", n + 1), 4, None))
        .collect();
    env.publish_all(&outs).await;
    for e in &outs {
        env.wait_processed(&evt_id(e)).await;
    }
    let mut certs = Vec::new();
    for (m, _) in &people {
        certs.push(env.record(m).await.unwrap()["certificate_no"].clone());
    }
    let wrong_cert = json!("522636202609999");
    let keys = |cert: &Value, member: &str, phone: &str| {
        json!({"certificate_no": cert, "member_id": member,
               "member": {"name": "某人", "phone": phone}})
    };
    let arrivals = [
        // The certificate number is mistyped: the member id finds m1.
        keys(&wrong_cert, "m1", "13911110001"),
        // The member id is wrong: the certificate finds m2.
        keys(&certs[1], "nobody", "13911110002"),
        // The phone is wrong: the certificate finds m3.
        keys(&certs[2], "m3", "13900009999"),
        // Certificate and member id both wrong: the phone finds m4.
        keys(&wrong_cert, "nobody", "13911110004"),
    ]
    .map(|key| inbound("gz-park", "2026-03-10T09:00:00", key));
    env.publish_all(&arrivals).await;
    for a in &arrivals {
        env.wait_processed(&evt_id(a)).await;
    }
    for (m, _) in &people {
        let r = env.record(m).await.unwrap();
        assert_eq!(
            (r["status"].as_str(), r["inflow_org_id"].as_str()),
            (Some("checked_in"), Some("gz-park")),
            "{m}"
        );
    }
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM unmatched_arrivals")
            .await,
        0
    );
    env.finish().await;
}
