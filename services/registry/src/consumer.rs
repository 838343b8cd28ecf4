//! The registry's consumer: a pipeline of three stages joined by channels that hold one batch
//! each, so PostgreSQL is not left idle while the broker and Redis are spoken to:
//!
//! 1. **take**: gather a batch of deliveries and decode them;
//! 2. **apply**: apply the batch in one transaction and decide each delivery's disposition;
//! 3. **settle**: write the live directory through, publish the parked and retried copies, and
//!    acknowledge.
//!
//! While batch N settles, batch N+1 applies and batch N+2 is taken. Batch N+1's transaction
//! begins only after batch N's committed, so events are applied in the order the queue hands
//! them out. Nothing is acknowledged before what it caused is durable (settling follows the
//! commit), and batches are acknowledged in order, each ack covering its own batch only. The
//! decision per delivery is a `match` on its outcome: applied, stale or duplicate (ack), bad
//! input (park, then ack), not yet applicable or transiently failing (retry tier, then ack).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use hongyan_adapters::amqp::consumer::{self, Consuming};
use hongyan_adapters::amqp::parked::Received;
use hongyan_adapters::amqp::publisher::{Outgoing, Publisher};
use hongyan_adapters::shutdown::sleep_or_cancel;
use hongyan_domain::{Envelope, Rejection};
use lapin::options::BasicAckOptions;
use lapin::{Acker, Consumer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::Registry;
use crate::apply::Outcome;
use crate::batch::{self, Applied, BatchError};
use crate::disposition::{Disposition, Look, decide};
use crate::tally::{Counts, Settled};
use crate::waiting::Waiting;

mod directory;
mod disposer;
use directory::write_through;
use disposer::Disposer;

/// Batches the pipeline holds at once, unacknowledged: one being taken, one applying, one
/// settling. The channel's prefetch is raised to cover them, or taking would wait for acks.
const BATCHES_IN_FLIGHT: u16 = 3;

/// Consumes until shutdown (returns `Ok`) or a broker error (returns `Err`, and the supervisor
/// starts a new connection).
pub async fn consume(
    reg: &Registry,
    tag: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut c = open(reg, tag).await?;
    let (taken_tx, taken_rx) = mpsc::channel(1);
    let (applied_tx, applied_rx) = mpsc::channel(1);
    let ran = tokio::try_join!(
        take_batches(reg, &mut c.deliveries, taken_tx, shutdown),
        apply_batches(reg, taken_rx, applied_tx, shutdown),
        settle_batches(reg, &c.publisher, applied_rx),
    );
    tracing::info!(consumer = tag, "Consumer stopped taking deliveries.");
    c.close().await;
    ran.map(|_| ())
}

/// Connects, declares the registry's queues and starts consuming, with the prefetch the
/// pipeline needs.
async fn open(reg: &Registry, tag: &str) -> anyhow::Result<Consuming> {
    let s = &reg.settings;
    let prefetch = prefetch(s.amqp.prefetch, s.registry.batch_size);
    consumer::open(&s.amqp, &reg.names, &reg.names.registry(), tag, prefetch).await
}

/// `amqp.prefetch`, raised to what the pipeline's batches in flight need.
fn prefetch(configured: u16, batch_size: usize) -> u16 {
    let needed = batch_size.saturating_mul(usize::from(BATCHES_IN_FLIGHT));
    configured.max(u16::try_from(needed).unwrap_or(u16::MAX))
}

/// A batch as taken from the broker: every delivery decoded, and the acker of the last, which
/// acknowledges them all at once.
struct Taken {
    started: Instant,
    /// The delivery tag of the batch's first delivery: the batch's name in the logs.
    first_tag: u64,
    received: Vec<Received>,
    parsed: Vec<Result<Envelope, Rejection>>,
    last: Acker,
}

impl Taken {
    fn decode(batch: Vec<lapin::message::Delivery>) -> Option<Self> {
        let started = Instant::now();
        let first_tag = batch.first()?.delivery_tag;
        let mut received = Vec::with_capacity(batch.len());
        let mut last = None;
        for mut d in batch {
            let body = std::mem::take(&mut d.data);
            received.push(Received::from_delivery(
                d.routing_key.as_str(),
                &d.properties,
                body,
            ));
            last = Some(d.acker);
        }
        let parsed = received
            .iter()
            .map(|r| Envelope::parse(&r.body, Some(&r.routing_key)))
            .collect();
        Some(Self {
            started,
            first_tag,
            received,
            parsed,
            last: last?,
        })
    }
}

/// Stage 1: takes batches with the adapters' consumer (`consumer::gather`), beating the
/// heartbeat while it waits for the first delivery, and decodes them.
async fn take_batches(
    reg: &Registry,
    deliveries: &mut Consumer,
    out: mpsc::Sender<Taken>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let size = reg.settings.registry.batch_size.max(1);
    let linger = Duration::from_millis(reg.settings.registry.batch_linger_ms);
    loop {
        let first = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(()),
            d = reg.alive.beating(deliveries.next()) => consumer::next(d)?,
        };
        let batch = consumer::gather(deliveries, first, size, linger).await?;
        let Some(taken) = Taken::decode(batch) else {
            continue;
        };
        if out.send(taken).await.is_err() {
            // The apply stage stopped (shutdown): what was not handed over is redelivered.
            return Ok(());
        }
    }
}

