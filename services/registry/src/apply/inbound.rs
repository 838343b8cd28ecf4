//! `registration.inbound`: a member arrives at an inflow org, matched or not (the matching
//! rule is the domain's, `ledger::arrival`).

use hongyan_adapters::store::rows::OrgRow;
use hongyan_domain::Envelope;
use hongyan_domain::envelope::Rejection;
use hongyan_domain::ids::{CertificateNo, MemberId, OrgId, Phone};
use hongyan_domain::ledger::arrival::{Known, Match, match_arrival};
use hongyan_domain::ledger::{self, FlowRecord, Member};
use hongyan_domain::notify::{NotificationRequest, Recipient, templates};
use hongyan_domain::payloads::Inbound;

use super::{Ruled, Rules, Ruling, history};
use crate::batch::effects::Effects;
use crate::batch::state::State;
use crate::sql::writes::UnmatchedRow;

/// The batch's state as the arrival rule sees it.
impl Known for State {
    fn by_certificate(&self, no: &CertificateNo) -> Option<&MemberId> {
        self.member_by_certificate(no)
    }

    fn is_member(&self, id: &MemberId) -> bool {
        self.member(id).is_some()
    }

    fn with_phone(&self, phone: &Phone) -> Vec<&Member> {
        self.members_with_phone(phone)
            .into_iter()
            .map(|m| &m.member)
            .collect()
    }
}

impl Rules<'_> {
    pub(super) fn inbound(&self, ev: &Envelope, i: &Inbound) -> Ruled {
        let Some(receiving_id) = ev.actor.org_id() else {
            return Err(Rejection::Forbidden(
                "An arrival is registered by the receiving org; send it with actor.org_id.".into(),
            ));
        };
        let receiving = self.org(receiving_id, "actor.org_id")?;
        let member_id = match match_arrival(&i.keys, self.state) {
            Match::Member(id) => id,
            Match::Unknown(e) => return Err(e),
            Match::Nobody { name, phone } => {
                return Ok(self.unmatched(ev, i, receiving, &name, phone.as_str()));
            }
        };
        let member = &self
            .state
            .member(&member_id)
            .expect("a matched member is loaded")
            .member;
        let home = self.org(&member.home_org_id, "the member's home org")?;
        let (rec, unreported) = match self.arriving_record(ev, i, member, receiving_id)? {
            Ok(x) => x,
            Err(stale) => return Ok(stale),
        };
        let template = if unreported {
            templates::UNREPORTED_BRANCH
        } else {
            templates::CHECKED_IN_BRANCH
        };
        let told = self.notification(NotificationRequest::new(
            template,
            Recipient::org_contact(&home.org.id, &home.org.contact),
            ev.event_id,
            &[
                ("member_name", member.name.clone()),
                ("receiving_org", receiving.org.name.clone()),
                ("receiving_contact", receiving.org.contact.name.clone()),
                ("receiving_phone", receiving.org.contact.phone.to_string()),
                ("arrived_on", i.arrived_on.to_string()),
                ("address", i.location.address.clone()),
            ],
        ));
        let note = if unreported {
            format!(
                "{} ({member_id}) checked in with {} without a registered departure: record opened, flagged",
                member.name, receiving.org.name
            )
        } else {
            format!(
                "{} ({member_id}) checked in with {}",
                member.name, receiving.org.name
            )
        };
        let effects = Effects {
            outbox: vec![told],
            ..Effects::default()
        };
        Ok(self.changed(ev, rec, note, effects))
    }

    /// The member's record checked in: the open one, or one opened flagged as an unreported
    /// departure (`true`); or, inside, the stale ruling when the ledger holds newer events.
    fn arriving_record(
        &self,
        ev: &Envelope,
        i: &Inbound,
        member: &Member,
        receiving_id: &OrgId,
    ) -> Result<Result<(FlowRecord, bool), Ruling>, Rejection> {
        let member_id = &member.id;
        match self.state.open_record(member_id) {
            Some(open) if open.is_newer_than(ev.occurred_at) => Ok(Err(Ruling::stale(format!(
                "member {member_id}'s record already holds newer events"
            )))),
            Some(open) => {
                let mut open = open.clone();
                ledger::check_in(&mut open, receiving_id, i, ev.occurred_at);
                Ok(Ok((open, false)))
            }
            None => {
                if let Some(last) = self.state.latest_record(member_id)
                    && last.is_newer_than(ev.occurred_at)
                {
                    return Ok(Err(Ruling::stale(format!(
                        "member {member_id}'s ledger already holds newer events"
                    ))));
                }
                let opened = ledger::open_unreported(
                    uuid::Uuid::now_v7(),
                    member,
                    receiving_id,
                    i,
                    self.state.last_version(member_id),
                    ev.occurred_at,
                );
                Ok(Ok((opened, true)))
            }
        }
    }

    /// An arrival that matches no member waits in the receiving org's and county's list.
    fn unmatched(
        &self,
        ev: &Envelope,
        i: &Inbound,
        receiving: &OrgRow,
        name: &str,
        phone: &str,
    ) -> Ruling {
        let row = UnmatchedRow {
            event_id: ev.event_id,
            receiving_org_id: receiving.org.id.clone(),
            county: i.location.region_code.county(),
            name: name.to_owned(),
            phone: phone.to_owned(),
            arrived_on: i.arrived_on,
            location: serde_json::to_value(&i.location).expect("locations serialize"),
        };
        let line = history(
            ev,
            None,
            true,
            Some("matched no member: kept in the unmatched list".into()),
        );
        Ruling::applied(
            format!(
                "an arrival at {} matched no member and waits in the unmatched list",
                receiving.org.name
            ),
            Effects {
                unmatched: Some(row),
                history: vec![line],
                ..Effects::default()
            },
        )
    }
}
