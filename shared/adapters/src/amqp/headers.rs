//! The headers hongyan puts on parked and retried messages (DESIGN.md section 2).

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

/// A plain sentence saying why a message was parked.
pub const REASON: &str = "x-hongyan-reason";
/// The queue it was consumed from, where `parked replay` sends it back.
pub const SOURCE_QUEUE: &str = "x-hongyan-source-queue";
/// How many times it has been tried.
pub const ATTEMPTS: &str = "x-hongyan-attempts";
/// The routing key it was first published with; a retried message keeps it here because
/// dead-lettering from a retry tier changes the delivery's routing key.
pub const ROUTING_KEY: &str = "x-hongyan-routing-key";
/// How many times an operator has sent it back with `parked replay`: a consumer may treat a
/// replayed message as a deliberate second try (the notifier revives a failed notification).
pub const REPLAYED: &str = "x-hongyan-replayed";

pub fn get_str(table: Option<&FieldTable>, key: &str) -> Option<String> {
    match table?.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

pub fn get_u32(table: Option<&FieldTable>, key: &str) -> Option<u32> {
    match table?.inner().get(key)? {
        AMQPValue::LongUInt(n) => Some(*n),
        AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u32::from(*n)),
        AMQPValue::ShortInt(n) => u32::try_from(*n).ok(),
        _ => None,
    }
}

pub fn set_str(table: &mut FieldTable, key: &str, value: &str) {
    table.insert(
        ShortString::from(key),
        AMQPValue::LongString(LongString::from(value)),
    );
}

pub fn set_u32(table: &mut FieldTable, key: &str, value: u32) {
    table.insert(ShortString::from(key), AMQPValue::LongUInt(value));
}

/// Copies `from`, dropping the broker's own dead-letter bookkeeping (`x-death` and friends),
/// which would otherwise grow with every trip through a retry tier.
pub fn carried_over(from: Option<&FieldTable>) -> FieldTable {
    let mut out = FieldTable::default();
    if let Some(t) = from {
        for (k, v) in t.inner() {
            if !k.as_str().starts_with("x-death")
                && !k.as_str().starts_with("x-first-death")
                && !k.as_str().starts_with("x-last-death")
            {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// What the broker wrote when it dead-lettered a message itself (a rejection without requeue,
/// an expiry, a quorum queue's delivery limit), read from the newest entry of `x-death`
/// (RabbitMQ puts the most recent first: <https://www.rabbitmq.com/docs/dlx>).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Death {
    /// The queue it was dead-lettered from.
    pub queue: String,
    /// Why: `rejected`, `expired`, `maxlen` or `delivery_limit`.
    pub reason: String,
    /// The routing key it was first published with.
    pub routing_key: Option<String>,
}

/// The newest `x-death` entry, if the broker dead-lettered this message.
pub fn death(table: Option<&FieldTable>) -> Option<Death> {
    let AMQPValue::FieldArray(deaths) = table?.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    let routing_key = match first.inner().get("routing-keys") {
        Some(AMQPValue::FieldArray(keys)) => keys.as_slice().iter().find_map(|k| match k {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
            _ => None,
        }),
        _ => None,
    };
    Some(Death {
        queue: get_str(Some(first), "queue")?,
        reason: get_str(Some(first), "reason").unwrap_or_default(),
        routing_key,
    })
}
