//! Pure rules of the quarterly dispatch report (DESIGN.md section 4): which quarter a firing
//! reports on, and how many open records of a branch the spot check draws (`SpotCheckRule`, from
//! `[policy]`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use crate::month::Month;

mod period;

pub use period::Period;

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

/// The spot check (抽查) of the quarterly dispatch, as `[policy]` sets it (DESIGN.md section 4:
/// 10% of each branch's open records, rounded up, at least 1 and at most 5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpotCheckRule {
    /// The share of a branch's open records drawn, between 0 and 1.
    pub share: f64,
    /// At least this many (but never more than the branch has open).
    pub min: u32,
    /// At most this many.
    pub max: u32,
}

impl SpotCheckRule {
    /// The shipped default, section 4's numbers.
    pub const DEFAULT: Self = Self {
        share: 0.10,
        min: 1,
        max: 5,
    };

    /// How many of a branch's `open` records the spot check draws: `share` of them rounded
    /// up, at least `min` and at most `max`, never more than there are; none when the branch
    /// has no open record.
    ///
    /// The share is counted in millionths before rounding up: a share has no exact binary
    /// form, so `100.0 * 0.07` is `7.000000000000001` and its ceiling would draw 8 of 100.
    pub fn size(&self, open: u64) -> u64 {
        const PARTS: u64 = 1_000_000;
        if open == 0 {
            return 0;
        }
        // A NaN share (refused at start anyway) casts to 0.
        let share = (self.share.clamp(0.0, 1.0) * PARTS as f64).round() as u64;
        let drawn = (open * share).div_ceil(PARTS);
        drawn
            .max(u64::from(self.min))
            .min(u64::from(self.max))
            .min(open)
    }
}

impl Default for SpotCheckRule {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The seed the spot check orders by (`md5(seed || member_id)`), the same for a rerun of one
/// quarter and different for the next quarter.
pub fn spot_check_seed(org_id: &str, quarter: Quarter) -> String {
    format!("{org_id}/{quarter}")
}

/// The figures of one branch, or of a department's whole subtree (DESIGN.md section 4). The
/// names (member ids, employer types) are `N`: owned as stored and served, borrowed where a
/// report is summed from lines it does not copy (the scheduler's `Figures<&str>`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "N: Deserialize<'de> + Ord"))]
pub struct Figures<N = String> {
    pub open: u64,
    pub by_status: ByStatus,
    pub departures: u64,
    pub arrivals: u64,
    pub returns: u64,
    pub transfers: u64,
    pub destinations: Destinations,
    pub by_employer_type: BTreeMap<N, u64>,
    pub certificate_holders: u64,
    pub monthly_compliance: Vec<MonthCompliance>,
    pub stale: Vec<N>,
    pub lost_contact: Vec<N>,
    pub lapse_risk: Vec<N>,
    pub transfer_suggested: Vec<N>,
    pub unmatched_arrivals: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByStatus {
    pub out: u64,
    pub checked_in: u64,
    pub home_visit: u64,
}

/// Where open records went, compared with the home branch's region code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destinations {
    pub cross_province: u64,
    pub in_province_cross_city: u64,
    pub in_city: u64,
}

/// Monthly update (一月一更新) in one month of the quarter: records open then, and how many of
/// them were confirmed in that month.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthCompliance {
    pub month: String,
    pub open: u64,
    pub confirmed: u64,
}

impl<N: Ord> Figures<N> {
    /// Nothing counted yet, month by month of `quarter`.
    pub fn empty(quarter: Quarter) -> Self {
        Figures {
            open: 0,
            by_status: ByStatus::default(),
            departures: 0,
            arrivals: 0,
            returns: 0,
            transfers: 0,
            destinations: Destinations::default(),
            by_employer_type: BTreeMap::new(),
            certificate_holders: 0,
            monthly_compliance: quarter.empty_compliance(),
            stale: Vec::new(),
            lost_contact: Vec::new(),
            lapse_risk: Vec::new(),
            transfer_suggested: Vec::new(),
            unmatched_arrivals: 0,
        }
    }

