//! Sending a ready notification and settling what became of it: delivered, tried again,
//! fallen back to the next channel, or failed for good.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::Ready;
use crate::Notifier;
use crate::announce::{self, End};
use crate::providers::{SendContext, SendOutcome};
use crate::route::{self, Channel};
use crate::store::{Attempt, AttemptStatus, Due, Next, Settlements};

/// Sends one [`Ready`] notification and settles what its provider answered.
pub(super) async fn send(n: &Notifier, out: &Settlements, r: Ready<'_>, now: DateTime<Utc>) {
    let Ready {
        d,
        plan,
        provider,
        message,
        ..
    } = r;
    let channel = plan[d.channel_index].name();
    let via = (channel, provider.name());
    let started = Instant::now();
    let ctx = SendContext {
        now,
        nonce: uuid::Uuid::new_v4().to_string(),
    };
    let outcome = provider.send(&message, &ctx).await.map(SendOutcome::masked);
    let latency_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    let attempt = |status: AttemptStatus| Attempt {
        channel,
        provider: provider.name(),
        provider_message_id: None,
        status,
        error_code: None,
        error: None,
        latency_ms,
    };
    match outcome {
        Ok(SendOutcome::Delivered {
            provider_message_id,
        }) => {
            let a = Attempt {
                provider_message_id: provider_message_id.as_deref(),
                ..attempt(AttemptStatus::Delivered)
            };
            let row = announce::delivered(end(d, via, now));
            let next = Next::Delivered {
                provider: provider.name().into(),
                provider_message_id: provider_message_id.clone(),
            };
            out.settle(d, Some(a), &next, Some(row));
        }
        Ok(SendOutcome::Retry {
            code,
            reason,
            not_before,
            maybe_delivered,
        }) => {
            let a = Attempt {
                error_code: Some(&code),
                error: Some(&reason),
                ..attempt(AttemptStatus::Retry)
            };
            let delays = &n.settings.notifier.retry_delays_secs;
            let Some(delay) = delays.get(d.attempt as usize - 1) else {
                let why = format!("Gave up after {} attempts: {code} {reason}", d.attempt);
                return fail(n, out, d, Some(a), via, why);
            };
            // A timed-out or 5xx SMS may have gone out, and SMS sends are not idempotent at
            // the provider: it waits for its receipt (at least `receipt_wait_secs`), as a send
            // whose worker died does, before it is sent again.
            let uncertain = maybe_delivered && matches!(plan[d.channel_index], Channel::Sms);
            let mut wait = Duration::from_secs(*delay).max(not_before.unwrap_or_default());
            if uncertain {
                wait = wait.max(Duration::from_secs(n.settings.notifier.receipt_wait_secs));
            }
            let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
            if at > d.useful_until {
                let why = format!("Not useful by the next try ({code} {reason})");
                return fail(n, out, d, Some(a), via, why);
            }
            if uncertain {
                tracing::info!(notification_id = %d.id, code = %code, "An SMS may have gone out; waiting for its receipt before sending again.");
                let next = Next::AwaitReceipt {
                    at,
                    attempted: true,
                };
                return out.settle(d, Some(a), &next, None);
            }
            try_again_at(out, d, a, at);
        }
        Ok(SendOutcome::Permanent { code, reason }) => {
            let a = Attempt {
                error_code: Some(&code),
                error: Some(&reason),
                ..attempt(AttemptStatus::Permanent)
            };
            fall_back(n, out, d, &plan, Some(a), via, &format!("{code} {reason}"));
        }
        Ok(SendOutcome::PauseChannel { code, reason }) => {
            tracing::error!(provider = provider.name(), code = %code, reason = %reason, "Provider refuses every message; pausing it. Check its quota, balance or credentials.");
            let a = Attempt {
                error_code: Some(&code),
                error: Some(&reason),
                ..attempt(AttemptStatus::Paused)
            };
            let at = now + chrono::Duration::seconds(n.settings.notifier.pause_secs as i64);
            try_again_at(out, d, a, at);
        }
        Err(e) => {
            let why = hongyan_domain::ids::mask_phones(&e.to_string());
            fall_back(n, out, d, &plan, None, via, &why)
        }
    }
}

/// The end of `d` for the announcements.
pub(super) fn end<'a>(
    d: &'a Due,
    (channel, provider): (&'a str, &'a str),
    now: DateTime<Utc>,
) -> End<'a> {
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
