//! Parking, retry tiers, and the operator's `parked list` / `parked replay`.
//!
//! Bad input is never retried and never dropped: it is copied to `hongyan.parked` with a reason,
//! its source queue and its attempts, and only then acknowledged. `parked replay` sends it back
//! to its source queue once the cause is fixed.

use anyhow::Context;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection};

use super::Names;
use super::headers::{self, ATTEMPTS, REASON, REPLAYED, ROUTING_KEY, SOURCE_QUEUE};
use super::publisher::{Outgoing, Publisher, Routed, Routing};

/// A message as received, enough to park or retry it.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: Vec<u8>,
    pub headers: Option<FieldTable>,
    /// The routing key it was first published with.
    pub routing_key: String,
    pub message_id: Option<String>,
}

impl Received {
    pub fn from_delivery(routing_key: &str, props: &BasicProperties, body: Vec<u8>) -> Self {
        let headers = props.headers().clone();
        let original = headers::get_str(headers.as_ref(), ROUTING_KEY)
            .unwrap_or_else(|| routing_key.to_owned());
        Self {
            body,
            headers,
            routing_key: original,
            message_id: props.message_id().as_ref().map(|s| s.as_str().to_owned()),
        }
    }

    /// How many times it has been tried before this delivery.
    pub fn attempts(&self) -> u32 {
        headers::get_u32(self.headers.as_ref(), ATTEMPTS).unwrap_or(0)
    }

    fn headers_with(&self, attempts: u32) -> FieldTable {
        let mut h = headers::carried_over(self.headers.as_ref());
        headers::set_u32(&mut h, ATTEMPTS, attempts);
        headers::set_str(&mut h, ROUTING_KEY, &self.routing_key);
        h
    }

    /// The copy that goes to `hongyan.parked`.
    pub fn parked(&self, names: &Names, source_queue: &str, reason: &str) -> Outgoing {
        let mut h = self.headers_with(self.attempts() + 1);
        headers::set_str(&mut h, REASON, reason);
        headers::set_str(&mut h, SOURCE_QUEUE, source_queue);
        Outgoing {
            exchange: String::new(),
            routing_key: names.parked(),
            body: self.body.clone(),
            headers: h,
            message_id: self.message_id.clone(),
        }
    }

    /// The copy that waits in the next retry tier, or `None` when the tiers are used up.
    pub fn retried(
        &self,
        names: &Names,
        source_queue: &str,
        tiers: usize,
        reason: &str,
    ) -> Option<Outgoing> {
        let tier = self.attempts() as usize + 1;
        (tier <= tiers).then(|| self.to_tier(names, source_queue, tier, reason))
    }

    /// The copy that waits in retry tier `tier` (1-based), counted as one more attempt.
    pub fn to_tier(
        &self,
        names: &Names,
        source_queue: &str,
        tier: usize,
        reason: &str,
    ) -> Outgoing {
        let mut h = self.headers_with(self.attempts() + 1);
        headers::set_str(&mut h, REASON, reason);
        Outgoing {
            exchange: String::new(),
            routing_key: names.retry(source_queue, tier),
            body: self.body.clone(),
            headers: h,
            message_id: self.message_id.clone(),
        }
    }
}

/// Whether an operator sent this delivery back from `hongyan.parked` with `parked replay`.
pub fn was_replayed(props: &BasicProperties) -> bool {
    headers::get_u32(props.headers().as_ref(), REPLAYED).unwrap_or(0) > 0
}

/// A parked message as `parked list` shows it.
#[derive(Clone, Debug)]
pub struct ParkedMessage {
    pub reason: String,
    pub source_queue: String,
    pub attempts: u32,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub message_id: Option<String>,
}

impl ParkedMessage {
    /// Reads hongyan's headers; a message the broker dead-lettered by itself carries none of
    /// them, so its source queue, routing key and a reason come from `x-death` instead.
    fn read(props: &BasicProperties, body: Vec<u8>) -> Self {
        let h = props.headers().as_ref();
        let death = headers::death(h);
        let reason = headers::get_str(h, REASON).or_else(|| {
            death.as_ref().map(|d| {
                format!(
                    "RabbitMQ dead-lettered it from {} ({}); see why in the consumer's log, then replay it",
                    d.queue, d.reason
                )
            })
        });
        Self {
            reason: reason.unwrap_or_default(),
            source_queue: headers::get_str(h, SOURCE_QUEUE)
                .or_else(|| death.as_ref().map(|d| d.queue.clone()))
                .unwrap_or_default(),
            attempts: headers::get_u32(h, ATTEMPTS).unwrap_or(0),
            routing_key: headers::get_str(h, ROUTING_KEY)
                .or_else(|| death.and_then(|d| d.routing_key))
                .unwrap_or_default(),
            body,
            message_id: props.message_id().as_ref().map(|s| s.as_str().to_owned()),
        }
    }
}

