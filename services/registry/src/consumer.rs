//! The registry's consumer: takes deliveries in batches, applies them in one transaction, and
//! only then settles them. The decision per delivery is a `match` on its outcome: applied,
//! stale or duplicate (ack), bad input (park, then ack), not yet applicable or transiently
//! failing (retry tier, then ack). Nothing is acknowledged before what it caused is durable.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use hongyan_adapters::amqp::consumer::{BatchHandler, BatchOptions, ack_batch, consume_batches};
use hongyan_adapters::amqp::parked::Received;
use hongyan_adapters::amqp::publisher::{Outgoing, Publisher};
use hongyan_adapters::shutdown::sleep_or_cancel;
use hongyan_domain::Envelope;
use lapin::message::Delivery;
use tokio_util::sync::CancellationToken;

use crate::Registry;
use crate::apply::Outcome;
use crate::batch::{self, Applied, BatchError};
use crate::disposition::{Disposition, Look, decide};
use crate::tally::{Counts, Settled};

/// Consumes until shutdown (returns `Ok`) or a broker error (returns `Err`, and the supervisor
/// starts a new connection).
pub async fn consume(
    reg: &Registry,
    tag: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let s = &reg.settings;
    let queue = reg.names.registry();
    let opts = BatchOptions {
        queue: &queue,
        tag,
        batch_size: s.registry.batch_size,
        linger: Duration::from_millis(s.registry.batch_linger_ms),
    };
    consume_batches(
        &s.amqp,
        &reg.names,
        opts,
        shutdown,
        &Settler { reg, shutdown },
    )
    .await
}

struct Settler<'a> {
    reg: &'a Registry,
    shutdown: &'a CancellationToken,
}

impl BatchHandler for Settler<'_> {
    async fn handle(&self, publisher: &Publisher, batch: Vec<Delivery>) -> anyhow::Result<()> {
        settle(self.reg, publisher, batch, self.shutdown).await
    }
}

/// Applies a batch and settles every delivery in it: parse, apply in one transaction (or one
/// by one when the batch hits a fault), decide each delivery's disposition, publish the parked
/// and retried copies, acknowledge.
async fn settle(
    reg: &Registry,
    publisher: &Publisher,
    batch: Vec<Delivery>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut out = Disposer::new(reg);
    let received: Vec<Received> = batch
        .iter()
        .map(|d| Received::from_delivery(d.routing_key.as_str(), &d.properties, d.data.clone()))
        .collect();
    let events = parse_all(&received, &mut out);
    let envelopes: Vec<Envelope> = events.iter().map(|(_, e)| e.clone()).collect();
    match apply_with_retries(reg, &envelopes, shutdown).await {
        Ok(applied) => {
            for ((i, ev), outcome) in events.iter().zip(&applied.outcomes) {
                log_outcome(ev, outcome);
                out.dispose(&received[*i], ev.kind.as_str(), Look::Outcome(outcome));
            }
            write_through(reg, &applied).await;
        }
        Err(BatchError::Transient(e)) => {
            if shutdown.is_cancelled() {
                // Leave the batch unacknowledged: the broker hands it to the next consumer.
                return Ok(());
            }
            tracing::warn!(error = %e, events = events.len(), "Batch could not commit; sending it to the retry tier.");
            let e = e.to_string();
            for (i, ev) in &events {
                out.dispose(&received[*i], ev.kind.as_str(), Look::Unavailable(&e));
            }
        }
        Err(BatchError::Fault(e)) => {
            tracing::error!(error = %e, events = events.len(), "Batch hit a fault; applying its events one by one.");
            for (i, ev) in &events {
                apply_alone(reg, &received[*i], ev, &mut out, shutdown).await;
            }
        }
    }
    // Copies to the parked queue and the retry tiers are confirmed before anything is acked.
    publisher
        .publish_all(&out.copies)
        .await
        .context("Could not park or retry events")?;
    ack_batch(&batch).await?;
    let counts = out.counts;
    reg.tally.add(&counts);
    tracing::info!(
        events = batch.len(),
        applied = counts.applied,
        stale = counts.stale,
        duplicate = counts.duplicate,
        parked = counts.parked,
        deferred = counts.deferred,
        ms = started.elapsed().as_millis() as u64,
        "Batch settled."
    );
    Ok(())
}

/// Parses every delivery; a bad envelope is parked and never reaches the database.
fn parse_all(received: &[Received], out: &mut Disposer<'_>) -> Vec<(usize, Envelope)> {
    let mut events = Vec::with_capacity(received.len());
    for (i, r) in received.iter().enumerate() {
        match Envelope::parse(&r.body, Some(&r.routing_key)) {
            Ok(ev) => events.push((i, ev)),
            Err(rej) => {
                let why = rej.to_string();
                out.dispose(r, "unparsed", Look::Outcome(&Outcome::Rejected(rej)));
                tracing::debug!(reason = %why, "Envelope refused.");
            }
        }
    }
    events
}

