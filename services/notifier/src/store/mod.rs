//! The notifications table: intake inserts (idempotent on the key), the delivery loop claims
//! what is due and records every attempt ([`settle`]), providers' receipts update it
//! ([`receipt`]), and a broadcast reads its audience ([`audience`]).

use chrono::{DateTime, Utc};
use hongyan_domain::ids::{IdError, OrgId};
use hongyan_domain::notify::{NotificationRequest, To};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

/// The columns of `notifications n` that [`read_request`] reads.
macro_rules! request_columns {
    () => {
        "n.key, n.template, n.recipient::text AS recipient, n.audience_org, n.params::text AS params, n.caused_by"
    };
}

mod audience;
pub mod digest;
mod receipt;
pub mod reply;
mod settle;

pub use audience::{AudienceOrg, audience_members, audience_orgs};
pub use receipt::receipt;
pub use settle::{Attempt, AttemptStatus, Next, Settlements};

/// A notification as the delivery loop works on it.
#[derive(Clone, Debug)]
pub struct Due {
    pub id: Uuid,
    pub request: NotificationRequest,
    /// The channel in use in the delivery's plan (`route::plan`, worked out again from the
    /// request at each attempt; the stored `channels` column is not read back).
    pub channel_index: usize,
    /// This attempt's number, counting from 1.
    pub attempt: u32,
    pub useful_until: DateTime<Utc>,
    /// The previous claim ran out without a recorded answer (its worker died, maybe
    /// mid-send): when that claim began, so no send of it can be earlier.
    pub abandoned: Option<DateTime<Utc>>,
    /// When the earliest send that may have reached the provider unanswered was made (a
    /// timeout, a 5xx, a worker that died): before sending again, the provider is asked.
    pub uncertain_since: Option<DateTime<Utc>>,
    /// The SMS that carries it, once the gathering step decided (DESIGN.md section 5, "Digests
    /// for org contacts"): itself when it went alone; `None` before, and for notices never
    /// gathered.
    pub digest_id: Option<Uuid>,
}

/// Inserts new requests; a key already present is skipped. Returns how many were new.
pub async fn insert(
    conn: &mut PgConnection,
    reqs: &[(NotificationRequest, DateTime<Utc>, DateTime<Utc>)],
) -> sqlx::Result<u64> {
    if reqs.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = reqs.iter().map(|_| Uuid::now_v7()).collect();
    let keys: Vec<&str> = reqs.iter().map(|(r, _, _)| r.key.as_str()).collect();
    let templates: Vec<&str> = reqs.iter().map(|(r, _, _)| r.template.as_str()).collect();
    let recipients: Vec<Option<String>> = reqs
        .iter()
        .map(|(r, _, _)| {
            r.person()
                .map(|p| serde_json::to_string(p).expect("serializes"))
        })
        .collect();
    let orgs: Vec<Option<&str>> = reqs
        .iter()
        .map(|(r, _, _)| match &r.to {
            To::Org(org) => Some(org.as_str()),
            To::Recipient(_) => None,
        })
        .collect();
    let params: Vec<String> = reqs
        .iter()
        .map(|(r, _, _)| serde_json::to_string(&r.params).expect("serializes"))
        .collect();
    let caused: Vec<Uuid> = reqs.iter().map(|(r, _, _)| r.caused_by.0).collect();
    // Channels are stored as a JSON array per row: arrays of arrays do not UNNEST row by row.
    // A group's are decided when it is sent, from its org's robot.
    let channels: Vec<serde_json::Value> = reqs
        .iter()
        .map(|(r, _, _)| match r.person() {
            Some(p) => serde_json::json!(p.channels),
            None => serde_json::json!([]),
        })
        .collect();
    let next: Vec<DateTime<Utc>> = reqs.iter().map(|(_, n, _)| *n).collect();
    let until: Vec<DateTime<Utc>> = reqs.iter().map(|(_, _, u)| *u).collect();
    let done = sqlx::query(
        "INSERT INTO notifications (id, key, template, recipient, audience_org, params, caused_by, channels, next_attempt_at, useful_until)
         SELECT id, key, template, recipient::json, org, params::json, caused_by,
                ARRAY(SELECT jsonb_array_elements_text(ch)), next, until
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $10::text[], $5::text[], $6::uuid[], $7::jsonb[], $8::timestamptz[], $9::timestamptz[])
              AS t(id, key, template, recipient, org, params, caused_by, ch, next, until)
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(ids)
    .bind(keys)
    .bind(templates)
    .bind(recipients)
    .bind(params)
    .bind(caused)
    .bind(channels)
    .bind(next)
    .bind(until)
    .bind(orgs)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        wake_deliveries(conn).await?;
    }
    Ok(done.rows_affected())
}

