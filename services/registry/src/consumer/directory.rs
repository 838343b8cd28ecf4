//! The live directory (Redis) after a batch commits.

use super::*;

/// After commit: the live directory follows. A failure here loses nothing (PostgreSQL is the
/// truth): the directory is marked behind and the watcher rebuilds it once Redis answers.
pub(super) async fn write_through(reg: &Registry, applied: &Applied) {
    let places = reg
        .directory
        .put(&applied.places)
        .await
        .map(|_| ())
        .map_err(anyhow::Error::from);
    let stations = if applied.stations_changed {
        refresh_stations(reg).await
    } else {
        Ok(())
    };
    if let Err(e) = places.and(stations) {
        tracing::warn!(
            error = format!("{e:#}"),
            "Live directory not updated; it will be rebuilt from PostgreSQL."
        );
        reg.directory_behind.store(true, Ordering::SeqCst);
    }
}

async fn refresh_stations(reg: &Registry) -> anyhow::Result<()> {
    let mut conn = reg.pool.acquire().await?;
    let points = hongyan_adapters::store::reads::station_points(&mut conn).await?;
    reg.directory.put_stations(&points).await?;
    Ok(())
}
