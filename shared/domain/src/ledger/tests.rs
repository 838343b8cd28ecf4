use super::*;
use crate::ids::{EmployerType, RegionCode};
use crate::payloads::Subject;

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn member() -> Member {
    MemberUpsert {
        id: MemberId::parse("m1").unwrap(),
        name: "王小明".into(),
        phone: Phone::parse("13900001111").unwrap(),
        home_org_id: OrgId::parse("b1").unwrap(),
        joined_party_on: NaiveDate::from_ymd_opt(2010, 7, 1).unwrap(),
        pair: None,
        channels: vec!["sms".into()],
    }
}

fn outbound(months: u32, employer: Option<&str>) -> Outbound {
    Outbound {
        subject: Subject::Known(MemberId::parse("m1").unwrap()),
        left_on: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        reason: Reason::Work,
        expected_months: months,
        destination: Location {
            region_code: RegionCode::parse("440106001").unwrap(),
            address: "天河路1号".into(),
            employer: employer.map(Into::into),
            employer_type: EmployerType::Private,
        },
        inflow_org_id: None,
        inflow_contact: None,
    }
}

#[test]
fn short_absences_or_no_fixed_employer_get_a_certificate() {
    let p = LedgerPolicy::default();
    assert!(certificate_due(&p, &outbound(6, Some("某厂"))));
    assert!(certificate_due(&p, &outbound(24, None)));
    assert!(!certificate_due(&p, &outbound(7, Some("某厂"))));
}

#[test]
fn long_absences_with_an_employer_are_asked_to_transfer() {
    let rec = open_outbound(
        uuid::Uuid::from_u128(1),
        &LedgerPolicy::default(),
        &member(),
        &outbound(12, Some("某厂")),
        4,
        at("2026-03-01T09:00:00+08:00"),
    );
    assert!(rec.transfer_suggested);
    assert_eq!(rec.version, 5);
    assert_eq!(rec.status, Status::Out);
}

#[test]
fn a_visit_home_keeps_the_record_open_and_an_update_sends_it_back_out() {
    let t0 = at("2026-03-01T09:00:00+08:00");
    let mut rec = open_outbound(
        uuid::Uuid::from_u128(1),
        &LedgerPolicy::default(),
        &member(),
        &outbound(3, None),
        0,
        t0,
    );
    let visit = Return {
        member_id: rec.member_id.clone(),
        returned_on: NaiveDate::from_ymd_opt(2027, 2, 1).unwrap(),
        permanent: false,
    };
    return_home(&mut rec, &visit, at("2027-02-01T09:00:00+08:00"));
    assert_eq!(rec.status, Status::HomeVisit);
    assert!(rec.status.is_open());
    let confirm = Update {
        member_id: rec.member_id.clone(),
        location: None,
        phone: None,
        inflow_contact: None,
        confirmed_unchanged: true,
        reminders: None,
    };
    rec.flags = vec!["unreported_departure".into()];
    update(&mut rec, &confirm, at("2027-02-20T09:00:00+08:00"));
    assert_eq!(rec.status, Status::Out);
    assert_eq!(rec.flags, vec!["unreported_departure".to_owned()]);
    assert_eq!(rec.last_confirmed_on, NaiveDate::from_ymd_opt(2027, 2, 20));
    assert_eq!(rec.version, 3);

    // 退订 stops the reminder SMS and is no confirmation; `reminders: true` resumes them.
    let stop = Update {
        reminders: Some(false),
        confirmed_unchanged: false,
        ..confirm.clone()
    };
    assert!(!stop.confirms());
    update(&mut rec, &stop, at("2027-03-05T09:00:00+08:00"));
    assert!(rec.reminders_stopped);
    assert_eq!(rec.last_confirmed_on, NaiveDate::from_ymd_opt(2027, 2, 20));
    assert_eq!(rec.version, 4);
    let resume = Update {
        reminders: Some(true),
        ..stop
    };
    update(&mut rec, &resume, at("2027-03-06T09:00:00+08:00"));
    assert!(!rec.reminders_stopped);
    assert_eq!(rec.last_confirmed_on, NaiveDate::from_ymd_opt(2027, 2, 20));
}

