//! Before an SMS whose earlier send went unanswered (a timeout, a 5xx, a worker that died) is
//! sent again, its provider is asked whether that send got there (DESIGN.md section 5, "A send
//! that timed out"): found, it is recorded as sent; not found, it goes on to be sent; no
//! answer, it waits and the provider is asked again, and nothing is sent blind.

use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use hongyan_domain::ids::mask_phones;

use super::Ready;
use super::outcome::end;
use crate::Notifier;
use crate::announce;
use crate::providers::{Lookup, SendContext, SentWithin};
use crate::store::{Attempt, AttemptStatus, Next, Settlements};

/// Asks about every ready send that must ask first, `notifier.concurrency` at a time, and
/// settles those the answer decides. Returns what goes on to be sent: the sends that had
/// nothing to ask, and those the provider does not have.
pub(super) async fn ask_first<'a>(
    n: &Notifier,
    out: &Settlements,
    ready: Vec<Ready<'a>>,
    now: DateTime<Utc>,
) -> Vec<Ready<'a>> {
    let mut go = Vec::with_capacity(ready.len());
    let mut to_ask = Vec::new();
    for r in ready {
        match r.ask {
            Some(within) => to_ask.push((r, within)),
            None => go.push(r),
        }
    }
    if to_ask.is_empty() {
        return go;
    }
    let mut answers = Vec::with_capacity(to_ask.len());
    let mut to_ask = to_ask.into_iter();
    // `notifier.concurrency` questions in flight at once, as for sends.
    loop {
        let asking: FuturesUnordered<_> = to_ask
            .by_ref()
            .take(n.settings.notifier.concurrency.max(1))
            .map(|(r, within)| ask(r, within, now))
            .collect();
        if asking.is_empty() {
            break;
        }
        answers.extend(asking.collect::<Vec<_>>().await);
    }
    for (r, within, lookup, latency_ms) in answers {
        match lookup {
            Lookup::Found {
                provider_message_id,
            } => found(out, &r, provider_message_id, latency_ms, now),
            Lookup::NotFound => {
                tracing::info!(notification_id = %r.d.id, "The SMS provider has no record of an unanswered send; sending it again.");
                go.push(r);
            }
            Lookup::Unanswered { code, reason } => {
                ask_again(n, out, &r, within, (&code, &reason), now);
            }
        }
    }
    go
}

/// The provider's answer about one send, and how long it took; a provider that cannot be
/// asked is no answer.
async fn ask(
    r: Ready<'_>,
    within: SentWithin,
    now: DateTime<Utc>,
) -> (Ready<'_>, SentWithin, Lookup, i32) {
    let ctx = SendContext {
        now,
        nonce: uuid::Uuid::new_v4().to_string(),
    };
    let started = Instant::now();
    let lookup = match r.provider.look_up(&r.message, within, &ctx).await {
        Ok(lookup) => lookup,
        Err(e) => Lookup::unanswered("not_asked", e.to_string()),
    };
    let latency_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    (r, within, lookup, latency_ms)
}

/// The provider had it: the send went out. Recorded and announced as delivered, with the
/// provider's id when its row gave one, so its receipt (if any) still settles it.
fn found(
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
fn ask_again(
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
