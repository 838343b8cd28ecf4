//! Bad input (DESIGN.md section 2): every field rule, a message that is not JSON, a routing
//! key that disagrees with the type, an unknown schema version, unknown ids, and an actor
//! acting outside its subtree each end in `hongyan.parked` with a reason that names what was
//! wrong, while the consumer keeps consuming and the ledger stays as it was.

use serde_json::{Value, json};

use crate::env::TestEnv;
use crate::fixtures::*;

/// A bad message: its routing key, body, and what its parked reason must mention.
struct Case {
    key: String,
    body: Vec<u8>,
    expect: &'static str,
}

fn case(e: Value, expect: &'static str) -> Case {
    Case {
        key: e["type"].as_str().unwrap().to_owned(),
        body: serde_json::to_vec(&e).unwrap(),
        expect,
    }
}

fn with(mut e: Value, path: &[&str], v: Value) -> Value {
    let mut at = &mut e;
    for p in &path[..path.len() - 1] {
        at = &mut at[*p];
    }
    at[path[path.len() - 1]] = v;
    e
}

fn without(mut e: Value, path: &[&str]) -> Value {
    let mut at = &mut e;
    for p in &path[..path.len() - 1] {
        at = &mut at[*p];
    }
    at.as_object_mut().unwrap().remove(path[path.len() - 1]);
    e
}

fn cases() -> Vec<Case> {
    let out = || outbound("m1", "b1", "2026-03-01T09:00:00", 4, Some("某厂"));
    let upd = || {
        update(
            "m1",
            "b1",
            "2026-03-02T09:00:00",
            json!({"confirmed_unchanged": true}),
        )
    };
    let arrival = || inbound("gz-park", "2026-03-05T09:00:00", json!({"member_id": "m1"}));
    let contact = event(
        "contact.recorded",
        "b1",
        "2026-03-02T09:00:00",
        json!({"member_id": "m1", "kind": "visit", "on": "2026-03-02", "by": "李书记"}),
    );
    let routing = Case {
        key: "registration.return".into(),
        body: serde_json::to_vec(&upd()).unwrap(),
        expect: "disagrees with the envelope's type",
    };
    vec![
        Case {
            key: "registration.update".into(),
            body: b"{not json".to_vec(),
            expect: "not JSON",
        },
        routing,
        case(
            with(upd(), &["schema_version"], json!(2)),
            "schema_version 2",
        ),
        case(without(upd(), &["event_id"]), "field event_id: is missing"),
        case(
            with(upd(), &["occurred_at"], json!("yesterday")),
            "field occurred_at",
        ),
        // Phones: mainland mobiles only.
        case(
            with(
                member("m9", "b1", "13900009999"),
                &["data", "phone"],
                json!("12900009999"),
            ),
            "field data.phone",
        ),
        case(
            with(
                out(),
                &["data", "inflow_contact"],
                json!({"name": "某人", "phone": "1390000"}),
            ),
            "field data.inflow_contact.phone",
        ),
        // Region codes: 6, 9 or 12 digits.
        case(
            with(
                out(),
                &["data", "destination", "region_code"],
                json!("44010"),
            ),
            "field data.destination.region_code",
        ),
        case(
            with(
                arrival(),
                &["data", "location", "region_code"],
                json!("44010600100a"),
            ),
            "field data.location.region_code",
        ),
        case(
            with(
                org("x1", "branch", Some("t1"), "522636100201", "13900000007"),
                &["data", "region_code"],
                json!("5226361"),
            ),
            "field data.region_code",
        ),
        // Dates: YYYY-MM-DD.
        case(
            with(out(), &["data", "left_on"], json!("2026/03/01")),
            "field data.left_on",
        ),
        case(
            with(arrival(), &["data", "arrived_on"], json!("2026-02-30")),
            "field data.arrived_on",
        ),
        case(
            with(
                member("m9", "b1", "13900009999"),
                &["data", "joined_party_on"],
                json!("1 July 2010"),
            ),
            "field data.joined_party_on",
        ),
        // Ids: 1 to 64 of A-Za-z0-9._-
        case(
            with(upd(), &["data", "member_id"], json!("m 1")),
            "field data.member_id",
        ),
        case(
            with(upd(), &["actor", "org_id"], json!("b1/evil")),
            "field actor.org_id",
        ),
        case(
            with(
                org("x2", "branch", Some("t1"), "522636100201", "13900000007"),
                &["data", "id"],
                json!("a".repeat(65)),
            ),
            "field data.id",
        ),
        // Closed word lists.
        case(
            with(
                out(),
                &["data", "destination", "employer_type"],
                json!("startup"),
            ),
            "field data.destination.employer_type",
        ),
        case(
            with(out(), &["data", "reason"], json!("holiday")),
            "field data.reason",
        ),
        case(contact, "field data.kind"),
        case(
            with(
                org("x3", "branch", Some("t1"), "522636100201", "13900000007"),
                &["data", "kind"],
                json!("club"),
            ),
            "field data.kind",
        ),
        // Missing fields.
        case(
            without(arrival(), &["data", "location"]),
            "field data.location: is missing",
        ),
        case(
            without(out(), &["data", "expected_months"]),
            "field data.expected_months: is missing",
        ),
        // Unknown ids.
        case(
            org(
                "x4",
                "branch",
                Some("nowhere"),
                "522636100201",
                "13900000007",
            ),
            "Org nowhere (data.parent_id) is not known",
        ),
        case(
            event(
                "registration.return",
                "b1",
                "2026-03-02T09:00:00",
                json!({"member_id": "ghost", "returned_on": "2026-03-02", "permanent": true}),
            ),
            "Member ghost is not known",
        ),
        case(
            inbound("nobody", "2026-03-05T09:00:00", json!({"member_id": "m1"})),
            "Org nobody (actor.org_id) is not known",
        ),
        // Rights: a sibling branch, and an org creating itself at the root.
        case(
            outbound("m1", "b2", "2026-03-01T09:00:00", 4, None),
            "org b2 has no right",
        ),
        case(
            with(
                org("rogue", "department", None, "522636", "13900000007"),
                &["actor", "org_id"],
                json!("b1"),
            ),
            "org b1 has no right",
        ),
    ]
}