#[test]
fn a_move_to_another_county_clears_the_old_inflow_contact_and_a_move_within_keeps_it() {
    let t0 = at("2026-03-01T09:00:00+08:00");
    let mut with_contact = outbound(3, None);
    with_contact.inflow_contact = Some(crate::payloads::Contact {
        name: "赵站长".into(),
        phone: Phone::parse("13900000006").unwrap(),
    });
    let mut rec = open_outbound(
        uuid::Uuid::from_u128(1),
        &LedgerPolicy::default(),
        &member(),
        &with_contact,
        0,
        t0,
    );
    let member_id = rec.member_id.clone();
    let moved_to = |code: &str| Update {
        member_id: member_id.clone(),
        location: Some(Location {
            region_code: RegionCode::parse(code).unwrap(),
            address: "新地址1号".into(),
            employer: None,
            employer_type: EmployerType::Other,
        }),
        phone: None,
        inflow_contact: None,
        confirmed_unchanged: false,
        reminders: None,
    };
    // Another township of the same county (天河区): the station's person still looks after them.
    let nearby = moved_to("440106002");
    update(&mut rec, &nearby, at("2026-04-02T09:00:00+08:00"));
    assert_eq!(
        rec.inflow_contact.as_ref().map(|c| c.name.as_str()),
        Some("赵站长")
    );
    // Shenzhen's 南山区: not any more.
    let away = moved_to("440305");
    update(&mut rec, &away, at("2026-05-02T09:00:00+08:00"));
    assert_eq!(rec.inflow_contact, None);
    assert_eq!(rec.location.region_code.as_str(), "440305");
}

#[test]
fn the_review_marks_a_transfer_suggestion_once_and_only_on_the_record_it_read() {
    let t0 = at("2026-03-01T09:00:00+08:00");
    let mut rec = open_outbound(
        uuid::Uuid::from_u128(1),
        &LedgerPolicy::default(),
        &member(),
        &outbound(3, None),
        0,
        t0,
    );
    assert!(!rec.transfer_suggested);
    let later = at("2026-09-01T08:00:00+08:00");
    let other = uuid::Uuid::from_u128(7);
    assert_eq!(
        mark_transfer_suggested(&mut rec, other, later),
        SuggestionMark::OtherRecord
    );
    assert_eq!(rec.version, 1);
    let id = rec.record_id;
    assert_eq!(
        mark_transfer_suggested(&mut rec, id, later),
        SuggestionMark::Marked
    );
    assert!(rec.transfer_suggested);
    assert_eq!(rec.version, 2);
    assert_eq!(
        mark_transfer_suggested(&mut rec, id, later),
        SuggestionMark::AlreadyMarked
    );
    assert_eq!(rec.version, 2);
}

#[test]
fn confirmation_dates_are_counted_in_shanghai() {
    // 23:30 UTC on the 31st is already the 1st in Shanghai.
    assert_eq!(
        local_date(at("2026-03-31T23:30:00+00:00")),
        NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()
    );
}

#[test]
fn an_older_contact_never_hides_a_newer_one() {
    let t0 = at("2026-03-01T09:00:00+08:00");
    let mut rec = open_outbound(
        uuid::Uuid::from_u128(1),
        &LedgerPolicy::default(),
        &member(),
        &outbound(3, None),
        0,
        t0,
    );
    let talk = |d: u32| ContactRecorded {
        text: None,
        member_id: rec.member_id.clone(),
        kind: ContactKind::Talk,
        on: NaiveDate::from_ymd_opt(2026, 4, d).unwrap(),
        by: "李书记".into(),
    };
    let (late, early) = (talk(20), talk(10));
    assert!(record_contact(&mut rec, &late, t0));
    assert!(!record_contact(&mut rec, &early, t0));
    assert_eq!(rec.contacts.talk, NaiveDate::from_ymd_opt(2026, 4, 20));
}
