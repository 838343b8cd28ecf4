//! The family visit (每半年家访, DESIGN.md section 4): on 10 January and 10 July each branch's
//! contact gets, one-to-one by SMS, the flowing members whose family had no `family_visit` in
//! the half year just ended (a visit in the first days of the new half year also counts).

use hongyan_domain::Phone;
use hongyan_domain::ids::OrgId;
use hongyan_domain::notify::{NotificationRequest, Recipient, To, job_templates};
use hongyan_domain::payloads::Contact;
use hongyan_domain::rules::contacts::family_visit_half;
use hongyan_domain::rules::keys::{Subject, firing_id, message_key};
use hongyan_domain::rules::periods::local_day;
use sqlx::PgConnection;
use tracing::{info, instrument, warn};

use super::{name_list, request_row, write};
use crate::firing::Firing;

/// Per branch, the open records with no family visit since $1 (family_visit_due).
const OWED: &str = "
SELECT o.org_id AS org, o.contact_name AS name, o.contact_phone AS phone,
       array_agg(COALESCE(m.name, m.member_id) ORDER BY m.name, m.member_id) AS names
FROM scheduler_records f JOIN scheduler_members m ON m.member_id = f.member_id
JOIN scheduler_orgs o ON o.org_id = f.home_org_id
WHERE f.is_open AND (f.family_visit_on IS NULL OR f.family_visit_on < $1)
GROUP BY o.org_id, o.contact_name, o.contact_phone ORDER BY o.org_id";

/// One branch's list, and its contact.
#[derive(sqlx::FromRow)]
struct Owed {
    org: String,
    name: Option<String>,
    phone: Option<String>,
    names: Vec<String>,
}

/// `family_visit`. Returns outbox rows written.
#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
pub async fn family_visit(conn: &mut PgConnection, firing: &Firing<'_>) -> anyhow::Result<u64> {
    let half = family_visit_half(local_day(firing.due));
    let found: Vec<Owed> = sqlx::query_as(OWED)
        .bind(half.first_day())
        .fetch_all(&mut *conn)
        .await?;
    let caused_by = firing_id(firing.schedule, firing.due);
    let template = job_templates::FAMILY_VISIT;
    let mut rows = Vec::with_capacity(found.len());
    for Owed {
        org,
        name,
        phone,
        names,
    } in found
    {
        let (Ok(org), Some(phone)) = (
            OrgId::parse(&org),
            phone.as_deref().and_then(|p| Phone::parse(p).ok()),
        ) else {
            warn!(org = %org, members = names.len(), "A branch has no usable contact phone; fix it with org.upserted. Its family-visit list is skipped.");
            continue;
        };
        let contact = Contact {
            name: name.unwrap_or_default(),
            phone,
        };
        let req = NotificationRequest {
            key: message_key(template, &half.to_string(), Subject::Org(&org)),
            template: template.to_owned(),
            to: To::Recipient(Recipient::org_contact(&org, &contact)),
            params: [
                ("half_year".to_owned(), half.label()),
                ("count".to_owned(), names.len().to_string()),
                ("names".to_owned(), name_list(&names)),
            ]
            .into(),
            caused_by,
        };
        rows.push(request_row(&req, firing.due));
    }
    let n = write(conn, &rows, firing.settings.scheduler.batch_size).await?;
    info!(half = %half, lists = n, "Family-visit lists queued.");
    Ok(n)
}
