//! One department's report, assembled from the branch lines every department shares: its
//! branches are those with the department on their path, its totals their sum. The report is
//! serialized straight from borrowed lines and totals that borrow their names, so a city of
//! ten thousand branches is not copied once per report before it is written.

use std::collections::BTreeMap;

use hongyan_domain::dispatch::{BranchReport, Figures, SpotCheck, report_id};
use serde::Serialize;

use hongyan_domain::dispatch::Period;

use super::figures::{Branch, Unmatched};

/// What the announcement of a report says: the counts of its totals, no names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headline {
    pub open: u64,
    pub departures: u64,
    pub arrivals: u64,
    pub returns: u64,
    pub transfers: u64,
    pub stale: usize,
    pub lost_contact: usize,
    pub lapse_risk: usize,
}

impl Headline {
    fn of(t: &Totals<'_>) -> Self {
        Self {
            open: t.open,
            departures: t.departures,
            arrivals: t.arrivals,
            returns: t.returns,
            transfers: t.transfers,
            stale: t.stale.len(),
            lost_contact: t.lost_contact.len(),
            lapse_risk: t.lapse_risk.len(),
        }
    }
}

/// A report as stored, but for its JSON: its row's columns and the headline kept for the
/// announcement.
pub struct Built {
    pub org_id: String,
    pub report_id: uuid::Uuid,
    pub generated_at: String,
    pub headline: Headline,
}

/// The report in the shape of `hongyan_domain::dispatch::DispatchReport` (DESIGN.md section
/// 4), field for field, over borrowed lines.
#[derive(Serialize)]
struct ReportView<'a> {
    report_id: uuid::Uuid,
    org_id: &'a str,
    quarter: String,
    generated_at: &'a str,
    totals: &'a Totals<'a>,
    branches: Vec<&'a BranchReport>,
    spot_check: Vec<&'a SpotCheck>,
}

/// A department's totals: `Figures::total`'s sum, with the names borrowed from the branch
/// lines.
type Totals<'a> = Figures<&'a str>;

fn totals<'a>(lines: &[&'a BranchReport], period: &Period) -> Totals<'a> {
    let mut t = Figures::empty(period.quarter);
    for line in lines {
        t.add(&line.figures, String::as_str);
    }
    t.finish()
}

/// `org`'s report from the shared lines (`branches` in id order), and its JSON. Unmatched
/// arrivals in the totals count every receiving org of the subtree, branch or not.
pub fn build(
    org: &str,
    branches: &[Branch],
    unmatched: &[(String, Unmatched)],
    spot_check: &BTreeMap<String, SpotCheck>,
    period: &Period,
    generated_at: &str,
) -> (Built, String) {
    let lines: Vec<&BranchReport> = branches
        .iter()
        .filter(|b| b.path.iter().any(|o| o == org))
        .map(|b| &b.line)
        .collect();
    let mut totals = totals(&lines, period);
    totals.unmatched_arrivals = unmatched
        .iter()
        .filter(|(_, u)| u.path.iter().any(|o| o == org))
        .map(|(_, u)| u.count)
        .sum();
    let spot_check = lines
        .iter()
        .filter_map(|b| spot_check.get(&b.org_id))
        .collect();
    let id = report_id(org, period.quarter);
    let view = ReportView {
        report_id: id,
        org_id: org,
        quarter: period.quarter.to_string(),
        generated_at,
        totals: &totals,
        branches: lines,
        spot_check,
    };
    let json = serde_json::to_string(&view).expect("a report serializes");
    let built = Built {
        org_id: org.to_owned(),
        report_id: id,
        generated_at: generated_at.to_owned(),
        headline: Headline::of(&totals),
    };
    (built, json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hongyan_domain::dispatch::{DispatchReport, Quarter};
    use hongyan_domain::month::Month;

    fn branch(id: &str, path: &[&str], open: u64, stale: &[&str]) -> Branch {
        let quarter = Quarter::of_month(Month::new(2026, 8).unwrap());
        let mut figures = Figures {
            open,
            stale: stale.iter().map(|s| (*s).to_owned()).collect(),
            monthly_compliance: quarter.empty_compliance(),
            ..Figures::default()
        };
        figures.by_employer_type.insert("private".into(), open);
        figures.by_employer_type.insert(format!("{id}-type"), 1);
        figures.by_status.out = open;
        figures.by_status.home_visit = 1;
        figures.destinations.in_city = open;
        figures.departures = 2;
        figures.certificate_holders = 1;
        figures.monthly_compliance[2].open = open;
        figures.monthly_compliance[2].confirmed = 1;
        figures.lost_contact = vec![format!("{id}-lost")];
        figures.unmatched_arrivals = 7;
        Branch {
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            line: BranchReport {
                org_id: id.into(),
                name: format!("{id}党支部"),
                figures,
            },
        }
    }

    fn period() -> Period {
        let quarter = Quarter::of_month(Month::new(2026, 8).unwrap());
        let day = |m, d| chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        Period {
            quarter,
            first_day: day(7, 1),
            last_day: day(9, 30),
            months: [
                (day(7, 1), day(7, 31)),
                (day(8, 1), day(8, 31)),
                (day(9, 1), day(9, 30)),
            ],
            stale_before: day(9, 1),
            lost_contact_before: day(7, 1),
            lapse_before: day(5, 1),
            spot_check: hongyan_domain::dispatch::SpotCheckRule::DEFAULT,
        }
    }

    #[test]
    fn the_view_serializes_exactly_as_the_domain_report() {
        let p = period();
        let branches = vec![
            branch("b1", &["qn", "qx", "b1"], 3, &["m2"]),
            branch("b2", &["qn", "qx", "b2"], 2, &["m1"]),
            branch("b3", &["qn", "qy", "b3"], 1, &[]),
        ];
        let unmatched = vec![
            (
                "qx".to_owned(),
                Unmatched {
                    path: vec!["qn".into(), "qx".into()],
                    count: 2,
                },
            ),
            (
                "b3".to_owned(),
                Unmatched {
                    path: vec!["qn".into(), "qy".into(), "b3".into()],
                    count: 5,
                },
            ),
        ];
        let spot: BTreeMap<String, SpotCheck> = ["b1", "b2", "b3"]
            .map(|b| {
                let s = SpotCheck {
                    org_id: b.into(),
                    member_ids: vec![format!("{b}-m")],
                };
                (b.to_owned(), s)
            })
            .into();
        let (built, json) = build(
            "qx",
            &branches,
            &unmatched,
            &spot,
            &p,
            "2026-10-01T09:30:00+08:00",
        );

        let lines: Vec<BranchReport> = branches[..2].iter().map(|b| b.line.clone()).collect();
        let mut totals = Figures::total(lines.iter().map(|b| &b.figures), p.quarter);
        totals.unmatched_arrivals = 2;
        let expected = DispatchReport {
            report_id: report_id("qx", p.quarter),
            org_id: "qx".into(),
            quarter: "2026Q3".into(),
            generated_at: "2026-10-01T09:30:00+08:00".into(),
            totals,
            branches: lines,
            spot_check: vec![spot["b1"].clone(), spot["b2"].clone()],
        };
        assert_eq!(json, serde_json::to_string(&expected).unwrap());
        assert_eq!(built.headline.open, 5);
        assert_eq!(built.headline.stale, 2);
    }
}
