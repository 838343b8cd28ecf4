//! Intake: notification requests from the `hongyan.notifier` queue become rows, once per key,
//! and the deliveries are acknowledged after the commit. A request that cannot be read is
//! parked like any bad input. A failed notification's request, parked by the delivery loop and
//! sent back by `parked replay`, makes the failed row go out again from its first channel; any
//! other repeat of a key sends nothing.

use chrono::{DateTime, Utc};
use hongyan_adapters::amqp::consumer::{BatchHandler, ack_batch};
use hongyan_adapters::amqp::parked::{self, Received};
use hongyan_adapters::amqp::publisher::{Outgoing, Publisher};
use hongyan_adapters::store::is_transient;
use hongyan_domain::ids::mask_phones;
use hongyan_domain::notify::{KeyError, NotificationRequest, ROUTING_KEY};
use lapin::message::Delivery;

use crate::Notifier;
use crate::store;

pub struct Intake<'a>(pub &'a Notifier);

/// The part of a `notification.requested` envelope intake reads; `data` is kept as its text
/// and read once the type is known to be a request.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
}

/// Why a request cannot be taken. Each says what was wrong and what to do; serde's own words,
/// when it has them, are the source.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("The message is not a JSON envelope with type and data; send a UTF-8 JSON envelope.")]
    NotAnEnvelope(#[source] serde_json::Error),
    #[error("type {kind:?} is not {key}; the notifier queue takes notification requests only.", key = ROUTING_KEY)]
    NotARequest { kind: String },
    #[error(
        "The notification request does not fit; send key, template, recipient or org, params and caused_by."
    )]
    DoesNotFit(#[source] serde_json::Error),
    /// The domain's sentence on the key (`NotificationRequest::check_key`), which is not a
    /// cause of its own, so the parked reason says it once.
    #[error(transparent)]
    BadKey(#[from] KeyError),
    #[error(
        "Template {name:?} does not exist; add config/templates/{name}.toml or fix the request."
    )]
    UnknownTemplate { name: String },
}

impl RequestError {
    /// What a parked request says: the error, then each of its causes.
    pub fn reason(&self) -> String {
        let mut reason = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            reason.push_str(&format!(" Cause: {c}"));
            cause = c.source();
        }
        reason
    }
}

/// Reads a `notification.requested` envelope.
pub fn read(body: &[u8]) -> Result<NotificationRequest, RequestError> {
    let v: Envelope<'_> = serde_json::from_slice(body).map_err(RequestError::NotAnEnvelope)?;
    if v.kind != ROUTING_KEY {
        return Err(RequestError::NotARequest {
            kind: v.kind.into_owned(),
        });
    }
    serde_json::from_str(v.data.get()).map_err(RequestError::DoesNotFit)
}

/// A request ready to store: the request, when it may first go, until when it is worth
/// sending.
/// A request as stored: with when it is first due and until when it is worth sending.
pub(crate) type Row = (NotificationRequest, DateTime<Utc>, DateTime<Utc>);