#[tokio::test]
async fn bad_events_are_parked_with_a_reason_and_the_consumer_goes_on() {
    let mut env = TestEnv::new().await;
    let setup: Vec<Value> = county()
        .into_iter()
        .chain([member("m1", "b1", "13911110001")])
        .collect();
    env.publish_all(&setup).await;
    env.start_registry();
    env.wait_processed(&evt_id(setup.last().unwrap())).await;
    let history_before = env.scalar_i64("SELECT count(*) FROM history").await;

    let cases = cases();
    for c in &cases {
        env.publish_raw(&c.key, c.body.clone()).await;
    }
    // A good event after the bad ones is applied: nothing stopped the consumer.
    let good = outbound("m1", "b1", "2026-03-01T09:00:00", 4, Some("某厂"));
    env.publish(&good).await;
    env.wait_processed(&evt_id(&good)).await;
    let parked = env.wait_parked(cases.len()).await;

    assert_eq!(parked.len(), cases.len(), "each bad event parked once");
    for c in &cases {
        // Two consumers share the queue, so parked order is not publish order: match by body.
        let p = parked
            .iter()
            .find(|p| p.body == c.body)
            .unwrap_or_else(|| panic!("case {:?} not parked as sent", c.expect));
        assert!(
            p.reason.contains(c.expect),
            "reason {:?} should mention {:?}",
            p.reason,
            c.expect
        );
        assert_eq!(p.source_queue, env.names.registry());
        // An unknown id is looked at twice more before it is parked.
        let attempts = if c.expect.contains("is not known") {
            3
        } else {
            1
        };
        assert_eq!(p.attempts, attempts, "{}", c.expect);
    }
    // The ledger holds the good event and nothing of the bad ones.
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM history").await,
        history_before + 1
    );
    assert_eq!(env.scalar_i64("SELECT count(*) FROM flow_records").await, 1);
    assert_eq!(env.scalar_i64("SELECT count(*) FROM orgs").await, 8);
    env.finish().await;
}

