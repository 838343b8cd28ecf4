//! The periods the schedules count in, all in Asia/Shanghai: days, quarters, half years, and
//! whole months elapsed.

use std::fmt;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};

/// The calendar day an instant falls on in Asia/Shanghai.
pub fn local_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&crate::TZ).date_naive()
}

/// Whole months from `since` to `on`: the largest n with `since` + n months on or before `on`
/// (a month from 31 January is 28 or 29 February). Zero when `on` is before `since`.
pub fn whole_months_between(since: NaiveDate, on: NaiveDate) -> u32 {
    if on < since {
        return 0;
    }
    let rough =
        ((on.year() - since.year()) * 12 + on.month() as i32 - since.month() as i32).max(0) as u32;
    (0..=rough)
        .rev()
        .find(|&n| {
            since
                .checked_add_months(Months::new(n))
                .is_some_and(|d| d <= on)
        })
        .unwrap_or(0)
}

/// A calendar quarter, `2026Q4`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quarter {
    year: i32,
    /// 1 to 4.
    number: u32,
}

impl Quarter {
    pub fn of_date(d: NaiveDate) -> Self {
        Self {
            year: d.year(),
            number: (d.month() - 1) / 3 + 1,
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, (self.number - 1) * 3 + 1, 1)
            .expect("quarters start on real days")
    }

    pub fn last_day(self) -> NaiveDate {
        self.first_day()
            .checked_add_months(Months::new(3))
            .and_then(|d| d.pred_opt())
            .expect("quarters end on real days")
    }

    /// As people read it: `2026年第四季度`.
    pub fn label(self) -> String {
        let n = ["一", "二", "三", "四"][self.number as usize - 1];
        format!("{}年第{n}季度", self.year)
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Q{}", self.year, self.number)
    }
}

/// A half year, `2026H2` (每半年家访).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HalfYear {
    year: i32,
    /// 1 (January to June) or 2.
    half: u32,
}

impl HalfYear {
    pub fn of_date(d: NaiveDate) -> Self {
        Self {
            year: d.year(),
            half: if d.month() <= 6 { 1 } else { 2 },
        }
    }

    pub fn prev(self) -> Self {
        match self.half {
            1 => Self {
                year: self.year - 1,
                half: 2,
            },
            _ => Self {
                year: self.year,
                half: 1,
            },
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, if self.half == 1 { 1 } else { 7 }, 1)
            .expect("half years start on real days")
    }

    pub fn last_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, if self.half == 1 { 6 } else { 12 }, 30)
            .and_then(|d| {
                if self.half == 1 {
                    Some(d)
                } else {
                    d.succ_opt()
                }
            })
            .expect("half years end on real days")
    }

    /// As people read it: `2026年下半年`.
    pub fn label(self) -> String {
        format!(
            "{}年{}半年",
            self.year,
            if self.half == 1 { "上" } else { "下" }
        )
    }
}

impl fmt::Display for HalfYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}H{}", self.year, self.half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn whole_months_count_the_day_before_the_day_and_the_day_after() {
        assert_eq!(whole_months_between(d("2026-03-15"), d("2026-09-14")), 5);
        assert_eq!(whole_months_between(d("2026-03-15"), d("2026-09-15")), 6);
        assert_eq!(whole_months_between(d("2026-03-15"), d("2026-09-16")), 6);
        // A month from the 31st ends on the last day of a shorter month.
        assert_eq!(whole_months_between(d("2026-01-31"), d("2026-02-27")), 0);
        assert_eq!(whole_months_between(d("2026-01-31"), d("2026-02-28")), 1);
        assert_eq!(whole_months_between(d("2024-01-31"), d("2024-02-29")), 1);
        assert_eq!(whole_months_between(d("2026-05-01"), d("2026-04-30")), 0);
    }

    #[test]
    fn quarters_start_and_end_at_their_edges() {
        let q = Quarter::of_date(d("2026-12-31"));
        assert_eq!(q.to_string(), "2026Q4");
        assert_eq!(q.first_day(), d("2026-10-01"));
        assert_eq!(q.last_day(), d("2026-12-31"));
        assert_eq!(q.label(), "2026年第四季度");
        assert_eq!(Quarter::of_date(d("2027-01-01")).to_string(), "2027Q1");
        assert_eq!(
            Quarter::of_date(d("2024-03-31")).last_day(),
            d("2024-03-31")
        );
        assert_eq!(Quarter::of_date(d("2026-04-01")).to_string(), "2026Q2");
        assert_eq!(
            Quarter::of_date(d("2026-06-30")).last_day(),
            d("2026-06-30")
        );
    }

    #[test]
    fn half_years_and_the_one_before() {
        let h = HalfYear::of_date(d("2027-01-10"));
        assert_eq!(h.to_string(), "2027H1");
        assert_eq!(h.prev().to_string(), "2026H2");
        assert_eq!(h.prev().first_day(), d("2026-07-01"));
        assert_eq!(h.prev().last_day(), d("2026-12-31"));
        assert_eq!(
            HalfYear::of_date(d("2026-06-30")).last_day(),
            d("2026-06-30")
        );
        assert_eq!(HalfYear::of_date(d("2026-07-01")).label(), "2026年下半年");
    }

    #[test]
    fn the_local_day_is_shanghais() {
        let t = DateTime::parse_from_rfc3339("2026-02-28T16:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(local_day(t), d("2026-03-01"));
    }
}
