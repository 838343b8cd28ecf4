//! The live directory in Redis (DESIGN.md section 6): where each open record is now, per
//! member, per region (province, city, county), per home branch, and a GEO set of service
//! stations. PostgreSQL stays the truth: writes go through after commit with a
//! compare-and-set on the version, reads that miss fall back to PostgreSQL, and a flushed or
//! new Redis is rebuilt from PostgreSQL while the consumers keep running.
//!
//! Keys are built inside the Lua script from the prefix, which is fine for a single Redis
//! (hongyan's deployment) but would need hash tags on a cluster.

mod rebuild;

pub use rebuild::{rebuild, watch};

use std::collections::HashMap;

use anyhow::Context;
use hongyan_domain::ledger::FlowRecord;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sqlx::PgPool;

use crate::config::{RedisSettings, redact};

/// What the directory holds for one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub member_id: String,
    pub version: i64,
    pub status: String,
    pub region_code: String,
    pub inflow_org_id: Option<String>,
    pub home_org_id: String,
}

impl Place {
    pub fn of(rec: &FlowRecord) -> Self {
        Self {
            member_id: rec.member_id.as_str().to_owned(),
            version: rec.version,
            status: rec.status.as_str().to_owned(),
            region_code: rec.location.region_code.as_str().to_owned(),
            inflow_org_id: rec.inflow_org_id.as_ref().map(|o| o.as_str().to_owned()),
            home_org_id: rec.home_org_id.as_str().to_owned(),
        }
    }

    fn is_open(&self) -> bool {
        hongyan_domain::Status::parse(&self.status).is_some_and(|s| s.is_open())
    }
}

/// A nearby service station.
#[derive(Clone, Debug, PartialEq)]
pub struct NearStation {
    pub id: String,
    pub km: f64,
}

#[derive(Clone)]
pub struct Directory {
    conn: ConnectionManager,
    prefix: String,
    put: redis::Script,
}

const TOMBSTONE_TTL_SECS: u64 = 86_400;

impl Directory {
    /// Connects through a connection manager, which reconnects by itself after Redis restarts.
    pub async fn connect(settings: &RedisSettings) -> anyhow::Result<Self> {
        let client = redis::Client::open(settings.url.as_str())
            .with_context(|| format!("redis.url {} is not a Redis URL", redact(&settings.url)))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
            .set_response_timeout(Some(std::time::Duration::from_secs(5)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config).await.with_context(|| {
            format!("Could not connect to Redis at {}; start it (scripts/services) or fix redis.url", redact(&settings.url))
        })?;
        Ok(Self {
            conn,
            prefix: settings.prefix.clone(),
            put: redis::Script::new(include_str!("put.lua")),
        })
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        k.push_str(&parts.join(":"));
        k
    }

    /// Writes places; each is refused when the directory already holds its version or a newer
    /// one. Returns how many were written. One round trip for the lot.
    pub async fn put(&self, places: &[Place]) -> redis::RedisResult<usize> {
        if places.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn.clone();
        // Loads the script once so the pipeline can use EVALSHA.
        let _: () = self
            .put
            .prepare_invoke()
            .load_async(&mut conn)
            .await
            .map(|_: String| ())?;
        let mut pipe = redis::pipe();
        for p in places {
            pipe.cmd("EVALSHA")
                .arg(self.put.get_hash())
                .arg(1)
                .arg(self.key(&["member", &p.member_id]))
                .arg(&self.prefix)
                .arg(&p.member_id)
                .arg(p.version)
                .arg(if p.is_open() { "1" } else { "0" })
                .arg(&p.status)
                .arg(&p.region_code)
                .arg(p.inflow_org_id.as_deref().unwrap_or(""))
                .arg(&p.home_org_id)
                .arg(TOMBSTONE_TTL_SECS);
        }
        let written: Vec<i64> = pipe.query_async(&mut conn).await?;
        Ok(written.iter().filter(|w| **w == 1).count())
    }

    /// A member's current place as Redis holds it; `None` when absent or closed.
    pub async fn get(&self, member_id: &str) -> redis::RedisResult<Option<Place>> {
        let mut conn = self.conn.clone();
        let h: HashMap<String, String> = conn.hgetall(self.key(&["member", member_id])).await?;
        let Some(version) = h.get("version").and_then(|v| v.parse().ok()) else {
            return Ok(None);
        };
        let place = Place {
            member_id: member_id.to_owned(),
            version,
            status: h.get("status").cloned().unwrap_or_default(),
            region_code: h.get("region").cloned().unwrap_or_default(),
            inflow_org_id: h.get("inflow_org").filter(|s| !s.is_empty()).cloned(),
            home_org_id: h.get("home_org").cloned().unwrap_or_default(),
        };
        Ok(place.is_open().then_some(place))
    }

    /// A member's current place: Redis first, PostgreSQL when Redis misses or is away (and
    /// the answer is written back for the next reader).
    pub async fn locate(&self, pool: &PgPool, member_id: &str) -> anyhow::Result<Option<Place>> {
        match self.get(member_id).await {
            Ok(Some(p)) => return Ok(Some(p)),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "Directory read failed; reading PostgreSQL."),
        }
        let mut conn = pool.acquire().await?;
        let Some(rec) = crate::store::reads::open_record(&mut conn, member_id).await? else {
            return Ok(None);
        };
        let place = Place::of(&rec);
        if let Err(e) = self.put(std::slice::from_ref(&place)).await {
            tracing::debug!(error = %e, "Could not write a read-through answer back to Redis.");
        }
        Ok(Some(place))
    }

