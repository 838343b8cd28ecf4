//! `Authorization: Bearer <key>` (DESIGN.md section 7) and the per-key request rate.
//!
//! A key is looked up by its SHA-256 (as stored) and trusted in memory for [`KEY_TTL`], so the
//! hot path costs no PostgreSQL round trip; a revoked key therefore stops working within that
//! time. `last_used_at` is written at most once per [`TOUCH_EVERY`] per key, in the background,
//! so reads do not turn into a write each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hongyan_adapters::store::keys;
use sqlx::PgPool;

use crate::limit::{Buckets, Verdict};
use crate::problem::Problem;
use crate::scope::{Orgs, Viewer};

/// How long a key checked against PostgreSQL is trusted without asking again.
const KEY_TTL: Duration = Duration::from_secs(10);
/// How often a key's `last_used_at` is written.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Known {
    key_id: uuid::Uuid,
    org_id: String,
    region: String,
    checked: Instant,
    touched: Instant,
}

/// Everything `/v1` requests pass through before their handler.
pub struct Gate {
    pool: PgPool,
    keys: Mutex<HashMap<Vec<u8>, Known>>,
    buckets: Buckets,
    orgs: Arc<Orgs>,
}

impl Gate {
    pub fn new(pool: PgPool, requests_per_minute: u32) -> Self {
        Self {
            orgs: Arc::new(Orgs::new(pool.clone())),
            pool,
            keys: Mutex::new(HashMap::new()),
            buckets: Buckets::per_minute(requests_per_minute),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Known>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The caller of a key text, or why it is refused.
    async fn viewer(&self, key: &str) -> Result<Viewer, Problem> {
        let hash = keys::key_hash(key);
        let cached = self.lock().get(&hash).cloned();
        let known = match cached {
            Some(k) if k.checked.elapsed() < KEY_TTL => k,
            _ => match self.check(&hash).await? {
                Some(k) => k,
                None => {
                    self.lock().remove(&hash);
                    return Err(Problem::unauthorized(
                        "This API key is unknown or revoked: ask your county department for a key (hongyan keys create --org ID).",
                    ));
                }
            },
        };
        if known.touched.elapsed() >= TOUCH_EVERY || known.touched == known.checked {
            self.touch(&hash, known.key_id);
        }
        Ok(Viewer {
            key_id: known.key_id,
            org_id: known.org_id,
            region: known.region,
            orgs: self.orgs.clone(),
        })
    }

    async fn check(&self, hash: &[u8]) -> Result<Option<Known>, Problem> {
        let row: Option<(uuid::Uuid, String, String)> = sqlx::query_as(
            "SELECT k.id, k.org_id, o.region_code FROM api_keys k JOIN orgs o ON o.id = k.org_id \
             WHERE k.key_sha256 = $1 AND k.revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((key_id, org_id, region)) = row else {
            return Ok(None);
        };
        let now = Instant::now();
        let mut map = self.lock();
        let touched = map.get(hash).map_or(now, |k| k.touched);
        let known = Known {
            key_id,
            org_id,
            region,
            checked: now,
            touched,
        };
        map.insert(hash.to_vec(), known.clone());
        Ok(Some(known))
    }

    /// Records the key's use, at most once a minute, without holding up the request.
    fn touch(&self, hash: &[u8], key_id: uuid::Uuid) {
        if let Some(k) = self.lock().get_mut(hash) {
            // Marked first so concurrent requests do not all write.
            k.touched = Instant::now() + Duration::from_nanos(1);
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            if let Err(e) = sqlx::query("UPDATE api_keys SET last_used_at = now() WHERE id = $1")
                .bind(key_id)
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %e, "Could not record an API key's last use.");
            }
        });
    }
}

/// The middleware: a known, unrevoked key within its rate, or a problem.
pub async fn require_key(State(gate): State<Arc<Gate>>, mut req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return Problem::unauthorized(
            "No API key: send Authorization: Bearer <key> (hongyan keys create --org ID makes one).",
        )
        .into_response();
    };
    let viewer = match gate.viewer(key).await {
        Ok(v) => v,
        Err(p) => return p.into_response(),
    };
    if let Verdict::Wait(after) = gate.buckets.take(viewer.key_id, Instant::now()) {
        return Problem::too_many(after).into_response();
    }
    req.extensions_mut().insert(viewer);
    next.run(req).await
}
