//! Recording a round's outcomes: every attempt, each notification's next state, and what is
//! announced, in one transaction per round.

use chrono::{DateTime, Utc};
use hongyan_adapters::metrics;
use hongyan_adapters::store::rows::OutboxRow;
use hongyan_adapters::store::writes;
use hongyan_domain::ids::mask_phones;
use sqlx::PgPool;
use uuid::Uuid;

use super::Due;

/// One attempt as recorded.
#[derive(Clone, Debug)]
pub struct Attempt<'a> {
    pub channel: &'a str,
    pub provider: &'a str,
    pub provider_message_id: Option<&'a str>,
    pub status: AttemptStatus,
    pub error_code: Option<&'a str>,
    pub error: Option<&'a str>,
    pub latency_ms: i32,
}

/// What one attempt came to, as `notification_attempts.status` stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptStatus {
    /// The provider took it (or, for a broadcast, it was fanned out to the members).
    Delivered,
    /// A transient failure: tried again on the same channel later.
    Retry,
    /// A permanent failure on this channel: the next one, or failure.
    Permanent,
    /// The provider refuses every message (quota, balance, credentials): the channel pauses.
    Paused,
    /// Not a send: asked about an earlier send that went unanswered, the provider had it.
    Found,
}

impl AttemptStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::Permanent => "permanent",
            Self::Paused => "paused",
            Self::Found => "found",
        }
    }
}

/// What becomes of a notification after an attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    Delivered {
        provider: String,
        provider_message_id: Option<String>,
    },
    /// Try again at this time on the channel at this index (a later index is a fallback).
    Again {
        at: DateTime<Utc>,
        channel_index: usize,
        not_an_attempt: bool,
    },
    /// A send that may have gone out unanswered: wait until `at` for the provider's receipt,
    /// then ask the provider before sending again.
    AwaitReceipt {
        at: DateTime<Utc>,
        /// When that send was made (the earliest such send is kept).
        since: DateTime<Utc>,
        /// An attempt was made (a timeout, a 5xx), rather than a claim run out.
        attempted: bool,
    },
    Failed {
        reason: String,
    },
}

impl Next {
    /// The state's name, for logs (a failure's reason is logged where it is decided).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Delivered { .. } => "delivered",
            Self::Again { .. } => "again",
            Self::AwaitReceipt { .. } => "await_receipt",
            Self::Failed { .. } => "failed",
        }
    }
}

/// An attempt as it is written.
#[derive(Clone, Debug)]
struct AttemptRow {
    channel: String,
    provider: String,
    provider_message_id: Option<String>,
    status: AttemptStatus,
    error_code: Option<String>,
    error: Option<String>,
    latency_ms: i32,
}

/// What one notification's turn in a round decided.
#[derive(Clone, Debug)]
struct Settlement {
    id: Uuid,
    attempt_no: i32,
    attempt: Option<AttemptRow>,
    next: Next,
    announce: Vec<OutboxRow>,
    /// An org contact's digest: the notices it gathered settle with it.
    digest: bool,
}

/// The outcomes of one round, written together in one transaction when the round ends: a
/// round of hundreds of sends costs a handful of statements, not hundreds of commits.
#[derive(Default)]
pub struct Settlements(std::sync::Mutex<Vec<Settlement>>);

impl Settlements {
    /// Records an attempt (if one was made), the notification's next state and the outbox
    /// messages announcing (and, on failure, parking) a final state, for
    /// [`Settlements::write`].
    pub fn settle(
        &self,
        due: &Due,
        attempt: Option<Attempt<'_>>,
        next: &Next,
        announce: impl IntoIterator<Item = OutboxRow>,
    ) {
        let attempt = attempt.map(|a| AttemptRow {
            channel: a.channel.to_owned(),
            provider: a.provider.to_owned(),
            provider_message_id: a.provider_message_id.map(str::to_owned),
            status: a.status,
            error_code: a.error_code.map(str::to_owned),
            error: a.error.map(mask_phones),
            latency_ms: a.latency_ms,
        });
        // Every reason a provider or a check gave passes the one masking pass before it is
        // stored, announced or logged.
        let next = match next {
            Next::Failed { reason } => Next::Failed {
                reason: mask_phones(reason),
            },
            other => other.clone(),
        };
        let s = Settlement {
            id: due.id,
            attempt_no: due.attempt as i32,
            attempt,
            next,
            announce: announce.into_iter().collect(),
            digest: due.request.template == crate::templates::ORG_DIGEST,
        };
        tracing::debug!(notification_id = %due.id, next = s.next.kind(), "Settled; written when the round ends.");
        self.0.lock().expect("settlements lock").push(s);
    }

