//! The ledger (一支部一台账): one flow record per member's time away, and the rules that move
//! it (DESIGN.md section 3). Every function here is pure; the registry loads the state, calls
//! these, and writes what they return.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::ids::{CertificateNo, ContactKind, MemberId, OrgId, Phone, Reason};
use crate::payloads::{
    Contact, ContactRecorded, Inbound, Location, MemberUpsert, NewOrg, Outbound, Return, Transfer,
    Update,
};

/// A member as the ledger knows them.
pub type Member = MemberUpsert;

/// Where a flow record stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Registered as leaving; not yet checked in at the destination.
    Out,
    /// Received by an inflow-area organization (报到).
    CheckedIn,
    /// Home for a visit (e.g. Spring Festival); the record stays open.
    HomeVisit,
    /// Home for good; the record is closed.
    Returned,
    /// Relationship transferred to another organization (组织关系转接); closed.
    Transferred,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Out => "out",
            Status::CheckedIn => "checked_in",
            Status::HomeVisit => "home_visit",
            Status::Returned => "returned",
            Status::Transferred => "transferred",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Status::Out,
            Status::CheckedIn,
            Status::HomeVisit,
            Status::Returned,
            Status::Transferred,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    pub fn is_open(self) -> bool {
        !matches!(self, Status::Returned | Status::Transferred)
    }
}

/// The flag set on a record opened by an arrival nobody registered a departure for.
pub const FLAG_UNREPORTED_DEPARTURE: &str = "unreported_departure";

/// The numbers of section 3's rules that the policy may change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPolicy {
    /// An activity certificate is issued for absences expected to last this many months or
    /// fewer; longer ones with a fixed employer are asked to transfer (应转尽转).
    pub certificate_max_months: u32,
}

impl Default for LedgerPolicy {
    fn default() -> Self {
        Self {
            certificate_max_months: 6,
        }
    }
}

/// The last contact of each kind a branch had with the member.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastContacts {
    pub talk: Option<NaiveDate>,
    pub family_visit: Option<NaiveDate>,
    pub home_meeting: Option<NaiveDate>,
    pub phone: Option<NaiveDate>,
}

impl LastContacts {
    fn slot(&mut self, kind: ContactKind) -> &mut Option<NaiveDate> {
        match kind {
            ContactKind::Talk => &mut self.talk,
            ContactKind::FamilyVisit => &mut self.family_visit,
            ContactKind::HomeMeeting => &mut self.home_meeting,
            ContactKind::Phone => &mut self.phone,
        }
    }
}

/// One row of a branch's ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowRecord {
    /// The record's id, made when it opens.
    pub record_id: uuid::Uuid,
    pub member_id: MemberId,
    pub home_org_id: OrgId,
    pub status: Status,
    pub reason: Option<Reason>,
    pub expected_months: Option<u32>,
    pub location: Location,
    pub phone: Phone,
    pub inflow_org_id: Option<OrgId>,
    pub inflow_contact: Option<Contact>,
    pub certificate_no: Option<CertificateNo>,
    pub left_on: Option<NaiveDate>,
    pub arrived_on: Option<NaiveDate>,
    /// The last confirmation (一月一更新). Months unconfirmed and the staleness ladder's flags
    /// follow from it and the month, and are worked out where they are read
    /// (`rules::monthly::standing`, SQL `ledger_months_unconfirmed`), never stored.
    pub last_confirmed_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    pub new_org: Option<NewOrg>,
    /// Flags the registry sets (`unreported_departure`); the ladder's are derived, not stored.
    pub flags: Vec<String>,
    /// The branch was asked to transfer the relationship (应转尽转): at the departure, or by
    /// the monthly review through `review.transfer_suggested`.
    pub transfer_suggested: bool,
    pub contacts: LastContacts,
    /// Grows by one with every change to the member's ledger, across records, so the live
    /// directory can refuse anything older than what it holds.
    pub version: i64,
    /// `occurred_at` of the newest event applied; older events never roll the state back.
    pub state_at: DateTime<FixedOffset>,
}