impl BatchHandler for Intake<'_> {
    #[tracing::instrument(skip_all, fields(requests = batch.len()))]
    async fn handle(&self, publisher: &Publisher, batch: Vec<Delivery>) -> anyhow::Result<()> {
        let n = self.0;
        let queue = n.names.notifier();
        let now = n.clock.now();
        let mut rows: Vec<Row> = Vec::with_capacity(batch.len());
        // Per row: the delivery it came from, and whether an operator sent it back with
        // `parked replay` (a failed notification's request, to be sent again).
        let mut from: Vec<(usize, bool)> = Vec::with_capacity(batch.len());
        let mut parked: Vec<Outgoing> = Vec::new();
        let park = |d: &Delivery, reason: &str, parked: &mut Vec<Outgoing>| {
            // serde's error text quotes what it could not read, a phone among it.
            let reason = &mask_phones(reason);
            let received =
                Received::from_delivery(d.routing_key.as_str(), &d.properties, d.data.clone());
            tracing::warn!(reason = %reason, "Notification request parked.");
            parked.push(received.parked(&n.names, &queue, reason));
        };
        for (i, d) in batch.iter().enumerate() {
            if let Some(row) = take(n, d, now, |reason| park(d, reason, &mut parked)) {
                rows.push(row);
                from.push((i, parked::was_replayed(&d.properties)));
            }
        }
        let replayed: Vec<bool> = from.iter().map(|&(_, r)| r).collect();
        match store(n, &rows, &replayed, now).await {
            Ok(()) => {}
            Err(e) if is_transient(&e) => return Err(e.into()),
            // Something in one request the checks above let through: store them one by one,
            // park the ones the database refuses, and keep the queue moving.
            Err(e) => {
                tracing::error!(error = %e, requests = rows.len(), "Notification requests did not store together; storing them one by one.");
                for (j, &(i, replayed)) in from.iter().enumerate() {
                    match store(n, &rows[j..=j], &[replayed], now).await {
                        Ok(()) => {}
                        Err(e) if is_transient(&e) => return Err(e.into()),
                        Err(e) => park(
                            &batch[i],
                            &format!(
                                "hongyan could not store this notification request ({e}); this is a fault in hongyan or its database, not in the request: report it, and replay once fixed."
                            ),
                            &mut parked,
                        ),
                    }
                }
            }
        }
        publisher.publish_all(&parked).await?;
        ack_batch(&batch).await?;
        tracing::debug!(
            requests = batch.len(),
            parked = parked.len(),
            "Notification requests taken in."
        );
        n.wake.notify_one();
        Ok(())
    }
}

/// One delivery's request as it is stored, or parked with why it cannot be. Its span carries
/// the request's key and the event that caused it, as every later step's carries the key.
#[tracing::instrument(skip_all, fields(key = tracing::field::Empty, caused_by = tracing::field::Empty))]
fn take(n: &Notifier, d: &Delivery, now: DateTime<Utc>, park: impl FnOnce(&str)) -> Option<Row> {
    let taken = read(&d.data).and_then(|req| {
        let span = tracing::Span::current();
        span.record("key", mask_phones(&req.key));
        span.record("caused_by", tracing::field::display(req.caused_by));
        row(n, req, now)
    });
    match taken {
        Ok(row) => {
            tracing::debug!(template = %row.0.template, "Notification request read.");
            Some(row)
        }
        Err(e) => {
            park(&e.reason());
            None
        }
    }
}

/// A request as it is stored, or why it cannot be.
pub(crate) fn row(
    n: &Notifier,
    req: NotificationRequest,
    now: DateTime<Utc>,
) -> Result<Row, RequestError> {
    req.check_key()?;
    match n.templates.get(&req.template) {
        Some(t) => {
            let until = t.useful_until(now);
            Ok((req, now, until))
        }
        None => Err(RequestError::UnknownTemplate { name: req.template }),
    }
}

/// Stores `rows` in one transaction: new keys become notifications, and a replayed request
/// whose notification failed sends it again from its first channel.
async fn store(
    n: &Notifier,
    rows: &[Row],
    replayed: &[bool],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let mut tx = n.pool.begin().await?;
    let fresh = store::insert(&mut tx, rows).await?;
    let again: Vec<&Row> = rows
        .iter()
        .zip(replayed)
        .filter_map(|(row, &r)| r.then_some(row))
        .collect();
    let keys: Vec<&str> = again.iter().map(|(req, _, _)| req.key.as_str()).collect();
    let until: Vec<DateTime<Utc>> = again.iter().map(|&&(_, _, until)| until).collect();
    let revived = store::revive(&mut tx, &keys, now, &until).await?;
    tx.commit().await?;
    if revived > 0 {
        tracing::info!(
            revived,
            "Failed notifications replayed by an operator go out again."
        );
    }
    tracing::trace!(new = fresh, "Notification requests stored.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_keys_parked_reason_says_the_domains_sentence_once() {
        let e = RequestError::from(KeyError::TooLong { bytes: 600 });
        assert!(matches!(e, RequestError::BadKey(KeyError::TooLong { .. })));
        assert_eq!(e.reason(), KeyError::TooLong { bytes: 600 }.to_string());
    }

    #[test]
    fn serdes_words_are_the_cause_in_a_parked_reason() {
        let e = read(b"{").unwrap_err();
        assert!(matches!(e, RequestError::NotAnEnvelope(_)));
        assert!(e.reason().contains(" Cause: EOF"), "{}", e.reason());
    }
}
