//! `study.published` and `study.completed`: packs stored with their audience for the
//! scheduler to send, and each member's completion recorded once.

use hongyan_domain::envelope::Rejection;
use hongyan_domain::study::{StudyCompleted, StudyPublished};
use hongyan_domain::{Envelope, rights};

use super::{Ruled, Rules, Ruling, Verdict, history};
use crate::batch::effects::Effects;
use crate::sql::study::{CompletionRow, PackRow};

impl Rules<'_> {
    pub(super) fn study_published(&self, ev: &Envelope, p: &StudyPublished) -> Ruled {
        let Some(actor_org) = ev.actor.org_id() else {
            return Err(Rejection::Forbidden(
                "A study pack is published by a department; send it with actor.org_id.".into(),
            ));
        };
        let department = self.org(actor_org, "actor.org_id")?;
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
        let id = p.pack_id.as_str();
        if let Some(at) = self.state.pack_set_at(id)
            && at > ev.occurred_at
        {
            return Ok(Ruling::stale(format!(
                "study pack {id} was already changed by a newer event"
            )));
        }
        let when = p
            .send_at
            .map(|t| format!("at {t}"))
            .unwrap_or_else(|| "on the next activity day".into());
        let effects = Effects {
            pack: Some(PackRow {
                pack: p.clone(),
                published_by: actor_org.as_str().to_owned(),
                published_at: ev.occurred_at,
                event_id: ev.event_id,
            }),
            history: vec![history(ev, None, true, None)],
            ..Effects::default()
        };
        Ok(Ruling::applied(
            format!("study pack {id} ({}) stored, to go out {when}", p.title),
            effects,
        ))
    }

    pub(super) fn study_completed(&self, ev: &Envelope, c: &StudyCompleted) -> Ruled {
        let member = &self.member(&c.member_id)?.member;
        let home = self
            .org(&member.home_org_id, "the member's home org")?
            .node();
        rights::may_complete_study(&ev.actor, &c.member_id, &home)?;
        let pack = c.pack_id.as_str();
        if self.state.pack_set_at(pack).is_none() {
            return Err(Rejection::Unknown(format!(
                "Study pack {pack} is not known; send its study.published first, then replay this event."
            )));
        }
        if self.state.has_completed(&c.member_id, pack) {
            let line = history(
                ev,
                None,
                false,
                Some("this member's completion of the pack is already recorded".into()),
            );
            let note = format!(
                "{} ({}) had already completed study pack {pack}",
                member.name, c.member_id
            );
            return Ok(Ruling {
                verdict: Verdict::Stale(note),
                effects: Effects {
                    history: vec![line],
                    ..Effects::default()
                },
            });
        }
        let effects = Effects {
            completion: Some(CompletionRow {
                member_id: c.member_id.as_str().to_owned(),
                pack_id: pack.to_owned(),
                on: c.on,
                event_id: ev.event_id,
            }),
            history: vec![history(ev, None, true, None)],
            ..Effects::default()
        };
        Ok(Ruling::applied(
            format!(
                "{} ({}) completed study pack {pack} on {}",
                member.name, c.member_id, c.on
            ),
            effects,
        ))
    }
}
