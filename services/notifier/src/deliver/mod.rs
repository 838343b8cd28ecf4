//! The delivery loop. A round claims what is due (and *closes* the org contacts' digests it
//! claimed) and takes each notification through the stages, one file each: *prepare* (still
//! useful? which channel? quiet hours? render it: [`prepare`]), *gather* org contacts'
//! notices into digests (at most one SMS per contact per window, [`digest`]), *ask* the SMS
//! provider about an earlier send that went unanswered ([`ask`]), one *rate-limit* call to
//! Redis for the whole round, then *send* what the limits allow, many at once ([`send`]).
//! Whatever a stage decides, *settle* records ([`settle`]): it is the only stage that writes
//! to the round's [`Settlements`].
//! Waiting is never a sleep: a notification that must wait (quiet hours, a rate limit, a retry
//! delay) is put back with the time it may go, and a later round takes it up then.

use std::borrow::Cow;
use std::time::Duration;

use chrono::DateTime;
use hongyan_adapters::heartbeat;
use hongyan_adapters::ratelimit::{Decision, Limit};
use hongyan_domain::notify::To;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::Notifier;
use crate::providers::{Message, Provider, SentWithin};
use crate::route::Channel;
use crate::store::{self, Due, Settlements};

mod ask;
mod digest;
mod fan_out;
mod prepare;
mod send;
mod settle;

use ask::ask_first;
use prepare::{Prepared, prepare};
use send::send;
use settle::{before_send, wait_until};

/// Runs rounds until shutdown: woken by intake, by `NOTIFY hongyan_deliveries`, or by a poll
/// (which is also what picks up notifications whose time has come). While one round's outcomes
/// are written, the next round is already claimed and sent: the rows being written are still
/// claimed, so no round can take them twice.
pub async fn run(n: &Notifier, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(&n.pool).await?;
    listener.listen("hongyan_deliveries").await?;
    // The loop turns at least once a heartbeat, so a long poll does not let the beat run out.
    let poll = Duration::from_millis(n.settings.outbox.poll_interval_ms).min(heartbeat::EVERY);
    let mut writing: Option<tokio::task::JoinHandle<sqlx::Result<usize>>> = None;
    loop {
        n.alive.beat().await;
        let (claimed, settled) = send_round(n).await?;
        if let Some(previous) = writing.take() {
            previous.await??;
        }
        let pool = n.pool.clone();
        writing = Some(tokio::spawn(async move { settled.write(&pool).await }));
        if claimed as i64 >= n.settings.notifier.batch_size {
            continue;
        }
        if let Some(last) = writing.take() {
            last.await??;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            note = listener.recv() => { note?; }
            _ = n.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// One round: claims what is due, sends it, and records the outcomes. Returns how many were
/// claimed. Tests drive time by setting the clock and calling this.
pub async fn round(n: &Notifier) -> anyhow::Result<usize> {
    let (claimed, settled) = send_round(n).await?;
    // If this write fails, every claim of the round runs out and is taken again; a sent SMS
    // among them then waits for its receipt rather than going out twice.
    settled.write(&n.pool).await?;
    Ok(claimed)
}

/// A rendered send waiting only for its rate limits.
struct Ready<'a> {
    d: &'a Due,
    plan: Vec<Channel>,
    provider: Cow<'a, Provider>,
    message: Message,
    limits: Vec<(String, Limit)>,
    /// An earlier send may have reached the provider unanswered within this window: the
    /// provider is asked before this one goes ([`ask_first`]).
    ask: Option<SentWithin>,
}

/// Claims what is due, prepares each, asks Redis once for the round's rate limits, and sends
/// what they allow, `notifier.concurrency` at a time. The outcomes are returned to be written.
async fn send_round(n: &Notifier) -> anyhow::Result<(usize, Settlements)> {
    use futures::StreamExt;
    let now = n.clock.now();
    let claim_until = now + chrono::Duration::seconds(n.settings.notifier.claim_secs as i64);
    let due = store::claim(&n.pool, now, claim_until, n.settings.notifier.batch_size).await?;
    let claimed = due.len();
    let out = Settlements::default();
    let due = digest::close_claimed(n, &out, due, now).await;
    let groups: Vec<&str> = due
        .iter()
        .filter_map(|d| match &d.request.to {
            To::Org(org) => Some(org.as_str()),
            To::Recipient(_) => None,
        })
        .collect();
    let orgs = store::audience_orgs(&n.pool, &groups).await?;
    let mut ready = Vec::with_capacity(due.len());
    let held = std::sync::atomic::AtomicUsize::new(0);
    for d in &due {
        let settle = match prepare(n, d, &orgs, now) {
            Prepared::Ready(r) => {
                ready.push(r);
                continue;
            }
            Prepared::Settle(settle) => settle,
        };
        // Nothing is recorded for one that fails here: its claim runs out and a later round
        // takes it.
        if let Err(e) = before_send(n, &out, d, settle, &held, now).await {
            tracing::warn!(notification = %d.id, error = format!("{e:#}"), "Could not prepare a notification; it will be tried again.");
        }
    }
    let held = held.into_inner();
    if held > 0 {
        // Said at INFO so that a quiet evening is not mistaken for a stuck notifier (an SMS
        // held is not sent, and the console shows nothing until the window ends).
        let until = n
            .quiet
            .release_at(now)
            .map(|t| t.with_timezone(&hongyan_domain::TZ).to_rfc3339())
            .unwrap_or_default();
        tracing::info!(held, until = %until, quiet_hours = %n.quiet, "SMS held by the quiet hours (policy.sms_quiet_hours) until they end.");
    }
    let ready = digest::gather(n, &out, ready, now).await;
    let ready = ask_first(n, &out, ready, now).await;
    let wants: Vec<Vec<(&str, Limit)>> = ready
        .iter()
        .map(|r| r.limits.iter().map(|(k, l)| (k.as_str(), *l)).collect())
        .collect();
    let wants: Vec<&[(&str, Limit)]> = wants.iter().map(Vec::as_slice).collect();
    let decisions = match n.limiter.acquire_each(&wants, now.timestamp_millis()).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, waiting = ready.len(), "Could not reach Redis for the rate limits; these sends wait for their claims to run out.");
            return Ok((claimed, out));
        }
    };
    let mut go = Vec::with_capacity(ready.len());
    for (r, decision) in ready.into_iter().zip(decisions) {
        match decision {
            Decision::Allowed => go.push(r),
            Decision::Wait { until_ms } => {
                let at = DateTime::from_timestamp_millis(until_ms).unwrap_or(now);
                wait_until(&out, r.d, at);
            }
        }
    }
    let settlements = &out;
    futures::stream::iter(go)
        .for_each_concurrent(n.settings.notifier.concurrency, |r| {
            send(n, settlements, r, now)
        })
        .await;
    Ok((claimed, out))
}
