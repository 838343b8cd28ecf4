//! The notifications table: intake inserts (idempotent on the key), the delivery loop claims
//! what is due and records every attempt.

use chrono::{DateTime, Utc};
use hongyan_adapters::store::rows::OutboxRow;
use hongyan_adapters::store::writes;
use hongyan_domain::Phone;
use hongyan_domain::ids::{MemberId, OrgId};
use hongyan_domain::notify::{NotificationRequest, Recipient, Role, To};
use hongyan_domain::payloads::Chat;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

/// The columns of `notifications n` that [`read_request`] reads.
macro_rules! request_columns {
    () => {
        "n.key, n.template, n.recipient::text AS recipient, n.audience_org, n.params::text AS params, n.caused_by"
    };
}

/// A notification as the delivery loop works on it.
#[derive(Clone, Debug)]
pub struct Due {
    pub id: Uuid,
    pub request: NotificationRequest,
    pub channels: Vec<String>,
    pub channel_index: usize,
    /// This attempt's number, counting from 1.
    pub attempt: u32,
    pub useful_until: DateTime<Utc>,
    /// The previous claim ran out without a recorded answer: its worker died, maybe mid-send.
    pub abandoned: bool,
    /// Since when an abandoned send has waited for a receipt.
    pub uncertain_since: Option<DateTime<Utc>>,
}

impl Due {
    pub fn channel(&self) -> Option<&str> {
        self.channels.get(self.channel_index).map(String::as_str)
    }
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
        sqlx::query("SELECT pg_notify('hongyan_deliveries', '')")
            .execute(conn)
            .await?;
    }
    Ok(done.rows_affected())
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
             SELECT id, status AS was FROM notifications
             WHERE (status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND claimed_until < $1)
             ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         UPDATE notifications n SET status = 'sending', attempts = n.attempts + 1, claimed_until = $2, updated_at = now()
         FROM picked WHERE n.id = picked.id
         RETURNING n.id, ",
        request_columns!(),
        ", n.channels, n.channel_index, n.attempts, n.useful_until, picked.was, n.uncertain_since",
    ))
    .bind(now)
    .bind(claim_until)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Due {
                id: r.try_get("id")?,
                request: read_request(&r)?,
                channels: r.try_get("channels")?,
                channel_index: r.try_get::<i32, _>("channel_index")? as usize,
                attempt: r.try_get::<i32, _>("attempts")? as u32,
                useful_until: r.try_get("useful_until")?,
                abandoned: r.try_get::<&str, _>("was")? == "sending",
                uncertain_since: r.try_get("uncertain_since")?,
            })
        })
        .collect()
}

/// A stored request, from the `request_columns!()` of a row.
fn read_request(r: &sqlx::postgres::PgRow) -> sqlx::Result<NotificationRequest> {
    let recipient: Option<&str> = r.try_get("recipient")?;
    let org: Option<String> = r.try_get("audience_org")?;
    let params: &str = r.try_get("params")?;
    let bad = |e: String| {
        sqlx::Error::Decode(format!("a stored notification does not read back: {e}").into())
    };
    let to = match (recipient, org) {
        (Some(r), _) => To::Recipient(serde_json::from_str(r).map_err(|e| bad(e.to_string()))?),
        (None, Some(org)) => To::Org(OrgId::parse(&org).map_err(|e| bad(e.to_string()))?),
        (None, None) => return Err(bad("it names neither a recipient nor an org".into())),
    };
    Ok(NotificationRequest {
        key: r.try_get("key")?,
        template: r.try_get("template")?,
        to,
        params: serde_json::from_str(params).map_err(|e| bad(e.to_string()))?,
        caused_by: hongyan_domain::ids::EventId(
            r.try_get::<Option<Uuid>, _>("caused_by")?
                .unwrap_or_default(),
        ),
    })
}

/// One attempt as recorded.
#[derive(Clone, Debug)]
pub struct Attempt<'a> {
    pub channel: &'a str,
    pub provider: &'a str,
    pub provider_message_id: Option<&'a str>,
    pub status: &'a str,
    pub error_code: Option<&'a str>,
    pub error: Option<&'a str>,
    pub latency_ms: i32,
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
    status: String,
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
            status: a.status.to_owned(),
            error_code: a.error_code.map(str::to_owned),
            error: a.error.map(str::to_owned),
            latency_ms: a.latency_ms,
        });
        let s = Settlement {
            id: due.id,
            attempt_no: due.attempt as i32,
            attempt,
            next: next.clone(),
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
        let (mut r_id, mut r_at, mut f_id, mut f_reason) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
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
                Next::AwaitReceipt { at } => {
                    r_id.push(s.id);
                    r_at.push(*at);
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
                     attempts = n.attempts - 1, claimed_until = NULL, updated_at = now()
                 FROM UNNEST($1::uuid[], $2::timestamptz[]) AS u(id, at)
                 WHERE n.id = u.id AND n.status = 'sending'",
            )
            .bind(r_id)
            .bind(r_at)
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
        let announce: Vec<OutboxRow> = all
            .iter()
            .flat_map(|s| s.announce.iter().cloned())
            .collect();
        writes::outbox(&mut tx, &announce).await?;
        tx.commit().await?;
        Ok(all.len())
    }
}