    /// Members whose open record lies in a region: a province (`440000`), city (`440100`) or
    /// county (`440106`) code.
    pub async fn in_region(&self, code: &str) -> redis::RedisResult<Vec<String>> {
        let mut conn = self.conn.clone();
        let mut v: Vec<String> = conn.smembers(self.key(&["region", code])).await?;
        v.sort();
        Ok(v)
    }

    /// Members of a home branch who are away.
    pub async fn of_branch(&self, org_id: &str) -> redis::RedisResult<Vec<String>> {
        let mut conn = self.conn.clone();
        let mut v: Vec<String> = conn.smembers(self.key(&["branch", org_id])).await?;
        v.sort();
        Ok(v)
    }

    /// Adds or moves service stations in the GEO set.
    pub async fn put_stations(&self, stations: &[(String, f64, f64)]) -> redis::RedisResult<()> {
        if stations.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("GEOADD");
        cmd.arg(self.key(&["stations"]));
        for (id, lon, lat) in stations {
            cmd.arg(*lon).arg(*lat).arg(id);
        }
        cmd.query_async::<i64>(&mut conn).await.map(|_| ())
    }

    /// The nearest stations to a point, nearest first, within `radius_km`.
    pub async fn nearest_stations(
        &self,
        lon: f64,
        lat: f64,
        radius_km: f64,
        count: usize,
    ) -> redis::RedisResult<Vec<NearStation>> {
        let mut conn = self.conn.clone();
        let found: Vec<(String, String)> = redis::cmd("GEOSEARCH")
            .arg(self.key(&["stations"]))
            .arg("FROMLONLAT")
            .arg(lon)
            .arg(lat)
            .arg("BYRADIUS")
            .arg(radius_km)
            .arg("km")
            .arg("ASC")
            .arg("COUNT")
            .arg(count)
            .arg("WITHDIST")
            .query_async(&mut conn)
            .await?;
        Ok(found
            .into_iter()
            .map(|(id, d)| NearStation {
                id,
                km: d.parse().unwrap_or(f64::NAN),
            })
            .collect())
    }

    fn built_key(&self) -> String {
        self.key(&["meta", "built"])
    }

    /// Whether the directory has been built since Redis last lost its data.
    pub async fn is_built(&self) -> redis::RedisResult<bool> {
        let mut conn = self.conn.clone();
        conn.exists(self.built_key()).await
    }

    async fn mark_built(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        conn.set(self.built_key(), chrono::Utc::now().to_rfc3339())
            .await
    }

    /// Takes a short lock so replicas do not all rebuild at once.
    async fn try_lock(&self, name: &str, ttl_ms: u64) -> redis::RedisResult<bool> {
        let mut conn = self.conn.clone();
        let got: Option<String> = redis::cmd("SET")
            .arg(self.key(&["lock", name]))
            .arg("1")
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut conn)
            .await?;
        Ok(got.is_some())
    }

    async fn unlock(&self, name: &str) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        conn.del(self.key(&["lock", name])).await
    }
}
