//! Consuming in batches, for every role: [`open`] a queue, wait for one delivery, [`gather`]
//! more for a short linger, hand the batch on, repeat until shutdown. [`consume_batches`] is
//! the whole loop (the notifier's intake); the registry runs the same pieces as the first
//! stage of its pipeline (`hongyan_registry::consumer`). Whoever takes a batch settles every
//! delivery in it (ack after commit, park or retry).

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use lapin::Consumer;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;

use super::publisher::Publisher;
use super::{Names, topology};
use crate::config::AmqpSettings;

/// What a role does with a batch: settle every delivery in it (ack after commit, park or retry)
/// before returning. An error drops the connection (unsettled deliveries return to the queue).
pub trait BatchHandler: Sync {
    fn handle(
        &self,
        publisher: &Publisher,
        batch: Vec<Delivery>,
    ) -> impl std::future::Future<Output = anyhow::Result<()>> + Send;
}

pub struct BatchOptions<'a> {
    pub queue: &'a str,
    /// The consumer tag and connection name.
    pub tag: &'a str,
    pub batch_size: usize,
    pub linger: Duration,
    /// The role's heartbeat part this consumer is (the notifier's intake): up while it
    /// consumes, down once it stops or fails.
    pub part: Option<&'a crate::heartbeat::Part>,
}

/// A consumer started on a queue: the connection, its deliveries, and a publisher on the same
/// connection (for parked and retried copies).
pub struct Consuming {
    pub conn: lapin::Connection,
    pub deliveries: Consumer,
    pub publisher: Publisher,
}

impl Consuming {
    /// Closes the connection (at shutdown, or after the loop failed).
    pub async fn close(self) {
        self.conn.close(200, "shutdown".into()).await.ok();
    }
}

/// Connects as `tag`, declares the queue's topology, sets the channel's `prefetch` and starts
/// consuming `queue`: how every role's consumer begins.
pub async fn open(
    settings: &AmqpSettings,
    names: &Names,
    queue: &str,
    tag: &str,
    prefetch: u16,
) -> anyhow::Result<Consuming> {
    let conn = super::connect(settings, tag).await?;
    let ch = conn.create_channel().await?;
    topology::declare_all(&ch, names, settings)
        .await
        .with_context(|| {
            format!(
                "Could not declare the topology of {queue}; if RabbitMQ answered PRECONDITION_FAILED, the queue exists with other arguments (declared by an older hongyan): see README, \"Upgrading\""
            )
        })?;
    ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let publisher = Publisher::open(&conn).await?;
    let deliveries = ch
        .basic_consume(
            queue.into(),
            tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("Could not consume from {queue}"))?;
    tracing::info!(queue, consumer = tag, prefetch, "Consumer started.");
    Ok(Consuming {
        conn,
        deliveries,
        publisher,
    })
}

/// A batch begun with `first`: more deliveries gathered for at most `linger`, up to `size`.
/// Waiting for the first is the caller's (it may beat a heartbeat meanwhile, or stop).
pub async fn gather(
    deliveries: &mut Consumer,
    first: Delivery,
    size: usize,
    linger: Duration,
) -> anyhow::Result<Vec<Delivery>> {
    let mut batch = vec![first];
    let until = tokio::time::Instant::now() + linger;
    while batch.len() < size {
        match tokio::time::timeout_at(until, deliveries.next()).await {
            Ok(d) => batch.push(next(d)?),
            Err(_) => break,
        }
    }
    Ok(batch)
}

/// Consumes until shutdown (`Ok`) or a broker error (`Err`: the supervisor reconnects): waits
/// for a delivery, [`gather`]s a batch, hands it to the handler, repeats.
pub async fn consume_batches(
    settings: &AmqpSettings,
    names: &Names,
    opts: BatchOptions<'_>,
    shutdown: &CancellationToken,
    handler: &impl BatchHandler,
) -> anyhow::Result<()> {
    let mut c = open(settings, names, opts.queue, opts.tag, settings.prefetch).await?;
    let _up = opts.part.map(|p| p.up());
    let ran = async {
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                d = c.deliveries.next() => next(d)?,
            };
            let batch = gather(&mut c.deliveries, first, opts.batch_size, opts.linger).await?;
            handler.handle(&c.publisher, batch).await?;
        }
    }
    .await;
    tracing::info!(consumer = opts.tag, "Consumer stopped taking deliveries.");
    c.close().await;
    ran
}

/// The next delivery, or why there is none: the connection failed, or the broker cancelled the
/// consumer (the queue was deleted). Either ends the loop for its supervisor to reconnect.
pub fn next(d: Option<lapin::Result<Delivery>>) -> anyhow::Result<Delivery> {
    match d {
        Some(Ok(d)) => Ok(d),
        Some(Err(e)) => Err(e).context("The broker connection failed"),
        None => anyhow::bail!("The broker cancelled the consumer"),
    }
}

/// Acknowledges everything up to the batch's last delivery, once all are settled.
pub async fn ack_batch(batch: &[Delivery]) -> anyhow::Result<()> {
    if let Some(last) = batch.last() {
        let sent = last
            .acker
            .ack(lapin::options::BasicAckOptions { multiple: true })
            .await
            .context("Could not acknowledge a batch")?;
        if !sent {
            // lapin refuses acks on a channel that failed (its delivery tags mean nothing on
            // the recovered one); the broker redelivers and idempotency keys absorb them.
            tracing::info!(
                deliveries = batch.len(),
                "Channel was recovered mid-batch; the broker will redeliver these."
            );
        }
    }
    Ok(())
}