    /// Adds one part (a branch's line) to a sum: counts summed, names joined (`name` copies
    /// or borrows each), month by month. [`Figures::finish`] orders the names once all are in.
    pub fn add<'a, M: 'a>(&mut self, f: &'a Figures<M>, name: impl Fn(&'a M) -> N) {
        self.open += f.open;
        self.by_status.out += f.by_status.out;
        self.by_status.checked_in += f.by_status.checked_in;
        self.by_status.home_visit += f.by_status.home_visit;
        self.departures += f.departures;
        self.arrivals += f.arrivals;
        self.returns += f.returns;
        self.transfers += f.transfers;
        self.destinations.cross_province += f.destinations.cross_province;
        self.destinations.in_province_cross_city += f.destinations.in_province_cross_city;
        self.destinations.in_city += f.destinations.in_city;
        for (kind, n) in &f.by_employer_type {
            *self.by_employer_type.entry(name(kind)).or_default() += n;
        }
        self.certificate_holders += f.certificate_holders;
        for (t, m) in self
            .monthly_compliance
            .iter_mut()
            .zip(&f.monthly_compliance)
        {
            t.open += m.open;
            t.confirmed += m.confirmed;
        }
        self.stale.extend(f.stale.iter().map(&name));
        self.lost_contact.extend(f.lost_contact.iter().map(&name));
        self.lapse_risk.extend(f.lapse_risk.iter().map(&name));
        self.transfer_suggested
            .extend(f.transfer_suggested.iter().map(&name));
        self.unmatched_arrivals += f.unmatched_arrivals;
    }

    /// Orders each list of names and drops repeats: the sum's last step.
    pub fn finish(mut self) -> Self {
        for list in [
            &mut self.stale,
            &mut self.lost_contact,
            &mut self.lapse_risk,
            &mut self.transfer_suggested,
        ] {
            list.sort_unstable();
            list.dedup();
        }
        self
    }
}

impl Figures {
    /// The department's totals: counts summed, id lists joined (sorted), month by month.
    pub fn total<'a>(parts: impl IntoIterator<Item = &'a Figures>, quarter: Quarter) -> Figures {
        let mut t = Figures::empty(quarter);
        for f in parts {
            t.add(f, Clone::clone);
        }
        t.finish()
    }
}

impl Quarter {
    /// `2026Q3`, as [`Quarter`]'s `Display` writes it; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let (year, number) = s.split_once('Q')?;
        let (year, number) = (year.parse().ok()?, number.parse().ok()?);
        ((1000..=9999).contains(&year) && (1..=4).contains(&number) && s.len() == 6)
            .then_some(Self { year, number })
    }

    /// The quarter's three months with nothing counted yet.
    pub fn empty_compliance(self) -> Vec<MonthCompliance> {
        (0..3)
            .map(|i| MonthCompliance {
                month: self.first_month().plus(i).to_string(),
                open: 0,
                confirmed: 0,
            })
            .collect()
    }
}

/// One branch's line in the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchReport {
    pub org_id: String,
    pub name: String,
    pub figures: Figures,
}

/// The members the spot check (抽查) draws in one branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpotCheck {
    pub org_id: String,
    pub member_ids: Vec<String>,
}

/// The dispatch report (一季一调度) as stored and served, in the shape of DESIGN.md section 4.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchReport {
    pub report_id: uuid::Uuid,
    pub org_id: String,
    pub quarter: String,
    pub generated_at: String,
    pub totals: Figures,
    pub branches: Vec<BranchReport>,
    pub spot_check: Vec<SpotCheck>,
}

/// The report's id: the same for a rerun of one department and quarter.
pub fn report_id(org_id: &str, quarter: Quarter) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("dispatch-report/{org_id}/{quarter}").as_bytes(),
    )
}