async fn parked_count(conn: &Connection, names: &Names) -> anyhow::Result<u32> {
    let ch = conn.create_channel().await?;
    let q = ch
        .queue_declare(names.parked().into(), QueueDeclareOptions { passive: true, durable: true, ..Default::default() }, FieldTable::default())
        .await
        .context("The parked queue does not exist yet: run a role (or `hongyan registry`) once to declare the topology")?;
    Ok(q.message_count())
}

/// Up to `limit` parked messages, oldest first. Nothing is taken off the queue: the messages
/// are read without acknowledging and handed back when the channel closes.
pub async fn list(
    conn: &Connection,
    names: &Names,
    limit: u32,
) -> anyhow::Result<Vec<ParkedMessage>> {
    let total = parked_count(conn, names).await?;
    let ch = conn.create_channel().await?;
    let mut out = Vec::new();
    for _ in 0..total.min(limit) {
        match ch
            .basic_get(names.parked().into(), BasicGetOptions { no_ack: false })
            .await?
        {
            Some(m) => out.push(ParkedMessage::read(
                &m.delivery.properties,
                m.delivery.data.clone(),
            )),
            None => break,
        }
    }
    ch.close(200, "listed".into()).await.ok();
    Ok(out)
}

/// What `parked replay` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Sent back to their source queues (and taken off `hongyan.parked`).
    pub sent: usize,
    /// Selected but kept parked because their source queue does not exist any more (or not
    /// yet): the broker returned them. Their source queues, one per message.
    pub unroutable: Vec<String>,
}

/// Sends parked messages back to their source queues with their attempts reset. `select`
/// chooses which; the rest stay parked. Returns how many were sent back.
pub async fn replay(
    conn: &Connection,
    names: &Names,
    select: impl Fn(&ParkedMessage) -> bool,
) -> anyhow::Result<usize> {
    Ok(replay_report(conn, names, select).await?.sent)
}

/// Like [`replay`], and says which selected messages could not be routed (they stay parked).
pub async fn replay_report(
    conn: &Connection,
    names: &Names,
    select: impl Fn(&ParkedMessage) -> bool,
) -> anyhow::Result<Replayed> {
    let total = parked_count(conn, names).await?;
    let publisher = Publisher::open(conn).await?;
    let ch = conn.create_channel().await?;
    let mut report = Replayed::default();
    for _ in 0..total {
        let Some(m) = ch
            .basic_get(names.parked().into(), BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        let parked = ParkedMessage::read(&m.delivery.properties, m.delivery.data.clone());
        if parked.source_queue.is_empty() || !select(&parked) {
            continue;
        }
        let back = sent_back(&parked, m.delivery.properties.headers().as_ref());
        let routed = publisher
            .publish_each(std::slice::from_ref(&back), |_| Routing::Mandatory)
            .await?;
        if routed.first() == Some(&Routed::Queued) {
            m.delivery.acker.ack(BasicAckOptions::default()).await?;
            report.sent += 1;
        } else {
            // Not acknowledged: the broker puts it back in `hongyan.parked` when the channel
            // closes.
            report.unroutable.push(parked.source_queue.clone());
        }
    }
    ch.close(200, "replayed".into()).await.ok();
    Ok(report)
}

/// A request sent back to `source_queue` as a replay, without a parked copy to take it from:
/// what the console's 重发 of a failed notification publishes (the notifier's intake revives a
/// failed notification only for a delivery marked replayed). The same headers as
/// [`replay`]'s copies: attempts 0, replayed once, the original routing key.
pub fn replayed(
    source_queue: &str,
    routing_key: &str,
    body: Vec<u8>,
    message_id: Option<String>,
) -> Outgoing {
    let parked = ParkedMessage {
        reason: String::new(),
        source_queue: source_queue.to_owned(),
        attempts: 0,
        routing_key: routing_key.to_owned(),
        body,
        message_id,
    };
    sent_back(&parked, None)
}

/// The copy that goes back to the source queue: attempts reset, replays counted.
fn sent_back(parked: &ParkedMessage, before: Option<&FieldTable>) -> Outgoing {
    let mut h = headers::carried_over(before);
    headers::set_u32(&mut h, ATTEMPTS, 0);
    let replays = headers::get_u32(before, REPLAYED).unwrap_or(0);
    headers::set_u32(&mut h, REPLAYED, replays + 1);
    if !parked.routing_key.is_empty() {
        // Sent through the default exchange, the delivery's routing key is the queue's name;
        // the consumer reads the original from here (for broker-dead-lettered messages it came
        // from `x-death`).
        headers::set_str(&mut h, ROUTING_KEY, &parked.routing_key);
    }
    Outgoing {
        exchange: String::new(),
        routing_key: parked.source_queue.clone(),
        body: parked.body.clone(),
        headers: h,
        message_id: parked.message_id.clone(),
    }
}
