//! Activity-certificate numbers (流动党员活动证编号): each county numbers the certificates it
//! gives out in a year from 1 to [`CERTIFICATE_SEQ_LAST`], and a number is the county's code,
//! the year and the sequence (`CertificateNo::compose`). The registry's batch reads each county and year's
//! last number when it loads, numbers its departures in memory while it applies them, and
//! writes the new last numbers when it flushes, only where the stored number is still the one
//! read (`hongyan_registry::sql::certificates::write`).

use std::collections::HashMap;

use crate::ledger::CERTIFICATE_SEQ_LAST;

/// A county (its six-digit region code) and a year.
type CountyYear = (String, i32);

/// The county and year sequences one batch touches.
#[derive(Debug, Default)]
pub struct Sequences {
    /// The last number given out, as read at load; absent: none given out yet (no row).
    read: HashMap<CountyYear, u32>,
    /// The last number given out now, for the sequences this batch moved on.
    last: HashMap<CountyYear, u32>,
}

/// A sequence this batch moved on, to write back.
#[derive(Debug, PartialEq, Eq)]
pub struct Advanced<'a> {
    pub county: &'a str,
    pub year: i32,
    /// The last number as read; `None` when the sequence had no row.
    pub read: Option<u32>,
    pub last: u32,
}

impl Sequences {
    /// Remembers a sequence's last number as stored.
    pub fn loaded(&mut self, county: String, year: i32, last: u32) {
        self.read.insert((county, year), last);
    }

    /// The next number of `county` in `year`, or `None` once the year's last number is given
    /// out. A sequence not read at load counts as having no row: the write at flush then
    /// finds out if one exists and the batch is tried again, so a number is never given twice.
    pub fn peek(&self, county: &str, year: i32) -> Option<u32> {
        let key = (county.to_owned(), year);
        let current = self
            .last
            .get(&key)
            .or_else(|| self.read.get(&key))
            .copied()
            .unwrap_or(0);
        (current < CERTIFICATE_SEQ_LAST).then_some(current + 1)
    }

    /// Records `seq` as the last number of `county` in `year` given out (the one
    /// [`Sequences::peek`] named).
    pub fn take(&mut self, county: &str, year: i32, seq: u32) {
        self.last.insert((county.to_owned(), year), seq);
    }

    /// Gives out the next number of `county` in `year` ([`Sequences::peek`], then
    /// [`Sequences::take`]); a refusal moves nothing.
    pub fn next(&mut self, county: &str, year: i32) -> Option<u32> {
        let seq = self.peek(county, year)?;
        self.take(county, year, seq);
        Some(seq)
    }

    /// The sequences moved on by this batch.
    pub fn advanced(&self) -> impl Iterator<Item = Advanced<'_>> {
        self.last.iter().map(|((county, year), last)| Advanced {
            county,
            year: *year,
            read: self.read.get(&(county.clone(), *year)).copied(),
            last: *last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_stored_last_one_per_county_and_year() {
        let mut s = Sequences::default();
        s.loaded("522636".into(), 2026, 41);
        assert_eq!(s.next("522636", 2026), Some(42));
        assert_eq!(s.next("522636", 2026), Some(43));
        assert_eq!(s.next("522636", 2027), Some(1));
        let mut moved: Vec<Advanced<'_>> = s.advanced().collect();
        moved.sort_by_key(|a| a.year);
        assert_eq!(
            moved,
            [
                Advanced {
                    county: "522636",
                    year: 2026,
                    read: Some(41),
                    last: 43
                },
                Advanced {
                    county: "522636",
                    year: 2027,
                    read: None,
                    last: 1
                },
            ]
        );
    }

    #[test]
    fn the_99999th_number_is_the_last_and_a_refusal_moves_nothing() {
        let mut s = Sequences::default();
        s.loaded("522636".into(), 2026, CERTIFICATE_SEQ_LAST - 1);
        assert_eq!(s.next("522636", 2026), Some(CERTIFICATE_SEQ_LAST));
        assert_eq!(s.next("522636", 2026), None);
        assert_eq!(
            s.advanced().next().map(|a| a.last),
            Some(CERTIFICATE_SEQ_LAST)
        );

        let mut full = Sequences::default();
        full.loaded("522636".into(), 2026, CERTIFICATE_SEQ_LAST);
        assert_eq!(full.next("522636", 2026), None);
        assert_eq!(full.advanced().count(), 0, "nothing to write back");
    }
}
