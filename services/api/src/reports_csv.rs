//! The dispatch report's CSV (DESIGN.md section 4: "CSV flattens `branches`"), shared by
//! `GET /v1/reports/{id}?format=csv` and `hongyan report show --format csv`.

use std::io::Write;

use hongyan_domain::dispatch::{DispatchReport, Figures};

/// One row per branch: its id and name, then every figure as a number (id lists as their
/// length), employer types and months as their own columns.
pub fn write_csv(report: &DispatchReport, out: impl Write) -> anyhow::Result<()> {
    let employer_types: Vec<&String> = report.totals.by_employer_type.keys().collect();
    let months: Vec<&str> = report
        .totals
        .monthly_compliance
        .iter()
        .map(|m| m.month.as_str())
        .collect();
    let mut header: Vec<String> = [
        "org_id",
        "name",
        "open",
        "out",
        "checked_in",
        "home_visit",
        "departures",
        "arrivals",
        "returns",
        "transfers",
        "cross_province",
        "in_province_cross_city",
        "in_city",
        "certificate_holders",
        "stale",
        "lost_contact",
        "lapse_risk",
        "transfer_suggested",
        "unmatched_arrivals",
    ]
    .map(String::from)
    .to_vec();
    header.extend(employer_types.iter().map(|t| format!("employer_{t}")));
    for m in &months {
        header.push(format!("open_{m}"));
        header.push(format!("confirmed_{m}"));
    }
    let mut w = csv::Writer::from_writer(out);
    w.write_record(&header)?;
    for b in &report.branches {
        let mut row = vec![b.org_id.clone(), b.name.clone()];
        row.extend(numbers(&b.figures).map(|n| n.to_string()));
        for t in &employer_types {
            row.push(
                b.figures
                    .by_employer_type
                    .get(*t)
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
            );
        }
        for m in &months {
            let c = b.figures.monthly_compliance.iter().find(|c| c.month == *m);
            row.push(c.map_or(0, |c| c.open).to_string());
            row.push(c.map_or(0, |c| c.confirmed).to_string());
        }
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

fn numbers(f: &Figures) -> [u64; 17] {
    [
        f.open,
        f.by_status.out,
        f.by_status.checked_in,
        f.by_status.home_visit,
        f.departures,
        f.arrivals,
        f.returns,
        f.transfers,
        f.destinations.cross_province,
        f.destinations.in_province_cross_city,
        f.destinations.in_city,
        f.certificate_holders,
        f.stale.len() as u64,
        f.lost_contact.len() as u64,
        f.lapse_risk.len() as u64,
        f.transfer_suggested.len() as u64,
        f.unmatched_arrivals,
    ]
}
