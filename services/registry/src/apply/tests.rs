//! The rules over a batch state built in memory: no database, no runtime. `Rules::apply` and
//! `State::absorb` are plain functions, so these run as they are.

use chrono::TimeZone;
use serde_json::{Value, json};

use super::*;
use crate::batch::effects::{Numbered, OrgWrite};
use crate::batch::load::Loaded;
use hongyan_domain::ledger;
use hongyan_domain::ledger::certificates::Sequences;

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

/// A state as loaded with the certificate sequence of county 522636 in 2026 at `last`.
fn loaded_with_sequence(last: u32) -> State {
    let mut certificates = Sequences::default();
    certificates.loaded("522636".into(), 2026, last);
    State::from(Loaded {
        certificates,
        ..Loaded::default()
    })
}

/// Applies `events` in order to `state`, as a batch does between load and flush: each
/// outcome, with what the event changed.
fn apply_all(state: &mut State, events: &[Envelope]) -> Vec<(Outcome, Effects)> {
    let policy = LedgerPolicy {
        certificate_max_months: 6,
    };
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
    events
        .iter()
        .map(|ev| {
            let (outcome, effects) = Rules::new(state, &policy, now).apply(ev);
            let seen = Effects {
                applied: effects.applied,
                org: effects.org.clone(),
                record: effects.record.clone(),
                certificate: effects.certificate.clone(),
                outbox: effects.outbox.clone(),
                ..Effects::default()
            };
            state.absorb(effects);
            (outcome, seen)
        })
        .collect()
}

fn applied(outcomes: &[(Outcome, Effects)]) {
    for (o, _) in outcomes {
        assert!(matches!(o, Outcome::Applied(_)), "{o:?}");
    }
}

#[test]
fn an_org_a_member_and_a_departure_apply_to_the_batch_state_alone() {
    let mut state = loaded_with_sequence(41);
    let events = [
        org("c1", "department", None, "522636"),
        org("b1", "branch", Some("c1"), "522636100201"),
        member("m1", "13911110001"),
        outbound("m1", "2026-03-01T09:00:00"),
    ];
    let outcomes = apply_all(&mut state, &events);
    applied(&outcomes);

    // What flush will write: both orgs in event order, the member, the record, the sequence.
    let saved: Vec<&OrgWrite> = outcomes
        .iter()
        .filter_map(|(_, fx)| fx.org.as_ref())
        .collect();
    let ids: Vec<&str> = saved.iter().map(|w| w.row.org.id.as_str()).collect();
    assert_eq!(ids, ["c1", "b1"]);
    assert_eq!(
        saved[1].row.path,
        [OrgId::parse("c1").unwrap(), OrgId::parse("b1").unwrap()]
    );
    assert!(saved.iter().all(|w| w.old_path.is_none()));
    let m1 = MemberId::parse("m1").unwrap();
    let rec = state
        .open_record(&m1)
        .expect("the departure opened a record");
    assert_eq!(
        rec.certificate_no.as_ref().map(|c| c.as_str()),
        Some("522636202600042")
    );
    let departure = &outcomes[3].1;
    assert_eq!(
        departure.certificate,
        Some(Numbered {
            county: "522636".into(),
            year: 2026,
            seq: 42
        })
    );
    assert_eq!(state.next_certificate("522636", 2026), Some(43));
    assert_eq!(
        outcomes
            .iter()
            .filter(|(_, fx)| fx.applied.is_some())
            .count(),
        4
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|(_, fx)| fx.record.is_some())
            .count(),
        1
    );
    assert!(
        departure.outbox.len() >= 3,
        "ledger.changed and the member and branch are told"
    );

    // The same event again in the batch is a duplicate and changes nothing more.
    let again = apply_all(&mut state, &events[3..]);
    assert_eq!(again[0].0, Outcome::Duplicate);
    assert!(again[0].1.applied.is_none() && again[0].1.outbox.is_empty());
}

#[test]
fn a_departure_past_a_county_years_last_certificate_number_is_refused_and_opens_nothing() {
    let mut state = loaded_with_sequence(ledger::CERTIFICATE_SEQ_LAST - 1);
    let setup = [
        org("c1", "department", None, "522636"),
        org("b1", "branch", Some("c1"), "522636100201"),
        member("m1", "13911110001"),
        member("m2", "13911110002"),
    ];
    applied(&apply_all(&mut state, &setup));
    let last = apply_all(&mut state, &[outbound("m1", "2026-03-01T09:00:00")]);
    applied(&last);
    let refused = apply_all(&mut state, &[outbound("m2", "2026-03-02T09:00:00")]);
    let [(Outcome::Rejected(Rejection::Conflict(why)), fx)] = refused.as_slice() else {
        panic!("refused as a conflict: {refused:?}")
    };
    assert!(
        why.contains("all 99999 activity-certificate numbers of 2026"),
        "{why}"
    );
    assert!(fx.record.is_none() && fx.certificate.is_none(), "{fx:?}");
    let m2 = MemberId::parse("m2").unwrap();
    assert!(
        state.open_record(&m2).is_none(),
        "a refused departure opens no record"
    );
    assert_eq!(state.next_certificate("522636", 2026), None);
}
