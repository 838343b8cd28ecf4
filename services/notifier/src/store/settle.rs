//! Recording a round's outcomes: every attempt, each notification's next state, and what is
//! announced, in one transaction per round.

use chrono::{DateTime, Utc};
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
}

impl AttemptStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::Permanent => "permanent",
            Self::Paused => "paused",
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
    /// An abandoned send: wait until `at` for the provider's receipt before sending again.
    AwaitReceipt {
        at: DateTime<Utc>,
        /// An attempt was made (a timeout, a 5xx), rather than a claim run out.
        attempted: bool,
    },
    Failed {
        reason: String,
    },
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
        };
        self.0.lock().expect("settlements lock").push(s);
    }

    /// Writes the round. A state a receipt set meanwhile is left alone (`status = 'sending'`).
    pub async fn write(self, pool: &PgPool) -> sqlx::Result<usize> {
        let all = self.0.into_inner().expect("settlements lock");
        if all.is_empty() {
            return Ok(0);
        }
        let mut tx = pool.begin().await?;
        let tried: Vec<(&Settlement, &AttemptRow)> = all
            .iter()
            .filter_map(|s| s.attempt.as_ref().map(|a| (s, a)))
            .collect();
        if !tried.is_empty() {
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
            .execute(&mut *tx)
            .await?;
        }
        let (mut d_id, mut d_provider, mut d_pmid) = (Vec::new(), Vec::new(), Vec::new());
        let (mut a_id, mut a_at, mut a_idx, mut a_dec, mut a_err) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut r_id, mut r_at, mut r_dec, mut f_id, mut f_reason) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for s in &all {
            match &s.next {
                Next::Delivered {
                    provider,
                    provider_message_id,
                } => {
                    d_id.push(s.id);
                    d_provider.push(provider.as_str());
                    d_pmid.push(provider_message_id.as_deref());
                }
                Next::Again {
                    at,
                    channel_index,
                    not_an_attempt,
                } => {
                    a_id.push(s.id);
                    a_at.push(*at);
                    a_idx.push(*channel_index as i32);
                    a_dec.push(i32::from(*not_an_attempt));
                    a_err.push(s.attempt.as_ref().and_then(|a| a.error.as_deref()));
                }
                Next::AwaitReceipt { at, attempted } => {
                    r_id.push(s.id);
                    r_at.push(*at);
                    r_dec.push(i32::from(!*attempted));
                }
                Next::Failed { reason } => {
                    f_id.push(s.id);
                    f_reason.push(reason.as_str());
                }
            }
        }
        if !d_id.is_empty() {
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
            .bind(d_id)
            .bind(d_provider)
            .bind(d_pmid)
            .execute(&mut *tx)
            .await?;
        }
        if !a_id.is_empty() {
            sqlx::query(
                "UPDATE notifications n SET status = 'pending', next_attempt_at = u.at, channel_index = u.idx,
                     attempts = n.attempts - u.dec, claimed_until = NULL, last_error = coalesce(u.err, n.last_error), updated_at = now()
                 FROM UNNEST($1::uuid[], $2::timestamptz[], $3::int[], $4::int[], $5::text[]) AS u(id, at, idx, dec, err)
                 WHERE n.id = u.id AND n.status = 'sending'",
            )
            .bind(a_id)
            .bind(a_at)
            .bind(a_idx)
            .bind(a_dec)
            .bind(a_err)
            .execute(&mut *tx)
            .await?;
        }
        if !r_id.is_empty() {
            sqlx::query(
                "UPDATE notifications n SET status = 'pending', next_attempt_at = u.at, uncertain_since = coalesce(n.uncertain_since, now()),
                     attempts = n.attempts - u.dec, claimed_until = NULL, updated_at = now()
                 FROM UNNEST($1::uuid[], $2::timestamptz[], $3::int[]) AS u(id, at, dec)
                 WHERE n.id = u.id AND n.status = 'sending'",
            )
            .bind(r_id)
            .bind(r_at)
            .bind(r_dec)
            .execute(&mut *tx)
            .await?;
        }
        if !f_id.is_empty() {
            sqlx::query(
                "UPDATE notifications n SET status = 'failed', last_error = u.reason, claimed_until = NULL, updated_at = now()
                 FROM UNNEST($1::uuid[], $2::text[]) AS u(id, reason)
                 WHERE n.id = u.id AND n.status = 'sending'",
            )
            .bind(f_id)
            .bind(f_reason)
            .execute(&mut *tx)
            .await?;
        }
        let settled = all.len();
        let announce: Vec<OutboxRow> = all.into_iter().flat_map(|s| s.announce).collect();
        writes::outbox(&mut tx, &announce).await?;
        tx.commit().await?;
        Ok(settled)
    }
}