    /// Writes the round. A state a receipt set meanwhile is left alone (`status = 'sending'`).
    #[tracing::instrument(skip_all, fields(settled = tracing::field::Empty))]
    pub async fn write(self, pool: &PgPool) -> sqlx::Result<usize> {
        let all = self.0.into_inner().expect("settlements lock");
        if all.is_empty() {
            return Ok(0);
        }
        tracing::Span::current().record("settled", all.len());
        let mut tx = pool.begin().await?;
        insert_attempts(&mut tx, &all).await?;
        let next = ByNext::sort(&all);
        mark_delivered(&mut tx, &next.delivered).await?;
        put_back(&mut tx, &next.again).await?;
        await_receipts(&mut tx, &next.await_receipt).await?;
        mark_failed(&mut tx, &next.failed).await?;
        settle_gathered(&mut tx, &next).await?;
        let settled = all.len();
        let counted: Vec<(String, &'static str)> =
            all.iter().flat_map(Settlement::counted).collect();
        let announce: Vec<OutboxRow> = all.into_iter().flat_map(|s| s.announce).collect();
        writes::outbox(&mut tx, &announce).await?;
        tx.commit().await?;
        for (provider, status) in &counted {
            metrics::notification(provider, status);
        }
        Ok(settled)
    }
}

impl Settlement {
    /// What `/metrics` counts of it (provider, status): its attempt's status, and the state it
    /// reached when that is failed or waiting for a receipt.
    fn counted(&self) -> Vec<(String, &'static str)> {
        let provider = self
            .attempt
            .as_ref()
            .map_or("none", |a| a.provider.as_str());
        let reached = match self.next {
            Next::Failed { .. } => Some("failed"),
            Next::AwaitReceipt { .. } => Some("waiting"),
            Next::Delivered { .. } | Next::Again { .. } => None,
        };
        let attempt = self.attempt.as_ref().map(|a| a.status.as_str());
        attempt
            .into_iter()
            .chain(reached)
            .map(|status| (provider.to_owned(), status))
            .collect()
    }
}

/// The round's settlements sorted by what comes next, one statement each.
#[derive(Default)]
struct ByNext<'a> {
    delivered: Vec<(&'a Settlement, &'a str, Option<&'a str>)>,
    again: Vec<(&'a Settlement, DateTime<Utc>, usize, bool)>,
    await_receipt: Vec<(&'a Settlement, DateTime<Utc>, DateTime<Utc>, bool)>,
    failed: Vec<(&'a Settlement, &'a str)>,
}

impl<'a> ByNext<'a> {
    fn sort(all: &'a [Settlement]) -> Self {
        let mut by = Self::default();
        for s in all {
            match &s.next {
                Next::Delivered {
                    provider,
                    provider_message_id,
                } => by
                    .delivered
                    .push((s, provider.as_str(), provider_message_id.as_deref())),
                Next::Again {
                    at,
                    channel_index,
                    not_an_attempt,
                } => by.again.push((s, *at, *channel_index, *not_an_attempt)),
                Next::AwaitReceipt {
                    at,
                    since,
                    attempted,
                } => by.await_receipt.push((s, *at, *since, *attempted)),
                Next::Failed { reason } => by.failed.push((s, reason.as_str())),
            }
        }
        by
    }
}

type Tx<'c> = sqlx::Transaction<'c, sqlx::Postgres>;

/// Every attempt the round made, in one statement.
async fn insert_attempts(tx: &mut Tx<'_>, all: &[Settlement]) -> sqlx::Result<()> {
    let tried: Vec<(&Settlement, &AttemptRow)> = all
        .iter()
        .filter_map(|s| s.attempt.as_ref().map(|a| (s, a)))
        .collect();
    if tried.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO delivery_attempts (notification_id, attempt, channel, provider, provider_message_id, status, error_code, error, latency_ms)
         SELECT * FROM UNNEST($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[])",
    )
    .bind(tried.iter().map(|(s, _)| s.id).collect::<Vec<_>>())
    .bind(tried.iter().map(|(s, _)| s.attempt_no).collect::<Vec<_>>())
    .bind(tried.iter().map(|(_, a)| a.channel.as_str()).collect::<Vec<_>>())
    .bind(tried.iter().map(|(_, a)| a.provider.as_str()).collect::<Vec<_>>())
    .bind(tried.iter().map(|(_, a)| a.provider_message_id.as_deref()).collect::<Vec<_>>())
    .bind(tried.iter().map(|(_, a)| a.status.as_str()).collect::<Vec<_>>())
    .bind(tried.iter().map(|(_, a)| a.error_code.as_deref()).collect::<Vec<_>>())
    .bind(tried.iter().map(|(_, a)| a.error.as_deref()).collect::<Vec<_>>())
    .bind(tried.iter().map(|(_, a)| a.latency_ms).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Delivered: the provider and its message id are recorded.
async fn mark_delivered(
    tx: &mut Tx<'_>,
    rows: &[(&Settlement, &str, Option<&str>)],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        // A receipt may have come back before this write (the provider is fast, the
        // round still sending): its status stands, but the provider's message id is
        // still ours to record.
        "UPDATE notifications n SET status = CASE WHEN n.status = 'sending' THEN 'delivered' ELSE n.status END,
             provider = u.provider, provider_message_id = u.pmid, claimed_until = NULL,
             last_error = CASE WHEN n.status = 'sending' THEN NULL ELSE n.last_error END, updated_at = now()
         FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS u(id, provider, pmid)
         WHERE n.id = u.id AND (n.status = 'sending' OR (n.receipt IS NOT NULL AND n.provider_message_id IS NULL))",
    )
    .bind(rows.iter().map(|(s, _, _)| s.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, p, _)| *p).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, _, m)| *m).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Pending again at a time, on a channel; a wait that was not an attempt gives its count back.
async fn put_back(
    tx: &mut Tx<'_>,
    rows: &[(&Settlement, DateTime<Utc>, usize, bool)],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE notifications n SET status = 'pending', next_attempt_at = u.at, channel_index = u.idx,
             attempts = n.attempts - u.dec, claimed_until = NULL, last_error = coalesce(u.err, n.last_error), updated_at = now()
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::int[], $4::int[], $5::text[]) AS u(id, at, idx, dec, err)
         WHERE n.id = u.id AND n.status = 'sending'",
    )
    .bind(rows.iter().map(|(s, ..)| s.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, at, ..)| *at).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, _, idx, _)| *idx as i32).collect::<Vec<_>>())
    .bind(rows.iter().map(|(.., not_an_attempt)| i32::from(*not_an_attempt)).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|(s, ..)| s.attempt.as_ref().and_then(|a| a.error.as_deref()))
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Pending until a time, waiting for a receipt of a send that may have gone out, and marked
/// uncertain from the earliest such send, so the provider is asked before any send again; a
/// claim that merely ran out gives its count back.
async fn await_receipts(
    tx: &mut Tx<'_>,
    rows: &[(&Settlement, DateTime<Utc>, DateTime<Utc>, bool)],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE notifications n SET status = 'pending', next_attempt_at = u.at,
             uncertain_since = least(n.uncertain_since, u.since),
             attempts = n.attempts - u.dec, claimed_until = NULL, updated_at = now()
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::int[]) AS u(id, at, since, dec)
         WHERE n.id = u.id AND n.status = 'sending'",
    )
    .bind(rows.iter().map(|(s, ..)| s.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, at, ..)| *at).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, _, since, _)| *since).collect::<Vec<_>>())
    .bind(rows.iter().map(|(.., attempted)| i32::from(!*attempted)).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The notices a digest gathered end as it does (DESIGN.md section 5, "Digests for org
/// contacts"): delivered within it, recorded with its provider (their `digest_id` names it),
/// or failed with its reason, so a replay of the digest takes them back.
async fn settle_gathered(tx: &mut Tx<'_>, next: &ByNext<'_>) -> sqlx::Result<()> {
    let delivered: Vec<(Uuid, &str)> = next
        .delivered
        .iter()
        .filter(|(s, ..)| s.digest)
        .map(|(s, provider, _)| (s.id, *provider))
        .collect();
    if !delivered.is_empty() {
        sqlx::query(
            "UPDATE notifications g SET status = 'delivered', provider = u.provider, last_error = NULL, updated_at = now()
             FROM UNNEST($1::uuid[], $2::text[]) AS u(id, provider)
             WHERE g.digest_id = u.id AND g.id <> u.id AND g.status = 'gathered'",
        )
        .bind(delivered.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(delivered.iter().map(|(_, p)| *p).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    let failed: Vec<(Uuid, String)> = next
        .failed
        .iter()
        .filter(|(s, _)| s.digest)
        .map(|(s, reason)| (s.id, format!("Its digest {} failed: {reason}", s.id)))
        .collect();
    if !failed.is_empty() {
        sqlx::query(
            "UPDATE notifications g SET status = 'failed', last_error = u.reason, updated_at = now()
             FROM UNNEST($1::uuid[], $2::text[]) AS u(id, reason)
             WHERE g.digest_id = u.id AND g.id <> u.id AND g.status = 'gathered'",
        )
        .bind(failed.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(failed.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Failed for good, with the reason.
async fn mark_failed(tx: &mut Tx<'_>, rows: &[(&Settlement, &str)]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE notifications n SET status = 'failed', last_error = u.reason, claimed_until = NULL, updated_at = now()
         FROM UNNEST($1::uuid[], $2::text[]) AS u(id, reason)
         WHERE n.id = u.id AND n.status = 'sending'",
    )
    .bind(rows.iter().map(|(s, _)| s.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| *r).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
