//! Carrying out a batch's dispositions: counting each, logging what is parked, and gathering
//! the copies to publish to the parked queue and the retry tiers.

use super::*;

/// Carries out dispositions: counts each, logs parking, and gathers the copies to publish.
pub(super) struct Disposer<'a> {
    reg: &'a Registry,
    queue: String,
    pub(super) copies: Vec<Outgoing>,
    pub(super) counts: Counts,
}

impl<'a> Disposer<'a> {
    pub(super) fn new(reg: &'a Registry) -> Self {
        Self {
            reg,
            queue: reg.names.registry(),
            copies: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// Disposes of a delivery applied in a batch; a deferred one is also held in `waiting`.
    pub(super) fn dispose_and_hold(
        &mut self,
        r: &Received,
        ev: &Envelope,
        outcome: &Outcome,
        waiting: &mut Waiting,
    ) {
        waiting.forget(ev.event_id.0);
        if self.dispose(r, Some(ev), Look::Outcome(outcome)) {
            waiting.hold(ev.clone());
        }
    }

    /// Counts what an early look at a held event did, holding it again if it still waits.
    /// It has no delivery of its own: its retry-tier copy decides anything else (and finds
    /// it a duplicate when it was applied here).
    #[tracing::instrument(skip_all, fields(event_id = %ev.event_id, event_type = ev.kind.as_str(), outcome = outcome.label()))]
    pub(super) fn looked_again(&mut self, ev: &Envelope, outcome: &Outcome, waiting: &mut Waiting) {
        tracing::debug!("Held event looked at again.");
        let kind = ev.kind.as_str();
        match outcome {
            Outcome::Applied(_) => self.counts.count(kind, Settled::Applied),
            Outcome::Stale(_) => self.counts.count(kind, Settled::Stale),
            Outcome::Deferred(_) | Outcome::Rejected(Rejection::Unknown(_)) => {
                waiting.hold(ev.clone());
            }
            Outcome::Duplicate | Outcome::Rejected(_) => {}
        }
    }

    /// Disposes of a delivery (`ev` is `None` for one that is not a valid envelope: its
    /// message id is the producer's text, not logged); true when it was deferred to a retry
    /// tier.
    #[tracing::instrument(name = "disposition", skip_all, fields(
        event_id = ev.map(|e| e.event_id.to_string()),
        event_type = ev.map_or("unparsed", |e| e.kind.as_str()),
        outcome = tracing::field::Empty,
    ))]
    pub(super) fn dispose(&mut self, r: &Received, ev: Option<&Envelope>, look: Look<'_>) -> bool {
        let kind = ev.map_or("unparsed", |e| e.kind.as_str());
        let tiers = self.reg.settings.amqp.retry_delays_ms.len();
        let disposition = decide(look, r.attempts(), tiers);
        let span = tracing::Span::current();
        match &disposition {
            Disposition::Ack(settled) => span.record("outcome", settled.label()),
            Disposition::Defer { .. } => span.record("outcome", Settled::Deferred.label()),
            Disposition::Park(_) => span.record("outcome", Settled::Parked.label()),
        };
        tracing::debug!("Disposition decided; acknowledged when the batch settles.");
        match disposition {
            Disposition::Ack(settled) => self.counts.count(kind, settled),
            Disposition::Defer { tier, reason } => {
                self.counts.count(kind, Settled::Deferred);
                self.copies
                    .push(r.to_tier(&self.reg.names, &self.queue, tier, &reason));
                return true;
            }
            Disposition::Park(reason) => {
                self.counts.count(kind, Settled::Parked);
                tracing::warn!(routing_key = %r.routing_key, reason, "Event parked.");
                self.copies
                    .push(r.parked(&self.reg.names, &self.queue, &reason));
            }
        }
        false
    }
}
