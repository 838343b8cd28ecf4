//! Days to mark: the political birthday (政治生日) and the return peaks (春节, 五一, 国庆).

use chrono::{Datelike, NaiveDate};

/// The years a member has been in the party when `today` is the anniversary of `joined`, or
/// `None` on any other day (and on the joining day itself). A 29 February joining date is
/// greeted on 28 February in years without one.
pub fn party_anniversary(joined: NaiveDate, today: NaiveDate) -> Option<u32> {
    let years = today.year() - joined.year();
    if years <= 0 {
        return None;
    }
    let leap_day = (joined.month(), joined.day()) == (2, 29);
    let same_day = (today.month(), today.day()) == (joined.month(), joined.day());
    let stands_in = leap_day && !is_leap(today.year()) && (today.month(), today.day()) == (2, 28);
    (same_day || stands_in).then_some(years as u32)
}

fn is_leap(year: i32) -> bool {
    NaiveDate::from_ymd_opt(year, 2, 29).is_some()
}

/// The (month, day) pairs whose anniversaries fall on `today`, for selecting candidates: the
/// day itself, and 29 February on a 28 February of a year without one.
pub fn anniversary_days(today: NaiveDate) -> Vec<(u32, u32)> {
    let mut days = vec![(today.month(), today.day())];
    if (today.month(), today.day()) == (2, 28) && !is_leap(today.year()) {
        days.push((2, 29));
    }
    days
}

/// The return peak that `today` gives notice of: the listed peak exactly `notice_days` later.
pub fn peak_noticed(peaks: &[NaiveDate], today: NaiveDate, notice_days: u32) -> Option<NaiveDate> {
    let target = today.checked_add_days(chrono::Days::new(u64::from(notice_days)))?;
    peaks.iter().copied().find(|&p| p == target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_anniversary_is_greeted_on_the_day_only() {
        let joined = d("2010-07-01");
        assert_eq!(party_anniversary(joined, d("2026-06-30")), None);
        assert_eq!(party_anniversary(joined, d("2026-07-01")), Some(16));
        assert_eq!(party_anniversary(joined, d("2026-07-02")), None);
        assert_eq!(
            party_anniversary(joined, d("2010-07-01")),
            None,
            "not the day of joining"
        );
    }

    #[test]
    fn a_29_february_joining_is_greeted_on_28_february_in_other_years() {
        let joined = d("2004-02-29");
        assert_eq!(party_anniversary(joined, d("2026-02-27")), None);
        assert_eq!(party_anniversary(joined, d("2026-02-28")), Some(22));
        assert_eq!(party_anniversary(joined, d("2026-03-01")), None);
        // In a leap year, on the day itself and not the day before.
        assert_eq!(party_anniversary(joined, d("2028-02-28")), None);
        assert_eq!(party_anniversary(joined, d("2028-02-29")), Some(24));
        // Someone who joined on 28 February is greeted once, on the 28th.
        assert_eq!(
            party_anniversary(d("2005-02-28"), d("2028-02-28")),
            Some(23)
        );
        assert_eq!(party_anniversary(d("2005-02-28"), d("2028-02-29")), None);
        assert_eq!(anniversary_days(d("2026-02-28")), vec![(2, 28), (2, 29)]);
        assert_eq!(anniversary_days(d("2028-02-28")), vec![(2, 28)]);
        assert_eq!(anniversary_days(d("2028-02-29")), vec![(2, 29)]);
    }

    #[test]
    fn a_peak_is_noticed_exactly_its_notice_days_before() {
        let peaks = [d("2027-02-06"), d("2027-05-01")];
        assert_eq!(peak_noticed(&peaks, d("2027-01-22"), 14), None);
        assert_eq!(
            peak_noticed(&peaks, d("2027-01-23"), 14),
            Some(d("2027-02-06"))
        );
        assert_eq!(peak_noticed(&peaks, d("2027-01-24"), 14), None);
        // Across a month end, and in a leap February.
        assert_eq!(
            peak_noticed(&peaks, d("2027-04-17"), 14),
            Some(d("2027-05-01"))
        );
        assert_eq!(
            peak_noticed(&[d("2024-03-14")], d("2024-02-29"), 14),
            Some(d("2024-03-14"))
        );
    }
}
