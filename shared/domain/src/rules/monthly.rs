//! The monthly update (一月一更新, DESIGN.md section 4): whole months unconfirmed, the
//! staleness ladder, the lapse warning (党章 art. 9) and the transfer suggestion (应转尽转).

use chrono::NaiveDate;

use crate::month::Month;
use crate::rules::periods::whole_months_between;

/// The ledger flag of a record one or two months unconfirmed.
pub const FLAG_STALE: &str = "stale";
/// The ledger flag of a record unconfirmed long enough to count as lost contact (失联).
pub const FLAG_LOST_CONTACT: &str = "lost_contact";

/// Whether a record confirmed last on `last_confirmed` is confirmed for `month`: any day of
/// the month counts (DESIGN.md section 4).
pub fn confirmed_in(last_confirmed: Option<NaiveDate>, month: Month) -> bool {
    last_confirmed.is_some_and(|d| Month::of_date(d) >= month)
}

/// Whole months unconfirmed at a firing in `at`: the calendar months strictly between the
/// month of the last confirmation and `at` (confirmed in October, reviewed on 1 December: one,
/// November).
pub fn months_unconfirmed(last_confirmed: NaiveDate, at: Month) -> u32 {
    (Month::of_date(last_confirmed).months_until(at) - 1).max(0) as u32
}

/// The staleness ladder's steps, in whole months unconfirmed (`[policy]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ladder {
    pub stale_after: u32,
    pub branch_list_after: u32,
    pub lost_contact_after: u32,
}

/// Where a record stands on the ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rung {
    Current,
    /// Marked `stale`.
    Stale,
    /// Marked `lost_contact` (失联); the county department gets the list.
    LostContact,
}

impl Ladder {
    pub fn rung(&self, months: u32) -> Rung {
        if months >= self.lost_contact_after {
            Rung::LostContact
        } else if months >= self.stale_after {
            Rung::Stale
        } else {
            Rung::Current
        }
    }

    /// Whether the branch contact's list names a record this long unconfirmed.
    pub fn on_branch_list(&self, months: u32) -> bool {
        months >= self.branch_list_after
    }
}

/// The flags a record shows at `rung`: its stored flags kept, in their order, and one ladder
/// flag at most (`stale` gives way to `lost_contact`). Ladder flags are never stored (the
/// registry alone writes the record); a stored one from before that is dropped here.
pub fn ladder_flags(flags: &[String], rung: Rung) -> Vec<String> {
    let mut out: Vec<String> = flags
        .iter()
        .filter(|f| *f != FLAG_STALE && *f != FLAG_LOST_CONTACT)
        .cloned()
        .collect();
    match rung {
        Rung::Current => {}
        Rung::Stale => out.push(FLAG_STALE.into()),
        Rung::LostContact => out.push(FLAG_LOST_CONTACT.into()),
    }
    out
}

/// Where a record stands on a day: what the ledger shows, derived where it is read from the
/// last confirmation and the month (a second writer used to store it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub months_unconfirmed: u32,
    /// The stored flags with the ladder's flag.
    pub flags: Vec<String>,
}

/// The record's [`Standing`] in `month`. A record never confirmed counts as confirmed when it
/// opened (`last_confirmed` is then the day it opened, as the readers' views give it).
pub fn standing(
    stored_flags: &[String],
    last_confirmed: Option<NaiveDate>,
    month: Month,
    ladder: &Ladder,
) -> Standing {
    let months = last_confirmed.map_or(0, |d| months_unconfirmed(d, month));
    Standing {
        months_unconfirmed: months,
        flags: ladder_flags(stored_flags, ladder.rung(months)),
    }
}

/// The numbers of the monthly review (`[policy]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReviewPolicy {
    pub ladder: Ladder,
    /// 党章 art. 9: six months without organizational life; the warning goes at five.
    pub lapse_warning_after: u32,
    /// 应转尽转: this many whole months at one place with an employer.
    pub transfer_suggestion_after: u32,
}

/// What the review reads of one open record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordFacts {
    pub last_confirmed_on: NaiveDate,
    pub transfer_suggested: bool,
    /// The latest contact of any kind or completed study pack: organizational life that is not
    /// a confirmation.
    pub last_life: Option<NaiveDate>,
    /// Since when the member is at the current place (arrived, else left).
    pub at_place_since: Option<NaiveDate>,
    pub has_employer: bool,
}