/// The calendar day an event happened on, in Asia/Shanghai.
pub fn local_date(at: DateTime<FixedOffset>) -> NaiveDate {
    at.with_timezone(&crate::TZ).date_naive()
}

impl FlowRecord {
    /// True when an event at `at` is older than what the record already reflects.
    pub fn is_newer_than(&self, at: DateTime<FixedOffset>) -> bool {
        self.state_at > at
    }

    fn touch(&mut self, at: DateTime<FixedOffset>) {
        self.version += 1;
        if at > self.state_at {
            self.state_at = at;
        }
    }
}

/// Whether a departure gets an activity certificate: short absences, or no fixed employer at
/// the destination. Otherwise the branch is asked to transfer the relationship.
pub fn certificate_due(policy: &LedgerPolicy, ev: &Outbound) -> bool {
    ev.expected_months <= policy.certificate_max_months || ev.destination.employer.is_none()
}

/// Outbound registration opens record `record_id` (made by the caller: the rule stays a pure
/// function of its arguments). The certificate number, when due, is allocated by the store (a
/// sequence per county and year) and set afterwards.
pub fn open_outbound(
    record_id: uuid::Uuid,
    policy: &LedgerPolicy,
    member: &Member,
    ev: &Outbound,
    last_version: i64,
    at: DateTime<FixedOffset>,
) -> FlowRecord {
    FlowRecord {
        record_id,
        member_id: member.id.clone(),
        home_org_id: member.home_org_id.clone(),
        status: Status::Out,
        reason: Some(ev.reason),
        expected_months: Some(ev.expected_months),
        location: ev.destination.clone(),
        phone: member.phone.clone(),
        inflow_org_id: ev.inflow_org_id.clone(),
        inflow_contact: ev.inflow_contact.clone(),
        certificate_no: None,
        left_on: Some(ev.left_on),
        arrived_on: None,
        last_confirmed_on: Some(local_date(at)),
        closed_on: None,
        new_org: None,
        flags: Vec::new(),
        transfer_suggested: !certificate_due(policy, ev),
        contacts: LastContacts::default(),
        version: last_version + 1,
        state_at: at,
    }
}

/// The last sequence number a county may give out in a year: certificate numbers keep five
/// digits for it (`CertificateNo`).
pub const CERTIFICATE_SEQ_LAST: u32 = 99_999;

/// The year a certificate is numbered in: the year the member left.
pub fn certificate_year(ev: &Outbound) -> i32 {
    ev.left_on.year()
}

/// A confirmation (一月一更新): this month is confirmed, so the staleness ladder, read from
/// the last confirmation, starts again (DESIGN.md section 4).
fn confirm(rec: &mut FlowRecord, at: DateTime<FixedOffset>) {
    rec.last_confirmed_on = Some(local_date(at));
}

/// What `review.transfer_suggested` does to the record it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuggestionMark {
    /// Marked now: the record changed.
    Marked,
    /// Already marked (a departure that suggested it, or a repeat): nothing changes.
    AlreadyMarked,
    /// The review read another record, closed since: nothing changes.
    OtherRecord,
}

/// 应转尽转: the monthly review asked the branch, so it is asked once (`transfer_suggested`).
pub fn mark_transfer_suggested(
    rec: &mut FlowRecord,
    record_id: uuid::Uuid,
    at: DateTime<FixedOffset>,
) -> SuggestionMark {
    if rec.record_id != record_id {
        return SuggestionMark::OtherRecord;
    }
    if rec.transfer_suggested {
        return SuggestionMark::AlreadyMarked;
    }
    rec.transfer_suggested = true;
    rec.touch(at);
    SuggestionMark::Marked
}