#[tokio::test]
async fn a_parked_event_is_replayed_once_its_cause_is_fixed() {
    let mut env = TestEnv::new().await;
    env.publish_all(&county()).await;
    env.start_registry();
    // The member is not known yet: parked.
    let out = outbound("m5", "b1", "2026-03-01T09:00:00", 4, None);
    env.publish(&out).await;
    let parked = env.wait_parked(1).await;
    assert!(
        parked[0].reason.contains("Member m5 is not known"),
        "{}",
        parked[0].reason
    );

    // The branch registers the member; the operator replays.
    let m = member("m5", "b1", "13911110005");
    env.publish(&m).await;
    env.wait_processed(&evt_id(&m)).await;
    let n = hongyan_adapters::amqp::parked::replay(&env.conn, &env.names, |_| true)
        .await
        .unwrap();
    assert_eq!(n, 1);
    env.wait_processed(&evt_id(&out)).await;
    assert_eq!(env.record("m5").await.unwrap()["status"], "out");
    assert!(env.parked().await.is_empty());
    env.finish().await;
}

#[tokio::test]
async fn an_arrival_that_matches_no_one_waits_in_the_unmatched_list_and_is_not_parked() {
    let mut env = TestEnv::new().await;
    env.publish_all(&county()).await;
    env.start_registry();
    let arrival = inbound(
        "gz-park",
        "2026-03-05T09:00:00",
        json!({"member": {"name": "无名氏", "phone": "13988887777"}}),
    );
    env.publish(&arrival).await;
    env.wait_processed(&evt_id(&arrival)).await;
    let (county, org): (String, String) =
        sqlx::query_as("SELECT county, receiving_org_id FROM unmatched_arrivals")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!((county.as_str(), org.as_str()), ("440106", "gz-park"));
    assert!(env.parked().await.is_empty());
    env.finish().await;
}

/// Issue 7: a message the broker dead-lettered by itself (here rejected without requeue, as a
/// quorum queue's delivery limit or a crashed consumer's poison message would be) reaches
/// `hongyan.parked` without hongyan's headers; `parked list` names its source from `x-death`
/// and `parked replay` sends it back there, where it is applied.
#[tokio::test]
async fn a_message_the_broker_dead_lettered_is_listed_and_replayed_from_its_x_death() {
    use futures::StreamExt;
    use lapin::options::{BasicConsumeOptions, BasicRejectOptions};
    use lapin::types::FieldTable;

    let mut env = TestEnv::new().await;
    env.publish_all(&county()).await;
    let m = member("m6", "b1", "13911110006");
    env.publish(&m).await;
    // Take every message off the registry queue before any registry runs; reject the member.
    let ch = env.conn.create_channel().await.unwrap();
    let mut deliveries = ch
        .basic_consume(
            env.names.registry().as_str().into(),
            "test-rejecter".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    loop {
        let d = deliveries.next().await.unwrap().unwrap();
        if d.routing_key.as_str() == "member.upserted" {
            d.acker
                .reject(BasicRejectOptions { requeue: false })
                .await
                .unwrap();
            break;
        } else {
            d.acker
                .nack(lapin::options::BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    }
    ch.close(200, "done".into()).await.unwrap();

    let parked = env.wait_parked(1).await;
    assert_eq!(parked[0].source_queue, env.names.registry());
    assert_eq!(parked[0].routing_key, "member.upserted");
    assert!(
        parked[0].reason.contains("dead-lettered") && parked[0].reason.contains("rejected"),
        "{}",
        parked[0].reason
    );
    let n = hongyan_adapters::amqp::parked::replay(&env.conn, &env.names, |_| true)
        .await
        .unwrap();
    assert_eq!(n, 1, "the dead-lettered message is sent back");
    env.start_registry();
    env.wait_processed(&evt_id(&m)).await;
    assert!(env.parked().await.is_empty());
    env.finish().await;
}
