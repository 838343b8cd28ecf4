//! Contact duties of the branch (DESIGN.md section 4): the quarterly talk (一季度一谈心) by the
//! paired committee member, and the family visit every half year (每半年家访).

use chrono::NaiveDate;

use crate::rules::periods::{HalfYear, Quarter};

/// The quarter a talk reminder on `today` is about: the one it falls in (the first week of
/// the quarter, and again two weeks before it ends).
pub fn talk_quarter(today: NaiveDate) -> Quarter {
    Quarter::of_date(today)
}

/// Whether a member whose last talk was `last_talk` still needs one in `quarter`.
pub fn talk_due(last_talk: Option<NaiveDate>, quarter: Quarter) -> bool {
    last_talk.is_none_or(|d| d < quarter.first_day())
}

/// The half year a family-visit list on `today` looks back over: the one just ended (on
/// 10 January, July to December), counting visits up to `today`, so a visit in the first days
/// of the new half year also takes a family off the list.
pub fn family_visit_half(today: NaiveDate) -> HalfYear {
    HalfYear::of_date(today).prev()
}

/// Whether a member's family still needs a visit: none since the half year began.
pub fn family_visit_due(last_visit: Option<NaiveDate>, half: HalfYear) -> bool {
    last_visit.is_none_or(|d| d < half.first_day())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_talk_counts_from_the_first_day_of_the_quarter() {
        let q = talk_quarter(d("2026-10-02"));
        assert_eq!(q.to_string(), "2026Q4");
        assert!(talk_due(None, q));
        assert!(talk_due(Some(d("2026-09-30")), q), "the day before");
        assert!(!talk_due(Some(d("2026-10-01")), q), "the day");
        assert!(!talk_due(Some(d("2026-10-02")), q), "the day after");
        // The follow-up on 16 December asks about the same quarter.
        assert_eq!(talk_quarter(d("2026-12-16")), q);
        // 16 March of a leap year is in the first quarter, which began on 1 January.
        assert!(!talk_due(
            Some(d("2024-02-29")),
            talk_quarter(d("2024-03-16"))
        ));
    }

    #[test]
    fn the_family_visit_list_looks_back_over_the_half_year_just_ended() {
        let h = family_visit_half(d("2027-01-10"));
        assert_eq!(h.to_string(), "2026H2");
        assert!(family_visit_due(Some(d("2026-06-30")), h), "the day before");
        assert!(!family_visit_due(Some(d("2026-07-01")), h), "the day");
        assert!(!family_visit_due(Some(d("2027-01-05")), h), "this January");
        assert!(family_visit_due(None, h));
        assert_eq!(family_visit_half(d("2026-07-10")).to_string(), "2026H1");
    }
}
