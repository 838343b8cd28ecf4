//! The registry's published read model (migrations 0016, 0021 and 0022): the views other roles read the ledger
//! through, and the SQL rules beside the domain's. A field of `FlowRecord` or `MemberUpsert`
//! renamed in the codec turns a view's column NULL; these tests read every column back against
//! the record as the codec reads it, so the rename fails here instead of silently elsewhere.

use chrono::NaiveDate;
use hongyan_domain::OrgKind;
use hongyan_domain::ledger::FlowRecord;
use hongyan_domain::month::Month;
use hongyan_domain::regions::{destination, is_county_department};
use hongyan_domain::rules::monthly::{ladder_flags, months_unconfirmed};
use serde_json::{Value, json};

use crate::env::TestEnv;
use crate::fixtures::*;

mod scheduler;

/// Where a member's open record stands on `today`, as the ledger export shows it: months
/// unconfirmed (SQL `ledger_months_unconfirmed` over the view) and the flags with the ladder's
/// (the domain's rule, with the test's `[policy]`).
pub async fn standing(env: &TestEnv, member: &str, today: NaiveDate) -> (u32, Value) {
    let (months, stored): (i32, Value) = sqlx::query_as(
        "SELECT ledger_months_unconfirmed(confirmed_on, $2), flags FROM api_ledger_records
         WHERE member_id = $1",
    )
    .bind(member)
    .bind(today)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let stored: Vec<String> = serde_json::from_value(stored).unwrap();
    let months = months as u32;
    let ladder = env.settings.policy.ladder();
    (months, json!(ladder_flags(&stored, ladder.rung(months))))
}