/// An arrival with an open record: checked in with the receiving org (报到).
pub fn check_in(rec: &mut FlowRecord, receiving: &OrgId, ev: &Inbound, at: DateTime<FixedOffset>) {
    rec.status = Status::CheckedIn;
    rec.inflow_org_id = Some(receiving.clone());
    rec.arrived_on = Some(ev.arrived_on);
    rec.location = ev.location.clone();
    confirm(rec, at);
    rec.touch(at);
}

/// An arrival for a known member with no open record: a departure nobody registered. Opens
/// record `record_id`, made by the caller.
pub fn open_unreported(
    record_id: uuid::Uuid,
    member: &Member,
    receiving: &OrgId,
    ev: &Inbound,
    last_version: i64,
    at: DateTime<FixedOffset>,
) -> FlowRecord {
    FlowRecord {
        record_id,
        member_id: member.id.clone(),
        home_org_id: member.home_org_id.clone(),
        status: Status::CheckedIn,
        reason: None,
        expected_months: None,
        location: ev.location.clone(),
        phone: member.phone.clone(),
        inflow_org_id: Some(receiving.clone()),
        inflow_contact: None,
        certificate_no: None,
        left_on: None,
        arrived_on: Some(ev.arrived_on),
        last_confirmed_on: Some(local_date(at)),
        closed_on: None,
        new_org: None,
        flags: vec![FLAG_UNREPORTED_DEPARTURE.to_owned()],
        transfer_suggested: false,
        contacts: LastContacts::default(),
        version: last_version + 1,
        state_at: at,
    }
}

/// An update refreshes the record and counts as the month's confirmation (一月一更新). A member
/// who was home for a visit and confirms again is away again.
pub fn update(rec: &mut FlowRecord, ev: &Update, at: DateTime<FixedOffset>) {
    if let Some(loc) = &ev.location {
        rec.location = loc.clone();
    }
    if let Some(phone) = &ev.phone {
        rec.phone = phone.clone();
    }
    if let Some(c) = &ev.inflow_contact {
        rec.inflow_contact = Some(c.clone());
    }
    if rec.status == Status::HomeVisit {
        rec.status = if rec.inflow_org_id.is_some() {
            Status::CheckedIn
        } else {
            Status::Out
        };
    }
    confirm(rec, at);
    rec.touch(at);
}

/// Return for good closes the record; a visit home keeps it open (凡回乡必见面 follows).
pub fn return_home(rec: &mut FlowRecord, ev: &Return, at: DateTime<FixedOffset>) {
    if ev.permanent {
        rec.status = Status::Returned;
        rec.closed_on = Some(ev.returned_on);
    } else {
        rec.status = Status::HomeVisit;
    }
    rec.touch(at);
}

/// Transfer of the relationship (组织关系转接) closes the record with the new organization.
pub fn transfer(rec: &mut FlowRecord, ev: &Transfer, at: DateTime<FixedOffset>) {
    rec.status = Status::Transferred;
    rec.closed_on = Some(ev.transferred_on);
    rec.new_org = Some(ev.new_org.clone());
    rec.transfer_suggested = false;
    rec.touch(at);
}

/// A contact is kept as the latest of its kind, whenever it arrives: an old talk reported late
/// never hides a newer one. Returns whether the record changed.
pub fn record_contact(
    rec: &mut FlowRecord,
    ev: &ContactRecorded,
    at: DateTime<FixedOffset>,
) -> bool {
    let slot = rec.contacts.slot(ev.kind);
    if slot.is_some_and(|d| d >= ev.on) {
        return false;
    }
    *slot = Some(ev.on);
    rec.touch(at);
    true
}

#[cfg(test)]
mod tests {
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
        };
        rec.flags = vec!["unreported_departure".into()];
        update(&mut rec, &confirm, at("2027-02-20T09:00:00+08:00"));
        assert_eq!(rec.status, Status::Out);
        assert_eq!(rec.flags, vec!["unreported_departure".to_owned()]);
        assert_eq!(rec.last_confirmed_on, NaiveDate::from_ymd_opt(2027, 2, 20));
        assert_eq!(rec.version, 3);
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
}
