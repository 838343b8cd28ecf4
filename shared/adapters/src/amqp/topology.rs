//! Declares exchanges and queues at start, idempotently (declaring what exists is a no-op).
//!
//! - `hongyan.events`: topic exchange, durable.
//! - Work queues (`hongyan.registry`, `hongyan.notifier`): quorum queues (replicated, and
//!   RabbitMQ's recommended type for durable work), dead-lettering to `hongyan.parked` so a
//!   message the broker gives up on is kept, not dropped.
//! - Retry tiers `<queue>.retry.<n>`: queues whose message TTL is the n-th delay and which
//!   dead-letter back into the work queue when it runs out (RabbitMQ's documented "delayed
//!   retry" pattern with per-queue TTL and dead-letter exchanges).
//! - `hongyan.parked`: a durable classic queue. Classic, because listing it must not count as a
//!   delivery attempt: quorum queues count redeliveries against a delivery limit and drop (or
//!   dead-letter) past it, and parked messages must outlive any number of looks.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use super::Names;
use crate::config::AmqpSettings;

/// The event types the registry applies (DESIGN.md section 2): every one org systems send.
pub const REGISTRY_KEYS: &[&str] = &[
    "org.upserted",
    "member.upserted",
    "registration.outbound",
    "registration.inbound",
    "registration.update",
    "registration.return",
    "registration.transfer",
    "contact.recorded",
    "study.published",
    "study.completed",
];

fn arg_str(t: &mut FieldTable, k: &str, v: &str) {
    t.insert(
        ShortString::from(k),
        AMQPValue::LongString(LongString::from(v)),
    );
}

fn arg_i64(t: &mut FieldTable, k: &str, v: i64) {
    t.insert(ShortString::from(k), AMQPValue::LongLongInt(v));
}

fn base_args(settings: &AmqpSettings) -> FieldTable {
    let mut t = FieldTable::default();
    if let Some(ms) = settings.queue_expires_ms {
        arg_i64(&mut t, "x-expires", ms as i64);
    }
    t
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Declares the exchange, the parked queue, and one work queue with its retry tiers and
/// bindings.
pub async fn declare_work_queue(
    ch: &Channel,
    names: &Names,
    settings: &AmqpSettings,
    queue: &str,
    routing_keys: &[&str],
) -> lapin::Result<()> {
    declare_base(ch, names, settings).await?;
    let mut args = base_args(settings);
    arg_str(&mut args, "x-queue-type", "quorum");
    arg_str(&mut args, "x-dead-letter-exchange", "");
    arg_str(&mut args, "x-dead-letter-routing-key", &names.parked());
    ch.queue_declare(queue.into(), durable(), args).await?;
    for key in routing_keys {
        ch.queue_bind(
            queue.into(),
            names.exchange().into(),
            (*key).into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    for (i, delay) in settings.retry_delays_ms.iter().enumerate() {
        let mut args = base_args(settings);
        arg_i64(&mut args, "x-message-ttl", *delay as i64);
        arg_str(&mut args, "x-dead-letter-exchange", "");
        arg_str(&mut args, "x-dead-letter-routing-key", queue);
        ch.queue_declare(names.retry(queue, i + 1).into(), durable(), args)
            .await?;
    }
    Ok(())
}

/// Declares the exchange and the parked queue.
pub async fn declare_base(
    ch: &Channel,
    names: &Names,
    settings: &AmqpSettings,
) -> lapin::Result<()> {
    // Test topologies go away with their queues: an auto-delete exchange is removed once its
    // last binding is, which happens when the expiring queues are deleted.
    let test_mode = settings.queue_expires_ms.is_some();
    let opts = ExchangeDeclareOptions {
        durable: true,
        auto_delete: test_mode,
        ..ExchangeDeclareOptions::default()
    };
    ch.exchange_declare(
        names.exchange().into(),
        ExchangeKind::Topic,
        opts,
        FieldTable::default(),
    )
    .await?;
    ch.queue_declare(names.parked().into(), durable(), base_args(settings))
        .await?;
    Ok(())
}

/// The whole topology of the roles built so far.
pub async fn declare_all(
    ch: &Channel,
    names: &Names,
    settings: &AmqpSettings,
) -> lapin::Result<()> {
    declare_work_queue(ch, names, settings, &names.registry(), REGISTRY_KEYS).await?;
    declare_work_queue(
        ch,
        names,
        settings,
        &names.notifier(),
        &[hongyan_domain::notify::ROUTING_KEY],
    )
    .await?;
    Ok(())
}
