//! One event against the working set: the rights, the ledger rule, and what follows. The
//! rules themselves are `hongyan-domain`'s; this module decides which rule applies and records
//! the outcome. Departures and arrivals, the longest, have a file each.

use chrono::{DateTime, FixedOffset, Utc};
use hongyan_adapters::store::rows::{HistoryRow, MemberRow, OrgRow};
use hongyan_domain::envelope::{EventData, Rejection};
use hongyan_domain::ids::{CertificateNo, MemberId, OrgId};
use hongyan_domain::ledger::{self, FlowRecord, LedgerPolicy, Member, local_date};
use hongyan_domain::notify::{NotificationRequest, Recipient, Role, templates};
use hongyan_domain::payloads::{
    ArrivalKey, ContactRecorded, Inbound, NewOrg, Outbound, Return, Subject, TransferSuggested,
};
use hongyan_domain::{Envelope, rights, station};

use crate::notices;
use crate::sql::writes::UnmatchedRow;
use crate::working::{OrgWrite, WorkingSet};

mod inbound;
mod outbound;
mod study;

/// What became of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The ledger changed (or, for an unmatched arrival, the unmatched list did).
    Applied(String),
    /// Older than what the ledger holds: kept in history, changed nothing.
    Stale(String),
    /// Seen before: nothing done.
    Duplicate,
    /// Can never apply as sent: parked.
    Rejected(Rejection),
    /// Cannot apply yet (e.g. an update before its departure): tried again later.
    Deferred(String),
}

impl Outcome {
    /// A word for logs and spans.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied(_) => "applied",
            Outcome::Stale(_) => "stale",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected(_) => "rejected",
            Outcome::Deferred(_) => "deferred",
        }
    }
}

/// What a rule made of an event it did not refuse (a refusal is a [`Rejection`]; a duplicate
/// never reaches the rules).
#[derive(Debug)]
enum Verdict {
    /// See [`Outcome::Applied`].
    Applied(String),
    /// See [`Outcome::Stale`].
    Stale(String),
    /// See [`Outcome::Deferred`].
    Deferred(String),
}

impl From<Verdict> for Outcome {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Applied(note) => Outcome::Applied(note),
            Verdict::Stale(note) => Outcome::Stale(note),
            Verdict::Deferred(why) => Outcome::Deferred(why),
        }
    }
}

/// A rule's verdict on an event, or why it refused it.
type Ruled = Result<Verdict, Rejection>;

/// Applies events to a batch's working set: no database here. Everything an event may need
/// was loaded before ([`WorkingSet::load`]), and everything it changes is written after
/// ([`WorkingSet::flush`]).
pub struct Applier<'a> {
    pub ws: &'a mut WorkingSet,
    pub policy: &'a LedgerPolicy,
    pub now: DateTime<Utc>,
}

fn unknown_member(id: &MemberId) -> Rejection {
    Rejection::Unknown(format!(
        "Member {id} is not known; send their member.upserted first (or a full member in the outbound), then replay this event."
    ))
}

fn unknown_org(id: &OrgId, field: &str) -> Rejection {
    Rejection::Unknown(format!(
        "Org {id} ({field}) is not known; send its org.upserted first, then replay this event."
    ))
}

