//! The last stage of a delivery: what became of a notification, recorded in the round's
//! [`Settlements`] (written in one transaction per round, `crate::store::settle`). Every way a
//! notification settles is here: before anything was sent ([`before_send`]: failed, fallen
//! back, held by the quiet hours, waiting for a receipt, looking for its org again, fanned
//! out), after its provider answered ([`Sent`]: delivered, tried again, fallen back, paused,
//! failed), after the provider was asked about an unanswered send ([`found`], [`ask_again`]),
//! and when a rate limit holds it ([`wait_until`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hongyan_domain::ids::{OrgId, mask_phones};

use super::Ready;
use super::fan_out::fan_out;
use super::prepare::{Settle, Via};
use crate::Notifier;
use crate::announce::{self, End};
use crate::providers::{ProviderError, SendOutcome, SentWithin};
use crate::route::{self, Channel};
use crate::store::{Attempt, AttemptStatus, Due, Next, Settlements};

/// Records how a notification settled before anything was sent.
pub(super) async fn before_send(
    n: &Notifier,
    out: &Settlements,
    d: &Due,
    settle: Settle<'_>,
    held: &AtomicUsize,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match settle {
        Settle::Fail { via, reason } => fail(n, out, d, None, via, reason),
        Settle::FallBack { plan, via, why } => fall_back(n, out, d, &plan, None, via, &why),
        Settle::QuietUntil(at) => {
            held.fetch_add(1, Ordering::Relaxed);
            wait_until(out, d, at);
        }
        Settle::AwaitReceipt { at, since } => await_receipt(out, d, at, since),
        Settle::LookAgain { org, at } => look_again(out, d, org, at),
        Settle::FanOut(org) => {
            fan_out(n, d, org, now).await?;
            fanned_out(out, d, now);
        }
    }
    Ok(())
}

/// Puts an abandoned send back until `at`, to wait for its receipt and then ask the provider;
/// the lost claim is not an attempt.
fn await_receipt(out: &Settlements, d: &Due, at: DateTime<Utc>, since: DateTime<Utc>) {
    tracing::info!(notification = %d.id, "A worker stopped mid-send; waiting for the receipt, then asking the provider, before sending again.");
    let next = Next::AwaitReceipt {
        at,
        since,
        attempted: false,
    };
    out.settle(d, None, &next, None);
}

/// Puts a broadcast back until `at`, to look for its org again; each look counts.
fn look_again(out: &Settlements, d: &Due, org: &OrgId, at: DateTime<Utc>) {
    tracing::debug!(notification_id = %d.id, org = %org, look_again_at = %at, "Broadcast org not in the ledger yet; looking again later.");
    let again = Next::Again {
        at,
        channel_index: d.channel_index,
        not_an_attempt: false,
    };
    out.settle(d, None, &again, None);
}

/// Settles what a provider answered to one send.
pub(super) fn answered(sent: Sent<'_>, outcome: Result<SendOutcome, ProviderError>) {
    match outcome {
        Ok(SendOutcome::Delivered {
            provider_message_id,
        }) => sent.delivered(provider_message_id),
        Ok(SendOutcome::Retry {
            code,
            reason,
            not_before,
            maybe_delivered,
        }) => sent.retry(&code, &reason, not_before, maybe_delivered),
        Ok(SendOutcome::Permanent { code, reason }) => sent.permanent(&code, &reason),
        Ok(SendOutcome::PauseChannel { code, reason }) => sent.pause(&code, &reason),
        Err(e) => sent.refused(&e),
    }
}

/// One send's answer, being settled.
pub(super) struct Sent<'a> {
    pub n: &'a Notifier,
    pub out: &'a Settlements,
    pub d: &'a Due,
    pub plan: &'a [Channel],
    /// The channel and the provider it went through.
    pub via: Via,
    pub latency_ms: i32,
    pub now: DateTime<Utc>,
}

