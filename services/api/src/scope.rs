//! What an API key may see (DESIGN.md section 7): the caller's org sees its own subtree; as an
//! inflow org it also sees the members checked in with it (or with an org of its subtree) and
//! the open records whose destination lies in its region. Anything else is answered 404, never
//! 403, so ids cannot be probed. Every handler asks here; nothing else decides visibility.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hongyan_adapters::directory::Place;
use sqlx::PgPool;

/// How long an org's place in the tree is trusted in memory. Orgs move rarely (an
/// `org.upserted` with a new parent); a move is seen by the API within this time.
const ORG_TTL: Duration = Duration::from_secs(60);

/// The calling org, as its key names it.
#[derive(Clone)]
pub struct Viewer {
    pub key_id: uuid::Uuid,
    pub org_id: String,
    /// The caller's own region code (its inflow area).
    pub region: String,
    pub orgs: Arc<Orgs>,
}

/// The prefix of region codes that lie within `code`: a 6-digit province or city padded with
/// zeros is its 2 or 4 digits, a county its 6, a township its 9, a village its 12. `None` for
/// anything else.
pub fn region_prefix(code: &str) -> Option<&str> {
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match code.len() {
        2 | 4 | 9 | 12 => Some(code),
        6 if code.ends_with("0000") => Some(&code[..2]),
        6 if code.ends_with("00") => Some(&code[..4]),
        6 => Some(code),
        _ => None,
    }
}

/// Whether a destination `code` lies within the region `area`.
pub fn region_within(code: &str, area: &str) -> bool {
    match (region_prefix(code), region_prefix(area)) {
        (Some(c), Some(a)) => c.starts_with(a),
        _ => false,
    }
}

/// Whether `viewer_org` sees a member whose home org has `home_path`, who is checked in with an
/// org whose path is `inflow_path`, at `region`: the pure rule.
pub fn sees(
    viewer_org: &str,
    viewer_region: &str,
    home_path: &[String],
    inflow_path: Option<&[String]>,
    region: &str,
) -> bool {
    home_path.iter().any(|o| o == viewer_org)
        || inflow_path.is_some_and(|p| p.iter().any(|o| o == viewer_org))
        || region_within(region, viewer_region)
}

impl Viewer {
    /// Whether an org lies in the caller's subtree.
    pub async fn sees_org(&self, org_id: &str) -> Result<bool, sqlx::Error> {
        Ok(self
            .orgs
            .path(org_id)
            .await?
            .is_some_and(|p| p.contains(&self.org_id)))
    }

    /// Whether a member's directory entry is visible to the caller.
    pub async fn sees_place(&self, place: &Place) -> Result<bool, sqlx::Error> {
        let home = self
            .orgs
            .path(&place.home_org_id)
            .await?
            .unwrap_or_default();
        let inflow = match &place.inflow_org_id {
            Some(o) => self.orgs.path(o).await?,
            None => None,
        };
        Ok(sees(
            &self.org_id,
            &self.region,
            &home,
            inflow.as_deref(),
            &place.region_code,
        ))
    }
}

/// An org's path and when it was read.
type Cached = HashMap<String, (Arc<[String]>, Instant)>;

/// Orgs' paths from the root, cached for [`ORG_TTL`]: a scope check on the hot path (a member's
/// location) costs no PostgreSQL round trip.
pub struct Orgs {
    pool: PgPool,
    paths: Mutex<Cached>,
}

impl Orgs {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            paths: Mutex::new(HashMap::new()),
        }
    }

    /// The org's path from the root, itself included; `None` for an unknown org.
    pub async fn path(&self, org_id: &str) -> Result<Option<Arc<[String]>>, sqlx::Error> {
        if let Some((p, at)) = self.lock().get(org_id)
            && at.elapsed() < ORG_TTL
        {
            return Ok(Some(p.clone()));
        }
        let row: Option<(Vec<String>,)> = sqlx::query_as("SELECT path FROM orgs WHERE id = $1")
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some((path,)) = row else {
            return Ok(None);
        };
        let path: Arc<[String]> = path.into();
        self.lock()
            .insert(org_id.to_owned(), (path.clone(), Instant::now()));
        Ok(Some(path))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts).
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_org_sees_its_subtree() {
        let home = path(&["c1", "t1", "b1"]);
        assert!(sees("c1", "522636", &home, None, "440106001"));
        assert!(sees("t1", "522636100", &home, None, "440106001"));
        assert!(sees("b1", "522636100201", &home, None, "440106001"));
        assert!(!sees("b2", "522636100202", &home, None, "440106001"));
    }

    #[test]
    fn an_inflow_org_sees_who_checked_in_with_it_and_its_region() {
        let home = path(&["c1", "t1", "b1"]);
        let park = path(&["gz", "gz-park"]);
        assert!(sees("gz-park", "999999", &home, Some(&park), "110101"));
        assert!(sees("gz", "999999", &home, Some(&park), "110101"));
        assert!(sees("gz", "440106", &home, None, "440106001"));
        assert!(sees("sz", "440300", &home, None, "440305001002"));
        assert!(!sees("sz", "440300", &home, Some(&park), "440106001"));
    }

    #[test]
    fn regions_nest_by_their_padded_prefix() {
        assert!(region_within("440305001", "440000"));
        assert!(region_within("440305001", "440300"));
        assert!(region_within("440305001002", "440305001"));
        assert!(!region_within("440305001003", "440305001002"));
        assert!(!region_within("440106001", "440300"));
        assert!(!region_within("44030", "44"));
        assert_eq!(region_prefix("522636"), Some("522636"));
        assert_eq!(region_prefix("abc"), None);
    }
}