/// The one-by-one fallback: the event in its own transaction, settled like the batch's.
async fn apply_alone(
    reg: &Registry,
    r: &Received,
    ev: &Envelope,
    out: &mut Disposer<'_>,
    shutdown: &CancellationToken,
) {
    let kind = ev.kind.as_str();
    match apply_with_retries(reg, std::slice::from_ref(ev), shutdown).await {
        Ok(one) => {
            log_outcome(ev, &one.outcomes[0]);
            out.dispose(r, kind, Look::Outcome(&one.outcomes[0]));
            write_through(reg, &one).await;
        }
        Err(BatchError::Transient(e)) => out.dispose(r, kind, Look::Unavailable(&e.to_string())),
        Err(BatchError::Fault(e)) => out.dispose(r, kind, Look::Fault(&e.to_string())),
    }
}

/// Carries out dispositions: counts each, logs parking, and gathers the copies to publish.
struct Disposer<'a> {
    reg: &'a Registry,
    queue: String,
    copies: Vec<Outgoing>,
    counts: Counts,
}

impl<'a> Disposer<'a> {
    fn new(reg: &'a Registry) -> Self {
        Self {
            reg,
            queue: reg.names.registry(),
            copies: Vec::new(),
            counts: Counts::default(),
        }
    }

    fn dispose(&mut self, r: &Received, kind: &str, look: Look<'_>) {
        let tiers = self.reg.settings.amqp.retry_delays_ms.len();
        match decide(look, r.attempts(), tiers) {
            Disposition::Ack(settled) => self.counts.count(kind, settled),
            Disposition::Defer { tier, reason } => {
                self.counts.count(kind, Settled::Deferred);
                self.copies
                    .push(r.to_tier(&self.reg.names, &self.queue, tier, &reason));
            }
            Disposition::Park(reason) => {
                self.counts.count(kind, Settled::Parked);
                tracing::warn!(routing_key = %r.routing_key, reason, "Event parked.");
                self.copies
                    .push(r.parked(&self.reg.names, &self.queue, &reason));
            }
        }
    }
}

/// Applies with in-place retries while the database is away, with growing delays.
async fn apply_with_retries(
    reg: &Registry,
    events: &[Envelope],
    shutdown: &CancellationToken,
) -> Result<Applied, BatchError> {
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match batch::apply(&reg.pool, &reg.policy, events, reg.clock.now()).await {
            Err(BatchError::Transient(e))
                if attempt < reg.settings.registry.transient_attempts
                    && !shutdown.is_cancelled() =>
            {
                tracing::warn!(error = %e, attempt, retry_in_ms = delay.as_millis() as u64, "Batch could not commit; trying again.");
                if !sleep_or_cancel(delay, shutdown).await {
                    return Err(BatchError::Transient(e));
                }
                delay = (delay * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// After commit: the live directory follows. A failure here loses nothing (PostgreSQL is the
/// truth): the directory is marked behind and the watcher rebuilds it once Redis answers.
async fn write_through(reg: &Registry, applied: &Applied) {
    let places = reg
        .directory
        .put(&applied.places)
        .await
        .map(|_| ())
        .map_err(anyhow::Error::from);
    let stations = if applied.stations_changed {
        refresh_stations(reg).await
    } else {
        Ok(())
    };
    if let Err(e) = places.and(stations) {
        tracing::warn!(
            error = format!("{e:#}"),
            "Live directory not updated; it will be rebuilt from PostgreSQL."
        );
        reg.directory_behind.store(true, Ordering::SeqCst);
    }
}

async fn refresh_stations(reg: &Registry) -> anyhow::Result<()> {
    let mut conn = reg.pool.acquire().await?;
    let points = hongyan_adapters::store::reads::station_points(&mut conn).await?;
    reg.directory.put_stations(&points).await?;
    Ok(())
}

fn log_outcome(ev: &Envelope, outcome: &Outcome) {
    let (event_id, kind) = (ev.event_id.to_string(), ev.kind.as_str());
    match outcome {
        Outcome::Applied(note) => tracing::debug!(event_id, kind, "Applied: {note}."),
        Outcome::Stale(note) => tracing::debug!(
            event_id,
            kind,
            "Kept in history only, older than the ledger: {note}."
        ),
        Outcome::Duplicate => tracing::debug!(event_id, kind, "Duplicate; nothing done."),
        Outcome::Rejected(r) => tracing::debug!(event_id, kind, "Rejected: {r}"),
        Outcome::Deferred(why) => tracing::debug!(event_id, kind, "Deferred: {why}"),
    }
}
