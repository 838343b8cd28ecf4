//! The ledger (一支部一台账): one flow record per member's time away, and the rules that move
//! it (DESIGN.md section 3). Every function here is pure; the registry loads the state, calls
//! these, and writes what they return.

pub mod arrival;
pub mod certificates;

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
    /// The member's last SMS reply that was not a confirmation or an unsubscribe. Not
    /// organizational life: the lapse warning does not count it.
    #[serde(default)]
    pub reply: Option<NaiveDate>,
}

impl LastContacts {
    fn slot(&mut self, kind: ContactKind) -> &mut Option<NaiveDate> {
        match kind {
            ContactKind::Talk => &mut self.talk,
            ContactKind::FamilyVisit => &mut self.family_visit,
            ContactKind::HomeMeeting => &mut self.home_meeting,
            ContactKind::Phone => &mut self.phone,
            ContactKind::Reply => &mut self.reply,
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
    /// The member asked for no more monthly reminder SMS (a `T`/`退订` reply, DESIGN.md section
    /// 5); an update with `reminders: true` turns them back on. Kept with the record: a new
    /// time away starts with reminders on.
    #[serde(default)]
    pub reminders_stopped: bool,
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
        reminders_stopped: false,
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
        reminders_stopped: false,
        contacts: LastContacts::default(),
        version: last_version + 1,
        state_at: at,
    }
}

/// An update refreshes the record and counts as the month's confirmation (一月一更新). A member
/// who was home for a visit and confirms again is away again. `reminders` alone switches the
/// monthly reminder SMS and confirms nothing ([`Update::confirms`]).
///
/// A move to another county clears the inflow contact the update does not name: the person
/// who looked after the member at the old place is not theirs at the new one.
pub fn update(rec: &mut FlowRecord, ev: &Update, at: DateTime<FixedOffset>) {
    if let Some(on) = ev.reminders {
        rec.reminders_stopped = !on;
    }
    if !ev.confirms() {
        rec.touch(at);
        return;
    }
    if let Some(loc) = &ev.location {
        if loc.region_code.county() != rec.location.region_code.county() {
            rec.inflow_contact = None;
        }
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
mod tests;
