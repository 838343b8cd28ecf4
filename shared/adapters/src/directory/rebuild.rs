//! Rebuilding the directory from PostgreSQL, on demand and whenever Redis turns out empty.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Directory, Place};
use crate::shutdown::sleep_or_cancel;
use crate::store::reads;

const PAGE: i64 = 2_000;

/// Writes each member's newest record (open ones as entries, closed ones as tombstones that
/// replace a stale open entry) and every station into Redis, then marks the directory built.
/// Safe while consumers write through: both go through the version check, so whichever is
/// newer stays. Returns how many members are away.
pub async fn rebuild(dir: &Directory, pool: &sqlx::PgPool) -> anyhow::Result<usize> {
    let mut conn = pool.acquire().await?;
    let mut after = String::new();
    let mut away = 0;
    loop {
        let page = reads::latest_records_page(&mut conn, &after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.member_id.as_str().to_owned();
        let places: Vec<Place> = page.iter().map(Place::of).collect();
        dir.put(&places).await?;
        away += places.iter().filter(|p| p.is_open()).count();
    }
    dir.put_stations(&reads::station_points(&mut conn).await?)
        .await?;
    dir.mark_built().await?;
    Ok(away)
}

/// Keeps the directory present: checks every `every` that it is built (a Redis restart or
/// FLUSHALL removes the mark with everything else) and rebuilds when it is not, under a lock
/// so one replica does the work. `force` asks for a rebuild even when the mark is there: a
/// write-through that failed while Redis was unreachable left the directory behind.
pub async fn watch(
    dir: Directory,
    pool: sqlx::PgPool,
    every: Duration,
    force: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    loop {
        let built = dir
            .is_built()
            .await
            .map(|b| b && !force.load(Ordering::SeqCst));
        match built {
            Ok(true) => {}
            Ok(false) => match dir.try_lock("rebuild", 60_000).await {
                Ok(true) => {
                    let started = std::time::Instant::now();
                    force.store(false, Ordering::SeqCst);
                    match rebuild(&dir, &pool).await {
                        Ok(n) => tracing::info!(
                            members = n,
                            ms = started.elapsed().as_millis() as u64,
                            "Directory rebuilt from PostgreSQL."
                        ),
                        Err(e) => {
                            force.store(true, Ordering::SeqCst);
                            tracing::warn!(
                                error = format!("{e:#}"),
                                "Directory rebuild failed; trying again shortly."
                            );
                        }
                    }
                    let _ = dir.unlock("rebuild").await;
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "Redis away; directory check postponed."),
            },
            Err(e) => tracing::debug!(error = %e, "Redis away; directory check postponed."),
        }
        if !sleep_or_cancel(every, &shutdown).await {
            return;
        }
    }
}
