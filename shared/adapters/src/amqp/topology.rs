//! Declares exchanges and queues at start, idempotently (declaring what exists is a no-op).
//!
//! - `hongyan.events`: topic exchange, durable: the contract's exchange, where org systems
//!   publish (each only the keys of [`ORG_SYSTEM_KEYS`], by RabbitMQ topic permissions) and
//!   hongyan announces.
//! - `hongyan.internal`: topic exchange, durable, written only by hongyan's own user: the
//!   notifier's queue takes `notification.requested` from here and from nowhere else, so whoever
//!   may publish on `hongyan.events` still cannot make hongyan send.
//!
//! Every role, tool and relay declares the whole topology at start ([`declare_all`]): a registry
//! started before any notifier must still find the notifier's queue bound for the notification
//! requests it relays, or the broker returns them (DESIGN.md section 8, "No message is
//! unroutable for want of a role"). Declaring what exists is a no-op, so this costs a few
//! round trips per connection.
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

/// The event types the registry applies (DESIGN.md section 2): every one org systems send, and
/// the one hongyan's scheduler sends it (`review.transfer_suggested`, not an org system's).
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
    "review.transfer_suggested",
];

/// The event types an org system may publish on `hongyan.events` (DESIGN.md section 2, "sent
/// by"): everything the registry applies except `study.completed`, which members send through
/// hongyan's API.
pub const ORG_SYSTEM_KEYS: &[&str] = &[
    "org.upserted",
    "member.upserted",
    "registration.outbound",
    "registration.inbound",
    "registration.update",
    "registration.return",
    "registration.transfer",
    "contact.recorded",
    "study.published",
];

/// The write pattern of an org system's topic permission on `hongyan.events`
/// (`rabbitmqctl set_topic_permissions USER hongyan.events PATTERN '^$'`, README "Deployment").
pub fn org_system_topic_pattern() -> String {
    let keys: Vec<String> = ORG_SYSTEM_KEYS
        .iter()
        .map(|k| k.replace('.', "\\."))
        .collect();
    format!("^({})$", keys.join("|"))
}

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

/// Declares the exchanges, the parked queue, and one work queue bound on `hongyan.events`
/// with its retry tiers.
pub async fn declare_work_queue(
    ch: &Channel,
    names: &Names,
    settings: &AmqpSettings,
    queue: &str,
    routing_keys: &[&str],
) -> lapin::Result<()> {
    declare_work_queue_on(ch, names, settings, &names.exchange(), queue, routing_keys).await
}

/// Like [`declare_work_queue`], with the queue's bindings on `exchange`.
pub async fn declare_work_queue_on(
    ch: &Channel,
    names: &Names,
    settings: &AmqpSettings,
    exchange: &str,
    queue: &str,
    routing_keys: &[&str],
) -> lapin::Result<()> {
    let queue = WorkQueue {
        name: queue,
        exchange,
        routing_keys,
        single_active_consumer: false,
    };
    declare_queue_with_tiers(ch, names, settings, &queue).await
}

/// A work queue, its bindings and how it hands out deliveries.
struct WorkQueue<'a> {
    name: &'a str,
    exchange: &'a str,
    routing_keys: &'a [&'a str],
    /// RabbitMQ's single active consumer: of all consumers attached, only one gets
    /// deliveries; when it goes away (process killed, connection lost) the broker makes the
    /// next one active and hands it the unacknowledged messages first, so the queue's order is
    /// kept across failover (<https://www.rabbitmq.com/docs/consumers#single-active-consumer>).
    single_active_consumer: bool,
}

async fn declare_queue_with_tiers(
    ch: &Channel,
    names: &Names,
    settings: &AmqpSettings,
    q: &WorkQueue<'_>,
) -> lapin::Result<()> {
    let (queue, exchange, routing_keys) = (q.name, q.exchange, q.routing_keys);
    declare_base(ch, names, settings).await?;
    let mut args = base_args(settings);
    arg_str(&mut args, "x-queue-type", "quorum");
    if q.single_active_consumer {
        args.insert(
            ShortString::from("x-single-active-consumer"),
            AMQPValue::Boolean(true),
        );
    }
    arg_str(&mut args, "x-dead-letter-exchange", "");
    arg_str(&mut args, "x-dead-letter-routing-key", &names.parked());
    ch.queue_declare(queue.into(), durable(), args).await?;
    for key in routing_keys {
        ch.queue_bind(
            queue.into(),
            exchange.into(),
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

/// Declares both exchanges and the parked queue.
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
    for exchange in [names.exchange(), names.internal_exchange()] {
        ch.exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Topic,
            opts,
            FieldTable::default(),
        )
        .await?;
    }
    ch.queue_declare(names.parked().into(), durable(), base_args(settings))
        .await?;
    Ok(())
}

/// The registry's queue: every event type org systems and hongyan's API send, with a single
/// active consumer.
///
/// Why one consumer at a time: a department loads its org tree, then its members, then their
/// departures, in that order from one producer, and each needs the one before it. Competing
/// consumers (two per process, or replicas) apply neighbouring batches at once and so apply
/// a branch before its township or a departure before its member, which then waits in the
/// retry tiers. With a single active consumer the queue's order is the order of application,
/// and a standby replica takes over in that order when the active one dies. One consumer
/// applying batches of hundreds in one transaction runs at thousands of events a second (the
/// registry benchmark), far above the national rate of registration events, so nothing is
/// given up for the order.
///
/// Upgrading a broker whose `hongyan.registry` was declared before this argument: RabbitMQ
/// refuses to redeclare a queue with other arguments (`PRECONDITION_FAILED`), and a policy
/// cannot set single active consumer. Stop publishers, let the old registry drain the queue,
/// delete it (`rabbitmqctl delete_queue hongyan.registry`) and start the new registry, which
/// declares it again (README, "Upgrading").
pub async fn declare_registry(
    ch: &Channel,
    names: &Names,
    settings: &AmqpSettings,
) -> lapin::Result<()> {
    let queue = names.registry();
    let q = WorkQueue {
        name: &queue,
        exchange: &names.exchange(),
        routing_keys: REGISTRY_KEYS,
        single_active_consumer: true,
    };
    declare_queue_with_tiers(ch, names, settings, &q).await
}

/// The notifier's queue: notification requests, from the internal exchange only.
pub async fn declare_notifier(
    ch: &Channel,
    names: &Names,
    settings: &AmqpSettings,
) -> lapin::Result<()> {
    declare_work_queue_on(
        ch,
        names,
        settings,
        &names.internal_exchange(),
        &names.notifier(),
        &[hongyan_domain::notify::ROUTING_KEY],
    )
    .await
}

/// The whole topology: both exchanges, the parked queue, and every role's work queue with its
/// bindings and retry tiers. Every role declares it at start, whatever it consumes.
pub async fn declare_all(
    ch: &Channel,
    names: &Names,
    settings: &AmqpSettings,
) -> lapin::Result<()> {
    declare_registry(ch, names, settings).await?;
    declare_notifier(ch, names, settings).await
}
