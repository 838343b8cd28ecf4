//! Calendar months in Asia/Shanghai, the unit of the monthly update (一月一更新) and of the
//! member link.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// Why a text is not a month. Every variant says the same sentence; they differ in what was
/// wrong, and a number that does not parse keeps the integer error as its source.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MonthError {
    /// Not `YYYY-MM`: no `-`, or not 4 and 2 characters around it.
    #[error("{0:?} is not a month: use YYYY-MM, e.g. 2026-10")]
    Shape(String),
    /// The shape is right but a part is not a number.
    #[error("{input:?} is not a month: use YYYY-MM, e.g. 2026-10")]
    Number {
        input: String,
        #[source]
        source: std::num::ParseIntError,
    },
    /// Numbers, but not a month (`2026-13`).
    #[error("{0:?} is not a month: use YYYY-MM, e.g. 2026-10")]
    OutOfRange(String),
}

/// A calendar month, `2026-10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    year: i32,
    /// 1 to 12.
    month: u32,
}

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Self> {
        ((1..=12).contains(&month) && (1000..=9999).contains(&year)).then_some(Self { year, month })
    }

    /// `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Self, MonthError> {
        let shape = || MonthError::Shape(s.to_owned());
        let (y, m) = s.split_once('-').ok_or_else(shape)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(shape());
        }
        let number = |source| MonthError::Number {
            input: s.to_owned(),
            source,
        };
        let (y, m) = (y.parse().map_err(number)?, m.parse().map_err(number)?);
        Self::new(y, m).ok_or_else(|| MonthError::OutOfRange(s.to_owned()))
    }

    pub fn of_date(d: NaiveDate) -> Self {
        Self {
            year: d.year(),
            month: d.month(),
        }
    }

    /// The month `at` falls in, in Asia/Shanghai.
    pub fn of_instant(at: DateTime<Utc>) -> Self {
        Self::of_date(at.with_timezone(&crate::TZ).date_naive())
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a valid month has a first day")
    }

    pub fn next(self) -> Self {
        self.plus(1)
    }

    pub fn prev(self) -> Self {
        self.plus(-1)
    }

    /// The month `n` months later (earlier when negative).
    pub fn plus(self, n: i32) -> Self {
        let index = self.year * 12 + self.month as i32 - 1 + n;
        Self {
            year: index.div_euclid(12),
            month: index.rem_euclid(12) as u32 + 1,
        }
    }

    /// The last day of the month.
    pub fn last_day(self) -> NaiveDate {
        self.next()
            .first_day()
            .pred_opt()
            .expect("months have days")
    }

    /// Whole months from `self` to `later` (`2026-10` to `2026-12` is 2).
    pub fn months_until(self, later: Self) -> i32 {
        (later.year - self.year) * 12 + later.month as i32 - self.month as i32
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_print_and_count() {
        let oct = Month::parse("2026-10").unwrap();
        assert_eq!(oct.to_string(), "2026-10");
        assert_eq!(oct.plus(3).to_string(), "2027-01");
        assert_eq!(oct.plus(-10).to_string(), "2025-12");
        assert_eq!(oct.months_until(Month::parse("2026-12").unwrap()), 2);
        assert_eq!(
            Month::parse("2024-02").unwrap().last_day().to_string(),
            "2024-02-29"
        );
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", ""] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_month_of_an_instant_is_shanghais() {
        let t = DateTime::parse_from_rfc3339("2026-10-31T16:30:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(Month::of_instant(t).to_string(), "2026-11");
    }

    #[test]
    fn a_bad_month_says_what_was_wrong() {
        use std::error::Error as _;
        for shape in ["2026/01", "2026-1", "26-01", ""] {
            assert_eq!(Month::parse(shape), Err(MonthError::Shape(shape.into())));
        }
        assert_eq!(
            Month::parse("2026-13"),
            Err(MonthError::OutOfRange("2026-13".into()))
        );
        let err = Month::parse("20x6-01").unwrap_err();
        assert!(matches!(err, MonthError::Number { .. }), "{err:?}");
        assert!(err.source().is_some(), "the integer error is kept");
        assert_eq!(
            err.to_string(),
            "\"20x6-01\" is not a month: use YYYY-MM, e.g. 2026-10"
        );
    }
}