impl Applier<'_> {
    /// Applies one event.
    #[tracing::instrument(
        name = "apply_event",
        skip_all,
        fields(event_id = %ev.event_id, event_type = ev.kind.as_str())
    )]
    pub fn apply(&mut self, ev: &Envelope) -> Outcome {
        let outcome = self.rule(ev);
        tracing::debug!(
            outcome = outcome.label(),
            "Event applied to the working set."
        );
        outcome
    }

    /// The rule the event's type names, and what its verdict leaves in the working set.
    fn rule(&mut self, ev: &Envelope) -> Outcome {
        let id = ev.event_id.0;
        if !self.ws.processed.insert(id) {
            return Outcome::Duplicate;
        }
        let ruled = match &ev.data {
            EventData::OrgUpserted(_) => self.org_upserted(ev),
            EventData::MemberUpserted(m) => self.member_upserted(ev, m.clone()),
            EventData::Outbound(o) => self.outbound(ev, o),
            EventData::Inbound(i) => self.inbound(ev, i),
            EventData::Update(_)
            | EventData::Return(_)
            | EventData::Transfer(_)
            | EventData::ContactRecorded(_) => self.on_open_record(ev),
            EventData::StudyPublished(p) => self.study_published(ev, p),
            EventData::StudyCompleted(c) => self.study_completed(ev, c),
            EventData::TransferSuggested(t) => Ok(self.transfer_suggested(ev, t)),
        };
        let verdict = match ruled {
            Ok(verdict) => verdict,
            Err(rejection) => {
                // Not applied: a replay must find it new.
                self.ws.processed.remove(&id);
                return Outcome::Rejected(rejection);
            }
        };
        match &verdict {
            // Not applied: a retry must find it new.
            Verdict::Deferred(_) => {
                self.ws.processed.remove(&id);
            }
            Verdict::Applied(_) => self.ws.applied.push(id),
            Verdict::Stale(note) => {
                self.ws.applied.push(id);
                self.history(ev, None, false, Some(note.clone()));
            }
        }
        verdict.into()
    }

    fn history(
        &mut self,
        ev: &Envelope,
        record: Option<&FlowRecord>,
        applied: bool,
        note: Option<String>,
    ) {
        let org_id = match &ev.data {
            EventData::OrgUpserted(o) => Some(o.id.clone()),
            EventData::StudyPublished(_) => ev.actor.org_id().cloned(),
            _ => None,
        };
        self.ws.history.push(HistoryRow {
            event_id: ev.event_id,
            event_type: ev.kind.as_str(),
            member_id: record
                .map(|r| r.member_id.clone())
                .or_else(|| ev.data.member_id().cloned()),
            org_id,
            record_id: record.map(|r| r.record_id),
            occurred_at: ev.occurred_at,
            actor: ev.actor.to_json(),
            data: ev.raw_data.clone(),
            applied,
            note,
        });
    }

    /// Records a changed ledger row, its history line and `ledger.changed`.
    fn changed(&mut self, ev: &Envelope, rec: FlowRecord, note: String) -> Verdict {
        self.history(ev, Some(&rec), true, None);
        self.ws
            .outbox
            .push(notices::ledger_changed(&rec, ev.event_id, self.now));
        self.ws.put_record(rec);
        Verdict::Applied(note)
    }

    fn notify(&mut self, req: NotificationRequest) {
        self.ws.outbox.push(notices::notification(&req, self.now));
    }

    fn org(&self, id: &OrgId, field: &str) -> Result<&OrgRow, Rejection> {
        self.ws.orgs.get(id).ok_or_else(|| unknown_org(id, field))
    }

    fn member(&self, id: &MemberId) -> Result<&MemberRow, Rejection> {
        self.ws.members.get(id).ok_or_else(|| unknown_member(id))
    }

    fn org_upserted(&mut self, ev: &Envelope) -> Ruled {
        let EventData::OrgUpserted(o) = &ev.data else {
            unreachable!()
        };
        let existing = self.ws.orgs.get(&o.id).cloned();
        if let Some(e) = &existing
            && e.state_at > ev.occurred_at
        {
            return Ok(Verdict::Stale(format!(
                "org {} was already updated by a newer event",
                o.id
            )));
        }
        let parent = match &o.parent_id {
            None => None,
            Some(p) => Some(self.org(p, "data.parent_id")?.clone()),
        };
        if parent.as_ref().is_some_and(|p| p.path.contains(&o.id)) {
            return Err(Rejection::Conflict(format!(
                "Org {} cannot sit below its own descendant {}; fix data.parent_id.",
                o.id,
                o.parent_id.as_ref().unwrap()
            )));
        }
        rights::may_upsert_org(
            &ev.actor,
            &o.id,
            o.kind,
            parent.as_ref().map(|p| p.node()).as_ref(),
            existing.as_ref().map(|e| e.node()).as_ref(),
        )?;
        let mut path = parent.map(|p| p.path).unwrap_or_default();
        path.push(o.id.clone());
        let row = OrgRow {
            org: o.clone(),
            path: path.clone(),
            state_at: ev.occurred_at,
        };
        let old_path: Option<Vec<String>> =
            existing.map(|e| e.path.iter().map(|p| p.as_str().to_owned()).collect());
        self.ws.org_writes.push(OrgWrite {
            row: row.clone(),
            old_path: old_path.clone(),
        });
        if let Some(old) = old_path.filter(|old| {
            old.len() != path.len() || old.iter().zip(&path).any(|(a, b)| a != b.as_str())
        }) {
            // Keep the batch's copies of descendants in step with what the database did.
            for other in self.ws.orgs.values_mut() {
                if other.path.contains(&o.id) && other.org.id != o.id {
                    let below: Vec<OrgId> = other.path.iter().skip(old.len()).cloned().collect();
                    other.path = path.iter().cloned().chain(below).collect();
                }
            }
        }
        self.ws.dirty_stations |= o.kind == hongyan_domain::OrgKind::Station;
        self.ws.orgs.insert(o.id.clone(), row);
        self.history(ev, None, true, None);
        Ok(Verdict::Applied(format!("org {} ({}) saved", o.id, o.name)))
    }

    fn member_upserted(&mut self, ev: &Envelope, m: Member) -> Ruled {
        let home = self.org(&m.home_org_id, "data.home_org_id")?.node();
        rights::may_act_for_member(&ev.actor, &m.id, &home)?;
        if let Some(existing) = self.ws.members.get(&m.id) {
            if existing.state_at > ev.occurred_at {
                return Ok(Verdict::Stale(format!(
                    "member {} was already updated by a newer event",
                    m.id
                )));
            }
            let old_home = self
                .org(
                    &existing.member.home_org_id,
                    "the member's current home org",
                )?
                .node();
            rights::may_act_for_member(&ev.actor, &m.id, &old_home)?;
        }
        let note = format!("member {} ({}) saved", m.id, m.name);
        self.ws.put_member(MemberRow {
            member: m,
            state_at: ev.occurred_at,
        });
        if matches!(ev.data, EventData::MemberUpserted(_)) {
            self.history(ev, None, true, None);
        }
        Ok(Verdict::Applied(note))
    }

    /// Update, return, transfer and contact: events about a member's open record.
    fn on_open_record(&mut self, ev: &Envelope) -> Ruled {
        let member_id = ev
            .data
            .member_id()
            .expect("these events name a member")
            .clone();
        let member = self.member(&member_id)?.member.clone();
        let home = self
            .org(&member.home_org_id, "the member's home org")?
            .node();
        if let EventData::Transfer(t) = &ev.data
            && let NewOrg::Known(id) = &t.new_org
        {
            self.org(id, "data.new_org_id")?;
        }
        let Some(mut rec) = self.ws.open_record(&member_id).cloned() else {
            return Ok(self.no_open_record(ev, &member_id));
        };
        match &ev.data {
            EventData::Update(_) => {
                rights::may_update(&ev.actor, &member_id, &home, rec.inflow_org_id.as_ref())?
            }
            EventData::ContactRecorded(c) => {
                rights::may_record_contact(&ev.actor, &member_id, &home, c.kind)?
            }
            _ => rights::may_act_for_member(&ev.actor, &member_id, &home)?,
        }
        let at: DateTime<FixedOffset> = ev.occurred_at;
        if let EventData::ContactRecorded(c) = &ev.data {
            return Ok(self.contact(ev, c, rec, &member));
        }
        if rec.is_newer_than(at) {
            return Ok(Verdict::Stale(format!(
                "member {member_id}'s record already holds newer events"
            )));
        }
        let note = match &ev.data {
            EventData::Update(u) => {
                ledger::update(&mut rec, u, at);
                if u.confirms() {
                    format!(
                        "{} ({member_id}) confirmed for {}",
                        member.name,
                        local_date(at).format("%Y-%m")
                    )
                } else {
                    let switched = if rec.reminders_stopped {
                        "stopped"
                    } else {
                        "on"
                    };
                    format!(
                        "{} ({member_id}): monthly reminder SMS {switched}",
                        member.name
                    )
                }
            }
            EventData::Return(r) => {
                ledger::return_home(&mut rec, r, at);
                if !r.permanent {
                    self.tell_pair_of_visit(ev, r, &member);
                }
                if r.permanent {
                    format!("{} ({member_id}) returned home for good", member.name)
                } else {
                    format!("{} ({member_id}) is home for a visit", member.name)
                }
            }
            EventData::Transfer(t) => {
                ledger::transfer(&mut rec, t, at);
                format!(
                    "{} ({member_id}) transferred the relationship; record closed",
                    member.name
                )
            }
            _ => unreachable!("only record events reach here"),
        };
        Ok(self.changed(ev, rec, note))
    }

    /// A record event for a member with no open record: stale when the last record closed
    /// after it, otherwise it waits for the departure.
    fn no_open_record(&self, ev: &Envelope, member_id: &MemberId) -> Verdict {
        if let Some(last) = self.ws.latest_record(member_id)
            && last.is_newer_than(ev.occurred_at)
        {
            return Verdict::Stale(format!(
                "member {member_id}'s record closed after this event"
            ));
        }
        Verdict::Deferred(format!(
            "Member {member_id} has no open flow record; a {} needs a registered departure (registration.outbound) first.",
            ev.kind.as_str()
        ))
    }

    /// A contact merges by date whenever it arrives; it never rolls anything back.
    fn contact(
        &mut self,
        ev: &Envelope,
        c: &ContactRecorded,
        mut rec: FlowRecord,
        member: &Member,
    ) -> Verdict {
        let member_id = &member.id;
        if !ledger::record_contact(&mut rec, c, ev.occurred_at) {
            self.history(
                ev,
                Some(&rec),
                true,
                Some("a contact of this kind on a later day is already recorded".into()),
            );
            return Verdict::Applied(format!(
                "contact with {member_id} recorded (not newer than the last)"
            ));
        }
        let note = format!(
            "{} contact with {} ({member_id}) on {} recorded",
            c.kind, member.name, c.on
        );
        self.changed(ev, rec, note)
    }

    /// `review.transfer_suggested` (应转尽转): the record the monthly review read is marked, so
    /// the branch is asked once. The review reads the mark back through its view; the
    /// registry stays the only writer of the record.
    fn transfer_suggested(&mut self, ev: &Envelope, t: &TransferSuggested) -> Verdict {
        let member_id = &t.member_id;
        let Some(mut rec) = self.ws.open_record(member_id).cloned() else {
            return Verdict::Stale(format!(
                "member {member_id}'s record closed before the transfer suggestion was marked"
            ));
        };
        match ledger::mark_transfer_suggested(&mut rec, t.record_id, ev.occurred_at) {
            ledger::SuggestionMark::Marked => {
                let note = format!(
                    "transfer suggested for {member_id} after {} months at one place",
                    t.months
                );
                self.changed(ev, rec, note)
            }
            ledger::SuggestionMark::AlreadyMarked => {
                self.history(ev, Some(&rec), true, Some("already suggested".into()));
                Verdict::Applied(format!("transfer for {member_id} already suggested"))
            }
            ledger::SuggestionMark::OtherRecord => Verdict::Stale(format!(
                "member {member_id}'s record {} closed since the review read it",
                t.record_id
            )),
        }
    }

    /// A member home for a visit: their paired committee member is asked to call (党员结对).
    fn tell_pair_of_visit(&mut self, ev: &Envelope, r: &Return, member: &Member) {
        let Some(pair) = &member.pair else { return };
        let to_pair = Recipient {
            role: Role::Pair,
            name: pair.name.clone(),
            phone: pair.phone.clone(),
            channels: vec!["sms".into()],
            member_id: None,
            org_id: None,
        };
        self.notify(NotificationRequest::new(
            templates::HOME_VISIT_PAIR,
            to_pair,
            ev.event_id,
            &[
                ("member_name", member.name.clone()),
                ("returned_on", r.returned_on.to_string()),
            ],
        ));
    }
}

#[cfg(test)]
mod tests;
