//! `registration.outbound`: a member leaves, and who is told.

use hongyan_adapters::store::rows::{OrgRow, OutboxRow};
use hongyan_domain::envelope::Rejection;
use hongyan_domain::ids::CertificateNo;
use hongyan_domain::ledger::{self, FlowRecord, Member};
use hongyan_domain::notify::{NotificationRequest, Recipient, Role, templates};
use hongyan_domain::payloads::{Outbound, Subject};
use hongyan_domain::{Envelope, rights, station};

use super::{Ruled, Rules, Ruling, Verdict};
use crate::batch::effects::{Effects, Numbered};

impl Rules<'_> {
    /// A departure, with the full member it may carry saved first. A refused departure
    /// changes nothing, not even that member: its effects go with the refusal.
    pub(super) fn outbound(&self, ev: &Envelope, o: &Outbound) -> Ruled {
        let (member, mut effects) = self.leaving_member(ev, o)?;
        let home = self.org(&member.home_org_id, "the member's home org")?;
        rights::may_act_for_member(&ev.actor, &member.id, &home.node())?;
        let inflow = match &o.inflow_org_id {
            Some(id) => Some(self.org(id, "data.destination.inflow_org_id")?),
            None => None,
        };
        if let Some(open) = self.state.open_record(&member.id) {
            if open.is_newer_than(ev.occurred_at) {
                let note = format!("member {} has a newer open record", member.id);
                return Ok(Ruling {
                    verdict: Verdict::Stale(note),
                    effects,
                });
            }
            return Err(Rejection::Conflict(format!(
                "Member {} already has an open flow record ({} since {}); register the return or transfer first, then replay this departure.",
                member.id,
                open.status.as_str(),
                open.left_on
                    .or(open.arrived_on)
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            )));
        }
        if let Some(last) = self.state.latest_record(&member.id)
            && last.is_newer_than(ev.occurred_at)
        {
            let note = format!("member {}'s ledger already holds newer events", member.id);
            return Ok(Ruling {
                verdict: Verdict::Stale(note),
                effects,
            });
        }
        let mut rec = ledger::open_outbound(
            uuid::Uuid::now_v7(),
            self.policy,
            &member,
            o,
            self.state.last_version(&member.id),
            ev.occurred_at,
        );
        if ledger::certificate_due(self.policy, o) {
            let numbered = self.certificate(&home.org.region_code.county(), o, &member)?;
            rec.certificate_no = Some(CertificateNo::compose(
                &numbered.county,
                numbered.year,
                numbered.seq,
            ));
            effects.certificate = Some(numbered);
        }
        effects
            .outbox
            .extend(self.tell_outbound(ev, &member, home, inflow, &rec));
        let note = format!(
            "{} ({}) left for {}{}",
            member.name,
            member.id,
            rec.location.region_code,
            rec.certificate_no
                .as_ref()
                .map(|c| format!(", certificate {c}"))
                .unwrap_or_else(|| ", asked to transfer the relationship".into())
        );
        Ok(self.changed(ev, rec, note, effects))
    }

    /// The member who leaves: the one the event names, or the full member it carries (saved
    /// first; a stale upsert saves nothing and the member stored, newer, is the one leaving).
    fn leaving_member(&self, ev: &Envelope, o: &Outbound) -> Result<(Member, Effects), Rejection> {
        match &o.subject {
            Subject::Full(m) => {
                let saved = self.member_upserted(ev, m.clone())?.effects;
                let member = match &saved.member {
                    Some(row) => row.member.clone(),
                    None => self.member(&m.id)?.member.clone(),
                };
                Ok((member, saved))
            }
            Subject::Known(id) => Ok((self.member(id)?.member.clone(), Effects::default())),
        }
    }

    /// The next activity-certificate number of `county` for the departure's year, or the
    /// refusal when the year's numbers are all given out.
    fn certificate(
        &self,
        county: &str,
        o: &Outbound,
        member: &Member,
    ) -> Result<Numbered, Rejection> {
        let year = ledger::certificate_year(o);
        let last = ledger::CERTIFICATE_SEQ_LAST;
        let Some(seq) = self.state.next_certificate(county, year) else {
            return Err(Rejection::Conflict(format!(
                "County {county} has given out all {last} activity-certificate numbers of {year}; a 16-digit number would not be a certificate number. Ask the county department to register member {} as a transfer of the relationship, or to issue the certificate by hand, then replay this departure.",
                member.id
            )));
        };
        Ok(Numbered {
            county: county.to_owned(),
            year,
            seq,
        })
    }

    /// The station the member is told of: the one the branch named (报到地点), else the
    /// nearest at the destination. Its name and phone.
    fn station_for(&self, inflow: Option<&OrgRow>, rec: &FlowRecord) -> (String, String) {
        if let Some(named) = inflow.filter(|o| o.org.kind == hongyan_domain::OrgKind::Station) {
            return (named.org.name.clone(), named.org.contact.phone.to_string());
        }
        let nearest = station::nearest_by_region(self.state.stations(), &rec.location.region_code);
        let phone = nearest
            .and_then(|s| self.state.org(&s.id))
            .map(|s| s.org.contact.phone.to_string());
        (
            nearest.map(|s| s.name.clone()).unwrap_or_default(),
            phone.unwrap_or_default(),
        )
    }

    /// The member, the inflow org (if named) and the home branch are told, in that order.
    fn tell_outbound(
        &self,
        ev: &Envelope,
        member: &Member,
        home: &OrgRow,
        inflow: Option<&OrgRow>,
        rec: &FlowRecord,
    ) -> Vec<OutboxRow> {
        let (station_name, station_phone) = self.station_for(inflow, rec);
        let certificate = rec
            .certificate_no
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default();
        let to_member = Recipient {
            role: Role::Member,
            name: member.name.clone(),
            phone: member.phone.clone(),
            channels: member.channels.clone(),
            member_id: Some(member.id.clone()),
            org_id: None,
        };
        let mut told = vec![self.notification(NotificationRequest::new(
            templates::OUTBOUND_MEMBER,
            to_member,
            ev.event_id,
            &[
                ("member_name", member.name.clone()),
                ("certificate_no", certificate.clone()),
                ("station_name", station_name),
                ("station_phone", station_phone),
                ("branch_name", home.org.name.clone()),
                ("branch_contact", home.org.contact.name.clone()),
                ("branch_phone", home.org.contact.phone.to_string()),
            ],
        ))];
        if let Some(inflow) = inflow {
            told.push(self.notification(NotificationRequest::new(
                templates::OUTBOUND_INFLOW,
                Recipient::org_contact(&inflow.org.id, &inflow.org.contact),
                ev.event_id,
                &[
                    ("member_name", member.name.clone()),
                    ("member_phone", member.phone.to_string()),
                    ("home_branch", home.org.name.clone()),
                    ("branch_phone", home.org.contact.phone.to_string()),
                    ("address", rec.location.address.clone()),
                ],
            )));
        }
        told.push(self.notification(NotificationRequest::new(
            templates::OUTBOUND_BRANCH,
            Recipient::org_contact(&home.org.id, &home.org.contact),
            ev.event_id,
            &[
                ("member_name", member.name.clone()),
                ("certificate_no", certificate),
                ("transfer_suggested", rec.transfer_suggested.to_string()),
                (
                    "destination",
                    hongyan_domain::regions::place_name(rec.location.region_code.as_str()),
                ),
            ],
        )));
        told
    }
}
