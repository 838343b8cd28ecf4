//! The dispatch figures (DESIGN.md section 4) of every branch under the reported departments,
//! computed once: one pass over the flow records grouped by branch (and employer type), which
//! the departments' reports then sum up the tree. A branch's figures do not depend on which
//! department reports it, so the city and its counties share them instead of each re-reading
//! its subtree.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use hongyan_domain::dispatch::{
    BranchReport, Figures, Period, Quarter, SpotCheck, spot_check_seed,
};
use sqlx::PgConnection;

/// One branch's line, with the orgs above it (its path, itself last), so that each department
/// takes the branches of its own subtree.
pub struct Branch {
    pub path: Vec<String>,
    pub line: BranchReport,
}

impl Branch {
    /// A branch with nothing counted yet, named by its first row.
    fn empty(row: &GroupRow, quarter: Quarter) -> Self {
        Self {
            path: row.path.clone(),
            line: BranchReport {
                org_id: row.id.clone(),
                name: row.name.clone(),
                figures: Figures {
                    monthly_compliance: quarter.empty_compliance(),
                    ..Figures::default()
                },
            },
        }
    }
}

/// The figures of every branch under `departments`, in id order (bytewise, as the stored
/// reports list them). Each row of the query is one branch and employer type; the rows of a
/// branch are folded into its line as they stream in, so only the lines are held.
pub async fn branches(
    conn: &mut PgConnection,
    departments: &[String],
    p: &Period,
) -> sqlx::Result<Vec<Branch>> {
    let sql = format!(
        "WITH {BRANCHES}, {CONFIRMED_IN}, {RECORDS}, {GROUPED}
        SELECT b.id, b.name, b.path, g.* FROM branches b LEFT JOIN grouped g ON g.home_org_id = b.id"
    );
    let mut by_id: BTreeMap<String, Branch> = BTreeMap::new();
    let mut rows = sqlx::query_as::<_, GroupRow>(sqlx::AssertSqlSafe(sql))
        .bind(departments)
        .bind(p.first_day)
        .bind(p.last_day)
        .bind(p.stale_before)
        .bind(p.lost_contact_before)
        .bind(p.lapse_before)
        .bind(p.months[0].0)
        .bind(p.months[0].1)
        .bind(p.months[1].0)
        .bind(p.months[1].1)
        .bind(p.months[2].0)
        .bind(p.months[2].1)
        .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let branch = by_id
            .entry(row.id.clone())
            .or_insert_with(|| Branch::empty(&row, p.quarter));
        row.add_to(&mut branch.line.figures);
    }
    let mut lines: Vec<Branch> = by_id.into_values().collect();
    for b in &mut lines {
        sort_lists(&mut b.line.figures);
    }
    Ok(lines)
}

/// The branches of the departments' subtrees: branch-kind orgs and any org that is a record's
/// home.
const BRANCHES: &str = "branches AS (
    SELECT o.org_id AS id, o.name, o.path, o.region_code FROM scheduler_orgs o
    WHERE o.path && $1::text[]
      AND (o.kind IN ('branch', 'flow_branch')
           OR EXISTS (SELECT 1 FROM scheduler_records r WHERE r.home_org_id = o.org_id)))";

/// Monthly update (一月一更新): the months of the quarter (bits 1, 2 and 4) in which an applied
/// departure, arrival or update confirmed each member, from one pass over the quarter's history
/// instead of a look-up per record and month. The bounds on `occurred_at` itself (a day wider
/// than the quarter either side, for the time zone) let the planner see how few rows qualify.
const CONFIRMED_IN: &str = "confirmed_in AS (
    SELECT h.member_id,
           bit_or(CASE WHEN h.on_day <= $8 THEN 1 WHEN h.on_day <= $10 THEN 2 ELSE 4 END) AS months
    FROM (SELECT member_id, (occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS on_day
          FROM scheduler_member_events
          WHERE event_type IN ('registration.outbound', 'registration.inbound', 'registration.update')
            AND occurred_at >= $2::date - 1 AND occurred_at < $3::date + 2) h
    WHERE h.on_day BETWEEN $2 AND $3
    GROUP BY h.member_id)";

