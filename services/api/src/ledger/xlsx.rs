//! XLSX with rust_xlsxwriter in its constant-memory mode (DESIGN.md section 3: a title row
//! naming the org and the date, a frozen header row, column widths fitted to the text).
//!
//! The writer is synchronous, so it runs on a blocking thread, fed rows by the bounded channel
//! of [`super::read::stream`]. Constant-memory mode flushes each finished row to a temp file;
//! saving then zips that file straight into [`ChannelWriter`], whose chunks are the HTTP
//! body: no whole workbook is ever held in memory or written out a second time.

use std::io::{self, Write};

use axum::body::Bytes;
use futures::Stream;
use rust_xlsxwriter::{Format, FormatBorder, Workbook, XlsxError};
use tokio::sync::mpsc;

use super::rows::{Cell, HEADERS, Places, Rows};

/// Output chunks waiting for the client.
const CHUNKS_IN_FLIGHT: usize = 8;
const CHUNK_BYTES: usize = 64 * 1024;
/// Zip level 1 rather than the crate's 6: the sheet of a county compresses to nearly the same
/// size (mostly repeated names and words) in about a third of the CPU, on a machine the
/// database shares.
const ZIP_LEVEL: u8 = 1;
/// Column widths in Excel's character units: room for the text, never wider than this.
const MAX_WIDTH: f64 = 60.0;

/// The XLSX body: `title` goes in the first row.
pub fn body(rows: Rows, title: String) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let on_error = tx.clone();
        let mut out = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK_BYTES),
        };
        let written = write(rows, &title, &mut out).and_then(|()| Ok(out.flush()?));
        if let Err(e) = written {
            // A client that hung up is the usual cause and not worth more than DEBUG.
            if on_error.is_closed() {
                tracing::debug!(error = %e, "Ledger export stopped: the client went away.");
            } else {
                tracing::error!(error = %e, "Ledger export failed while writing the XLSX.");
                let _ = on_error.blocking_send(Err(io::Error::other(format!(
                    "the XLSX could not be written to the end ({e}); try the export again"
                ))));
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

/// Why the workbook could not be finished.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("the ledger could not be read: {0}")]
    Rows(#[source] sqlx::Error),
    #[error("the workbook could not be written: {0}")]
    Xlsx(#[from] XlsxError),
    #[error("the client stopped reading: {0}")]
    Io(#[from] io::Error),
}

fn write(mut rows: Rows, title: &str, out: &mut ChannelWriter) -> Result<(), WriteError> {
    let mut workbook = Workbook::new();
    workbook.set_zip_compression_level(ZIP_LEVEL);
    let title_format = Format::new().set_bold().set_font_size(14);
    let header_format = Format::new()
        .set_bold()
        .set_background_color("#F2DCDB")
        .set_border_bottom(FormatBorder::Thin);
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name("台账")?;
    let last_col = (HEADERS.len() - 1) as u16;
    sheet.merge_range(0, 0, 0, last_col, title, &title_format)?;
    sheet.set_row_height(0, 24)?;
    let mut widths = [0.0f64; HEADERS.len()];
    for (col, h) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(1, col as u16, *h, &header_format)?;
        widths[col] = text_width(h);
    }
    sheet.set_freeze_panes(2, 0)?;
    let mut row_num: u32 = 2;
    let mut places = Places::default();
    while let Some(row) = rows.blocking_recv() {
        let row = row.map_err(WriteError::Rows)?;
        for (col, cell) in row.cells(&mut places).iter().enumerate() {
            let text = cell.text();
            if text.is_empty() {
                continue;
            }
            widths[col] = widths[col].max(text_width(&text));
            match cell {
                Cell::Number(n) => sheet.write_number(row_num, col as u16, *n)?,
                _ => sheet.write_string(row_num, col as u16, text.as_ref())?,
            };
        }
        row_num += 1;
    }
    // The <cols> element is written when the workbook is saved, so widths set after the rows
    // still apply in constant-memory mode.
    for (col, w) in widths.iter().enumerate() {
        sheet.set_column_width(col as u16, (w + 2.0).min(MAX_WIDTH))?;
    }
    workbook.save_to_writer(&mut *out)?;
    Ok(())
}

/// Width in Excel's character units: a Chinese character takes about two.
fn text_width(s: &str) -> f64 {
    s.chars()
        .map(|c| if c.is_ascii() { 1.0 } else { 2.0 })
        .sum()
}

/// A `Write` whose chunks go to the HTTP body; it blocks while the client is slow, which holds
/// back the zip, which holds back nothing else (the rows wait in their own bounded channel).
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