impl Sent<'_> {
    /// The attempt as recorded, with the provider's code and reason when it failed.
    fn attempt<'s>(
        &self,
        status: AttemptStatus,
        failure: Option<(&'s str, &'s str)>,
    ) -> Attempt<'s> {
        Attempt {
            channel: self.via.0,
            provider: self.via.1,
            provider_message_id: None,
            status,
            error_code: failure.map(|(code, _)| code),
            error: failure.map(|(_, reason)| reason),
            latency_ms: self.latency_ms,
        }
    }

    /// The provider took it: delivered, announced.
    fn delivered(&self, provider_message_id: Option<String>) {
        let a = Attempt {
            provider_message_id: provider_message_id.as_deref(),
            ..self.attempt(AttemptStatus::Delivered, None)
        };
        let row = announce::delivered(end(self.d, self.via, self.now));
        let next = Next::Delivered {
            provider: self.via.1.into(),
            provider_message_id: provider_message_id.clone(),
        };
        self.out.settle(self.d, Some(a), &next, Some(row));
    }

    /// A transient failure: tried again after the backoff, unless the attempts or the
    /// notification's usefulness run out first; an SMS that may have gone out waits for its
    /// receipt instead.
    fn retry(&self, code: &str, reason: &str, not_before: Option<Duration>, maybe_delivered: bool) {
        let (n, d) = (self.n, self.d);
        let a = self.attempt(AttemptStatus::Retry, Some((code, reason)));
        let delays = &n.settings.notifier.retry_delays_secs;
        let Some(delay) = delays.get(d.attempt as usize - 1) else {
            let why = format!("Gave up after {} attempts: {code} {reason}", d.attempt);
            return fail(n, self.out, d, Some(a), self.via, why);
        };
        // A timed-out or 5xx SMS may have gone out, and SMS sends are not idempotent at
        // the provider: it waits for its receipt (at least `receipt_wait_secs`), as a send
        // whose worker died does, and the provider is asked before it is sent again.
        let uncertain = maybe_delivered && matches!(self.plan[d.channel_index], Channel::Sms);
        let receipt_wait = uncertain.then_some(n.settings.notifier.receipt_wait_secs);
        let at = self.now + retry_wait(*delay, not_before, receipt_wait);
        if at > d.useful_until {
            let why = format!("Not useful by the next try ({code} {reason})");
            return fail(n, self.out, d, Some(a), self.via, why);
        }
        if uncertain {
            tracing::info!(notification_id = %d.id, code = %code, "An SMS may have gone out; waiting for its receipt, then asking the provider, before sending again.");
            let next = Next::AwaitReceipt {
                at,
                since: self.now,
                attempted: true,
            };
            return self.out.settle(d, Some(a), &next, None);
        }
        try_again_at(self.out, d, a, at);
    }

    /// This provider will never take it: the next channel, or failure.
    fn permanent(&self, code: &str, reason: &str) {
        let a = self.attempt(AttemptStatus::Permanent, Some((code, reason)));
        let why = format!("{code} {reason}");
        fall_back(self.n, self.out, self.d, self.plan, Some(a), self.via, &why);
    }

    /// The provider refuses every message for now: it is paused, and this one waits.
    fn pause(&self, code: &str, reason: &str) {
        tracing::error!(provider = self.via.1, code = %code, reason = %reason, "Provider refuses every message; pausing it. Check its quota, balance or credentials.");
        let a = self.attempt(AttemptStatus::Paused, Some((code, reason)));
        let at = self.now + chrono::Duration::seconds(self.n.settings.notifier.pause_secs as i64);
        try_again_at(self.out, self.d, a, at);
    }

    /// Refused before any request was made: the message or the settings are wrong for this
    /// channel, so the next one.
    fn refused(&self, e: &ProviderError) {
        let why = hongyan_domain::ids::mask_phones(&e.to_string());
        fall_back(self.n, self.out, self.d, self.plan, None, self.via, &why);
    }
}

/// How long a retry waits: the backoff step, or longer if the provider asks (`not_before`) or
/// a receipt may still come (`receipt_wait_secs`).
fn retry_wait(
    delay_secs: u64,
    not_before: Option<Duration>,
    receipt_wait_secs: Option<u64>,
) -> chrono::Duration {
    let wait = Duration::from_secs(delay_secs)
        .max(not_before.unwrap_or_default())
        .max(Duration::from_secs(receipt_wait_secs.unwrap_or_default()));
    chrono::Duration::from_std(wait).unwrap_or_default()
}

/// The end of `d` for the announcements.
fn end<'a>(d: &'a Due, (channel, provider): (&'a str, &'a str), now: DateTime<Utc>) -> End<'a> {
    End {
        id: d.id,
        request: &d.request,
        attempts: d.attempt,
        channel,
        provider,
        now,
    }
}

/// Fails a notification for good: `notification.failed`, and the request itself parked in
/// `hongyan.parked` with the reason, so an operator sees it and `parked replay` sends it again
/// from its first channel once the cause is fixed.
pub(super) fn fail(
    n: &Notifier,
    out: &Settlements,
    d: &Due,
    attempt: Option<Attempt<'_>>,
    via: (&str, &str),
    reason: String,
) {
    let reason = hongyan_domain::ids::mask_phones(&reason);
    tracing::warn!(notification = %d.id, template = %d.request.template, to = %d.request.to_masked(), reason = %reason, "Notification failed.");
    let rows = announce::failed(end(d, via, n.clock.now()), &reason, &n.names.notifier());
    out.settle(d, attempt, &Next::Failed { reason }, rows);
}

