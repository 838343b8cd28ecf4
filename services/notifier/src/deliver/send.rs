//! The send stage: a ready notification goes to its provider, and the answer is settled
//! ([`super::settle::answered`]).

use std::time::Instant;

use chrono::{DateTime, Utc};
use hongyan_domain::ids::mask_phones;

use super::Ready;
use super::settle::{Sent, answered};
use crate::Notifier;
use crate::providers::{SendContext, SendOutcome};
use crate::store::Settlements;

/// Sends one [`Ready`] notification and settles what its provider answered.
#[tracing::instrument(skip_all, fields(notification_id = %r.d.id, key = %mask_phones(&r.d.request.key), attempt = r.d.attempt))]
pub(super) async fn send(n: &Notifier, out: &Settlements, r: Ready<'_>, now: DateTime<Utc>) {
    let Ready {
        d,
        plan,
        provider,
        message,
        ..
    } = r;
    let started = Instant::now();
    let ctx = SendContext {
        now,
        nonce: uuid::Uuid::new_v4().to_string(),
    };
    let outcome = provider.send(&message, &ctx).await.map(SendOutcome::masked);
    let sent = Sent {
        n,
        out,
        d,
        plan: &plan,
        via: (plan[d.channel_index].name(), provider.name()),
        latency_ms: started.elapsed().as_millis().min(i32::MAX as u128) as i32,
        now,
    };
    answered(sent, outcome);
}
