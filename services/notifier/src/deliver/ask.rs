//! Before an SMS whose earlier send went unanswered (a timeout, a 5xx, a worker that died) is
//! sent again, its provider is asked whether that send got there (DESIGN.md section 5, "A send
//! that timed out"): found, it is recorded as sent; not found, it goes on to be sent; no
//! answer, it waits and the provider is asked again, and nothing is sent blind.

use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;

use super::Ready;
use super::settle::{ask_again, found};
use crate::Notifier;
use crate::providers::{Lookup, SendContext, SentWithin};
use crate::store::Settlements;

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
