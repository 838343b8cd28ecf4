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

/// What one relay pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relayed {
    /// Rows a queue took (or announcements), deleted from the outbox.
    pub sent: usize,
    /// Rows the broker returned, set aside with a reason and a retry time.
    pub set_aside: usize,
}

impl Relayed {
    /// Rows this pass took from the outbox, whatever became of them.
    pub fn taken(&self) -> usize {
        self.sent + self.set_aside
    }
}

/// Relays one batch of the rows that are due: those never returned, and those set aside whose
/// retry time has come. A row the broker returns (no queue bound for its key) is set aside
/// with the reason and a later retry time instead of failing the batch, so it never holds
/// back the rows behind it (DESIGN.md section 8).
pub async fn relay_once(
    pool: &PgPool,
    publisher: &Publisher,
    names: &Names,
    limit: i64,
) -> anyhow::Result<Relayed> {
    let mut tx = pool.begin().await?;
    // SKIP LOCKED lets several relays (replicas) share the table without waiting on each other.
    let rows = sqlx::query(
        "SELECT id, routing_key, message_id, payload::text AS body, park_reason, park_source_queue
           FROM outbox WHERE retry_at IS NULL OR retry_at <= now()
          ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(Relayed::default());
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        ids.push(r.try_get::<i64, _>("id")?);
        out.push(outgoing(&r, names)?);
    }
    // lapin recovers a lost connection by itself, and a publish or a confirm awaited meanwhile
    // can wait for good (seen after a broker restart in the fault suite: the consumers came
    // back, the relays never did). A batch not confirmed in time fails the pass instead; its
    // rows stay (the transaction rolls back) and the supervisor reconnects and sends them again,
    // which consumers absorb by message id.
    let routed = tokio::time::timeout(CONFIRM_PATIENCE, publisher.publish_each(&out, |m| {
        routing_of(names, m)
    }))
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "The broker did not confirm {} outbox message(s) within {} s (connection lost?); the relay reconnects and sends them again",
            out.len(),
            CONFIRM_PATIENCE.as_secs()
        )
    })??;
    let (sent, returned) = split_routed(&ids, &out, &routed);
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(&sent)
        .execute(&mut *tx)
        .await?;
    for (id, m) in &returned {
        set_aside(&mut tx, *id, m).await?;
    }
    tx.commit().await?;
    if !returned.is_empty() {
        let mut keys: Vec<&str> = returned
            .iter()
            .map(|(_, m)| m.routing_key.as_str())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        tracing::warn!(
            rows = returned.len(),
            keys = %keys.join(","),
            "The broker returned outbox messages (no queue bound for their keys); they are set aside and tried again later. See `hongyan parked list`."
        );
    }
    Ok(Relayed {
        sent: sent.len(),
        set_aside: returned.len(),
    })
}

/// The message an outbox row holds: an event, or a copy for `hongyan.parked`.
fn outgoing(r: &sqlx::postgres::PgRow, names: &Names) -> anyhow::Result<Outgoing> {
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
    Ok(match (reason, source) {
        (Some(reason), Some(source)) => parked(event, names, &reason, &source),
        _ => event,
    })
}

/// Sets a returned row aside: its reason, one more return, and a retry time that doubles from
/// 10 s up to 10 minutes (a missing binding is a deployment to fix, not a blip to hammer).
async fn set_aside(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: i64,
    m: &Outgoing,
) -> sqlx::Result<()> {
    let reason = PublishError::Unroutable {
        exchange: m.exchange.clone(),
        routing_key: m.routing_key.clone(),
    }
    .to_string();
    sqlx::query(
        "UPDATE outbox SET returns = returns + 1, returned_reason = $2,
                retry_at = now() + LEAST(interval '10 seconds' * power(2, LEAST(returns, 10)),
                                         interval '10 minutes')
          WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An outbox row the broker returned, waiting for its retry time.
#[derive(Clone, Debug)]
pub struct SetAside {
    pub id: i64,
    pub routing_key: String,
    pub message_id: String,
    pub returns: i32,
    pub retry_at: chrono::DateTime<chrono::Utc>,
    pub reason: String,
}

/// The rows set aside, oldest first (`hongyan parked list`).
pub async fn set_aside_rows(pool: &PgPool, limit: i64) -> sqlx::Result<Vec<SetAside>> {
    let rows = sqlx::query(
        "SELECT id, routing_key, message_id, returns, retry_at, returned_reason FROM outbox
          WHERE retry_at IS NOT NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SetAside {
                id: r.try_get("id")?,
                routing_key: r.try_get("routing_key")?,
                message_id: r.try_get("message_id")?,
                returns: r.try_get("returns")?,
                retry_at: r.try_get("retry_at")?,
                reason: r
                    .try_get::<Option<String>, _>("returned_reason")?
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// How long a batch's publishes and confirms may take before the relay gives the connection up.
const CONFIRM_PATIENCE: Duration = Duration::from_secs(20);

/// Announcements may go unheard; work and parked copies must reach a queue.
fn routing_of(names: &Names, m: &Outgoing) -> Routing {
    if m.exchange == names.exchange() && ANNOUNCEMENT_KEYS.contains(&m.routing_key.as_str()) {
        Routing::MayBeUnbound
    } else {
        Routing::Mandatory
    }
}

/// The ids of the rows a queue took, and the rows the broker returned with their messages.
fn split_routed<'a>(
    ids: &[i64],
    out: &'a [Outgoing],
    routed: &[Routed],
) -> (Vec<i64>, Vec<(i64, &'a Outgoing)>) {
    let mut sent = Vec::with_capacity(ids.len());
    let mut returned = Vec::new();
    for ((id, m), r) in ids.iter().zip(out).zip(routed) {
        match r {
            Routed::Queued => sent.push(*id),
            Routed::Returned => returned.push((*id, m)),
        }
    }
    (sent, returned)
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
    // Whatever role runs this relay, every queue its rows are for exists before the first
    // publish (DESIGN.md section 8).
    let ch = conn.create_channel().await?;
    amqp::topology::declare_all(&ch, &names, &settings.amqp)
        .await
        .context("Could not declare the topology before relaying the outbox")?;
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
        let relayed = relay_once(&pool, &publisher, &names, settings.outbox.batch_size).await?;
        if relayed.taken() > 0 {
            tracing::debug!(
                messages = relayed.sent,
                set_aside = relayed.set_aside,
                "Outbox relayed."
            );
            if relayed.taken() as i64 == settings.outbox.batch_size {
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
