//! The dispatch figures (DESIGN.md section 4) of every branch under one department, each
//! computed by one set-based query grouped by branch.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use hongyan_adapters::config::PolicySettings;
use hongyan_domain::dispatch::{
    BranchReport, Figures, Quarter, SpotCheck, spot_check_seed, spot_check_size,
};
use sqlx::PgConnection;

/// The quarter's bounds and the ladder's thresholds, as the queries take them.
pub struct Period {
    pub quarter: Quarter,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// Month index (year * 12 + month - 1) of the month after the quarter: whole months
    /// unconfirmed are counted as at a firing in that month (section 4).
    pub report_month: i32,
    pub stale_after: i32,
    pub lost_contact_after: i32,
    pub lapse_after: i32,
}

impl Period {
    pub fn new(quarter: Quarter, policy: &PolicySettings) -> Self {
        let next = quarter.last_month().next();
        Self {
            quarter,
            first_day: quarter.first_month().first_day(),
            last_day: quarter.last_month().last_day(),
            report_month: next.year() * 12 + next.month() as i32 - 1,
            stale_after: policy.stale_after_months as i32,
            lost_contact_after: policy.lost_contact_after_months as i32,
            lapse_after: policy.lapse_warning_after_months as i32,
        }
    }
}

/// The branches of the subtree: branch-kind orgs and any org that is a record's home.
const BRANCHES: &str = "branches AS (
    SELECT o.id, o.name, o.region_code FROM orgs o
    WHERE $1 = ANY(o.path)
      AND (o.kind IN ('branch', 'flow_branch')
           OR EXISTS (SELECT 1 FROM flow_records r WHERE r.home_org_id = o.id)))";

/// Records open at the quarter's end, with the day they were last confirmed and the day of
/// their last organizational life (an update, a contact of any kind, or a study pack).
const OPEN: &str = "open AS (
    SELECT r.*, b.region_code AS home_region,
           COALESCE(r.last_confirmed_on, (r.doc->>'left_on')::date, (r.doc->>'arrived_on')::date,
                    r.opened_at::date) AS confirmed_on
    FROM flow_records r JOIN branches b ON b.id = r.home_org_id
    WHERE r.is_open
      AND COALESCE((r.doc->>'left_on')::date, (r.doc->>'arrived_on')::date, r.opened_at::date) <= $3)";

/// The open records with their whole months unconfirmed and without organizational life.
const AGED: &str = "life AS (
    SELECT o.*, GREATEST(o.confirmed_on, (o.doc->'contacts'->>'talk')::date,
             (o.doc->'contacts'->>'family_visit')::date, (o.doc->'contacts'->>'home_meeting')::date,
             (o.doc->'contacts'->>'phone')::date,
             (SELECT max(s.completed_on) FROM study_completions s
              WHERE s.member_id = o.member_id AND s.completed_on <= $3)) AS life_on
    FROM open o),
  aged AS (
    SELECT l.*,
           $4 - (extract(year FROM l.confirmed_on)::int * 12 + extract(month FROM l.confirmed_on)::int - 1) - 1 AS unconfirmed_months,
           $4 - (extract(year FROM l.life_on)::int * 12 + extract(month FROM l.life_on)::int - 1) - 1 AS months_without_life
    FROM life l)";

#[derive(sqlx::FromRow)]
struct StateRow {
    id: String,
    name: String,
    open: i64,
    out: i64,
    checked_in: i64,
    home_visit: i64,
    cross_province: i64,
    in_province_cross_city: i64,
    in_city: i64,
    certificate_holders: i64,
    stale: Vec<String>,
    lost_contact: Vec<String>,
    lapse_risk: Vec<String>,
    transfer_suggested: Vec<String>,
}

