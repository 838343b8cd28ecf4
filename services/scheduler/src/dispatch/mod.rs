//! The quarterly dispatch report (一季一调度, DESIGN.md section 4).

mod announce;
mod figures;
mod report;
mod store;

pub use announce::report_url;

use chrono::{DateTime, Utc};
use hongyan_adapters::store::{rows::OutboxRow, writes};
use hongyan_domain::OrgKind;
use hongyan_domain::dispatch::{Period, Quarter, ready_message_id};
use hongyan_domain::ids::EventId;
use hongyan_domain::outgoing::{ReportReady, keyed_envelope};
use hongyan_domain::regions::is_reported_department;
use sqlx::PgConnection;
use tracing::{info, instrument};

use crate::firing::Firing;
use report::Built;

/// `quarterly_dispatch`: the report on the quarter just ended, for each county and city
/// department, stored, published as `dispatch.report_ready` and announced (the contact by SMS
/// with the report's link, the department's own robot with counts only). Returns the number of
/// outbox rows written.
///
/// The figures are set-based: one grouped pass over the records gives every branch's line,
/// which each department's report then sums over its subtree; only departments with no report
/// for the quarter yet are computed, so a rerun reads nothing but the reports table.
#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
pub async fn quarterly_dispatch(
    conn: &mut PgConnection,
    firing: &Firing<'_>,
) -> anyhow::Result<u64> {
    let quarter = Quarter::just_ended(firing.due);
    let policy = &firing.settings.policy;
    let period = Period::new(quarter, &policy.review(), policy.spot_check());
    let pending = unreported_departments(conn, quarter).await?;
    if pending.is_empty() {
        info!(quarter = %quarter, "Every department's dispatch report already stands.");
        return Ok(0);
    }
    // A few large queries: compiling them with JIT costs seconds each and gains nothing back.
    // SET LOCAL keeps it to the firing's transaction.
    sqlx::query("SET LOCAL jit = off")
        .execute(&mut *conn)
        .await?;
    let new = build_and_store(conn, &pending, &period, firing.due).await?;
    let mut rows = Vec::new();
    let public_url = &firing.settings.api.public_url;
    for report in &new {
        rows.push(report_ready(report, quarter, firing.due));
        rows.extend(announce::announce(conn, report, quarter, public_url, firing.due).await?);
    }
    writes::outbox(conn, &rows).await?;
    info!(quarter = %quarter, reports = new.len(), rows = rows.len(), "Dispatch reports stored.");
    Ok(rows.len() as u64)
}

/// County and city departments with no report for `quarter` yet, in id order.
async fn unreported_departments(
    conn: &mut PgConnection,
    quarter: Quarter,
) -> sqlx::Result<Vec<String>> {
    let all: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT o.org_id, o.kind, o.region_code FROM scheduler_orgs o
         WHERE o.kind = 'department'
           AND NOT EXISTS (SELECT 1 FROM dispatch_reports d WHERE d.org_id = o.org_id AND d.quarter = $1)
         ORDER BY o.org_id",
    )
    .bind(quarter.to_string())
    .fetch_all(conn)
    .await?;
    Ok(all
        .into_iter()
        .filter(|(_, kind, region)| {
            OrgKind::parse(kind).is_ok_and(|kind| is_reported_department(kind, region))
        })
        .map(|(id, _, _)| id)
        .collect())
}

/// Computes the branch lines once, then builds each department's report and streams it to the
/// server before building the next, so one report's JSON is held at a time. Returns the
/// reports this run wrote, in id order.
async fn build_and_store(
    conn: &mut PgConnection,
    departments: &[String],
    period: &Period,
    due: DateTime<Utc>,
) -> sqlx::Result<Vec<Built>> {
    let mut branches = figures::branches(conn, departments, period).await?;
    let unmatched = figures::unmatched(conn, departments, period).await?;
    figures::add_unmatched(&mut branches, &unmatched);
    let spot_check = figures::spot_check(conn, &branches, period).await?;
    // The due time, not the wall clock, so a rerun builds the very same report.
    let generated_at = due.with_timezone(&hongyan_domain::TZ).to_rfc3339();
    store::create_staging(conn).await?;
    let mut built = Vec::new();
    let mut copy = store::open_copy(conn).await?;
    for org in departments {
        let (report, json) = report::build(
            org,
            &branches,
            &unmatched,
            &spot_check,
            period,
            &generated_at,
        );
        store::stage(&mut copy, &report, &json).await?;
        built.push(report);
    }
    copy.finish().await?;
    let written = store::insert_staged(conn, period.quarter).await?;
    built.retain(|r| written.contains(&r.org_id));
    Ok(built)
}

/// `dispatch.report_ready`, with an event id fixed by department and quarter so that the
/// message itself is idempotent downstream.
fn report_ready(report: &Built, quarter: Quarter, due: DateTime<Utc>) -> OutboxRow {
    let event_id = EventId(ready_message_id(&report.org_id, quarter));
    let ready = ReportReady {
        report_id: report.report_id,
        org_id: report.org_id.clone(),
        quarter,
    };
    OutboxRow {
        routing_key: ReportReady::KIND.into(),
        message_id: event_id.to_string(),
        payload: keyed_envelope(ReportReady::KIND, event_id, due, ready.to_wire()),
        park: None,
    }
}