/// Each record of the branches with the facts the figures count: when it started, the day it
/// was last confirmed and the day of its last organizational life (an update, a contact of any
/// kind, or a study pack). The document is read once per record (`jsonb_to_record`) rather
/// than once per figure that looks at a field.
const RECORDS: &str = "studied AS (
    SELECT member_id, max(completed_on) AS completed_on FROM scheduler_study_completions
    WHERE completed_on <= $3 GROUP BY member_id),
  recs AS (
    SELECT r.home_org_id, r.member_id, r.status, r.is_open, r.last_confirmed_on,
           r.certificate_no IS NOT NULL AS certified,
           ledger_destination_class(b.region_code, r.region_code) AS destination,
           COALESCE(r.left_on, r.arrived_on, r.opened_at::date) AS started_on,
           r.left_on, r.arrived_on, r.closed_on,
           COALESCE(r.last_confirmed_on, r.left_on, r.arrived_on, r.opened_at::date) AS confirmed_on,
           GREATEST(r.talk_on, r.family_visit_on, r.home_meeting_on, r.phone_call_on,
                    s.completed_on) AS contact_on,
           COALESCE(r.transfer_suggested, false) AS transfer_suggested,
           COALESCE(r.employer_type, 'other') AS employer_type,
           COALESCE(c.months, 0) AS event_months
    FROM scheduler_dispatch_records r JOIN branches b ON b.id = r.home_org_id
    LEFT JOIN confirmed_in c ON c.member_id = r.member_id
    LEFT JOIN studied s ON s.member_id = r.member_id),
  marked AS (
    SELECT x.*,
           x.is_open AND x.started_on <= $3 AS open_at_end,
           GREATEST(x.confirmed_on, x.contact_on) AS life_on,
           x.started_on <= $8 AND (x.is_open OR x.closed_on >= $7) AS open_m1,
           x.started_on <= $10 AND (x.is_open OR x.closed_on >= $9) AS open_m2,
           x.started_on <= $12 AND (x.is_open OR x.closed_on >= $11) AS open_m3,
           x.last_confirmed_on BETWEEN $7 AND $8 OR x.event_months & 1 <> 0 AS confirmed_m1,
           x.last_confirmed_on BETWEEN $9 AND $10 OR x.event_months & 2 <> 0 AS confirmed_m2,
           x.last_confirmed_on BETWEEN $11 AND $12 OR x.event_months & 4 <> 0 AS confirmed_m3
    FROM recs x)";

/// Per branch and employer type, in one GROUP BY over the marked records: the figures as of
/// the quarter's last day (open records), the quarter's movements (every record) and the month
/// by month compliance (records open at some time in the month). No list is ordered here: the
/// rows of a branch are joined and sorted once they are all in.
const GROUPED: &str = "grouped AS (
    SELECT home_org_id, employer_type,
      count(*) FILTER (WHERE open_at_end) AS open,
      count(*) FILTER (WHERE open_at_end AND status = 'out') AS out,
      count(*) FILTER (WHERE open_at_end AND status = 'checked_in') AS checked_in,
      count(*) FILTER (WHERE open_at_end AND status = 'home_visit') AS home_visit,
      count(*) FILTER (WHERE open_at_end AND destination = 'cross_province') AS cross_province,
      count(*) FILTER (WHERE open_at_end AND destination = 'in_province_cross_city') AS in_province_cross_city,
      count(*) FILTER (WHERE open_at_end AND destination = 'in_city') AS in_city,
      count(*) FILTER (WHERE open_at_end AND certified) AS certificate_holders,
      array_agg(member_id) FILTER (WHERE open_at_end AND confirmed_on < $4 AND confirmed_on >= $5) AS stale,
      array_agg(member_id) FILTER (WHERE open_at_end AND confirmed_on < $5) AS lost_contact,
      array_agg(member_id) FILTER (WHERE open_at_end AND life_on < $6) AS lapse_risk,
      array_agg(member_id) FILTER (WHERE open_at_end AND transfer_suggested) AS transfer_suggested,
      count(*) FILTER (WHERE left_on BETWEEN $2 AND $3) AS departures,
      count(*) FILTER (WHERE arrived_on BETWEEN $2 AND $3) AS arrivals,
      count(*) FILTER (WHERE status = 'returned' AND closed_on BETWEEN $2 AND $3) AS returns,
      count(*) FILTER (WHERE status = 'transferred' AND closed_on BETWEEN $2 AND $3) AS transfers,
      ARRAY[count(*) FILTER (WHERE open_m1), count(*) FILTER (WHERE open_m2),
            count(*) FILTER (WHERE open_m3)] AS month_open,
      ARRAY[count(*) FILTER (WHERE open_m1 AND confirmed_m1),
            count(*) FILTER (WHERE open_m2 AND confirmed_m2),
            count(*) FILTER (WHERE open_m3 AND confirmed_m3)] AS month_confirmed
    FROM marked GROUP BY home_org_id, employer_type)";

