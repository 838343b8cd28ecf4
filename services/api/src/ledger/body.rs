//! Rows to bytes: a body stream that asks an encoder for one chunk at a time, so at most a
//! chunk and the rows in flight are in memory, whatever the size of the ledger.

use std::io;

use axum::body::Bytes;
use futures::Stream;

use super::rows::{LedgerRow, Rows};

/// A text format written row by row (CSV, JSON).
pub trait Encoder: Send + 'static {
    fn begin(&mut self) -> io::Result<()>;
    fn row(&mut self, row: &LedgerRow) -> io::Result<()>;
    fn end(&mut self) -> io::Result<()>;
    /// The bytes written so far and not yet taken.
    fn pending(&self) -> usize;
    fn take(&mut self) -> Vec<u8>;
}

/// A chunk goes out once it holds this much: large enough that per-chunk costs vanish, small
/// enough to keep memory flat.
const CHUNK_BYTES: usize = 64 * 1024;
/// Rows taken from the channel at once.
const BATCH_ROWS: usize = 256;

enum Stage {
    Begin,
    Rows,
    Done,
}

/// The body of a text export. A database error mid-stream is logged and ends the body with
/// an error, so the client sees a broken transfer rather than a file that looks complete.
pub fn text<E: Encoder>(rows: Rows, encoder: E) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let state = (rows, encoder, Stage::Begin, Vec::with_capacity(BATCH_ROWS));
    futures::stream::unfold(state, |(mut rows, mut enc, stage, mut batch)| async move {
        let mut stage = match stage {
            Stage::Done => return None,
            Stage::Begin => {
                if let Err(e) = enc.begin() {
                    return Some((Err(e), (rows, enc, Stage::Done, batch)));
                }
                Stage::Rows
            }
            Stage::Rows => Stage::Rows,
        };
        while enc.pending() < CHUNK_BYTES {
            batch.clear();
            if rows.recv_many(&mut batch, BATCH_ROWS).await == 0 {
                if let Err(e) = enc.end() {
                    return Some((Err(e), (rows, enc, Stage::Done, batch)));
                }
                stage = Stage::Done;
                break;
            }
            for row in std::mem::take(&mut batch) {
                let written = match row {
                    Ok(row) => enc.row(&row),
                    Err(e) => {
                        tracing::error!(error = %e, "Ledger export failed while reading rows.");
                        Err(io::Error::other(format!(
                            "the ledger could not be read to the end ({e}); try the export again"
                        )))
                    }
                };
                if let Err(e) = written {
                    return Some((Err(e), (rows, enc, Stage::Done, batch)));
                }
            }
        }
        let chunk = Bytes::from(enc.take());
        Some((Ok(chunk), (rows, enc, stage, batch)))
    })
}
