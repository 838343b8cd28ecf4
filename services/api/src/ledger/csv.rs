//! CSV (RFC 4180: CRLF line ends, fields quoted when they need it), UTF-8 with a BOM so that
//! Excel opens it as Chinese text (DESIGN.md section 3).

use std::io;

use super::body::Encoder;
use super::rows::{HEADERS, LedgerRow};

/// Excel reads a CSV without a byte-order mark in the machine's legacy code page (GBK on a
/// Chinese Windows), which garbles UTF-8 Chinese; with it, as UTF-8.
const BOM: &[u8] = b"\xEF\xBB\xBF";

pub struct Csv(csv::Writer<Vec<u8>>);

/// A writer over `start`; a new one takes over at every chunk (the crate hands its buffer
/// back only by value).
fn writer(start: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(start)
}

impl Csv {
    pub fn new() -> Self {
        Self(writer(Vec::with_capacity(80 * 1024)))
    }
}

impl Encoder for Csv {
    fn begin(&mut self) -> io::Result<()> {
        let mut start = Vec::with_capacity(80 * 1024);
        start.extend_from_slice(BOM);
        self.0 = writer(start);
        self.0.write_record(HEADERS)?;
        Ok(())
    }

    fn row(&mut self, row: &LedgerRow) -> io::Result<()> {
        let cells = row.cells();
        self.0.write_record(cells.iter().map(|c| c.as_bytes()))?;
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        self.0.flush()
    }

    fn pending(&self) -> usize {
        // The writer's own buffer (a few KiB) is counted once it spills into the Vec.
        self.0.get_ref().len()
    }

    fn take(&mut self) -> Vec<u8> {
        let full = std::mem::replace(&mut self.0, writer(Vec::with_capacity(80 * 1024)));
        // `into_inner` only moves the writer's buffer into the Vec, which cannot fail.
        full.into_inner().unwrap_or_default()
    }
}
