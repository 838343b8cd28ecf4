//! Delivery receipts: the provider's last word on a notification.

use chrono::{DateTime, Utc};
use hongyan_adapters::store::writes;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::read_request;

/// A delivery receipt: the provider's last word on a notification it accepted. Matched by our
/// notification id when the receipt carries it, else by the provider's message id. A receipt
/// saying the message never arrived fails the notification, announced and parked like any
/// failure (for `source_queue`, the notifier's). Returns whether it matched a notification.
#[tracing::instrument(skip_all, fields(provider = %provider, provider_message_id = %r.provider_message_id, delivered = r.delivered))]
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
    for id in &ids {
        tracing::debug!(notification_id = %id, status, "Receipt recorded.");
    }
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