/// One row of the grouped figures: a branch and employer type, or a branch with no record at
/// all (every figure NULL).
#[derive(sqlx::FromRow)]
struct GroupRow {
    id: String,
    name: String,
    path: Vec<String>,
    employer_type: Option<String>,
    open: Option<i64>,
    out: Option<i64>,
    checked_in: Option<i64>,
    home_visit: Option<i64>,
    cross_province: Option<i64>,
    in_province_cross_city: Option<i64>,
    in_city: Option<i64>,
    certificate_holders: Option<i64>,
    stale: Option<Vec<String>>,
    lost_contact: Option<Vec<String>>,
    lapse_risk: Option<Vec<String>>,
    transfer_suggested: Option<Vec<String>>,
    departures: Option<i64>,
    arrivals: Option<i64>,
    returns: Option<i64>,
    transfers: Option<i64>,
    month_open: Option<Vec<i64>>,
    month_confirmed: Option<Vec<i64>>,
}

impl GroupRow {
    /// Adds this employer type's counts and names to the branch's figures.
    fn add_to(self, f: &mut Figures) {
        let n = |v: Option<i64>| v.unwrap_or(0) as u64;
        let open = n(self.open);
        f.open += open;
        f.by_status.out += n(self.out);
        f.by_status.checked_in += n(self.checked_in);
        f.by_status.home_visit += n(self.home_visit);
        f.destinations.cross_province += n(self.cross_province);
        f.destinations.in_province_cross_city += n(self.in_province_cross_city);
        f.destinations.in_city += n(self.in_city);
        f.certificate_holders += n(self.certificate_holders);
        f.departures += n(self.departures);
        f.arrivals += n(self.arrivals);
        f.returns += n(self.returns);
        f.transfers += n(self.transfers);
        if let Some(kind) = self.employer_type.filter(|_| open > 0) {
            *f.by_employer_type.entry(kind).or_default() += open;
        }
        let months = self.month_open.unwrap_or_default();
        let confirmed = self.month_confirmed.unwrap_or_default();
        for (i, m) in f.monthly_compliance.iter_mut().enumerate() {
            m.open += months.get(i).map_or(0, |v| *v as u64);
            m.confirmed += confirmed.get(i).map_or(0, |v| *v as u64);
        }
        f.stale.extend(self.stale.unwrap_or_default());
        f.lost_contact.extend(self.lost_contact.unwrap_or_default());
        f.lapse_risk.extend(self.lapse_risk.unwrap_or_default());
        f.transfer_suggested
            .extend(self.transfer_suggested.unwrap_or_default());
    }
}

/// The lists of a branch come in per employer type: ordered by member id once all are in.
fn sort_lists(f: &mut Figures) {
    for list in [
        &mut f.stale,
        &mut f.lost_contact,
        &mut f.lapse_risk,
        &mut f.transfer_suggested,
    ] {
        list.sort_unstable();
    }
}

/// Arrivals matching nobody, received by an org and still unmatched at the quarter's end.
pub struct Unmatched {
    pub path: Vec<String>,
    pub count: u64,
}

