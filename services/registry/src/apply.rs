//! One event against the batch's state: the rights, the ledger rule, and what follows. The
//! rules themselves are `hongyan-domain`'s; this module decides which rule applies and returns
//! what the event changes ([`Effects`]): it reads the batch's [`State`] and changes nothing
//! itself. Departures, arrivals, record events, upserts and study have a file each.

use chrono::{DateTime, Utc};
use hongyan_adapters::store::rows::{HistoryRow, MemberRow, OrgRow, OutboxRow};
use hongyan_domain::Envelope;
use hongyan_domain::envelope::{EventData, Rejection};
use hongyan_domain::ids::{MemberId, OrgId};
use hongyan_domain::ledger::arrival::unknown_member;
use hongyan_domain::ledger::{FlowRecord, LedgerPolicy};
use hongyan_domain::notify::NotificationRequest;

use crate::batch::effects::Effects;
use crate::batch::state::State;
use crate::notices;

mod inbound;
mod outbound;
mod records;
mod study;
mod upserts;

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

/// A rule's verdict on an event, and what the event changes.
#[derive(Debug)]
struct Ruling {
    verdict: Verdict,
    effects: Effects,
}

impl Ruling {
    fn applied(note: String, effects: Effects) -> Self {
        Ruling {
            verdict: Verdict::Applied(note),
            effects,
        }
    }

    /// Older than the ledger: changes nothing but its history line.
    fn stale(note: String) -> Self {
        Ruling {
            verdict: Verdict::Stale(note),
            effects: Effects::default(),
        }
    }

    fn deferred(why: String) -> Self {
        Ruling {
            verdict: Verdict::Deferred(why),
            effects: Effects::default(),
        }
    }
}

/// A rule's ruling on an event, or why it refused it.
type Ruled = Result<Ruling, Rejection>;

/// The ledger's rules over a batch's state: no database here and no change to the state.
/// Everything an event may need was loaded before ([`crate::batch::load`]); what it changes
/// is returned, for the state to absorb and the flush to write.
pub struct Rules<'a> {
    state: &'a State,
    policy: &'a LedgerPolicy,
    now: DateTime<Utc>,
}

fn unknown_org(id: &OrgId, field: &str) -> Rejection {
    Rejection::Unknown(format!(
        "Org {id} ({field}) is not known; send its org.upserted first, then replay this event."
    ))
}

/// The history line of an event (about `record`, when it touched one).
fn history(
    ev: &Envelope,
    record: Option<&FlowRecord>,
    applied: bool,
    note: Option<String>,
) -> HistoryRow {
    let org_id = match &ev.data {
        EventData::OrgUpserted(o) => Some(o.id.clone()),
        EventData::StudyPublished(_) => ev.actor.org_id().cloned(),
        _ => None,
    };
    HistoryRow {
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
    }
}

impl<'a> Rules<'a> {
    pub fn new(state: &'a State, policy: &'a LedgerPolicy, now: DateTime<Utc>) -> Self {
        Rules { state, policy, now }
    }

    /// Rules on one event: its outcome, and what it changes (nothing unless it is applied or
    /// stale).
    #[tracing::instrument(
        name = "apply_event",
        skip_all,
        fields(event_id = %ev.event_id, event_type = ev.kind.as_str())
    )]
    pub fn apply(&self, ev: &Envelope) -> (Outcome, Effects) {
        let (outcome, effects) = self.rule(ev);
        tracing::debug!(
            outcome = outcome.label(),
            "Event applied to the batch state."
        );
        (outcome, effects)
    }

    /// The rule the event's type names, and what its verdict changes.
    fn rule(&self, ev: &Envelope) -> (Outcome, Effects) {
        let id = ev.event_id.0;
        if self.state.is_processed(&id) {
            return (Outcome::Duplicate, Effects::default());
        }
        let ruled = match &ev.data {
            EventData::OrgUpserted(o) => self.org_upserted(ev, o),
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
        // A refused event changes nothing (not even the full member a refused departure
        // carried), and is not marked processed: a replay must find it new.
        let Ruling {
            verdict,
            mut effects,
        } = match ruled {
            Ok(ruling) => ruling,
            Err(rejection) => return (Outcome::Rejected(rejection), Effects::default()),
        };
        match &verdict {
            // Not applied: a retry must find it new.
            Verdict::Deferred(_) => return (verdict.into(), Effects::default()),
            Verdict::Applied(_) => effects.applied = Some(id),
            Verdict::Stale(note) => {
                effects.applied = Some(id);
                effects
                    .history
                    .push(history(ev, None, false, Some(note.clone())));
            }
        }
        (verdict.into(), effects)
    }

    /// An applied change of `rec`: the record, its history line and `ledger.changed`, added
    /// to what the event changes besides (`effects`).
    fn changed(
        &self,
        ev: &Envelope,
        rec: FlowRecord,
        note: String,
        mut effects: Effects,
    ) -> Ruling {
        effects.history.push(history(ev, Some(&rec), true, None));
        effects
            .outbox
            .push(notices::ledger_changed(&rec, ev.event_id, self.now));
        effects.record = Some(rec);
        Ruling::applied(note, effects)
    }

    fn notification(&self, req: NotificationRequest) -> OutboxRow {
        notices::notification(&req, self.now)
    }

    fn org(&self, id: &OrgId, field: &str) -> Result<&'a OrgRow, Rejection> {
        self.state.org(id).ok_or_else(|| unknown_org(id, field))
    }

    fn member(&self, id: &MemberId) -> Result<&'a MemberRow, Rejection> {
        self.state.member(id).ok_or_else(|| unknown_member(id))
    }
}

#[cfg(test)]
mod tests;
