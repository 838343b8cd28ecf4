//! The quarter a dispatch report counts, with the cut-off days of the staleness ladder and the
//! lapse warning as the report's figures compare them (DESIGN.md section 4). The scheduler
//! binds them as query parameters; the rule that makes them is here, tested against
//! `rules::monthly::months_unconfirmed`, whose count they stand for.

use chrono::NaiveDate;

use super::{Quarter, SpotCheckRule};
use crate::rules::monthly::ReviewPolicy;

/// The quarter's bounds and the ladder's cut-offs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Period {
    pub quarter: Quarter,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// The first and last day of each month of the quarter.
    pub months: [(NaiveDate, NaiveDate); 3],
    /// Whole months unconfirmed are counted as at a firing in the month after the quarter
    /// (section 4): the calendar months strictly between the month of the last confirmation
    /// and that one. So "at least n months" is "last confirmed before the first day of the
    /// month n months before it", and each rung of the ladder is a date to compare with.
    pub stale_before: NaiveDate,
    pub lost_contact_before: NaiveDate,
    /// The same for organizational life: the lapse warning's months.
    pub lapse_before: NaiveDate,
    /// How many of each branch's open records the spot check draws (`[policy]`).
    pub spot_check: SpotCheckRule,
}

impl Period {
    /// `quarter`'s period under the review's numbers (`[policy]`).
    pub fn new(quarter: Quarter, policy: &ReviewPolicy, spot_check: SpotCheckRule) -> Self {
        let next = quarter.last_month().next();
        let before = |months: u32| next.plus(-(months as i32)).first_day();
        let month = |i| quarter.first_month().plus(i);
        Self {
            quarter,
            first_day: quarter.first_month().first_day(),
            last_day: quarter.last_month().last_day(),
            months: [0, 1, 2].map(|i| (month(i).first_day(), month(i).last_day())),
            stale_before: before(policy.ladder.stale_after),
            lost_contact_before: before(policy.ladder.lost_contact_after),
            lapse_before: before(policy.lapse_warning_after),
            spot_check,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::month::Month;
    use crate::rules::monthly::{Ladder, months_unconfirmed};

    const POLICY: ReviewPolicy = ReviewPolicy {
        ladder: Ladder {
            stale_after: 1,
            branch_list_after: 2,
            lost_contact_after: 3,
        },
        lapse_warning_after: 5,
        transfer_suggestion_after: 24,
    };

    fn period(year: i32, month: u32) -> Period {
        let q = Quarter::of_month(Month::new(year, month).unwrap());
        Period::new(q, &POLICY, SpotCheckRule::DEFAULT)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_ladder_is_counted_as_at_a_firing_in_the_month_after_the_quarter() {
        // Q4 is reported in January: confirmed on 30 November leaves one whole month
        // (December) unconfirmed, stale; confirmed on 1 December, none.
        let q4 = period(2026, 11);
        assert_eq!(q4.stale_before, day(2026, 12, 1));
        assert!(day(2026, 11, 30) < q4.stale_before);
        assert!(day(2026, 12, 1) >= q4.stale_before);
        // Three months for lost contact (October, November, December), five for the lapse.
        assert_eq!(q4.lost_contact_before, day(2026, 10, 1));
        assert_eq!(q4.lapse_before, day(2026, 8, 1));
        assert_eq!(q4.last_day, day(2026, 12, 31));
    }

    #[test]
    fn the_months_of_the_quarter_run_from_first_to_last_day() {
        let q1 = period(2028, 2);
        assert_eq!(q1.first_day, day(2028, 1, 1));
        assert_eq!(
            q1.months,
            [
                (day(2028, 1, 1), day(2028, 1, 31)),
                (day(2028, 2, 1), day(2028, 2, 29)),
                (day(2028, 3, 1), day(2028, 3, 31)),
            ]
        );
    }

    #[test]
    fn each_cut_off_is_the_months_unconfirmed_rule_at_the_next_quarters_first_firing() {
        for (year, month) in [(2026, 2), (2026, 5), (2026, 8), (2026, 11), (2028, 2)] {
            let p = period(year, month);
            let firing = p.quarter.last_month().next();
            let mut on = p.first_day - chrono::Days::new(400);
            while on <= p.last_day {
                let months = months_unconfirmed(on, firing);
                assert_eq!(
                    on < p.stale_before,
                    months >= POLICY.ladder.stale_after,
                    "{on}"
                );
                assert_eq!(
                    on < p.lost_contact_before,
                    months >= POLICY.ladder.lost_contact_after,
                    "{on}"
                );
                assert_eq!(
                    on < p.lapse_before,
                    months >= POLICY.lapse_warning_after,
                    "{on}"
                );
                on = on.succ_opt().unwrap();
            }
        }
    }
}
