//! Consuming in batches: wait for one delivery, gather more for a short linger, hand the batch
//! to the role, repeat until shutdown. The role settles every delivery (ack after commit, park
//! or retry) before it returns.

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
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

/// Consumes until shutdown (`Ok`) or a broker error (`Err`: the supervisor reconnects).
pub async fn consume_batches(
    settings: &AmqpSettings,
    names: &Names,
    opts: BatchOptions<'_>,
    shutdown: &CancellationToken,
    handler: &impl BatchHandler,
) -> anyhow::Result<()> {
    let conn = super::connect(settings, opts.tag).await?;
    let ch = conn.create_channel().await?;
    topology::declare_all(&ch, names, settings)
        .await
        .with_context(|| {
            format!(
                "Could not declare the topology of {}; if RabbitMQ answered PRECONDITION_FAILED, the queue exists with other arguments (declared by an older hongyan): see README, \"Upgrading\"",
                opts.queue
            )
        })?;
    ch.basic_qos(settings.prefetch, BasicQosOptions::default())
        .await?;
    let publisher = Publisher::open(&conn).await?;
    let mut deliveries = ch
        .basic_consume(
            opts.queue.into(),
            opts.tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("Could not consume from {}", opts.queue))?;
    let _up = opts.part.map(|p| p.up());
    tracing::info!(
        queue = opts.queue,
        consumer = opts.tag,
        prefetch = settings.prefetch,
        "Consumer started."
    );
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = deliveries.next() => d,
        };
        let mut batch = vec![next(first)?];
        let until = tokio::time::Instant::now() + opts.linger;
        while batch.len() < opts.batch_size {
            match tokio::time::timeout_at(until, deliveries.next()).await {
                Ok(d) => batch.push(next(d)?),
                Err(_) => break,
            }
        }
        handler.handle(&publisher, batch).await?;
    }
    tracing::info!(consumer = opts.tag, "Consumer stopped taking deliveries.");
    ch.close(200, "shutdown".into()).await.ok();
    conn.close(200, "shutdown".into()).await.ok();
    Ok(())
}

fn next(d: Option<lapin::Result<Delivery>>) -> anyhow::Result<Delivery> {
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
