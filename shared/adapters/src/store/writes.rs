//! Writes that more than one role makes: history lines (the registry, the scheduler's monthly
//! review) and the outbox (every role that tells someone). Rows of one kind go in one
//! statement (`UNNEST` over arrays). The registry's own writes are in `hongyan-registry`
//! (`sql::writes`).

use chrono::{DateTime, FixedOffset, Utc};
use sqlx::PgConnection;

use super::rows::{HistoryRow, OutboxRow};

fn utc(t: DateTime<FixedOffset>) -> DateTime<Utc> {
    t.with_timezone(&Utc)
}

pub async fn history(conn: &mut PgConnection, rows: &[HistoryRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ev: Vec<uuid::Uuid> = rows.iter().map(|r| r.event_id.0).collect();
    let ty: Vec<&str> = rows.iter().map(|r| r.event_type).collect();
    let member: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.member_id.as_ref().map(|m| m.as_str()))
        .collect();
    let org: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.org_id.as_ref().map(|o| o.as_str()))
        .collect();
    let rec: Vec<Option<uuid::Uuid>> = rows.iter().map(|r| r.record_id).collect();
    let at: Vec<DateTime<Utc>> = rows.iter().map(|r| utc(r.occurred_at)).collect();
    let actor: Vec<&serde_json::Value> = rows.iter().map(|r| &r.actor).collect();
    let data: Vec<&serde_json::Value> = rows.iter().map(|r| &r.data).collect();
    let applied: Vec<bool> = rows.iter().map(|r| r.applied).collect();
    let note: Vec<Option<&str>> = rows.iter().map(|r| r.note.as_deref()).collect();
    sqlx::query(
        "INSERT INTO history (event_id, event_type, member_id, org_id, record_id, occurred_at, actor, data, applied, note)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::timestamptz[],
             $7::jsonb[], $8::jsonb[], $9::bool[], $10::text[])",
    )
    .bind(ev)
    .bind(ty)
    .bind(member)
    .bind(org)
    .bind(rec)
    .bind(at)
    .bind(actor)
    .bind(data)
    .bind(applied)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues messages for the relay and wakes it.
pub async fn outbox(conn: &mut PgConnection, rows: &[OutboxRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = rows.iter().map(|r| r.routing_key.as_str()).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.message_id.as_str()).collect();
    let payloads: Vec<&str> = rows.iter().map(|r| r.payload.as_str()).collect();
    let reasons: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.park.as_ref().map(|p| p.reason.as_str()))
        .collect();
    let sources: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.park.as_ref().map(|p| p.source_queue.as_str()))
        .collect();
    sqlx::query("INSERT INTO outbox (routing_key, message_id, payload, park_reason, park_source_queue) SELECT k, m, p::json, r, q FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(k, m, p, r, q)")
        .bind(keys)
        .bind(ids)
        .bind(payloads)
        .bind(reasons)
        .bind(sources)
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_notify('hongyan_outbox', '')")
        .execute(conn)
        .await?;
    Ok(())
}
