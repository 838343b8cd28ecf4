//! The outbox relay: messages written in the same transaction as a ledger change are published
//! with confirms and only then deleted. A crash between commit and publish loses nothing; a
//! crash between publish and delete publishes twice, which consumers absorb by message id.

use std::time::{Duration, Instant};

use anyhow::Context;
use lapin::types::FieldTable;
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;

use crate::amqp::parked::Received;
use crate::amqp::publisher::{Outgoing, PublishError, Publisher, Routed, Routing};
use crate::amqp::{self, ANNOUNCEMENT_KEYS, Names};
use crate::config::Settings;

/// Relays one batch. Returns how many messages went out. A message no queue took stays in the
/// outbox and makes the call fail (after the others are relayed), naming its routing key.
pub async fn relay_once(
    pool: &PgPool,
    publisher: &Publisher,
    names: &Names,
    limit: i64,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    // SKIP LOCKED lets several relays (replicas) share the table without waiting on each other.
    let rows = sqlx::query("SELECT id, routing_key, message_id, payload::text AS body, park_reason, park_source_queue FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED")
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        ids.push(r.try_get::<i64, _>("id")?);
        let routing_key: String = r.try_get("routing_key")?;
        let event = Outgoing {
            exchange: names.exchange_for(&routing_key),
            routing_key,
            body: r.try_get::<String, _>("body")?.into_bytes(),
            headers: FieldTable::default(),
            message_id: Some(r.try_get("message_id")?),
        };
        let reason: Option<String> = r.try_get("park_reason")?;
        let source: Option<String> = r.try_get("park_source_queue")?;
        out.push(match (reason, source) {
            (Some(reason), Some(source)) => parked(event, names, &reason, &source),
            _ => event,
        });
    }
    let routed = publisher
        .publish_each(&out, |m| routing_of(names, m))
        .await?;
    let (sent, kept) = split_routed(&ids, &out, &routed);
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(&sent)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    match kept.first() {
        // The returned rows stay in the outbox; the supervisor tries again after its backoff.
        Some(first) => Err(anyhow::Error::new(PublishError::Unroutable {
            exchange: first.exchange.clone(),
            routing_key: first.routing_key.clone(),
        })
        .context(format!(
            "{} outbox message(s) were kept because no queue took them",
            kept.len()
        ))),
        None => Ok(sent.len()),
    }
}

/// Announcements may go unheard; work and parked copies must reach a queue.
fn routing_of(names: &Names, m: &Outgoing) -> Routing {
    if m.exchange == names.exchange() && ANNOUNCEMENT_KEYS.contains(&m.routing_key.as_str()) {
        Routing::MayBeUnbound
    } else {
        Routing::Mandatory
    }
}

/// The ids of the rows a queue took, and the messages the broker returned.
fn split_routed<'a>(
    ids: &[i64],
    out: &'a [Outgoing],
    routed: &[Routed],
) -> (Vec<i64>, Vec<&'a Outgoing>) {
    let mut sent = Vec::with_capacity(ids.len());
    let mut kept = Vec::new();
    for ((id, m), r) in ids.iter().zip(out).zip(routed) {
        match r {
            Routed::Queued => sent.push(*id),
            Routed::Returned => kept.push(m),
        }
    }
    (sent, kept)
}

/// The `hongyan.parked` copy of `event`, with the headers of DESIGN.md section 2.
fn parked(event: Outgoing, names: &Names, reason: &str, source_queue: &str) -> Outgoing {
    let received = Received {
        body: event.body,
        headers: None,
        routing_key: event.routing_key,
        message_id: event.message_id,
    };
    received.parked(names, source_queue, reason)
}

/// How often the relay counts the outbox for `/metrics`: a count over a backlog of a million
/// rows takes tens of milliseconds, too much for every batch.
const DEPTH_EVERY: Duration = Duration::from_secs(5);

/// Counts the messages waiting in the outbox and sets the `/metrics` gauge; returns the count.
pub async fn measure_depth(pool: &PgPool) -> sqlx::Result<i64> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(pool)
        .await?;
    crate::metrics::outbox_depth(n);
    Ok(n)
}

/// Runs the relay until shutdown: woken by `NOTIFY hongyan_outbox` after each commit, and by a
/// poll in case a notification was lost (e.g. while reconnecting).
pub async fn run(
    settings: &Settings,
    pool: PgPool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let names = Names::new(&settings.amqp.prefix);
    let conn = amqp::connect(&settings.amqp, "outbox").await?;
    let publisher = Publisher::open(&conn).await?;
    let mut listener = PgListener::connect_with(&pool)
        .await
        .context("Could not listen for outbox notifications")?;
    listener.listen("hongyan_outbox").await?;
    let poll = Duration::from_millis(settings.outbox.poll_interval_ms);
    let mut measured: Option<Instant> = None;
    loop {
        if measured.is_none_or(|at| at.elapsed() >= DEPTH_EVERY) {
            measure_depth(&pool).await?;
            measured = Some(Instant::now());
        }
        let n = relay_once(&pool, &publisher, &names, settings.outbox.batch_size).await?;
        if n > 0 {
            tracing::debug!(messages = n, "Outbox relayed.");
            if n as i64 == settings.outbox.batch_size {
                continue;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            note = listener.recv() => { note.context("Lost the outbox notification channel")?; }
            _ = tokio::time::sleep(poll) => {}
        }
    }
}
