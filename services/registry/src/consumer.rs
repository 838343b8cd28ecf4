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
use hongyan_domain::{Envelope, Rejection};
use lapin::message::Delivery;
use tokio_util::sync::CancellationToken;

use crate::Registry;
use crate::apply::Outcome;
use crate::batch::{self, Applied, BatchError};
use crate::tally::{Counts, Settled};

/// How many times an event naming an unknown org or member is looked at before it is parked.
/// With competing consumers (and replicas), the event that creates the id may sit in another
/// batch that has not committed yet, or in one that a killed worker never committed; the
/// retry tiers' first delays give it time to land. DESIGN.md parks unknown ids; this is the
/// smallest bend of that rule that keeps concurrency from parking good events.
const UNKNOWN_ID_LOOKS: u32 = 3;

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

/// Applies a batch and settles every delivery in it.
async fn settle(
    reg: &Registry,
    publisher: &Publisher,
    batch: Vec<Delivery>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let queue = reg.names.registry();
    let tiers = reg.settings.amqp.retry_delays_ms.len();
    let received: Vec<Received> = batch
        .iter()
        .map(|d| Received::from_delivery(d.routing_key.as_str(), &d.properties, d.data.clone()))
        .collect();
    let mut out: Vec<Outgoing> = Vec::new();
    let park = |r: &Received, reason: &str, out: &mut Vec<Outgoing>| {
        tracing::warn!(routing_key = %r.routing_key, reason, "Event parked.");
        out.push(r.parked(&reg.names, &queue, reason));
    };
    let retry = |r: &Received, reason: &str, out: &mut Vec<Outgoing>| match r
        .retried(&reg.names, &queue, tiers, reason)
    {
        Some(m) => out.push(m),
        None => {
            let why = format!("{reason} (gave up after {} attempts)", r.attempts() + 1);
            tracing::warn!(routing_key = %r.routing_key, reason = %why, "Event parked.");
            out.push(r.parked(&reg.names, &queue, &why));
        }
    };

    // Bad envelopes never reach the database.
    let mut events: Vec<(usize, Envelope)> = Vec::new();
    for (i, r) in received.iter().enumerate() {
        match Envelope::parse(&r.body, Some(&r.routing_key)) {
            Ok(ev) => events.push((i, ev)),
            Err(rej) => park(r, &rej.to_string(), &mut out),
        }
    }
    let envelopes: Vec<Envelope> = events.iter().map(|(_, e)| e.clone()).collect();
    let mut counts = Counts::default();
    for _ in events.len()..received.len() {
        counts.count("unparsed", Settled::Parked);
    }
    match apply_with_retries(reg, &envelopes, shutdown).await {
        Ok(applied) => {
            for ((i, ev), outcome) in events.iter().zip(&applied.outcomes) {
                let r = &received[*i];
                log_outcome(ev, outcome);
                let kind = ev.kind.as_str();
                match outcome {
                    Outcome::Applied(_) => counts.count(kind, Settled::Applied),
                    Outcome::Stale(_) => counts.count(kind, Settled::Stale),
                    Outcome::Duplicate => counts.count(kind, Settled::Duplicate),
                    Outcome::Rejected(rej @ Rejection::Unknown(_))
                        if r.attempts() + 1 < UNKNOWN_ID_LOOKS =>
                    {
                        counts.count(kind, Settled::Deferred);
                        retry(r, &rej.to_string(), &mut out);
                    }
                    Outcome::Rejected(rej) => {
                        counts.count(kind, Settled::Parked);
                        park(r, &rej.to_string(), &mut out);
                    }
                    Outcome::Deferred(why) => {
                        counts.count(kind, Settled::Deferred);
                        retry(r, why, &mut out);
                    }
                }
            }
            write_through(reg, &applied).await;
        }
        Err(BatchError::Transient(e)) => {
            if shutdown.is_cancelled() {
                // Leave the batch unacknowledged: the broker hands it to the next consumer.
                return Ok(());
            }
            tracing::warn!(error = %e, events = events.len(), "Batch could not commit; sending it to the retry tier.");
            for (i, _) in &events {
                retry(
                    &received[*i],
                    &format!("The database was unavailable ({e})"),
                    &mut out,
                );
            }
        }
        Err(BatchError::Fault(e)) => {
            tracing::error!(error = %e, events = events.len(), "Batch hit a fault; applying its events one by one.");
            for (i, ev) in &events {
                match apply_with_retries(reg, std::slice::from_ref(ev), shutdown).await {
                    Ok(one) => {
                        write_through(reg, &one).await;
                        match &one.outcomes[0] {
                            Outcome::Rejected(rej) => {
                                park(&received[*i], &rej.to_string(), &mut out)
                            }
                            Outcome::Deferred(why) => retry(&received[*i], why, &mut out),
                            _ => {}
                        }
                    }
                    Err(BatchError::Transient(e)) => retry(
                        &received[*i],
                        &format!("The database was unavailable ({e})"),
                        &mut out,
                    ),
                    Err(BatchError::Fault(e)) => park(
                        &received[*i],
                        &format!(
                            "hongyan could not apply this event ({e}); this is a fault in hongyan or its database, not in the event: report it, and replay once fixed."
                        ),
                        &mut out,
                    ),
                }
            }
        }
    }
    // Copies to the parked queue and the retry tiers are confirmed before anything is acked.
    publisher
        .publish_all(&out)
        .await
        .context("Could not park or retry events")?;
    ack_batch(&batch).await?;
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