/// Wakes the delivery loops (`LISTEN hongyan_deliveries`) once the transaction commits.
async fn wake_deliveries(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify('hongyan_deliveries', '')")
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims up to `limit` notifications due at `now` (and any whose worker vanished), so no
/// other worker takes them until `claim_until`.
pub async fn claim(
    pool: &PgPool,
    now: DateTime<Utc>,
    claim_until: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<Due>> {
    let rows = sqlx::query(concat!(
        "WITH picked AS (
             SELECT id, status AS was, claimed_until AS was_until FROM notifications
             WHERE (status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND claimed_until < $1)
             ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         UPDATE notifications n SET status = 'sending', attempts = n.attempts + 1, claimed_until = $2, updated_at = now()
         FROM picked WHERE n.id = picked.id
         RETURNING n.id, ",
        request_columns!(),
        ", n.channel_index, n.attempts, n.useful_until, n.uncertain_since, n.digest_id,
         CASE WHEN picked.was = 'sending' THEN picked.was_until - ($2::timestamptz - $1::timestamptz) END AS abandoned",
    ))
    .bind(now)
    .bind(claim_until)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut due = Vec::with_capacity(rows.len());
    let mut unreadable: Vec<(Uuid, String)> = Vec::new();
    for r in rows {
        match read_due(&r) {
            Ok(d) => due.push(d),
            Err(e) => unreadable.push((r.try_get("id")?, e.to_string())),
        }
    }
    fail_unreadable(pool, &unreadable).await?;
    Ok(due)
}

/// One claimed row as the delivery loop works on it.
fn read_due(r: &sqlx::postgres::PgRow) -> sqlx::Result<Due> {
    Ok(Due {
        id: r.try_get("id")?,
        request: read_request(r)?,
        channel_index: r.try_get::<i32, _>("channel_index")? as usize,
        attempt: r.try_get::<i32, _>("attempts")? as u32,
        useful_until: r.try_get("useful_until")?,
        abandoned: r.try_get("abandoned")?,
        uncertain_since: r.try_get("uncertain_since")?,
        digest_id: r.try_get("digest_id")?,
    })
}

/// A claimed row that does not read back fails on its own, saying why, so the rest of its
/// batch goes on and it is never claimed again.
async fn fail_unreadable(pool: &PgPool, rows: &[(Uuid, String)]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
    let reasons: Vec<String> = rows
        .iter()
        .map(|(_, e)| {
            hongyan_domain::ids::mask_phones_in_text(&format!(
                "{e}; hongyan stored something it cannot read: fix the row (or its ledger entry) and replay the request."
            ))
        })
        .collect();
    for (id, reason) in ids.iter().zip(&reasons) {
        tracing::error!(notification_id = %id, reason = %reason, "A claimed notification does not read back; it is failed alone and the round goes on.");
    }
    sqlx::query(
        "UPDATE notifications n SET status = 'failed', last_error = u.reason, claimed_until = NULL, updated_at = now()
         FROM UNNEST($1::uuid[], $2::text[]) AS u(id, reason) WHERE n.id = u.id",
    )
    .bind(ids)
    .bind(reasons)
    .execute(pool)
    .await?;
    Ok(())
}

/// Why a stored request does not read back: which column, with the error behind it as the
/// source. It travels inside `sqlx::Error::Decode` to the claim, which fails the row with it.
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error("a stored notification does not read back: {0}")]
    Recipient(#[source] serde_json::Error),
    #[error("a stored notification does not read back: {0}")]
    Org(#[source] IdError),
    #[error("a stored notification does not read back: {0}")]
    Params(#[source] serde_json::Error),
    #[error("a stored notification does not read back: it names neither a recipient nor an org")]
    NoAddressee,
}

impl From<Unreadable> for sqlx::Error {
    fn from(e: Unreadable) -> Self {
        sqlx::Error::Decode(Box::new(e))
    }
}

/// Who a stored request is for: its recipient's JSON, else its org.
fn addressee(recipient: Option<&str>, org: Option<&str>) -> Result<To, Unreadable> {
    match (recipient, org) {
        (Some(r), _) => Ok(To::Recipient(
            serde_json::from_str(r).map_err(Unreadable::Recipient)?,
        )),
        (None, Some(org)) => Ok(To::Org(OrgId::parse(org).map_err(Unreadable::Org)?)),
        (None, None) => Err(Unreadable::NoAddressee),
    }
}

/// A stored request, from the `request_columns!()` of a row.
fn read_request(r: &sqlx::postgres::PgRow) -> sqlx::Result<NotificationRequest> {
    let recipient: Option<&str> = r.try_get("recipient")?;
    let org: Option<&str> = r.try_get("audience_org")?;
    let params: &str = r.try_get("params")?;
    let to = addressee(recipient, org)?;
    Ok(NotificationRequest {
        key: r.try_get("key")?,
        template: r.try_get("template")?,
        to,
        params: serde_json::from_str(params).map_err(Unreadable::Params)?,
        caused_by: hongyan_domain::ids::EventId(
            r.try_get::<Option<Uuid>, _>("caused_by")?
                .unwrap_or_default(),
        ),
    })
}

/// Sends failed notifications again from their first channel: what an operator's `parked
/// replay` of a failed notification means. Returns how many were revived.
pub async fn revive(
    conn: &mut PgConnection,
    keys: &[&str],
    now: DateTime<Utc>,
    until: &[DateTime<Utc>],
) -> sqlx::Result<u64> {
    if keys.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(
        "UPDATE notifications n SET status = 'pending', attempts = 0, channel_index = 0, next_attempt_at = $2,
             useful_until = greatest(n.useful_until, u.until), claimed_until = NULL, uncertain_since = NULL,
             last_error = 'replayed after: ' || coalesce(n.last_error, ''), updated_at = now()
         FROM UNNEST($1::text[], $3::timestamptz[]) AS u(key, until)
         WHERE n.key = u.key AND n.status = 'failed'",
    )
    .bind(keys)
    .bind(now)
    .bind(until)
    .execute(&mut *conn)
    .await?;
    // A digest replayed takes back the notices it gathered: they settle with it again.
    sqlx::query(
        "UPDATE notifications g SET status = 'gathered', updated_at = now()
         FROM notifications d
         WHERE d.key = ANY($1) AND d.status = 'pending' AND g.digest_id = d.id AND g.id <> d.id AND g.status = 'failed'",
    )
    .bind(keys)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        wake_deliveries(conn).await?;
    }
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn an_unreadable_addressee_says_which_column_and_keeps_its_cause() {
        let e = addressee(Some("{"), Some("b1")).unwrap_err();
        assert!(matches!(e, Unreadable::Recipient(_)), "{e:?}");
        let e = addressee(None, Some("张三")).unwrap_err();
        assert!(matches!(e, Unreadable::Org(IdError::Id(_))), "{e:?}");
        assert!(matches!(
            addressee(None, None),
            Err(Unreadable::NoAddressee)
        ));
        assert!(matches!(addressee(None, Some("b1")), Ok(To::Org(_))));

        // In the sqlx error the claim sees, the sentence is the same and the chain is kept.
        let sqlx_error = sqlx::Error::from(addressee(Some("[1"), None).unwrap_err());
        assert!(
            sqlx_error
                .to_string()
                .contains("a stored notification does not read back: "),
            "{sqlx_error}"
        );
        let unreadable = sqlx_error.source().expect("the Unreadable");
        assert!(unreadable.source().is_some(), "serde's error is kept");
    }
}
