//! Update, return, transfer, contact and the review's transfer suggestion: events about a
//! member's open record.

use chrono::{DateTime, FixedOffset};
use hongyan_adapters::store::rows::OutboxRow;
use hongyan_domain::envelope::EventData;
use hongyan_domain::ids::MemberId;
use hongyan_domain::ledger::{self, FlowRecord, Member, local_date};
use hongyan_domain::notify::{NotificationRequest, Recipient, Role, default_channels, templates};
use hongyan_domain::payloads::{ContactRecorded, NewOrg, Return, TransferSuggested};
use hongyan_domain::{Envelope, rights};

use super::{Ruled, Rules, Ruling, history};
use crate::batch::effects::Effects;

impl Rules<'_> {
    /// Update, return, transfer and contact: events about a member's open record.
    pub(super) fn on_open_record(&self, ev: &Envelope) -> Ruled {
        let member_id = ev
            .data
            .member_id()
            .expect("these events name a member")
            .clone();
        let member = &self.member(&member_id)?.member;
        let home = self
            .org(&member.home_org_id, "the member's home org")?
            .node();
        if let EventData::Transfer(t) = &ev.data
            && let NewOrg::Known(id) = &t.new_org
        {
            self.org(id, "data.new_org_id")?;
        }
        let Some(open) = self.state.open_record(&member_id) else {
            return Ok(self.no_open_record(ev, &member_id));
        };
        match &ev.data {
            EventData::Update(_) => {
                rights::may_update(&ev.actor, &member_id, &home, open.inflow_org_id.as_ref())?
            }
            EventData::ContactRecorded(c) => {
                rights::may_record_contact(&ev.actor, &member_id, &home, c.kind)?
            }
            _ => rights::may_act_for_member(&ev.actor, &member_id, &home)?,
        }
        let mut rec = open.clone();
        let at: DateTime<FixedOffset> = ev.occurred_at;
        if let EventData::ContactRecorded(c) = &ev.data {
            return Ok(self.contact(ev, c, rec, member));
        }
        if rec.is_newer_than(at) {
            return Ok(Ruling::stale(format!(
                "member {member_id}'s record already holds newer events"
            )));
        }
        let mut effects = Effects::default();
        let note = match &ev.data {
            EventData::Update(u) => {
                ledger::update(&mut rec, u, at);
                update_note(member, u, &rec, at)
            }
            EventData::Return(r) => {
                ledger::return_home(&mut rec, r, at);
                if r.permanent {
                    format!("{} ({member_id}) returned home for good", member.name)
                } else {
                    effects
                        .outbox
                        .extend(self.tell_pair_of_visit(ev, r, member));
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
        Ok(self.changed(ev, rec, note, effects))
    }

    /// A record event for a member with no open record: stale when the last record closed
    /// after it, otherwise it waits for the departure.
    fn no_open_record(&self, ev: &Envelope, member_id: &MemberId) -> Ruling {
        if let Some(last) = self.state.latest_record(member_id)
            && last.is_newer_than(ev.occurred_at)
        {
            return Ruling::stale(format!(
                "member {member_id}'s record closed after this event"
            ));
        }
        Ruling::deferred(format!(
            "Member {member_id} has no open flow record; a {} needs a registered departure (registration.outbound) first.",
            ev.kind.as_str()
        ))
    }

    /// A contact merges by date whenever it arrives; it never rolls anything back.
    fn contact(
        &self,
        ev: &Envelope,
        c: &ContactRecorded,
        mut rec: FlowRecord,
        member: &Member,
    ) -> Ruling {
        let member_id = &member.id;
        if !ledger::record_contact(&mut rec, c, ev.occurred_at) {
            let line = history(
                ev,
                Some(&rec),
                true,
                Some("a contact of this kind on a later day is already recorded".into()),
            );
            return Ruling::applied(
                format!("contact with {member_id} recorded (not newer than the last)"),
                Effects {
                    history: vec![line],
                    ..Effects::default()
                },
            );
        }
        let note = format!(
            "{} contact with {} ({member_id}) on {} recorded",
            c.kind, member.name, c.on
        );
        self.changed(ev, rec, note, Effects::default())
    }

    /// `review.transfer_suggested` (应转尽转): the record the monthly review read is marked, so
    /// the branch is asked once. The review reads the mark back through its view; the
    /// registry stays the only writer of the record.
    pub(super) fn transfer_suggested(&self, ev: &Envelope, t: &TransferSuggested) -> Ruling {
        let member_id = &t.member_id;
        let Some(open) = self.state.open_record(member_id) else {
            return Ruling::stale(format!(
                "member {member_id}'s record closed before the transfer suggestion was marked"
            ));
        };
        let mut rec = open.clone();
        match ledger::mark_transfer_suggested(&mut rec, t.record_id, ev.occurred_at) {
            ledger::SuggestionMark::Marked => {
                let note = format!(
                    "transfer suggested for {member_id} after {} months at one place",
                    t.months
                );
                self.changed(ev, rec, note, Effects::default())
            }
            ledger::SuggestionMark::AlreadyMarked => Ruling::applied(
                format!("transfer for {member_id} already suggested"),
                Effects {
                    history: vec![history(
                        ev,
                        Some(&rec),
                        true,
                        Some("already suggested".into()),
                    )],
                    ..Effects::default()
                },
            ),
            ledger::SuggestionMark::OtherRecord => Ruling::stale(format!(
                "member {member_id}'s record {} closed since the review read it",
                t.record_id
            )),
        }
    }

    /// A member home for a visit: their paired committee member is asked to call (党员结对).
    fn tell_pair_of_visit(&self, ev: &Envelope, r: &Return, member: &Member) -> Option<OutboxRow> {
        let pair = member.pair.as_ref()?;
        let to_pair = Recipient {
            role: Role::Pair,
            name: pair.name.clone(),
            phone: pair.phone.clone(),
            channels: default_channels(),
            member_id: None,
            org_id: None,
        };
        Some(self.notification(NotificationRequest::new(
            templates::HOME_VISIT_PAIR,
            to_pair,
            ev.event_id,
            &[
                ("member_name", member.name.clone()),
                ("returned_on", r.returned_on.to_string()),
            ],
        )))
    }
}

/// What an applied update did: the month confirmed, or the reminder SMS switched.
fn update_note(
    member: &Member,
    u: &hongyan_domain::payloads::Update,
    rec: &FlowRecord,
    at: DateTime<FixedOffset>,
) -> String {
    let member_id = &member.id;
    if u.confirms() {
        return format!(
            "{} ({member_id}) confirmed for {}",
            member.name,
            local_date(at).format("%Y-%m")
        );
    }
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