/// Puts a notification back to wait, without counting an attempt.
pub(super) fn wait_until(out: &Settlements, d: &Due, at: DateTime<Utc>) {
    let again = Next::Again {
        at,
        channel_index: d.channel_index,
        not_an_attempt: true,
    };
    out.settle(d, None, &again, None);
}

/// A failed attempt on this channel, to be tried again on it at `at`.
pub(super) fn try_again_at(out: &Settlements, d: &Due, a: Attempt<'_>, at: DateTime<Utc>) {
    let again = Next::Again {
        at,
        channel_index: d.channel_index,
        not_an_attempt: false,
    };
    out.settle(d, Some(a), &again, None);
}

/// A permanent failure on this channel: the next one in the plan, or failure when none is left.
pub(super) fn fall_back(
    n: &Notifier,
    out: &Settlements,
    d: &Due,
    plan: &[Channel],
    a: Option<Attempt<'_>>,
    (channel, provider): (&str, &str),
    why: &str,
) {
    match route::next_channel(plan, d.channel_index) {
        Some((index, next)) => {
            tracing::info!(notification = %d.id, from = channel, to = next.name(), reason = why, "Falling back to the next channel.");
            let again = Next::Again {
                at: n.clock.now(),
                channel_index: index,
                not_an_attempt: false,
            };
            out.settle(d, a, &again, None);
        }
        None => {
            let why = format!("Failed for good on {channel}: {why}");
            fail(n, out, d, a, (channel, provider), why);
        }
    }
}

/// The provider had it: the send went out. Recorded and announced as delivered, with the
/// provider's id when its row gave one, so its receipt (if any) still settles it.
pub(super) fn found(
    out: &Settlements,
    r: &Ready<'_>,
    provider_message_id: Option<String>,
    latency_ms: i32,
    now: DateTime<Utc>,
) {
    tracing::info!(notification_id = %r.d.id, "The SMS provider has an unanswered send; it is recorded as sent and not sent again.");
    let via = (r.plan[r.d.channel_index].name(), r.provider.name());
    let attempt = Attempt {
        channel: via.0,
        provider: via.1,
        provider_message_id: provider_message_id.as_deref(),
        status: AttemptStatus::Found,
        error_code: None,
        error: None,
        latency_ms,
    };
    let next = Next::Delivered {
        provider: via.1.into(),
        provider_message_id: provider_message_id.clone(),
    };
    let row = announce::delivered(end(r.d, via, now));
    out.settle(r.d, Some(attempt), &next, Some(row));
}

/// No answer: it waits, still uncertain, and the provider is asked again after
/// `notifier.receipt_wait_secs` (at least the first retry delay, so a provider that is down is
/// not asked at every poll). The question is not an attempt.
pub(super) fn ask_again(
    n: &Notifier,
    out: &Settlements,
    r: &Ready<'_>,
    within: SentWithin,
    (code, reason): (&str, &str),
    now: DateTime<Utc>,
) {
    let settings = &n.settings.notifier;
    let wait = settings
        .receipt_wait_secs
        .max(settings.retry_delays_secs.first().copied().unwrap_or(0));
    let at = now + chrono::Duration::seconds(wait as i64);
    tracing::warn!(notification_id = %r.d.id, provider = r.provider.name(), code = %mask_phones(code), reason = %mask_phones(reason), ask_again_at = %at,
        "Could not learn from the SMS provider whether an unanswered send got there; asking again later and sending nothing meanwhile. If the code says the query is not allowed, grant the key the provider's query permission.");
    let next = Next::AwaitReceipt {
        at,
        since: within.since,
        attempted: false,
    };
    out.settle(r.d, None, &next, None);
}

/// Settles the broadcast as delivered through the fan-out.
fn fanned_out(out: &Settlements, d: &Due, now: DateTime<Utc>) {
    let attempt = Attempt {
        channel: "members",
        provider: "fanout",
        provider_message_id: None,
        status: AttemptStatus::Delivered,
        error_code: None,
        error: None,
        latency_ms: 0,
    };
    let next = Next::Delivered {
        provider: "fanout".into(),
        provider_message_id: None,
    };
    let row = announce::delivered(end(d, ("members", "fanout"), now));
    out.settle(d, Some(attempt), &next, Some(row));
}
