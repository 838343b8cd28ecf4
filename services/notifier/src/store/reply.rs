//! Replies (上行短信): who sent one, read through the registry's `notifier_reply_senders` view
//! (migration 0020), and the reply stored once with what it causes, in one transaction.

use chrono::{DateTime, Utc};
use hongyan_adapters::store::rows::OutboxRow;
use hongyan_adapters::store::writes;
use hongyan_domain::ids::{MemberId, OrgId, Phone};
use hongyan_domain::payloads::Contact;
use hongyan_domain::replies::Reply;
use sqlx::PgPool;

use crate::intake::Row;

/// A member whose open record has the reply's phone, with their home branch's contact (专人).
#[derive(Clone, Debug)]
pub struct Sender {
    pub member_id: MemberId,
    pub name: String,
    pub home_org_id: OrgId,
    /// `None` when the branch's stored contact does not read back (then nobody is told).
    pub branch_contact: Option<Contact>,
}

/// The members with an open record on `phone` (two may share one phone).
pub async fn senders(pool: &PgPool, phone: &Phone) -> sqlx::Result<Vec<Sender>> {
    let rows: Vec<(String, String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT member_id, name, home_org_id, branch_contact FROM notifier_reply_senders
         WHERE phone = $1 ORDER BY member_id",
    )
    .bind(phone.as_str())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(member, name, home, contact)| {
            Some(Sender {
                member_id: MemberId::parse(&member).ok()?,
                name,
                home_org_id: OrgId::parse(&home).ok()?,
                branch_contact: serde_json::from_value(contact).ok(),
            })
        })
        .collect())
}

/// What a reply causes: the events for the registry and the notifications to send.
#[derive(Debug, Default)]
pub struct Caused {
    pub outbox: Vec<OutboxRow>,
    pub notices: Vec<Row>,
}

/// Stores `reply` (with the members it matched and what it meant) and, in the same transaction,
/// what it causes. Returns false, changing nothing, when the same reply (provider, phone, time,
/// text) was taken before: providers push a reply again when our answer is lost.
pub async fn record(
    pool: &PgPool,
    reply: &Reply,
    meaning: &str,
    members: &[&str],
    caused: &Caused,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let stored = sqlx::query(
        "INSERT INTO sms_replies (id, provider, phone, sent_at, text, received_at, member_ids, meaning)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(reply.id())
    .bind(reply.provider)
    .bind(reply.phone.as_str())
    .bind(&reply.sent_at)
    .bind(&reply.text)
    .bind(now)
    .bind(members)
    .bind(meaning)
    .execute(&mut *tx)
    .await?;
    if stored.rows_affected() == 0 {
        return Ok(false);
    }
    writes::outbox(&mut tx, &caused.outbox).await?;
    super::insert(&mut tx, &caused.notices).await?;
    tx.commit().await?;
    Ok(true)
}