/// A batch whose transaction is over: what to write through, publish and count, and the
/// acker that settles it.
struct Settling {
    started: Instant,
    /// See [`Taken::first_tag`]; `None` for a batch of held events only.
    first_tag: Option<u64>,
    events: usize,
    applied: Vec<Applied>,
    copies: Vec<Outgoing>,
    counts: Counts,
    /// `None` for a batch of held events only: nothing to acknowledge.
    last: Option<Acker>,
}

/// Stage 2: applies batches one after the other, each after the one before committed. A
/// deferred event is also held in memory ([`Waiting`]), and a commit that creates what it names
/// wakes it: it goes into the very next transaction, without waiting for more deliveries.
async fn apply_batches(
    reg: &Registry,
    mut input: mpsc::Receiver<Taken>,
    out: mpsc::Sender<Settling>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut waiting = Waiting::default();
    let mut woken: VecDeque<Envelope> = VecDeque::new();
    let size = reg.settings.registry.batch_size.max(1);
    loop {
        let taken = if woken.is_empty() {
            match input.recv().await {
                Some(t) => Some(t),
                None => return Ok(()),
            }
        } else {
            input.try_recv().ok()
        };
        let early: Vec<Envelope> = woken.drain(..woken.len().min(size)).collect();
        let Some(settling) = apply_taken(reg, taken, early, &mut waiting, shutdown).await else {
            // Shutdown while the database was away: this batch and every later one stay
            // unacknowledged (an ack of a later batch would cover this one too) and the broker
            // hands them to the next consumer.
            return Ok(());
        };
        for a in &settling.applied {
            woken.extend(waiting.wake(&a.created));
        }
        if out.send(settling).await.is_err() {
            return Ok(());
        }
    }
}

/// Applies a batch (in one transaction, or one by one when the batch hits a fault) and
/// decides each delivery's disposition. `early` are held events that a commit woke; they go
/// first (they were taken before the batch). `None` when shutdown came while the database
/// was away.
#[tracing::instrument(skip_all, fields(
    events = taken.as_ref().map_or(0, |t| t.received.len()),
    first_tag = taken.as_ref().map(|t| t.first_tag),
    woken = early.len(),
))]
async fn apply_taken(
    reg: &Registry,
    taken: Option<Taken>,
    early: Vec<Envelope>,
    waiting: &mut Waiting,
    shutdown: &CancellationToken,
) -> Option<Settling> {
    let (started, first_tag, received, parsed, last) = match taken {
        Some(t) => (
            t.started,
            Some(t.first_tag),
            t.received,
            t.parsed,
            Some(t.last),
        ),
        None => (Instant::now(), None, Vec::new(), Vec::new(), None),
    };
    tracing::debug!("Batch taken; applying it.");
    let mut out = Disposer::new(reg);
    let (mut at, mut envelopes): (Vec<Option<usize>>, Vec<Envelope>) =
        early.into_iter().map(|e| (None, e)).unzip();
    let (taken_at, taken_events) = refuse_unparsed(&received, parsed, &mut out);
    at.extend(taken_at.into_iter().map(Some));
    envelopes.extend(taken_events);
    let mut applied = Vec::new();
    match apply_with_retries(reg, &envelopes, shutdown).await {
        Ok(done) => {
            for ((i, ev), outcome) in at.iter().zip(&envelopes).zip(&done.outcomes) {
                log_outcome(ev, outcome);
                match i {
                    Some(i) => out.dispose_and_hold(&received[*i], ev, outcome, waiting),
                    None => out.looked_again(ev, outcome, waiting),
                }
            }
            applied.push(done);
        }
        Err(e) if e.is_transient() => {
            if shutdown.is_cancelled() {
                return None;
            }
            let e = e.reason();
            tracing::warn!(error = %e, events = envelopes.len(), "Batch could not commit; sending it to the retry tier.");
            // Held events are dropped: their retry-tier copies bring them back.
            for (i, ev) in at.iter().zip(&envelopes) {
                if let Some(i) = i {
                    out.dispose(&received[*i], Some(ev), Look::Unavailable(&e));
                }
            }
        }
        Err(e) => {
            let e = e.reason();
            tracing::error!(error = %e, events = envelopes.len(), "Batch hit a fault; applying its events one by one.");
            for (i, ev) in at.iter().zip(&envelopes) {
                if let Some(i) = i {
                    applied.extend(apply_alone(reg, &received[*i], ev, &mut out, shutdown).await);
                }
            }
        }
    }
    Some(Settling {
        started,
        first_tag,
        events: received.len(),
        applied,
        copies: out.copies,
        counts: out.counts,
        last,
    })
}

