//! `registration.inbound`: a member arrives at an inflow org, matched or not.

use hongyan_adapters::store::rows::{MemberRow, OrgRow};
use hongyan_domain::Envelope;
use hongyan_domain::envelope::Rejection;
use hongyan_domain::ids::{MemberId, OrgId, Phone};
use hongyan_domain::ledger;
use hongyan_domain::notify::{NotificationRequest, Recipient, templates};
use hongyan_domain::payloads::{ArrivalKey, Inbound};

use super::{Ruled, Rules, Ruling, history};
use crate::batch::effects::Effects;
use crate::sql::writes::UnmatchedRow;

/// Whom an arrival's keys name.
enum Match {
    Member(MemberId),
    /// No key matched and the arrival named no person to keep on the unmatched list.
    Unknown(Rejection),
    /// No key matched; the person goes on the unmatched list (待匹配).
    Nobody {
        name: String,
        phone: Phone,
    },
}

impl Rules<'_> {
    /// Tries the arrival's keys in order (certificate, member id, name and phone): the first
    /// that names one member wins, so a mistyped certificate number falls back to the others.
    fn match_arrival(&self, i: &Inbound) -> Match {
        let mut first_miss = None;
        for key in &i.keys {
            let miss = match key {
                ArrivalKey::Certificate(c) => match self.state.member_by_certificate(c) {
                    Some(m) => return Match::Member(m.clone()),
                    None => Match::Unknown(Rejection::Unknown(format!(
                        "Certificate {c} matches no open flow record; check the number, or send member_id or member {{name, phone}} instead."
                    ))),
                },
                ArrivalKey::MemberId(id) => match self.member(id) {
                    Ok(_) => return Match::Member(id.clone()),
                    Err(e) => Match::Unknown(e),
                },
                ArrivalKey::Person {
                    name,
                    phone,
                    home_org_id,
                } => match self.by_person(name, phone, home_org_id.as_ref()) {
                    Some(id) => return Match::Member(id),
                    None => Match::Nobody {
                        name: name.clone(),
                        phone: phone.clone(),
                    },
                },
            };
            // A person to list beats an unknown-id rejection: the arrival is kept, not parked.
            if first_miss.is_none() || matches!(miss, Match::Nobody { .. }) {
                first_miss = Some(miss);
            }
        }
        first_miss.expect("an arrival carries at least one key")
    }

    /// The one member with this phone (and, if several share it, this name or home org).
    fn by_person(&self, name: &str, phone: &Phone, home: Option<&OrgId>) -> Option<MemberId> {
        let mut found: Vec<&MemberRow> = self.state.members_with_phone(phone).collect();
        if found.len() > 1 {
            found.retain(|m| m.member.name == name || home == Some(&m.member.home_org_id));
        }
        match found.as_slice() {
            [one] => Some(one.member.id.clone()),
            _ => None,
        }
    }

    pub(super) fn inbound(&self, ev: &Envelope, i: &Inbound) -> Ruled {
        let Some(receiving_id) = ev.actor.org_id() else {
            return Err(Rejection::Forbidden(
                "An arrival is registered by the receiving org; send it with actor.org_id.".into(),
            ));
        };
        let receiving = self.org(receiving_id, "actor.org_id")?;
        let member_id = match self.match_arrival(i) {
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
        let (rec, unreported) = match self.state.open_record(&member_id) {
            Some(open) if open.is_newer_than(ev.occurred_at) => {
                return Ok(Ruling::stale(format!(
                    "member {member_id}'s record already holds newer events"
                )));
            }
            Some(open) => {
                let mut open = open.clone();
                ledger::check_in(&mut open, receiving_id, i, ev.occurred_at);
                (open, false)
            }
            None => {
                if let Some(last) = self.state.latest_record(&member_id)
                    && last.is_newer_than(ev.occurred_at)
                {
                    return Ok(Ruling::stale(format!(
                        "member {member_id}'s ledger already holds newer events"
                    )));
                }
                (
                    ledger::open_unreported(
                        uuid::Uuid::now_v7(),
                        member,
                        receiving_id,
                        i,
                        self.state.last_version(&member_id),
                        ev.occurred_at,
                    ),
                    true,
                )
            }
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
