//! `study.published` and `study.completed`: packs stored with their audience for the
//! scheduler to send, and each member's completion recorded once.

use hongyan_domain::study::{StudyCompleted, StudyPublished};

use super::*;
use crate::sql::study::{CompletionRow, PackRow};

impl Applier<'_> {
    pub(super) fn study_published(&mut self, ev: &Envelope, p: &StudyPublished) -> Ruled {
        let Some(actor_org) = ev.actor.org_id() else {
            return Err(Rejection::Forbidden(
                "A study pack is published by a department; send it with actor.org_id.".into(),
            ));
        };
        let department = self.org(actor_org, "actor.org_id")?.clone();
        let mut audience = Vec::with_capacity(p.audience.org_ids.len());
        for id in &p.audience.org_ids {
            audience.push(self.org(id, "data.audience.org_ids")?.node());
        }
        rights::may_publish_study(
            &ev.actor,
            &department.node(),
            department.org.region_code.as_str(),
            &audience.iter().collect::<Vec<_>>(),
            &p.audience.region_codes,
        )?;
        let id = p.pack_id.as_str().to_owned();
        if let Some(at) = self.ws.packs.get(&id)
            && *at > ev.occurred_at
        {
            return Ok(Verdict::Stale(format!(
                "study pack {id} was already changed by a newer event"
            )));
        }
        self.ws.packs.insert(id.clone(), ev.occurred_at);
        self.ws.new_packs.retain(|r| r.pack.pack_id != p.pack_id);
        self.ws.new_packs.push(PackRow {
            pack: p.clone(),
            published_by: actor_org.as_str().to_owned(),
            published_at: ev.occurred_at,
            event_id: ev.event_id,
        });
        self.history(ev, None, true, None);
        let when = p
            .send_at
            .map(|t| format!("at {t}"))
            .unwrap_or_else(|| "on the next activity day".into());
        Ok(Verdict::Applied(format!(
            "study pack {id} ({}) stored, to go out {when}",
            p.title
        )))
    }

    pub(super) fn study_completed(&mut self, ev: &Envelope, c: &StudyCompleted) -> Ruled {
        let member = self.member(&c.member_id)?.member.clone();
        let home = self
            .org(&member.home_org_id, "the member's home org")?
            .node();
        rights::may_complete_study(&ev.actor, &c.member_id, &home)?;
        let pack = c.pack_id.as_str().to_owned();
        if !self.ws.packs.contains_key(&pack) {
            return Err(Rejection::Unknown(format!(
                "Study pack {pack} is not known; send its study.published first, then replay this event."
            )));
        }
        let key = (c.member_id.as_str().to_owned(), pack.clone());
        if !self.ws.completed.insert(key) {
            self.history(
                ev,
                None,
                false,
                Some("this member's completion of the pack is already recorded".into()),
            );
            return Ok(Verdict::Stale(format!(
                "{} ({}) had already completed study pack {pack}",
                member.name, c.member_id
            )));
        }
        self.ws.new_completions.push(CompletionRow {
            member_id: c.member_id.as_str().to_owned(),
            pack_id: pack.clone(),
            on: c.on,
            event_id: ev.event_id,
        });
        self.history(ev, None, true, None);
        Ok(Verdict::Applied(format!(
            "{} ({}) completed study pack {pack} on {}",
            member.name, c.member_id, c.on
        )))
    }
}
