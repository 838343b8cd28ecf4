//! `org.upserted` and `member.upserted`: the org tree and the members, saved as sent when the
//! actor may and the event is not older than what is stored.

use hongyan_adapters::store::rows::{MemberRow, OrgRow};
use hongyan_domain::envelope::{EventData, Rejection};
use hongyan_domain::ids::OrgId;
use hongyan_domain::ledger::Member;
use hongyan_domain::payloads::OrgUpsert;
use hongyan_domain::{Envelope, rights};

use super::{Ruled, Rules, Ruling, history};
use crate::batch::effects::{Effects, OrgWrite};

impl Rules<'_> {
    pub(super) fn org_upserted(&self, ev: &Envelope, o: &OrgUpsert) -> Ruled {
        let existing = self.state.org(&o.id);
        if let Some(e) = existing
            && e.state_at > ev.occurred_at
        {
            return Ok(Ruling::stale(format!(
                "org {} was already updated by a newer event",
                o.id
            )));
        }
        let parent = match &o.parent_id {
            None => None,
            Some(p) => Some(self.org(p, "data.parent_id")?),
        };
        if parent.is_some_and(|p| p.path.contains(&o.id)) {
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
            parent.map(|p| p.node()).as_ref(),
            existing.map(|e| e.node()).as_ref(),
        )?;
        let mut path: Vec<OrgId> = parent.map(|p| p.path.clone()).unwrap_or_default();
        path.push(o.id.clone());
        let row = OrgRow {
            org: o.clone(),
            path,
            state_at: ev.occurred_at,
        };
        let old_path = existing.map(|e| e.path.iter().map(|p| p.as_str().to_owned()).collect());
        let effects = Effects {
            org: Some(OrgWrite { row, old_path }),
            history: vec![history(ev, None, true, None)],
            ..Effects::default()
        };
        Ok(Ruling::applied(
            format!("org {} ({}) saved", o.id, o.name),
            effects,
        ))
    }

    /// A member saved: by `member.upserted`, or by a departure that carries the full member
    /// (which then writes the departure's history line, not this one).
    pub(super) fn member_upserted(&self, ev: &Envelope, m: Member) -> Ruled {
        let home = self.org(&m.home_org_id, "data.home_org_id")?.node();
        rights::may_act_for_member(&ev.actor, &m.id, &home)?;
        if let Some(existing) = self.state.member(&m.id) {
            if existing.state_at > ev.occurred_at {
                return Ok(Ruling::stale(format!(
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
        let mut effects = Effects {
            member: Some(MemberRow {
                member: m,
                state_at: ev.occurred_at,
            }),
            ..Effects::default()
        };
        if matches!(ev.data, EventData::MemberUpserted(_)) {
            effects.history.push(history(ev, None, true, None));
        }
        Ok(Ruling::applied(note, effects))
    }
}
