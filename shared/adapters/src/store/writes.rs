//! Writes that more than one role makes: the outbox (every role that tells someone). Rows of
//! one kind go in one statement (`UNNEST` over arrays). The ledger's tables, history included,
//! have one writer, the registry (`hongyan-registry`'s `sql::writes`).

use sqlx::PgConnection;

use super::rows::OutboxRow;

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
