//! CSV (RFC 4180: CRLF line ends, fields quoted when they need it), UTF-8 with a BOM so that
//! Excel opens it as Chinese text (DESIGN.md section 3).
//!
//! Written by hand into one buffer that [`super::body`] empties a chunk at a time: a ledger row
//! is twenty short fields, and a general CSV writer's per-field bookkeeping (and a new writer
//! for every chunk, since the csv crate hands its buffer back only by value) cost more than
//! the quoting rule itself.

use std::io;

use super::body::Encoder;
use super::rows::{Cell, HEADERS, LedgerRow, Places};

/// Excel reads a CSV without a byte-order mark in the machine's legacy code page (GBK on a
/// Chinese Windows), which garbles UTF-8 Chinese; with it, as UTF-8.
const BOM: &[u8] = b"\xEF\xBB\xBF";

pub struct Csv {
    out: Vec<u8>,
    places: Places,
}

impl Csv {
    pub fn new() -> Self {
        Self {
            out: Vec::with_capacity(80 * 1024),
            places: Places::default(),
        }
    }
}

impl Encoder for Csv {
    fn begin(&mut self) -> io::Result<()> {
        self.out.extend_from_slice(BOM);
        for (i, h) in HEADERS.iter().enumerate() {
            separate(&mut self.out, i);
            field(&mut self.out, h);
        }
        self.out.extend_from_slice(b"\r\n");
        Ok(())
    }

    fn row(&mut self, row: &LedgerRow) -> io::Result<()> {
        for (i, cell) in row.cells(&mut self.places).iter().enumerate() {
            separate(&mut self.out, i);
            match cell {
                Cell::Number(n) => number(&mut self.out, *n),
                // OWASP: a neutralised field also goes in double quotes.
                other if other.is_neutralised() => quoted(&mut self.out, &other.text()),
                other => field(&mut self.out, &other.text()),
            }
        }
        self.out.extend_from_slice(b"\r\n");
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn pending(&self) -> usize {
        self.out.len()
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.out, Vec::with_capacity(80 * 1024))
    }
}

fn separate(out: &mut Vec<u8>, column: usize) {
    if column > 0 {
        out.push(b',');
    }
}

/// RFC 4180: a field holding a comma, a double quote or a line break goes in double quotes,
/// with its double quotes doubled; any other field as it is.
fn field(out: &mut Vec<u8>, s: &str) {
    let needs_quotes = s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if needs_quotes {
        quoted(out, s);
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn quoted(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for (i, part) in s.split('"').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'"');
}

fn number(out: &mut Vec<u8>, n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_need_it() {
        let mut out = Vec::new();
        for s in ["天河路1号", "a,b", "say \"hi\"", "two\r\nlines", ""] {
            field(&mut out, s);
            out.push(b'|');
        }
        number(&mut out, 0);
        out.push(b'|');
        number(&mut out, 4_294_967_295);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "天河路1号|\"a,b\"|\"say \"\"hi\"\"\"|\"two\r\nlines\"||0|4294967295"
        );
    }
}