/// The unmatched arrivals of every receiving org under `departments`, branch or not (a
/// department's totals count them all).
pub async fn unmatched(
    conn: &mut PgConnection,
    departments: &[String],
    p: &Period,
) -> sqlx::Result<Vec<(String, Unmatched)>> {
    let rows: Vec<(String, Vec<String>, i64)> = sqlx::query_as(
        "SELECT o.org_id, o.path, count(*) FROM scheduler_unmatched_arrivals u
         JOIN scheduler_orgs o ON o.org_id = u.receiving_org_id
         WHERE o.path && $1::text[] AND u.arrived_on <= $2
           AND (u.resolved_at IS NULL OR (u.resolved_at AT TIME ZONE 'Asia/Shanghai')::date > $2)
         GROUP BY o.org_id, o.path",
    )
    .bind(departments)
    .bind(p.last_day)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, path, n)| {
            (
                id,
                Unmatched {
                    path,
                    count: n as u64,
                },
            )
        })
        .collect())
}

/// Gives each branch its own unmatched arrivals (`branches` in id order).
pub fn add_unmatched(branches: &mut [Branch], unmatched: &[(String, Unmatched)]) {
    for (id, u) in unmatched {
        if let Ok(i) = branches.binary_search_by(|b| b.line.org_id.as_str().cmp(id)) {
            branches[i].line.figures.unmatched_arrivals = u.count;
        }
    }
}

/// The spot check (抽查): per branch, `p.spot_check.size(open)` of its open records, ordered by
/// `md5(seed || member_id)` with the branch's own seed for the quarter, so a rerun (and the
/// city's report) draws the same members. Drawn once for every branch, by branch id.
pub async fn spot_check(
    conn: &mut PgConnection,
    branches: &[Branch],
    p: &Period,
) -> sqlx::Result<BTreeMap<String, SpotCheck>> {
    let drawn: Vec<&BranchReport> = branches
        .iter()
        .map(|b| &b.line)
        .filter(|b| b.figures.open > 0)
        .collect();
    let ids: Vec<&str> = drawn.iter().map(|b| b.org_id.as_str()).collect();
    let seeds: Vec<String> = drawn
        .iter()
        .map(|b| spot_check_seed(&b.org_id, p.quarter))
        .collect();
    let sizes: Vec<i64> = drawn
        .iter()
        .map(|b| p.spot_check.size(b.figures.open) as i64)
        .collect();
    let rows: Vec<(String, Vec<String>)> = sqlx::query_as(
        "WITH s AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS t(org_id, seed, n)),
        ranked AS (
          SELECT s.org_id, r.member_id, s.n,
                 row_number() OVER (PARTITION BY s.org_id ORDER BY md5(s.seed || r.member_id), r.member_id) AS k
          FROM s JOIN scheduler_records r ON r.home_org_id = s.org_id
          WHERE r.is_open AND COALESCE(r.left_on, r.arrived_on, r.opened_at::date) <= $4)
        SELECT org_id, array_agg(member_id ORDER BY k) FROM ranked WHERE k <= n
        GROUP BY org_id",
    )
    .bind(&ids)
    .bind(&seeds)
    .bind(&sizes)
    .bind(p.last_day)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(org_id, member_ids)| (org_id.clone(), SpotCheck { org_id, member_ids }))
        .collect())
}

#[cfg(test)]
mod tests {
    use hongyan_domain::dispatch::SpotCheckRule;
    use hongyan_domain::month::Month;

    use super::*;

    fn settings() -> hongyan_adapters::Settings {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        hongyan_adapters::Settings::load(&dir).expect("config/default.toml loads")
    }

    #[test]
    fn the_spot_check_is_the_policys() {
        // The shipped `[policy]` is section 4's rule; a changed one reaches the dispatch.
        let q = Quarter::of_month(Month::new(2026, 8).unwrap());
        let policy = settings().policy;
        let shipped = Period::new(q, &policy.review(), policy.spot_check());
        assert_eq!(shipped.spot_check, SpotCheckRule::DEFAULT);
        let mut policy = settings().policy;
        policy.spot_check_share = 0.5;
        policy.spot_check_min = 2;
        policy.spot_check_max = 3;
        assert_eq!(
            Period::new(q, &policy.review(), policy.spot_check()).spot_check,
            SpotCheckRule {
                share: 0.5,
                min: 2,
                max: 3
            }
        );
    }
}