#[tokio::test]
async fn the_sql_rules_are_the_domains() {
    let env = TestEnv::new().await;
    let pairs: Vec<(NaiveDate, NaiveDate, i32)> = sqlx::query_as(
        "SELECT c::date, t::date, ledger_months_unconfirmed(c::date, t::date)
         FROM generate_series('2023-01-01'::date, '2026-12-31'::date, '11 days') c,
              generate_series('2023-01-01'::date, '2027-03-31'::date, '13 days') t",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert!(pairs.len() > 10_000);
    for (confirmed, today, sql) in pairs {
        assert_eq!(
            sql,
            months_unconfirmed(confirmed, Month::of_date(today)) as i32,
            "confirmed {confirmed}, read {today}"
        );
    }
    for kind in OrgKind::ALL {
        for code in [
            "522636",
            "522600",
            "520000",
            "522636100",
            "440106",
            "44010",
            "52263a",
        ] {
            let sql: bool = sqlx::query_scalar("SELECT ledger_is_county_department($1, $2)")
                .bind(kind.as_str())
                .bind(code)
                .fetch_one(&env.pool)
                .await
                .unwrap();
            assert_eq!(sql, is_county_department(*kind, code), "{kind} {code}");
        }
    }
    let codes = [
        "522636",
        "522636100201",
        "522601",
        "520102",
        "440106001",
        "44",
        "5226",
        "",
    ];
    for home in codes {
        for away in codes {
            let sql: String = sqlx::query_scalar("SELECT ledger_destination_class($1, $2)")
                .bind(home)
                .bind(away)
                .fetch_one(&env.pool)
                .await
                .unwrap();
            assert_eq!(sql, destination(home, away).as_str(), "{home} → {away}");
        }
    }
    env.finish().await;
}

#[tokio::test]
async fn the_views_read_every_field_the_codec_writes() {
    let mut env = TestEnv::new().await;
    let mut evs = county();
    evs.push(member("m1", "b1", "13911110001"));
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
    evs.push(update(
        "m1",
        "b1",
        "2026-02-20T09:00:00",
        json!({"inflow_contact": {"name": "李联系人", "phone": "13700000001"}}),
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
    // A reply (not organizational life), and the member's 退订 (no confirmation).
    evs.push(event(
        "contact.recorded",
        "b1",
        "2026-02-27T09:00:00",
        json!({"member_id": "m1", "kind": "reply", "on": "2026-02-27", "by": "党员m1", "text": "在深圳"}),
    ));
    evs.push(update(
        "m1",
        "b1",
        "2026-02-28T09:00:00",
        json!({"reminders": false}),
    ));
    env.publish_all(&evs).await;
    env.start_registry();
    env.wait_processed(&evt_id(evs.last().unwrap())).await;
    let rec: FlowRecord = serde_json::from_value(env.record("m1").await.unwrap()).unwrap();
    let contact = rec.inflow_contact.clone().expect("the update named one");
    assert!(rec.arrived_on.is_some() && rec.left_on.is_some());

    type Export = (
        (Option<NaiveDate>, Option<NaiveDate>, Option<NaiveDate>),
        (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        ),
        (Option<String>, Option<String>),
        (Option<NaiveDate>, Option<NaiveDate>),
        (Option<Value>, Option<bool>, Option<String>, Option<String>),
    );
    let row: Export = sqlx::query_as::<
        _,
        (
            Option<NaiveDate>,
            Option<NaiveDate>,
            Option<NaiveDate>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<NaiveDate>,
            Option<NaiveDate>,
            Option<Value>,
            Option<bool>,
            Option<String>,
            Option<String>,
        ),
    >(
        "SELECT last_confirmed_on, confirmed_on, left_on, reason, address, employer, employer_type,
                contact_name, contact_phone, talk, family_visit, flags, transfer_suggested,
                member_name, inflow_org_name
         FROM api_ledger_records WHERE member_id = 'm1'",
    )
    .fetch_one(&env.pool)
    .await
    .map(|r| {
        (
            (r.0, r.1, r.2),
            (r.3, r.4, r.5, r.6),
            (r.7, r.8),
            (r.9, r.10),
            (r.11, r.12, r.13, r.14),
        )
    })
    .unwrap();
    let expected: Export = (
        (rec.last_confirmed_on, rec.last_confirmed_on, rec.left_on),
        (
            rec.reason.map(|r| r.as_str().to_owned()),
            Some(rec.location.address.clone()),
            rec.location.employer.clone(),
            Some(rec.location.employer_type.as_str().to_owned()),
        ),
        (Some(contact.name), Some(contact.phone.as_str().to_owned())),
        (rec.contacts.talk, rec.contacts.family_visit),
        (
            Some(json!(rec.flags)),
            Some(rec.transfer_suggested),
            Some("党员m1".to_owned()),
            Some("gz-park组织".to_owned()),
        ),
    );
    assert_eq!(row, expected, "api_ledger_records");

    let review: (
        NaiveDate,
        bool,
        Option<NaiveDate>,
        Option<NaiveDate>,
        bool,
        String,
        Option<String>,
    ) = sqlx::query_as(
        "SELECT confirmed_on, transfer_suggested, life_on, at_place_since, has_employer,
                branch_name, county_id
         FROM scheduler_review_records WHERE member_id = 'm1'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let c = &rec.contacts;
    let life = [c.talk, c.family_visit, c.home_meeting, c.phone]
        .into_iter()
        .flatten()
        .max();
    assert_eq!(
        review,
        (
            rec.last_confirmed_on.unwrap(),
            rec.transfer_suggested,
            life,
            rec.arrived_on,
            rec.location.employer.is_some(),
            "b1组织".to_owned(),
            Some("c1".to_owned()),
        ),
        "scheduler_review_records"
    );
    assert!(rec.reminders_stopped && rec.contacts.reply.is_some());

    let reminder: (String, String, Option<Value>, Option<NaiveDate>, bool) = sqlx::query_as(
        "SELECT name, phone, channels, last_confirmed_on, reminders_stopped
         FROM scheduler_reminder_records WHERE member_id = 'm1'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        reminder,
        (
            "党员m1".to_owned(),
            rec.phone.as_str().to_owned(),
            Some(json!(["sms"])),
            rec.last_confirmed_on,
            true
        ),
        "scheduler_reminder_records"
    );
    let sender: (String, String, String, String, Value) = sqlx::query_as(
        "SELECT member_id, name, home_org_id, branch_name, branch_contact
         FROM notifier_reply_senders WHERE phone = $1",
    )
    .bind(rec.phone.as_str())
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        sender,
        (
            "m1".to_owned(),
            "党员m1".to_owned(),
            rec.home_org_id.as_str().to_owned(),
            "b1组织".to_owned(),
            json!({"name": "b1联系人", "phone": "13900000003"}),
        ),
        "notifier_reply_senders"
    );

    // The console's 工作台 and 分布 (migration 0021).
    type Console = (
        (String, String, Option<String>, String, String),
        (Option<NaiveDate>, Option<NaiveDate>),
        (
            Option<NaiveDate>,
            Option<NaiveDate>,
            Option<NaiveDate>,
            bool,
        ),
    );
    let console: Console = sqlx::query_as::<
        _,
        (
            String,
            String,
            Option<String>,
            String,
            String,
            Option<NaiveDate>,
            Option<NaiveDate>,
            Option<NaiveDate>,
            Option<NaiveDate>,
            Option<NaiveDate>,
            bool,
        ),
    >(
        "SELECT member_name, home_org_id, inflow_org_id, status, region_code, last_confirmed_on,
                confirmed_on, talk, family_visit, contact_on, transfer_suggested
         FROM console_open_records WHERE member_id = 'm1'",
    )
    .fetch_one(&env.pool)
    .await
    .map(|r| ((r.0, r.1, r.2, r.3, r.4), (r.5, r.6), (r.7, r.8, r.9, r.10)))
    .unwrap();
    assert_eq!(
        console,
        (
            (
                "党员m1".to_owned(),
                "b1".to_owned(),
                rec.inflow_org_id.as_ref().map(|o| o.as_str().to_owned()),
                rec.status.as_str().to_owned(),
                rec.location.region_code.as_str().to_owned(),
            ),
            (rec.last_confirmed_on, rec.last_confirmed_on),
            (c.talk, c.family_visit, life, rec.transfer_suggested),
        ),
        "console_open_records"
    );
    let place: (String, String) =
        sqlx::query_as("SELECT home_org_id, region_code FROM console_open_places")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(
        place,
        (
            "b1".to_owned(),
            rec.location.region_code.as_str().to_owned()
        )
    );
    env.finish().await;
}
