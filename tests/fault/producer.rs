//! The test's producer, as any producer must be: it publishes persistently with publisher
//! confirms and publishes again whatever the broker did not confirm (a nack, a closed channel,
//! a broker away), reconnecting as long as it takes. A message published twice is harmless:
//! `event_id` makes the second one change nothing.

use std::time::{Duration, Instant};

use hongyan_adapters::amqp::publisher::{Outgoing, Publisher};
use lapin::types::FieldTable;
use serde_json::Value;

/// At most this many messages wait for their confirms at once.
const CHUNK: usize = 500;
/// How long the producer keeps trying before the test gives up on the broker.
const PATIENCE: Duration = Duration::from_secs(120);

pub struct Producer {
    url: String,
    open: Option<(lapin::Connection, Publisher)>,
    /// Messages published again (counted once each) because the broker had not confirmed
    /// them.
    pub republished: usize,
}

/// An envelope, routed by its type on `hongyan.events`.
pub fn outgoing(envelope: &Value) -> Outgoing {
    let kind = envelope["type"].as_str().expect("an envelope has a type");
    raw(kind, serde_json::to_vec(envelope).unwrap())
}

/// Any body, with a routing key.
pub fn raw(routing_key: &str, body: Vec<u8>) -> Outgoing {
    Outgoing {
        exchange: hongyan_adapters::amqp::Names::new("").exchange_for(routing_key),
        routing_key: routing_key.to_owned(),
        body,
        headers: FieldTable::default(),
        message_id: None,
    }
}

impl Producer {
    pub fn new(url: String) -> Self {
        Self {
            url,
            open: None,
            republished: 0,
        }
    }

    /// Publishes every message, each confirmed by the broker at least once.
    pub async fn send(&mut self, messages: &[Outgoing]) -> anyhow::Result<()> {
        for chunk in messages.chunks(CHUNK) {
            self.send_chunk(chunk).await?;
        }
        Ok(())
    }

    async fn send_chunk(&mut self, chunk: &[Outgoing]) -> anyhow::Result<()> {
        let deadline = Instant::now() + PATIENCE;
        // Whether the chunk went out without its confirms, and whether it was counted.
        let (mut unconfirmed, mut counted) = (false, false);
        loop {
            match self.publisher().await {
                Ok(p) => {
                    if unconfirmed && !counted {
                        self.republished += chunk.len();
                        counted = true;
                    }
                    match p.publish_all(chunk).await {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            tracing::debug!(error = %e, "Not confirmed; publishing again.");
                            unconfirmed = true;
                            self.open = None;
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "Broker away; trying again."),
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the broker confirmed nothing for {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn publisher(&mut self) -> anyhow::Result<Publisher> {
        if let Some((conn, p)) = &self.open
            && conn.status().connected()
        {
            return Ok(p.clone());
        }
        let conn =
            lapin::Connection::connect(&self.url, lapin::ConnectionProperties::default()).await?;
        let p = Publisher::open(&conn).await?;
        self.open = Some((conn, p.clone()));
        Ok(p)
    }
}