/// The id of the `dispatch.report_ready` message: one per department and quarter.
pub fn ready_message_id(org_id: &str, quarter: Quarter) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("dispatch/{org_id}/{quarter}").as_bytes(),
    )
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
        let rule = SpotCheckRule::DEFAULT;
        for (open, drawn) in [
            (0, 0),
            (1, 1),
            (9, 1),
            (10, 1),
            (11, 2),
            (30, 3),
            (41, 5),
            (49, 5),
            (50, 5),
            (51, 5),
            (1000, 5),
        ] {
            assert_eq!(rule.size(open), drawn, "{open} open");
        }
    }

    #[test]
    fn spot_check_rounds_the_share_up_exactly() {
        // Unbounded above, so the rounding itself shows: 10% of 30 is 3, not 4.
        let tenth = SpotCheckRule {
            max: 1000,
            ..SpotCheckRule::DEFAULT
        };
        for (open, drawn) in [
            (10, 1),
            (11, 2),
            (30, 3),
            (49, 5),
            (50, 5),
            (51, 6),
            (70, 7),
        ] {
            assert_eq!(tenth.size(open), drawn, "10% of {open}");
        }
        let quarter = SpotCheckRule {
            share: 0.25,
            min: 1,
            max: 1000,
        };
        for (open, drawn) in [
            (10, 3),
            (11, 3),
            (30, 8),
            (49, 13),
            (50, 13),
            (51, 13),
            (100, 25),
        ] {
            assert_eq!(quarter.size(open), drawn, "25% of {open}");
        }
        // Shares whose floating-point product lands just above a whole number.
        for (share, open, drawn) in [
            (0.07, 100, 7),
            (0.14, 50, 7),
            (0.28, 25, 7),
            (0.55, 100, 55),
        ] {
            let rule = SpotCheckRule {
                share,
                min: 1,
                max: 1000,
            };
            assert_eq!(rule.size(open), drawn, "{share} of {open}");
        }
        let quarter_capped = SpotCheckRule { max: 5, ..quarter };
        for (open, drawn) in [(10, 3), (11, 3), (30, 5), (49, 5), (50, 5), (51, 5)] {
            assert_eq!(quarter_capped.size(open), drawn, "25% of {open}, at most 5");
        }
    }

    #[test]
    fn spot_check_bounds_hold_at_the_edges() {
        let rule = |share, min, max| SpotCheckRule { share, min, max };
        // At least min, but never more than the branch has open.
        assert_eq!(rule(0.10, 3, 5).size(2), 2);
        assert_eq!(rule(0.10, 3, 5).size(4), 3);
        // No share at all draws min; min 0 then draws none.
        assert_eq!(rule(0.0, 1, 5).size(40), 1);
        assert_eq!(rule(0.0, 0, 5).size(40), 0);
        // The whole branch, up to max.
        assert_eq!(rule(1.0, 1, 5).size(3), 3);
        assert_eq!(rule(1.0, 1, 2).size(3), 2);
        // min = max fixes the size.
        assert_eq!(rule(0.5, 2, 2).size(100), 2);
        // A branch with no open record draws nothing, whatever the minimum.
        assert_eq!(rule(0.5, 2, 2).size(0), 0);
        // Out-of-range shares (refused at start) stay within the branch.
        assert_eq!(rule(2.0, 0, 100).size(7), 7);
        assert_eq!(rule(f64::NAN, 0, 100).size(7), 0);
    }

    #[test]
    fn the_seed_differs_by_quarter_and_not_by_rerun() {
        let q = Quarter::just_ended(shanghai(2026, 4, 1, 9, 30));
        assert_eq!(spot_check_seed("a", q), spot_check_seed("a", q));
        assert_ne!(spot_check_seed("a", q), spot_check_seed("a", q.prev()));
    }

    #[test]
    fn totals_sum_counts_and_join_lists() {
        let q = Quarter::just_ended(shanghai(2026, 10, 1, 9, 30));
        let mut a = Figures {
            open: 2,
            stale: vec!["m2".into()],
            monthly_compliance: q.empty_compliance(),
            ..Figures::default()
        };
        a.by_employer_type.insert("private".into(), 2);
        a.monthly_compliance[1].open = 2;
        let mut b = a.clone();
        b.stale = vec!["m1".into()];
        b.monthly_compliance[1].confirmed = 1;
        let t = Figures::total([&a, &b], q);
        assert_eq!(t.open, 4);
        assert_eq!(t.stale, vec!["m1".to_string(), "m2".to_string()]);
        assert_eq!(t.by_employer_type["private"], 4);
        assert_eq!(t.monthly_compliance[1].month, "2026-08");
        assert_eq!(
            (
                t.monthly_compliance[1].open,
                t.monthly_compliance[1].confirmed
            ),
            (4, 1)
        );
    }
}
