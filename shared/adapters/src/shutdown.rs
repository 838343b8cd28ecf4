//! One shutdown model (STYLE.md, "Running"): a token fired by SIGTERM or Ctrl-C; each role stops
//! intake when it fires, finishes what it holds, and returns before the deadline.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// A token that fires on SIGTERM or Ctrl-C.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let fire = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing the SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("Shutdown requested; finishing in-flight work.");
        fire.cancel();
    });
    token
}

/// Sleeps, unless shutdown comes first. Returns false when cancelled.
pub async fn sleep_or_cancel(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.cancelled() => false,
    }
}
