//! Every event hongyan sends reads back through its own `read`, inside the one envelope.

use chrono::TimeZone;

use super::*;
use crate::envelope::{Envelope, EventData};
use crate::ids::{EmployerType, Phone};
use crate::payloads::{Contact, Location, TransferSuggested, Update};
use crate::study::StudyCompleted;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap()
}

fn data_of(text: &str) -> Value {
    serde_json::from_str::<Value>(text).unwrap()["data"].clone()
}

#[test]
fn the_envelope_is_section_2s_for_every_actor() {
    let id = EventId(uuid::Uuid::from_u128(9));
    let member = Actor::Member {
        member_id: MemberId::parse("m1").unwrap(),
    };
    let v: Value = serde_json::from_str(&envelope("x.y", id, now(), &member, 1)).unwrap();
    assert_eq!(
        v,
        json!({"event_id": id, "type": "x.y", "schema_version": 1,
               "occurred_at": "2026-09-01T08:00:00+08:00", "actor": {"member_id": "m1"}, "data": 1})
    );
    let org = Actor::Org {
        org_id: OrgId::parse("b1").unwrap(),
        user: Some("api".into()),
    };
    let v: Value = serde_json::from_str(&envelope("x.y", id, now(), &org, 1)).unwrap();
    assert_eq!(v["actor"], json!({"org_id": "b1", "user": "api"}));
    let v: Value = serde_json::from_str(&keyed_envelope("x.y", id, now(), 1)).unwrap();
    assert_eq!(v["actor"], json!({"system": "hongyan"}));
    // The wire actor is the one history keeps.
    for a in [member, org, Actor::Hongyan] {
        let v: Value = serde_json::from_str(&envelope("x.y", id, now(), &a, 1)).unwrap();
        assert_eq!(v["actor"], a.to_json());
    }
}

#[test]
fn hongyans_announcements_read_back() {
    let changed = LedgerChanged {
        member_id: MemberId::parse("m1").unwrap(),
        home_org_id: OrgId::parse("b1").unwrap(),
        status: Status::CheckedIn,
        region_code: RegionCode::parse("440106001").unwrap(),
        version: 3,
        certificate_no: Some(CertificateNo::compose("522636", 2026, 12)),
        flags: vec!["unreported_departure".into()],
        caused_by: EventId(uuid::Uuid::from_u128(5)),
    };
    let text = keyed_envelope(
        LedgerChanged::KIND,
        EventId::new_v7(),
        now(),
        changed.to_wire(),
    );
    let data = data_of(&text);
    assert_eq!(
        LedgerChanged::read(Obj::new("data", &data).unwrap()),
        Ok(changed)
    );

    let ready = ReportReady {
        report_id: uuid::Uuid::from_u128(7),
        org_id: "c1".into(),
        quarter: Quarter::parse("2026Q3").unwrap(),
    };
    let data = ready.to_wire();
    assert_eq!(data["quarter"], "2026Q3");
    assert_eq!(
        ReportReady::read(Obj::new("data", &data).unwrap()),
        Ok(ready)
    );
    assert_eq!(Quarter::parse("2026Q5"), None);
    assert_eq!(Quarter::parse("26Q1"), None);
}

#[test]
fn what_the_pages_and_the_scheduler_send_the_registry_reads_back() {
    let member = MemberId::parse("m1").unwrap();
    let at = now();
    let read = |kind: &str, actor: &Actor, data: Value| {
        let text = envelope(kind, EventId::new_v7(), at, actor, data);
        Envelope::parse(text.as_bytes(), Some(kind)).unwrap().data
    };
    let as_member = Actor::Member {
        member_id: member.clone(),
    };
    let update = Update {
        member_id: member.clone(),
        location: Some(Location {
            region_code: RegionCode::parse("440106001").unwrap(),
            address: "天河路1号".into(),
            employer: None,
            employer_type: EmployerType::Private,
        }),
        phone: Some(Phone::parse("13911110001").unwrap()),
        inflow_contact: Some(Contact {
            name: "李联系人".into(),
            phone: Phone::parse("13700000001").unwrap(),
        }),
        confirmed_unchanged: false,
        reminders: Some(true),
    };
    assert_eq!(
        read("registration.update", &as_member, update.to_wire()),
        EventData::Update(update.clone())
    );
    // What the notifier sends for a reply: "1", 退订, and any other text.
    let unchanged = Update {
        location: None,
        phone: None,
        inflow_contact: None,
        confirmed_unchanged: true,
        reminders: None,
        ..update.clone()
    };
    let stop = Update {
        confirmed_unchanged: false,
        reminders: Some(false),
        ..unchanged.clone()
    };
    for u in [unchanged, stop] {
        assert_eq!(
            read("registration.update", &as_member, u.to_wire()),
            EventData::Update(u)
        );
    }
    let reply = crate::payloads::ContactRecorded {
        member_id: member.clone(),
        kind: crate::ContactKind::Reply,
        on: chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
        by: "hongyan".into(),
        text: Some("我在深圳，换了厂".into()),
    };
    assert_eq!(
        read("contact.recorded", &Actor::Hongyan, reply.to_wire()),
        EventData::ContactRecorded(reply)
    );
    let done = StudyCompleted {
        member_id: member.clone(),
        pack_id: OrgId::parse("p1").unwrap(),
        on: chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
    };
    assert_eq!(
        read("study.completed", &as_member, done.to_wire()),
        EventData::StudyCompleted(done)
    );
    let suggested = TransferSuggested {
        member_id: member,
        record_id: uuid::Uuid::from_u128(3),
        months: 6,
    };
    assert_eq!(
        read(
            "review.transfer_suggested",
            &Actor::Hongyan,
            suggested.to_wire()
        ),
        EventData::TransferSuggested(suggested)
    );
}
