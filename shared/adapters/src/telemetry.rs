//! Logs: readable lines for people, JSON lines for collectors (STYLE.md, "Errors, config, logs").
//!
//! Logs carry no message bodies, phones or secrets, whatever a library logs (DESIGN.md section
//! 8). Two guards stand after the operator's filter, so no `log.filter` or `RUST_LOG` can lift
//! them:
//! - [`library_ceiling`]: libraries that print what passes through them are capped. lapin logs
//!   every message the broker returns at WARN with its whole body (as a list of byte values),
//!   and its frames at TRACE; so do the HTTP and database clients at DEBUG and TRACE. Our own
//!   code says what happened to a message by its id, not its body.
//! - [`MaskingWriter`]: every line is passed through [`mask_phones`] before it is written, so a
//!   phone that reaches a line by some other road (an error's text) is masked.

use std::io::{self, Write};

use hongyan_domain::ids::mask_phones;
use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogSettings;

/// Installs the global subscriber. `RUST_LOG` overrides `log.filter` when set. Logs go to
/// stderr, so a command's own output on stdout (a new key, a report) can be piped alone.
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    let registry = tracing_subscriber::registry().with(filter);
    let writer = MaskingWriter::stderr();
    let result = if log.format == "json" {
        registry
            .with(
                fmt::layer()
                    .with_writer(writer)
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_filter(library_ceiling()),
            )
            .try_init()
    } else {
        registry
            .with(
                fmt::layer()
                    .with_writer(writer)
                    .with_target(false)
                    .with_filter(library_ceiling()),
            )
            .try_init()
    };
    // A second init (tests, `all`) keeps the first subscriber; that is fine.
    let _ = result;
}

/// The most each library may log, whatever the operator's filter says; everything else
/// (hongyan's own crates included) is left to that filter.
///
/// - `lapin`, `amq_protocol*`: ERROR only. Its WARN "Server returned us a message" prints the
///   returned message's body, and its TRACE prints frames. A returned message is handled (and
///   logged by key and count) by the publisher and the outbox relay.
/// - HTTP (`hyper*`, `h2`, `reqwest`, `rustls`, `tower*`, `axum`) and `redis`: INFO. Their
///   DEBUG and TRACE lines print headers and bytes of requests (an SMS gateway's query string
///   holds the phone; a webhook's headers hold its signature).
/// - `sqlx`: WARN. Its INFO lines print slow statements, which is fine, but a statement's text
///   may one day hold a literal.
pub fn library_ceiling() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("lapin", Level::ERROR)
        .with_target("amq_protocol", Level::ERROR)
        .with_target("amq_protocol_tcp", Level::ERROR)
        .with_target("amq_protocol_types", Level::ERROR)
        .with_target("hyper", Level::INFO)
        .with_target("hyper_util", Level::INFO)
        .with_target("h2", Level::INFO)
        .with_target("reqwest", Level::INFO)
        .with_target("rustls", Level::INFO)
        .with_target("tower", Level::INFO)
        .with_target("tower_http", Level::INFO)
        .with_target("axum", Level::INFO)
        .with_target("redis", Level::INFO)
        .with_target("sqlx", Level::WARN)
}

/// Writes each log line to stderr with every mainland mobile number masked
/// (`13900001111` → `139****1111`). The formatter writes one event per writer; the line is
/// gathered and masked whole, so a number split across two writes is still found.
#[derive(Clone, Copy, Debug, Default)]
pub struct MaskingWriter;

impl MaskingWriter {
    pub fn stderr() -> Self {
        Self
    }
}

impl<'a> MakeWriter<'a> for MaskingWriter {
    type Writer = MaskedLine;

    fn make_writer(&'a self) -> Self::Writer {
        MaskedLine {
            line: Vec::with_capacity(256),
            out: Box::new(io::stderr()),
        }
    }
}

/// One event's text, masked and written when the formatter is done with it.
pub struct MaskedLine {
    line: Vec<u8>,
    out: Box<dyn Write + Send>,
}

impl MaskedLine {
    /// A line written to `out` instead of stderr (tests).
    pub fn to(out: Box<dyn Write + Send>) -> Self {
        Self {
            line: Vec::new(),
            out,
        }
    }
}

impl Write for MaskedLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskedLine {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let masked = mask_phones(&String::from_utf8_lossy(&self.line));
        // A log line that cannot be written has nowhere else to go.
        let _ = self.out.write_all(masked.as_bytes());
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_is_masked_whole_even_when_written_in_pieces() {
        let out = Shared::default();
        {
            let mut line = MaskedLine::to(Box::new(out.clone()));
            line.write_all(b"sent to 13900").unwrap();
            line.write_all(b"001111 and +8613800138000\n").unwrap();
        }
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "sent to 139****1111 and +86138****8000\n");
    }

    #[test]
    fn libraries_that_print_bodies_are_capped_whatever_the_filter() {
        let ceiling = library_ceiling();
        assert!(!ceiling.would_enable("lapin::returned_messages", &Level::WARN));
        assert!(ceiling.would_enable("lapin::channel", &Level::ERROR));
        assert!(!ceiling.would_enable("reqwest::connect", &Level::DEBUG));
        assert!(!ceiling.would_enable("hyper_util::client", &Level::TRACE));
        assert!(ceiling.would_enable("hongyan_notifier::deliver", &Level::TRACE));
    }
}
