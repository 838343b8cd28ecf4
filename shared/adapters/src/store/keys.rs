//! API keys (DESIGN.md section 7): stored as SHA-256 only; the key text is shown once.

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// A key as listed: never its text.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub id: Uuid,
    pub org_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The SHA-256 of a key's text, as stored.
pub fn key_hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// A new random key: `hy_` and 64 hex digits (256 bits).
pub fn new_key_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("hy_{}", hex::encode(bytes))
}

/// Stores a new key for `org_id` and returns its id and text (the only time the text exists).
pub async fn create(pool: &PgPool, org_id: &str, name: &str) -> sqlx::Result<(Uuid, String)> {
    let id = Uuid::now_v7();
    let key = new_key_text();
    sqlx::query("INSERT INTO api_keys (id, org_id, name, key_sha256) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(org_id)
        .bind(name)
        .bind(key_hash(&key))
        .execute(pool)
        .await?;
    Ok((id, key))
}

/// An org's keys, oldest first.
pub async fn list(pool: &PgPool, org_id: &str) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query_as(
        "SELECT id, org_id, name, created_at, last_used_at, revoked_at FROM api_keys \
         WHERE org_id = $1 ORDER BY created_at, id",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await
}

/// Revokes a key; false when no unrevoked key has that id.
pub async fn revoke(pool: &PgPool, id: Uuid) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// The org of an unrevoked key, recording its use; None for an unknown or revoked key.
pub async fn authenticate(pool: &PgPool, key: &str) -> sqlx::Result<Option<(Uuid, String)>> {
    sqlx::query_as(
        "UPDATE api_keys SET last_used_at = now() \
         WHERE key_sha256 = $1 AND revoked_at IS NULL RETURNING id, org_id",
    )
    .bind(key_hash(key))
    .fetch_optional(pool)
    .await
}
