//! The rules over a working set built in memory: no database, no runtime. `Applier::apply` is
//! a plain function, so these run as they are.

use chrono::TimeZone;
use serde_json::{Value, json};

use super::*;
use crate::certificates::Advanced;

fn envelope(kind: &str, actor: &str, at: &str, data: Value) -> Envelope {
    let body = json!({
        "event_id": uuid::Uuid::new_v4(),
        "type": kind,
        "schema_version": 1,
        "occurred_at": format!("{at}+08:00"),
        "actor": {"org_id": actor, "user": "test"},
        "data": data,
    });
    Envelope::parse(body.to_string().as_bytes(), Some(kind)).expect("a valid envelope")
}

fn org(id: &str, kind: &str, parent: Option<&str>, region: &str) -> Envelope {
    envelope(
        "org.upserted",
        parent.unwrap_or(id),
        "2026-01-01T09:00:00",
        json!({"id": id, "name": format!("{id}组织"), "kind": kind, "parent_id": parent,
               "region_code": region, "contact": {"name": "联系人", "phone": "13900000001"}}),
    )
}

fn member(id: &str, phone: &str) -> Envelope {
    envelope(
        "member.upserted",
        "b1",
        "2026-01-02T09:00:00",
        json!({"id": id, "name": format!("党员{id}"), "phone": phone, "home_org_id": "b1",
               "joined_party_on": "2010-07-01"}),
    )
}

fn outbound(member: &str, at: &str) -> Envelope {
    envelope(
        "registration.outbound",
        "b1",
        at,
        json!({"member_id": member, "left_on": &at[..10], "reason": "work", "expected_months": 4,
               "destination": {"region_code": "440106001", "address": "天河路1号",
                               "employer": "某厂", "employer_type": "private"}}),
    )
}

/// Applies `events` in order to `ws`, as a batch does between load and flush.
fn apply_all(ws: &mut WorkingSet, events: &[Envelope]) -> Vec<Outcome> {
    let policy = LedgerPolicy {
        certificate_max_months: 6,
    };
    let mut applier = Applier {
        ws,
        policy: &policy,
        now: Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap(),
    };
    events.iter().map(|ev| applier.apply(ev)).collect()
}

fn applied(outcomes: &[Outcome]) {
    for o in outcomes {
        assert!(matches!(o, Outcome::Applied(_)), "{o:?}");
    }
}

#[test]
fn an_org_a_member_and_a_departure_apply_to_the_working_set_alone() {
    let mut ws = WorkingSet::default();
    ws.certificates.loaded("522636".into(), 2026, 41);
    let events = [
        org("c1", "department", None, "522636"),
        org("b1", "branch", Some("c1"), "522636100201"),
        member("m1", "13911110001"),
        outbound("m1", "2026-03-01T09:00:00"),
    ];
    let outcomes = apply_all(&mut ws, &events);
    applied(&outcomes);

    // What flush will write: both orgs in event order, the member, the record, the sequence.
    let saved: Vec<&str> = ws
        .org_writes
        .iter()
        .map(|w| w.row.org.id.as_str())
        .collect();
    assert_eq!(saved, ["c1", "b1"]);
    assert_eq!(
        ws.org_writes[1].row.path,
        [OrgId::parse("c1").unwrap(), OrgId::parse("b1").unwrap()]
    );
    assert!(ws.org_writes.iter().all(|w| w.old_path.is_none()));
    let m1 = MemberId::parse("m1").unwrap();
    let rec = ws.open_record(&m1).expect("the departure opened a record");
    assert_eq!(
        rec.certificate_no.as_ref().map(|c| c.as_str()),
        Some("522636202600042")
    );
    assert_eq!(
        ws.certificates.advanced().collect::<Vec<_>>(),
        [Advanced {
            county: "522636",
            year: 2026,
            read: Some(41),
            last: 42
        }]
    );
    assert_eq!(ws.applied.len(), 4);
    assert_eq!(ws.changed_records().len(), 1);
    assert!(
        ws.outbox.len() >= 3,
        "ledger.changed and the member and branch are told"
    );

    // The same event again in the batch is a duplicate and changes nothing more.
    assert_eq!(apply_all(&mut ws, &events[3..]), [Outcome::Duplicate]);
}

#[test]
fn a_departure_past_a_county_years_last_certificate_number_is_refused_and_opens_nothing() {
    let mut ws = WorkingSet::default();
    ws.certificates
        .loaded("522636".into(), 2026, ledger::CERTIFICATE_SEQ_LAST - 1);
    let setup = [
        org("c1", "department", None, "522636"),
        org("b1", "branch", Some("c1"), "522636100201"),
        member("m1", "13911110001"),
        member("m2", "13911110002"),
    ];
    applied(&apply_all(&mut ws, &setup));
    let last = apply_all(&mut ws, &[outbound("m1", "2026-03-01T09:00:00")]);
    applied(&last);
    let refused = apply_all(&mut ws, &[outbound("m2", "2026-03-02T09:00:00")]);
    let [Outcome::Rejected(Rejection::Conflict(why))] = refused.as_slice() else {
        panic!("refused as a conflict: {refused:?}")
    };
    assert!(
        why.contains("all 99999 activity-certificate numbers of 2026"),
        "{why}"
    );
    let m2 = MemberId::parse("m2").unwrap();
    assert!(
        ws.open_record(&m2).is_none(),
        "a refused departure opens no record"
    );
    assert_eq!(
        ws.certificates.advanced().next().map(|a| a.last),
        Some(99_999)
    );
}
