//! The scheduler's views (migration 0022) against the codec: each column read back against
//! the member, the record and the org as `MemberUpsert`, `FlowRecord` and `Contact` decode
//! them, for an open record with every kind of contact and a closed one asked to transfer, so
//! a field renamed in the codec fails here rather than turning a job's column NULL.

use chrono::{DateTime, NaiveDate, Utc};
use hongyan_domain::ledger::{FlowRecord, Member};
use hongyan_domain::payloads::Contact;
use serde_json::{Value, json};

use crate::env::TestEnv;
use crate::fixtures::*;

async fn doc(env: &TestEnv, sql: &'static str, id: &str) -> Value {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

type MemberRow = (
    Option<String>,
    String,
    String,
    Option<String>,
    Option<Value>,
    Option<String>,
    Option<String>,
);

type Row = (
    (uuid::Uuid, String, String, bool, String),
    (Option<NaiveDate>, DateTime<Utc>),
    (Option<NaiveDate>, Option<NaiveDate>),
    (Option<NaiveDate>, Option<NaiveDate>),
);

type DispatchRow = (
    (String, String, bool, String, Option<String>),
    (Option<NaiveDate>, Option<NaiveDate>, Option<NaiveDate>),
    (
        Option<NaiveDate>,
        Option<NaiveDate>,
        Option<NaiveDate>,
        Option<NaiveDate>,
    ),
    (Option<bool>, Option<String>),
);

#[tokio::test]
async fn the_scheduler_views_read_every_field_the_codec_writes() {
    let mut env = TestEnv::new().await;
    let mut evs = county();
    evs.push(member("m1", "b1", "13911110001"));
    evs.push(member("m2", "b1", "13911110002"));
    evs.push(outbound(
        "m1",
        "b1",
        "2026-02-10T09:00:00",
        4,
        Some("某公司"),
    ));
    evs.push(inbound(
        "gz-park",
        "2026-02-12T09:00:00",
        json!({"member_id": "m1"}),
    ));
    for (kind, on) in [
        ("talk", "2026-02-21"),
        ("family_visit", "2026-02-24"),
        ("home_meeting", "2026-02-22"),
        ("phone", "2026-02-23"),
    ] {
        evs.push(event(
            "contact.recorded",
            "b1",
            "2026-02-25T09:00:00",
            json!({"member_id": "m1", "kind": kind, "on": on, "by": "李书记"}),
        ));
    }
    // Twelve months with an employer: asked to transfer; then home for good, so closed.
    evs.push(outbound(
        "m2",
        "b1",
        "2026-02-11T09:00:00",
        12,
        Some("某厂"),
    ));
    evs.push(event(
        "registration.return",
        "b1",
        "2026-03-01T09:00:00",
        json!({"member_id": "m2", "returned_on": "2026-03-01", "permanent": true}),
    ));
    env.publish_all(&evs).await;
    env.start_registry();
    env.wait_processed(&evt_id(evs.last().unwrap())).await;

    let m: Member =
        serde_json::from_value(doc(&env, "SELECT doc FROM members WHERE id = $1", "m1").await)
            .unwrap();
    let pair = m.pair.clone().expect("the fixture pairs every member");
    let member: MemberRow = sqlx::query_as(
        "SELECT name, phone, home_org_id, joined_party_on, channels, pair_name, pair_phone
         FROM scheduler_members WHERE member_id = 'm1'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        member,
        (
            Some(m.name.clone()),
            m.phone.as_str().to_owned(),
            m.home_org_id.as_str().to_owned(),
            Some(m.joined_party_on.to_string()),
            Some(json!(m.channels)),
            Some(pair.name),
            Some(pair.phone.as_str().to_owned()),
        ),
        "scheduler_members"
    );

    for id in ["m1", "m2"] {
        let rec: FlowRecord = serde_json::from_value(env.record(id).await.unwrap()).unwrap();
        let row: Row = sqlx::query_as::<
            _,
            (
                uuid::Uuid,
                String,
                String,
                bool,
                String,
                Option<NaiveDate>,
                DateTime<Utc>,
                Option<NaiveDate>,
                Option<NaiveDate>,
                Option<NaiveDate>,
                Option<NaiveDate>,
            ),
        >(
            "SELECT record_id, member_id, home_org_id, is_open, phone, last_confirmed_on,
                    opened_at, left_on, arrived_on, talk_on, family_visit_on
             FROM scheduler_records WHERE member_id = $1",
        )
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .map(|r| {
            (
                (r.0, r.1, r.2, r.3, r.4),
                (r.5, r.6),
                (r.7, r.8),
                (r.9, r.10),
            )
        })
        .unwrap();
        let expected: Row = (
            (
                rec.record_id,
                rec.member_id.as_str().to_owned(),
                rec.home_org_id.as_str().to_owned(),
                rec.status.is_open(),
                rec.phone.as_str().to_owned(),
            ),
            (rec.last_confirmed_on, row.1.1),
            (rec.left_on, rec.arrived_on),
            (rec.contacts.talk, rec.contacts.family_visit),
        );
        assert_eq!(row, expected, "scheduler_records of {id}");

        let counted: DispatchRow = sqlx::query_as::<
            _,
            (
                String,
                String,
                bool,
                String,
                Option<String>,
                Option<NaiveDate>,
                Option<NaiveDate>,
                Option<NaiveDate>,
                Option<NaiveDate>,
                Option<NaiveDate>,
                Option<NaiveDate>,
                Option<NaiveDate>,
                Option<bool>,
                Option<String>,
            ),
        >(
            "SELECT member_id, status, is_open, region_code, certificate_no, left_on, arrived_on,
                    closed_on, talk_on, family_visit_on, home_meeting_on, phone_call_on,
                    transfer_suggested, employer_type
             FROM scheduler_dispatch_records WHERE member_id = $1",
        )
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .map(|r| {
            (
                (r.0, r.1, r.2, r.3, r.4),
                (r.5, r.6, r.7),
                (r.8, r.9, r.10, r.11),
                (r.12, r.13),
            )
        })
        .unwrap();
        let c = &rec.contacts;
        let expected: DispatchRow = (
            (
                rec.member_id.as_str().to_owned(),
                rec.status.as_str().to_owned(),
                rec.status.is_open(),
                rec.location.region_code.as_str().to_owned(),
                rec.certificate_no.as_ref().map(|n| n.as_str().to_owned()),
            ),
            (rec.left_on, rec.arrived_on, rec.closed_on),
            (c.talk, c.family_visit, c.home_meeting, c.phone),
            (
                Some(rec.transfer_suggested),
                Some(rec.location.employer_type.as_str().to_owned()),
            ),
        );
        assert_eq!(counted, expected, "scheduler_dispatch_records of {id}");
        if id == "m2" {
            assert!(rec.closed_on.is_some() && rec.transfer_suggested);
        } else {
            let all = [c.talk, c.family_visit, c.home_meeting, c.phone];
            assert!(all.iter().all(Option::is_some) && rec.arrived_on.is_some());
        }
    }

    let contact: Contact =
        serde_json::from_value(doc(&env, "SELECT contact FROM orgs WHERE id = $1", "b1").await)
            .unwrap();
    let org: (String, String, Vec<String>, String, String, String, bool) = sqlx::query_as(
        "SELECT name, kind, path, region_code, contact_name, contact_phone, has_robot
         FROM scheduler_orgs WHERE org_id = 'b1'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        org,
        (
            "b1组织".to_owned(),
            "branch".to_owned(),
            vec!["c1".to_owned(), "t1".to_owned(), "b1".to_owned()],
            "522636100201".to_owned(),
            contact.name,
            contact.phone.as_str().to_owned(),
            false,
        ),
        "scheduler_orgs"
    );
    env.finish().await;
}
