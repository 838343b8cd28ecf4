//! Logs: readable lines for people, JSON lines for collectors (STYLE.md, "Errors, config, logs").

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogSettings;

/// Installs the global subscriber. `RUST_LOG` overrides `log.filter` when set. Logs go to
/// stderr, so a command's own output on stdout (a new key, a report) can be piped alone.
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if log.format == "json" {
        registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .json()
                    .flatten_event(true)
                    .with_current_span(false),
            )
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr).with_target(false))
            .try_init()
    };
    // A second init (tests, `all`) keeps the first subscriber; that is fine.
    let _ = result;
}