/// Every branch with the figures "as of the quarter's last day".
async fn state(conn: &mut PgConnection, org: &str, p: &Period) -> sqlx::Result<Vec<StateRow>> {
    let sql = format!(
        "WITH {BRANCHES}, {OPEN}, {AGED}
        SELECT b.id, b.name,
          count(a.id) AS open,
          count(a.id) FILTER (WHERE a.status = 'out') AS out,
          count(a.id) FILTER (WHERE a.status = 'checked_in') AS checked_in,
          count(a.id) FILTER (WHERE a.status = 'home_visit') AS home_visit,
          count(a.id) FILTER (WHERE left(a.region_code, 2) <> left(a.home_region, 2)) AS cross_province,
          count(a.id) FILTER (WHERE left(a.region_code, 2) = left(a.home_region, 2)
                                AND left(a.region_code, 4) <> left(a.home_region, 4)) AS in_province_cross_city,
          count(a.id) FILTER (WHERE left(a.region_code, 4) = left(a.home_region, 4)) AS in_city,
          count(a.id) FILTER (WHERE a.certificate_no IS NOT NULL) AS certificate_holders,
          COALESCE(array_agg(a.member_id ORDER BY a.member_id)
            FILTER (WHERE a.unconfirmed_months >= $5 AND a.unconfirmed_months < $6), '{{}}') AS stale,
          COALESCE(array_agg(a.member_id ORDER BY a.member_id)
            FILTER (WHERE a.unconfirmed_months >= $6), '{{}}') AS lost_contact,
          COALESCE(array_agg(a.member_id ORDER BY a.member_id)
            FILTER (WHERE a.months_without_life >= $7), '{{}}') AS lapse_risk,
          COALESCE(array_agg(a.member_id ORDER BY a.member_id)
            FILTER (WHERE (a.doc->>'transfer_suggested')::boolean), '{{}}') AS transfer_suggested
        FROM branches b LEFT JOIN aged a ON a.home_org_id = b.id
        GROUP BY b.id, b.name ORDER BY b.id"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(p.first_day)
        .bind(p.last_day)
        .bind(p.report_month)
        .bind(p.stale_after)
        .bind(p.lost_contact_after)
        .bind(p.lapse_after)
        .fetch_all(conn)
        .await
}

/// Departures, arrivals, returns (home for good) and transfers dated in the quarter.
async fn movements(
    conn: &mut PgConnection,
    org: &str,
    p: &Period,
) -> sqlx::Result<Vec<(String, i64, i64, i64, i64)>> {
    let sql = format!(
        "WITH {BRANCHES}
        SELECT r.home_org_id,
          count(*) FILTER (WHERE (r.doc->>'left_on')::date BETWEEN $2 AND $3),
          count(*) FILTER (WHERE (r.doc->>'arrived_on')::date BETWEEN $2 AND $3),
          count(*) FILTER (WHERE r.status = 'returned' AND (r.doc->>'closed_on')::date BETWEEN $2 AND $3),
          count(*) FILTER (WHERE r.status = 'transferred' AND (r.doc->>'closed_on')::date BETWEEN $2 AND $3)
        FROM flow_records r JOIN branches b ON b.id = r.home_org_id
        GROUP BY r.home_org_id"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(p.first_day)
        .bind(p.last_day)
        .fetch_all(conn)
        .await
}

async fn employer_types(
    conn: &mut PgConnection,
    org: &str,
    p: &Period,
) -> sqlx::Result<Vec<(String, String, i64)>> {
    let sql = format!(
        "WITH {BRANCHES}, {OPEN}
        SELECT o.home_org_id, COALESCE(o.doc->'location'->>'employer_type', 'other'), count(*)
        FROM open o GROUP BY 1, 2"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(p.first_day)
        .bind(p.last_day)
        .fetch_all(conn)
        .await
}

/// Monthly update (一月一更新), month by month: records open at some time in the month, and
/// those a departure, an arrival or an update confirmed in it.
async fn compliance(
    conn: &mut PgConnection,
    org: &str,
    p: &Period,
) -> sqlx::Result<Vec<(String, i32, i64, i64)>> {
    let sql = format!(
        "WITH {BRANCHES},
        months AS (
          SELECT i, (date_trunc('month', $2::date) + i * interval '1 month')::date AS m_start,
                 (date_trunc('month', $2::date) + (i + 1) * interval '1 month' - interval '1 day')::date AS m_end
          FROM generate_series(0, 2) AS i)
        SELECT r.home_org_id, m.i,
          count(*),
          count(*) FILTER (WHERE r.last_confirmed_on BETWEEN m.m_start AND m.m_end
            OR EXISTS (SELECT 1 FROM history h
                       WHERE h.member_id = r.member_id AND h.applied
                         AND h.event_type IN ('registration.outbound', 'registration.inbound', 'registration.update')
                         AND (h.occurred_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN m.m_start AND m.m_end))
        FROM flow_records r JOIN branches b ON b.id = r.home_org_id CROSS JOIN months m
        WHERE COALESCE((r.doc->>'left_on')::date, (r.doc->>'arrived_on')::date, r.opened_at::date) <= m.m_end
          AND (r.is_open OR (r.doc->>'closed_on')::date >= m.m_start)
        GROUP BY r.home_org_id, m.i"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(p.first_day)
        .fetch_all(conn)
        .await
}

/// Arrivals matching nobody, received by orgs in the subtree and still unmatched at the
/// quarter's end, by receiving org.
async fn unmatched(
    conn: &mut PgConnection,
    org: &str,
    p: &Period,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT u.receiving_org_id, count(*) FROM unmatched_arrivals u JOIN orgs o ON o.id = u.receiving_org_id
         WHERE $1 = ANY(o.path) AND u.arrived_on <= $2
           AND (u.resolved_at IS NULL OR (u.resolved_at AT TIME ZONE 'Asia/Shanghai')::date > $2)
         GROUP BY 1",
    )
    .bind(org)
    .bind(p.last_day)
    .fetch_all(conn)
    .await
}

/// The branches' figures and the department's totals. Unmatched arrivals in the totals count
/// every receiving org of the subtree, branch or not.
pub async fn branches(
    conn: &mut PgConnection,
    org: &str,
    p: &Period,
) -> sqlx::Result<(Vec<BranchReport>, Figures)> {
    let mut by_id: BTreeMap<String, BranchReport> = BTreeMap::new();
    for s in state(conn, org, p).await? {
        let mut f = Figures {
            open: s.open as u64,
            certificate_holders: s.certificate_holders as u64,
            stale: s.stale,
            lost_contact: s.lost_contact,
            lapse_risk: s.lapse_risk,
            transfer_suggested: s.transfer_suggested,
            monthly_compliance: p.quarter.empty_compliance(),
            ..Figures::default()
        };
        f.by_status.out = s.out as u64;
        f.by_status.checked_in = s.checked_in as u64;
        f.by_status.home_visit = s.home_visit as u64;
        f.destinations.cross_province = s.cross_province as u64;
        f.destinations.in_province_cross_city = s.in_province_cross_city as u64;
        f.destinations.in_city = s.in_city as u64;
        let line = BranchReport {
            org_id: s.id.clone(),
            name: s.name,
            figures: f,
        };
        by_id.insert(s.id, line);
    }
    for (id, dep, arr, ret, tra) in movements(conn, org, p).await? {
        if let Some(b) = by_id.get_mut(&id) {
            b.figures.departures = dep as u64;
            b.figures.arrivals = arr as u64;
            b.figures.returns = ret as u64;
            b.figures.transfers = tra as u64;
        }
    }
    for (id, kind, n) in employer_types(conn, org, p).await? {
        if let Some(b) = by_id.get_mut(&id) {
            b.figures.by_employer_type.insert(kind, n as u64);
        }
    }
    for (id, i, open, confirmed) in compliance(conn, org, p).await? {
        if let Some(m) = by_id
            .get_mut(&id)
            .and_then(|b| b.figures.monthly_compliance.get_mut(i as usize))
        {
            m.open = open as u64;
            m.confirmed = confirmed as u64;
        }
    }
    let mut unmatched_total = 0;
    for (id, n) in unmatched(conn, org, p).await? {
        unmatched_total += n as u64;
        if let Some(b) = by_id.get_mut(&id) {
            b.figures.unmatched_arrivals = n as u64;
        }
    }
    let lines: Vec<BranchReport> = by_id.into_values().collect();
    let mut totals = Figures::total(lines.iter().map(|b| &b.figures), p.quarter);
    totals.unmatched_arrivals = unmatched_total;
    Ok((lines, totals))
}

/// The spot check (抽查): per branch, `spot_check_size(open)` of its open records, ordered by
/// `md5(seed || member_id)` with the branch's own seed for the quarter, so a rerun (and the
/// city's report) draws the same members.
pub async fn spot_check(
    conn: &mut PgConnection,
    lines: &[BranchReport],
    p: &Period,
) -> sqlx::Result<Vec<SpotCheck>> {
    let drawn: Vec<&BranchReport> = lines.iter().filter(|b| b.figures.open > 0).collect();
    let ids: Vec<&str> = drawn.iter().map(|b| b.org_id.as_str()).collect();
    let seeds: Vec<String> = drawn
        .iter()
        .map(|b| spot_check_seed(&b.org_id, p.quarter))
        .collect();
    let sizes: Vec<i64> = drawn
        .iter()
        .map(|b| spot_check_size(b.figures.open) as i64)
        .collect();
    let rows: Vec<(String, Vec<String>)> = sqlx::query_as(
        "WITH s AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS t(org_id, seed, n)),
        ranked AS (
          SELECT s.org_id, r.member_id, s.n,
                 row_number() OVER (PARTITION BY s.org_id ORDER BY md5(s.seed || r.member_id), r.member_id) AS k
          FROM s JOIN flow_records r ON r.home_org_id = s.org_id
          WHERE r.is_open
            AND COALESCE((r.doc->>'left_on')::date, (r.doc->>'arrived_on')::date, r.opened_at::date) <= $4)
        SELECT org_id, array_agg(member_id ORDER BY k) FROM ranked WHERE k <= n
        GROUP BY org_id ORDER BY org_id",
    )
    .bind(&ids)
    .bind(&seeds)
    .bind(&sizes)
    .bind(p.last_day)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(org_id, member_ids)| SpotCheck { org_id, member_ids })
        .collect())
}