/// What the review decides for one record. It changes no record: the ladder is derived where
/// it is read, and a transfer suggestion reaches the registry as `review.transfer_suggested`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    pub months_unconfirmed: u32,
    pub rung: Rung,
    /// Months without organizational life, when the lapse warning is due.
    pub lapse_warning: Option<u32>,
    /// Whole months at the place, when the branch is newly asked to transfer.
    pub suggest_transfer: Option<u32>,
}

/// The monthly review of one open record on `today` (the firing's day, Asia/Shanghai).
pub fn review(facts: &RecordFacts, today: NaiveDate, policy: &ReviewPolicy) -> Review {
    let month = Month::of_date(today);
    let months = months_unconfirmed(facts.last_confirmed_on, month);
    let life = facts
        .last_life
        .map_or(facts.last_confirmed_on, |l| l.max(facts.last_confirmed_on));
    let without_life = months_unconfirmed(life, month);
    let lapse_warning = (without_life >= policy.lapse_warning_after).then_some(without_life);
    let at_place = facts
        .at_place_since
        .map(|since| whole_months_between(since, today));
    let suggest_transfer = at_place.filter(|&m| {
        !facts.transfer_suggested && facts.has_employer && m >= policy.transfer_suggestion_after
    });
    Review {
        months_unconfirmed: months,
        rung: policy.ladder.rung(months),
        lapse_warning,
        suggest_transfer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    const POLICY: ReviewPolicy = ReviewPolicy {
        ladder: Ladder {
            stale_after: 1,
            branch_list_after: 2,
            lost_contact_after: 3,
        },
        lapse_warning_after: 5,
        transfer_suggestion_after: 6,
    };

    fn facts(last_confirmed: &str) -> RecordFacts {
        RecordFacts {
            last_confirmed_on: d(last_confirmed),
            transfer_suggested: false,
            last_life: None,
            at_place_since: None,
            has_employer: false,
        }
    }

    #[test]
    fn months_unconfirmed_are_the_months_strictly_between() {
        // The DESIGN example: confirmed in October, reviewed on 1 December: one (November).
        assert_eq!(months_unconfirmed(d("2026-10-31"), m("2026-12")), 1);
        assert_eq!(months_unconfirmed(d("2026-10-01"), m("2026-12")), 1);
        // Confirmed on the last day of the month before: none.
        assert_eq!(months_unconfirmed(d("2026-11-30"), m("2026-12")), 0);
        // Confirmed this month (a confirmation on the 1st before the review): none.
        assert_eq!(months_unconfirmed(d("2026-12-01"), m("2026-12")), 0);
        // Across a year end, and from a 29 February.
        assert_eq!(months_unconfirmed(d("2026-11-15"), m("2027-02")), 2);
        assert_eq!(months_unconfirmed(d("2024-02-29"), m("2024-06")), 3);
    }

    #[test]
    fn a_confirmation_on_any_day_of_the_month_counts_for_it() {
        assert!(!confirmed_in(Some(d("2026-02-28")), m("2026-03")));
        assert!(confirmed_in(Some(d("2026-03-01")), m("2026-03")));
        assert!(confirmed_in(Some(d("2026-03-31")), m("2026-03")));
        assert!(!confirmed_in(None, m("2026-03")));
        assert!(confirmed_in(Some(d("2024-02-29")), m("2024-02")));
    }

    #[test]
    fn the_ladder_climbs_stale_branch_list_lost_contact() {
        let on = |last: &str| standing(&[], Some(d(last)), m("2026-12"), &POLICY.ladder);
        // Confirmed in November: current.
        assert_eq!(on("2026-11-30").flags, Vec::<String>::new());
        assert_eq!(
            review(&facts("2026-11-30"), d("2026-12-01"), &POLICY).rung,
            Rung::Current
        );
        // October: one month (November), stale, not yet on the branch's list.
        let one = on("2026-10-31");
        assert_eq!(
            (one.months_unconfirmed, one.flags),
            (1, vec!["stale".into()])
        );
        assert_eq!(
            review(&facts("2026-10-31"), d("2026-12-01"), &POLICY).rung,
            Rung::Stale
        );
        assert!(!POLICY.ladder.on_branch_list(1));
        // September: two, still stale, on the branch's list.
        assert_eq!(on("2026-09-30").months_unconfirmed, 2);
        assert!(POLICY.ladder.on_branch_list(2));
        assert_eq!(POLICY.ladder.rung(2), Rung::Stale);
        // August: three, lost contact instead of stale.
        let three = on("2026-08-01");
        assert_eq!(
            (three.months_unconfirmed, three.flags),
            (3, vec!["lost_contact".into()])
        );
    }

    #[test]
    fn ladder_flags_keep_the_others_and_clear_on_confirmation() {
        let stored = ["unreported_departure".to_owned()];
        let lost = standing(&stored, Some(d("2026-08-02")), m("2026-12"), &POLICY.ladder);
        assert_eq!(lost.months_unconfirmed, 3);
        assert_eq!(lost.flags, ["unreported_departure", "lost_contact"]);
        // Confirmed in November: the ladder's flag goes, the stored one stays.
        let now = standing(&stored, Some(d("2026-11-02")), m("2026-12"), &POLICY.ladder);
        assert_eq!(now.flags, ["unreported_departure"]);
        assert_eq!(now.months_unconfirmed, 0);
        // A ladder flag stored before the ladder was derived is not shown twice or kept.
        let old = ["stale".to_owned(), "unreported_departure".to_owned()];
        let again = standing(&old, Some(d("2026-11-02")), m("2026-12"), &POLICY.ladder);
        assert_eq!(again.flags, ["unreported_departure"]);
        // Never confirmed (no date): current.
        assert_eq!(
            standing(&[], None, m("2026-12"), &POLICY.ladder).months_unconfirmed,
            0
        );
    }

    #[test]
    fn the_lapse_warning_comes_at_five_months_without_update_contact_or_study() {
        // Confirmed in June; at 1 December, July to November: five.
        let mut f = facts("2026-06-30");
        assert_eq!(review(&f, d("2026-12-01"), &POLICY).lapse_warning, Some(5));
        // The day before, on 30 November, it was four.
        assert_eq!(review(&f, d("2026-11-30"), &POLICY).lapse_warning, None);
        // A talk in July is organizational life: four months since.
        f.last_life = Some(d("2026-07-01"));
        assert_eq!(review(&f, d("2026-12-01"), &POLICY).lapse_warning, None);
        // A contact older than the confirmation does not count back.
        f.last_life = Some(d("2026-01-01"));
        assert_eq!(review(&f, d("2026-12-01"), &POLICY).lapse_warning, Some(5));
    }

    #[test]
    fn a_transfer_is_suggested_once_at_six_months_at_one_place_with_an_employer() {
        let mut f = facts("2026-09-20");
        f.at_place_since = Some(d("2026-03-01"));
        f.has_employer = true;
        assert_eq!(review(&f, d("2026-08-31"), &POLICY).suggest_transfer, None);
        let due = review(&f, d("2026-09-01"), &POLICY);
        assert_eq!(due.suggest_transfer, Some(6));
        assert_eq!(
            review(&f, d("2026-09-02"), &POLICY).suggest_transfer,
            Some(6)
        );
        // Once asked, never again.
        f.transfer_suggested = true;
        assert_eq!(review(&f, d("2026-10-01"), &POLICY).suggest_transfer, None);
        // Without an employer (no fixed place), never.
        f.transfer_suggested = false;
        f.has_employer = false;
        assert_eq!(review(&f, d("2026-10-01"), &POLICY).suggest_transfer, None);
    }

    #[test]
    fn six_months_from_the_end_of_august_end_on_the_last_day_of_february() {
        let mut f = facts("2027-02-01");
        f.at_place_since = Some(d("2026-08-31"));
        f.has_employer = true;
        assert_eq!(review(&f, d("2027-02-27"), &POLICY).suggest_transfer, None);
        assert_eq!(
            review(&f, d("2027-02-28"), &POLICY).suggest_transfer,
            Some(6)
        );
        f.at_place_since = Some(d("2023-08-31"));
        assert_eq!(review(&f, d("2024-02-28"), &POLICY).suggest_transfer, None);
        assert_eq!(
            review(&f, d("2024-02-29"), &POLICY).suggest_transfer,
            Some(6)
        );
    }
}
