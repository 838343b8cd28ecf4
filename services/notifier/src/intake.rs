//! Intake: notification requests from the `hongyan.notifier` queue become rows, once per key,
//! and the deliveries are acknowledged after the commit. A request that cannot be read is
//! parked like any bad input. A failed notification's request, parked by the delivery loop and
//! sent back by `parked replay`, makes the failed row go out again from its first channel; any
//! other repeat of a key sends nothing.

use hongyan_adapters::amqp::consumer::{BatchHandler, ack_batch};
use hongyan_adapters::amqp::parked::{self, Received};
use hongyan_adapters::amqp::publisher::{Outgoing, Publisher};
use hongyan_domain::notify::{NotificationRequest, ROUTING_KEY};
use lapin::message::Delivery;

use crate::Notifier;
use crate::store;

pub struct Intake<'a>(pub &'a Notifier);

/// The part of a `notification.requested` envelope intake reads, parsed in one pass.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    data: serde_json::Value,
}

/// Reads a `notification.requested` envelope.
pub fn read(body: &[u8]) -> Result<NotificationRequest, String> {
    let v: Envelope = serde_json::from_slice(body).map_err(|e| {
        format!("The message is not a JSON envelope with type and data ({e}); send a UTF-8 JSON envelope.")
    })?;
    if v.kind != ROUTING_KEY {
        return Err(format!(
            "type {:?} is not {ROUTING_KEY}; the notifier queue takes notification requests only.",
            v.kind
        ));
    }
    serde_json::from_value(v.data)
        .map_err(|e| format!("The notification request does not fit ({e}); send key, template, recipient or org, params and caused_by."))
}

impl BatchHandler for Intake<'_> {
    async fn handle(&self, publisher: &Publisher, batch: Vec<Delivery>) -> anyhow::Result<()> {
        let n = self.0;
        let queue = n.names.notifier();
        let now = n.clock.now();
        let mut rows = Vec::with_capacity(batch.len());
        // Failed notifications an operator sent back with `parked replay`: sent again.
        let mut replayed: Vec<usize> = Vec::new();
        let mut parked: Vec<Outgoing> = Vec::new();
        for d in &batch {
            match read(&d.data).and_then(|req| match n.templates.get(&req.template) {
                Some(t) => {
                    let until = t.useful_until(now);
                    Ok((req, now, until))
                }
                None => Err(format!("Template {:?} does not exist; add config/templates/{}.toml or fix the request.", req.template, req.template)),
            }) {
                Ok(row) => {
                    if parked::was_replayed(&d.properties) {
                        replayed.push(rows.len());
                    }
                    rows.push(row);
                }
                Err(reason) => {
                    let received = Received::from_delivery(
                        d.routing_key.as_str(),
                        &d.properties,
                        d.data.clone(),
                    );
                    tracing::warn!(reason = %reason, "Notification request parked.");
                    parked.push(received.parked(&n.names, &queue, &reason));
                }
            }
        }
        let mut tx = n.pool.begin().await?;
        let fresh = store::insert(&mut tx, &rows).await?;
        let keys: Vec<&str> = replayed.iter().map(|&i| rows[i].0.key.as_str()).collect();
        let until: Vec<_> = replayed.iter().map(|&i| rows[i].2).collect();
        let revived = store::revive(&mut tx, &keys, now, &until).await?;
        tx.commit().await?;
        if revived > 0 {
            tracing::info!(
                revived,
                "Failed notifications replayed by an operator go out again."
            );
        }
        publisher.publish_all(&parked).await?;
        ack_batch(&batch).await?;
        tracing::debug!(
            requests = batch.len(),
            new = fresh,
            parked = parked.len(),
            "Notification requests taken in."
        );
        n.wake.notify_one();
        Ok(())
    }
}