/// Stage 3: settles batches in the order they were applied.
async fn settle_batches(
    reg: &Registry,
    publisher: &Publisher,
    mut input: mpsc::Receiver<Settling>,
) -> anyhow::Result<()> {
    while let Some(s) = input.recv().await {
        settle(reg, publisher, s).await?;
    }
    Ok(())
}

/// Writes the directory through while the parked and retried copies are published (and
/// confirmed) and then the batch acknowledged.
#[tracing::instrument(skip_all, fields(events = s.events, first_tag = s.first_tag))]
async fn settle(reg: &Registry, publisher: &Publisher, s: Settling) -> anyhow::Result<()> {
    let directory = async {
        for a in &s.applied {
            write_through(reg, a).await;
        }
    };
    let broker = async {
        publisher
            .publish_all(&s.copies)
            .await
            .context("Could not park or retry events")?;
        match &s.last {
            Some(last) => acknowledge(last, s.events).await,
            None => Ok(()),
        }
    };
    let ((), acked) = tokio::join!(directory, broker);
    acked?;
    let counts = s.counts;
    reg.tally.add(&counts);
    tracing::info!(
        events = s.events,
        applied = counts.applied,
        stale = counts.stale,
        duplicate = counts.duplicate,
        parked = counts.parked,
        deferred = counts.deferred,
        ms = s.started.elapsed().as_millis() as u64,
        "Batch settled."
    );
    Ok(())
}

/// Acknowledges everything up to the batch's last delivery.
async fn acknowledge(last: &Acker, deliveries: usize) -> anyhow::Result<()> {
    let sent = last
        .ack(BasicAckOptions { multiple: true })
        .await
        .context("Could not acknowledge a batch")?;
    if !sent {
        // lapin refuses acks on a channel that failed (its delivery tags mean nothing on the
        // recovered one); the broker redelivers and idempotency keys absorb them.
        tracing::info!(
            deliveries,
            "Channel was recovered mid-batch; the broker will redeliver these."
        );
    }
    Ok(())
}

/// Parks every delivery that is not a valid envelope (it never reaches the database) and
/// returns the others with their place in the batch.
fn refuse_unparsed(
    received: &[Received],
    parsed: Vec<Result<Envelope, Rejection>>,
    out: &mut Disposer<'_>,
) -> (Vec<usize>, Vec<Envelope>) {
    let mut at = Vec::with_capacity(parsed.len());
    let mut events = Vec::with_capacity(parsed.len());
    for (i, p) in parsed.into_iter().enumerate() {
        match p {
            Ok(ev) => {
                at.push(i);
                events.push(ev);
            }
            Err(rej) => {
                let why = rej.to_string();
                out.dispose(&received[i], None, Look::Outcome(&Outcome::Rejected(rej)));
                tracing::debug!(reason = %why, "Envelope refused.");
            }
        }
    }
    (at, events)
}

/// The one-by-one fallback: the event in its own transaction, settled like the batch's.
async fn apply_alone(
    reg: &Registry,
    r: &Received,
    ev: &Envelope,
    out: &mut Disposer<'_>,
    shutdown: &CancellationToken,
) -> Option<Applied> {
    match apply_with_retries(reg, std::slice::from_ref(ev), shutdown).await {
        Ok(one) => {
            log_outcome(ev, &one.outcomes[0]);
            out.dispose(r, Some(ev), Look::Outcome(&one.outcomes[0]));
            Some(one)
        }
        Err(e) if e.is_transient() => {
            out.dispose(r, Some(ev), Look::Unavailable(&e.reason()));
            None
        }
        Err(e) => {
            out.dispose(r, Some(ev), Look::Fault(&e.reason()));
            None
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
            Err(e)
                if e.is_transient()
                    && attempt < reg.settings.registry.transient_attempts
                    && !shutdown.is_cancelled() =>
            {
                tracing::warn!(error = %e.reason(), attempt, retry_in_ms = delay.as_millis() as u64, "Batch could not commit; trying again.");
                if !sleep_or_cancel(delay, shutdown).await {
                    return Err(e);
                }
                delay = (delay * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
            other => return other,
        }
    }
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