/// A delivery receipt: the provider's last word on a notification it accepted. Matched by our
/// notification id when the receipt carries it, else by the provider's message id. A receipt
/// saying the message never arrived fails the notification, announced and parked like any
/// failure (for `source_queue`, the notifier's). Returns whether it matched a notification.
pub async fn receipt(
    pool: &PgPool,
    provider: &str,
    r: &crate::providers::SmsReceipt,
    source_queue: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let id = r
        .notification_id
        .as_deref()
        .and_then(|s| Uuid::parse_str(s).ok());
    let (status, text) = if r.delivered {
        (
            "delivered",
            format!("delivered {} {}", r.code, r.reported_at),
        )
    } else {
        (
            "failed",
            format!(
                "not delivered: {} {} {}",
                r.code, r.description, r.reported_at
            ),
        )
    };
    let mut tx = pool.begin().await?;
    let matched = sqlx::query(concat!(
        "SELECT n.id, n.status, n.attempts, n.channels, n.channel_index, ",
        request_columns!(),
        " FROM notifications n WHERE n.id = $1 OR (n.provider = $2 AND n.provider_message_id = $3)
         FOR UPDATE"
    ))
    .bind(id)
    .bind(provider)
    .bind(&r.provider_message_id)
    .fetch_all(&mut *tx)
    .await?;
    if matched.is_empty() {
        return Ok(false);
    }
    let ids: Vec<Uuid> = matched
        .iter()
        .map(|m| m.try_get("id"))
        .collect::<sqlx::Result<_>>()?;
    sqlx::query(
        "UPDATE notifications SET receipt = $2, status = $3, provider = coalesce(provider, $4),
             last_error = CASE WHEN $3 = 'failed' THEN $2 ELSE last_error END, claimed_until = NULL, updated_at = now()
         WHERE id = ANY($1)",
    )
    .bind(&ids)
    .bind(&text)
    .bind(status)
    .bind(provider)
    .execute(&mut *tx)
    .await?;
    let mut announced = Vec::new();
    for m in matched.iter().filter(|_| !r.delivered) {
        if m.try_get::<&str, _>("status")? == "failed" {
            continue;
        }
        let request = read_request(m)?;
        let channels: Vec<String> = m.try_get("channels")?;
        let index = m.try_get::<i32, _>("channel_index")? as usize;
        let end = crate::announce::End {
            id: m.try_get("id")?,
            request: &request,
            attempts: m.try_get::<i32, _>("attempts")? as u32,
            channel: channels.get(index).map(String::as_str).unwrap_or("sms"),
            provider,
            now,
        };
        announced.extend(crate::announce::failed(end, &text, source_queue));
    }
    writes::outbox(&mut tx, &announced).await?;
    tx.commit().await?;
    Ok(true)
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
    if done.rows_affected() > 0 {
        sqlx::query("SELECT pg_notify('hongyan_deliveries', '')")
            .execute(conn)
            .await?;
    }
    Ok(done.rows_affected())
}

/// An audience org as a broadcast needs it.
#[derive(Clone, Debug)]
pub struct AudienceOrg {
    pub name: String,
    pub chat: Option<Chat>,
}

/// The orgs of these broadcasts, read once per round. An org missing here is unknown.
pub async fn audience_orgs(
    pool: &PgPool,
    ids: &[&str],
) -> sqlx::Result<std::collections::HashMap<String, AudienceOrg>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(String, String, Option<serde_json::Value>)> =
        sqlx::query_as("SELECT id, name, chat FROM orgs WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, chat)| {
            // A chat that does not read is treated as none: its members get SMS instead.
            let chat = chat.and_then(|c| serde_json::from_value(c).ok());
            (id, AudienceOrg { name, chat })
        })
        .collect())
}

/// The flowing members a broadcast to `org` reaches when it has no robot: those of its own
/// branch who are away, and those checked in with it (an inflow org), on their current phone.
pub async fn audience_members(
    pool: &PgPool,
    org: &str,
) -> sqlx::Result<Vec<(MemberId, Recipient)>> {
    let rows: Vec<(String, String, String, Option<serde_json::Value>, String)> = sqlx::query_as(
        "SELECT m.id, m.doc->>'name', f.phone, m.doc->'channels', m.home_org_id
         FROM flow_records f JOIN members m ON m.id = f.member_id
         WHERE f.is_open AND (f.home_org_id = $1 OR f.inflow_org_id = $1)
         ORDER BY m.id",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, name, phone, channels, home)| {
            let channels: Vec<String> = channels
                .and_then(|c| serde_json::from_value(c).ok())
                .unwrap_or_default();
            let id = MemberId::parse(&id).ok()?;
            let person = Recipient {
                role: Role::Member,
                name,
                phone: Phone::parse(&phone).ok()?,
                channels,
                member_id: Some(id.clone()),
                org_id: OrgId::parse(&home).ok(),
            };
            Some((id, person))
        })
        .collect())
}
