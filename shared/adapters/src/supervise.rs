//! Supervisors around long-lived loops: a loop that fails logs why, waits with growing delays
//! and starts again, until shutdown. A panic is not caught: it ends the process so the
//! orchestrator restarts it rather than leaving it half alive (see [`crate::tasks`]).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::shutdown::sleep_or_cancel;

/// Runs `make()` until it returns `Ok` or shutdown fires, restarting it after errors with
/// delays from 200 ms doubling to 30 s. A run that lasted a minute resets the delay.
pub async fn supervise<F, Fut>(name: &'static str, shutdown: CancellationToken, mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut delay = Duration::from_millis(200);
    loop {
        let started = tokio::time::Instant::now();
        match make().await {
            Ok(()) => return,
            Err(e) if shutdown.is_cancelled() => {
                tracing::info!(
                    task = name,
                    error = format!("{e:#}"),
                    "Stopped during shutdown."
                );
                return;
            }
            Err(e) => {
                if started.elapsed() > Duration::from_secs(60) {
                    delay = Duration::from_millis(200);
                }
                tracing::warn!(
                    task = name,
                    error = format!("{e:#}"),
                    retry_in_ms = delay.as_millis() as u64,
                    "Failed; restarting."
                );
                if !sleep_or_cancel(delay, &shutdown).await {
                    return;
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Waits until `make()` succeeds (a server that is still starting, or away), logging each
/// failure with what it waits for, with delays from 200 ms doubling to 10 s. `None` when
/// shutdown comes first. Every role waits for its servers this same way.
pub async fn wait_for<T, F, Fut>(
    what: &'static str,
    shutdown: &CancellationToken,
    mut make: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut delay = Duration::from_millis(200);
    loop {
        match make().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(
                    waiting_for = what,
                    error = format!("{e:#}"),
                    retry_in_ms = delay.as_millis() as u64,
                    "Not reachable yet; waiting."
                );
                if !sleep_or_cancel(delay, shutdown).await {
                    return None;
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}
