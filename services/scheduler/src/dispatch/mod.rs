//! The quarterly dispatch report (一季一调度, DESIGN.md section 4).

mod announce;
mod figures;

pub use announce::report_url;

use chrono::{DateTime, Utc};
use hongyan_adapters::store::{rows::OutboxRow, writes};
use hongyan_domain::dispatch::{
    DispatchReport, Quarter, is_reported_department, ready_message_id, report_id,
};
use hongyan_domain::envelope::SCHEMA_VERSION;
use serde_json::json;
use sqlx::PgConnection;
use tracing::{info, instrument};

use crate::firing::Firing;
use figures::Period;

/// Whether a department's report was written now or already stood from an earlier run.
enum Stored {
    New,
    AlreadyThere,
}

/// `quarterly_dispatch`: the report on the quarter just ended, for each county and city
/// department, stored, published as `dispatch.report_ready` and announced (the contact by SMS
/// with the report's link, the department's own robot with counts only). Returns the number of
/// outbox rows written.
#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
pub async fn quarterly_dispatch(
    conn: &mut PgConnection,
    firing: &Firing<'_>,
) -> anyhow::Result<u64> {
    let quarter = Quarter::just_ended(firing.due);
    let period = Period::new(quarter, &firing.settings.policy);
    let mut rows = Vec::new();
    for org in departments(conn).await? {
        let report = build(conn, &org, &period, firing.due).await?;
        match store(conn, &report).await? {
            Stored::New => {
                rows.push(report_ready(&report, quarter, firing.due));
                let public_url = &firing.settings.api.public_url;
                rows.extend(
                    announce::announce(conn, &report, quarter, public_url, firing.due).await?,
                );
            }
            Stored::AlreadyThere => {}
        }
    }
    writes::outbox(conn, &rows).await?;
    info!(quarter = %quarter, reports = rows.len(), "Dispatch reports stored.");
    Ok(rows.len() as u64)
}

/// County and city departments, in id order.
async fn departments(conn: &mut PgConnection) -> sqlx::Result<Vec<String>> {
    let all: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, kind, region_code FROM orgs WHERE kind = 'department' ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    Ok(all
        .into_iter()
        .filter(|(_, kind, region)| is_reported_department(kind, region))
        .map(|(id, _, _)| id)
        .collect())
}

async fn build(
    conn: &mut PgConnection,
    org: &str,
    period: &Period,
    due: DateTime<Utc>,
) -> sqlx::Result<DispatchReport> {
    let (branches, totals) = figures::branches(conn, org, period).await?;
    let spot_check = figures::spot_check(conn, &branches, period).await?;
    Ok(DispatchReport {
        report_id: report_id(org, period.quarter),
        org_id: org.to_owned(),
        quarter: period.quarter.to_string(),
        // The due time, not the wall clock, so a rerun builds the very same report.
        generated_at: due.with_timezone(&hongyan_domain::TZ).to_rfc3339(),
        totals,
        branches,
        spot_check,
    })
}

/// Stores the report once per department and quarter: a rerun writes nothing.
async fn store(conn: &mut PgConnection, report: &DispatchReport) -> sqlx::Result<Stored> {
    let doc = serde_json::to_value(report).expect("a report serializes");
    let inserted = sqlx::query(
        "INSERT INTO dispatch_reports (id, org_id, quarter, generated_at, report)
         VALUES ($1, $2, $3, $4::timestamptz, $5) ON CONFLICT (org_id, quarter) DO NOTHING",
    )
    .bind(report.report_id)
    .bind(&report.org_id)
    .bind(&report.quarter)
    .bind(&report.generated_at)
    .bind(sqlx::types::Json(doc))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(if inserted == 1 {
        Stored::New
    } else {
        Stored::AlreadyThere
    })
}

/// `dispatch.report_ready`, with an event id fixed by department and quarter so that the
/// message itself is idempotent downstream.
fn report_ready(report: &DispatchReport, quarter: Quarter, due: DateTime<Utc>) -> OutboxRow {
    let event_id = ready_message_id(&report.org_id, quarter).to_string();
    let payload = json!({
        "event_id": event_id,
        "type": "dispatch.report_ready",
        "schema_version": SCHEMA_VERSION,
        "occurred_at": due.with_timezone(&hongyan_domain::TZ).to_rfc3339(),
        "actor": {"system": "hongyan"},
        "data": {"report_id": report.report_id, "org_id": report.org_id, "quarter": report.quarter},
    });
    OutboxRow {
        routing_key: "dispatch.report_ready".into(),
        message_id: event_id,
        payload: payload.to_string(),
        park: None,
    }
}
