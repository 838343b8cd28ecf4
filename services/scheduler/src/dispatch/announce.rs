//! The dispatch report announced to its department (DESIGN.md sections 4 and 5): the
//! department's contact gets an SMS of their own with the report's link, and the department's
//! own group robot, when it has one, a summary of counts with no names in it.

use chrono::{DateTime, Utc};
use hongyan_adapters::store::rows::OutboxRow;
use hongyan_domain::dispatch::{Quarter, ready_message_id};
use hongyan_domain::ids::{EventId, OrgId, Phone};
use hongyan_domain::notify::{NotificationRequest, Recipient, To, job_templates};
use hongyan_domain::payloads::Contact;
use hongyan_domain::rules::keys::{Subject, message_key};
use hongyan_domain::rules::periods;
use sqlx::PgConnection;
use tracing::warn;

use super::report::Built;
use crate::jobs::request_row;

/// The link to a stored report in the console's 调度: `{api.public_url}/console/dispatch/{id}`
/// (a link to a contact opens a console page, after sign-in when needed; an API path needs a
/// key a person's phone does not have).
pub fn report_url(public_url: &str, report_id: uuid::Uuid) -> String {
    format!(
        "{}/console/dispatch/{report_id}",
        public_url.trim_end_matches('/')
    )
}

/// The announcement rows of one new report: its contact's SMS, and the robot summary if the
/// department has a group robot.
pub async fn announce(
    conn: &mut PgConnection,
    report: &Built,
    quarter: Quarter,
    public_url: &str,
    due: DateTime<Utc>,
) -> sqlx::Result<Vec<OutboxRow>> {
    let (name, contact_name, contact_phone, has_robot): (
        String,
        Option<String>,
        Option<String>,
        bool,
    ) = sqlx::query_as(
        "SELECT name, contact_name, contact_phone, has_robot FROM scheduler_orgs WHERE org_id = $1",
    )
    .bind(&report.org_id)
    .fetch_one(conn)
    .await?;
    let Ok(org) = OrgId::parse(&report.org_id) else {
        return Ok(Vec::new());
    };
    // The messages are caused by the report's own announcement, dispatch.report_ready.
    let caused_by = EventId(ready_message_id(&report.org_id, quarter));
    let period = quarter.to_string();
    let t = &report.headline;
    let label = periods::Quarter::of_date(quarter.first_month().first_day()).label();
    let mut rows = Vec::new();
    // The contact's phone is read through Phone::parse: a contact that reads is usable.
    let contact = contact_name
        .zip(contact_phone.and_then(|p| Phone::parse(&p).ok()))
        .map(|(name, phone)| Contact { name, phone });
    match contact {
        Some(contact) => {
            let template = job_templates::DISPATCH_REPORT;
            let req = NotificationRequest {
                key: message_key(template, &period, Subject::Org(&org)),
                template: template.to_owned(),
                to: To::Recipient(Recipient::org_contact(&org, &contact)),
                params: [
                    ("org_name".to_owned(), name.clone()),
                    ("quarter".to_owned(), label.clone()),
                    ("open".to_owned(), t.open.to_string()),
                    ("lost_contact".to_owned(), t.lost_contact.to_string()),
                    ("lapse_risk".to_owned(), t.lapse_risk.to_string()),
                    ("url".to_owned(), report_url(public_url, report.report_id)),
                ]
                .into(),
                caused_by,
            };
            rows.push(request_row(&req, due));
        }
        None => {
            warn!(org = %org, "A department has no usable contact; fix it with org.upserted. Its dispatch report is stored but not announced to anyone by SMS.")
        }
    }
    if has_robot {
        let summary = NotificationRequest::broadcast(
            job_templates::DISPATCH_SUMMARY,
            org,
            &period,
            caused_by,
            &[
                ("org_name", name),
                ("quarter", label),
                ("open", t.open.to_string()),
                ("departures", t.departures.to_string()),
                ("arrivals", t.arrivals.to_string()),
                ("returns", t.returns.to_string()),
                ("transfers", t.transfers.to_string()),
                ("stale", t.stale.to_string()),
                ("lost_contact", t.lost_contact.to_string()),
                ("lapse_risk", t.lapse_risk.to_string()),
            ],
        );
        rows.push(request_row(&summary, due));
    }
    Ok(rows)
}
