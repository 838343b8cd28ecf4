//! Pure rules of the quarterly dispatch report (DESIGN.md section 4): which quarter a firing
//! reports on, and how many open records of a branch the spot check draws.

use chrono::{DateTime, Utc};
use std::fmt;

use crate::month::Month;

/// A calendar quarter, written `YYYYQn` as in `dispatch_reports.quarter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quarter {
    year: i32,
    number: u32,
}

impl Quarter {
    /// The quarter that holds `month`.
    pub fn of_month(month: Month) -> Self {
        Self {
            year: month.year(),
            number: (month.month() - 1) / 3 + 1,
        }
    }

    /// The quarter just ended at `due`, counted in Asia/Shanghai: a firing on 1 April
    /// reports on Q1, one on 1 January on Q4 of the year before.
    pub fn just_ended(due: DateTime<Utc>) -> Self {
        Self::of_month(Month::of_instant(due)).prev()
    }

    pub fn prev(self) -> Self {
        if self.number == 1 {
            Self {
                year: self.year - 1,
                number: 4,
            }
        } else {
            Self {
                year: self.year,
                number: self.number - 1,
            }
        }
    }

    /// The first month of the quarter.
    pub fn first_month(self) -> Month {
        Month::new(self.year, (self.number - 1) * 3 + 1).expect("quarter months are 1..=12")
    }

    /// The last month of the quarter.
    pub fn last_month(self) -> Month {
        self.first_month().plus(2)
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Q{}", self.year, self.number)
    }
}

/// How many of a branch's `open` records the spot check draws: 10%, rounded up, at least 1
/// and at most 5; none when the branch has no open record.
pub fn spot_check_size(open: u64) -> u64 {
    if open == 0 {
        return 0;
    }
    open.div_ceil(10).clamp(1, 5)
}

/// The seed the spot check orders by (`md5(seed || member_id)`), the same for a rerun of one
/// quarter and different for the next quarter.
pub fn spot_check_seed(org_id: &str, quarter: Quarter) -> String {
    format!("{org_id}/{quarter}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone};

    fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        crate::TZ
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_january_firing_reports_on_last_years_fourth_quarter() {
        assert_eq!(
            Quarter::just_ended(shanghai(2026, 1, 1, 9, 30)).to_string(),
            "2025Q4"
        );
    }

    #[test]
    fn a_firing_just_after_midnight_shanghai_counts_the_new_quarter() {
        // 1 April 00:10 in Shanghai is still 31 March in UTC.
        assert_eq!(
            Quarter::just_ended(shanghai(2026, 4, 1, 0, 10)).to_string(),
            "2026Q1"
        );
        // 31 March 23:50 in Shanghai is inside Q1, so the quarter before it is Q4.
        assert_eq!(
            Quarter::just_ended(shanghai(2026, 3, 31, 23, 50)).to_string(),
            "2025Q4"
        );
    }

    #[test]
    fn quarter_months_cover_the_quarter() {
        let q = Quarter::just_ended(shanghai(2026, 10, 1, 9, 30));
        assert_eq!(q.to_string(), "2026Q3");
        assert_eq!(q.first_month().to_string(), "2026-07");
        assert_eq!(q.last_month().to_string(), "2026-09");
        assert_eq!(q.last_month().last_day().day(), 30);
    }

    #[test]
    fn spot_check_is_ten_percent_between_one_and_five() {
        assert_eq!(spot_check_size(0), 0);
        assert_eq!(spot_check_size(1), 1);
        assert_eq!(spot_check_size(10), 1);
        assert_eq!(spot_check_size(11), 2);
        assert_eq!(spot_check_size(50), 5);
        assert_eq!(spot_check_size(51), 5);
        assert_eq!(spot_check_size(1000), 5);
    }

    #[test]
    fn the_seed_differs_by_quarter_and_not_by_rerun() {
        let q = Quarter::just_ended(shanghai(2026, 4, 1, 9, 30));
        assert_eq!(spot_check_seed("a", q), spot_check_seed("a", q));
        assert_ne!(spot_check_seed("a", q), spot_check_seed("a", q.prev()));
    }
}
