//! The political birthday (政治生日, DESIGN.md section 4): every day at 08:00, a greeting to each
//! member on the anniversary of `joined_party_on`; a 29 February joining date is greeted on
//! 28 February in years without one.

use hongyan_domain::Phone;
use hongyan_domain::ids::{MemberId, OrgId};
use hongyan_domain::notify::{
    NotificationRequest, Recipient, Role, To, default_channels, job_templates,
};
use hongyan_domain::rules::greetings::{anniversary_days, party_anniversary};
use hongyan_domain::rules::keys::{Subject, firing_id, message_key};
use hongyan_domain::rules::periods::local_day;
use sqlx::PgConnection;
use tracing::{info, instrument, warn};

use super::{request_row, write};
use crate::firing::Firing;

/// Members whose joining day (`MM-DD`) is one of $1, found through the index of migration
/// 0012, on their current phone (an open record's, which an update may have changed).
const CANDIDATES: &str = "
SELECT m.member_id, COALESCE(m.name, m.member_id), m.joined_party_on, COALESCE(f.phone, m.phone),
       m.channels, m.home_org_id, o.name
FROM scheduler_members m
JOIN scheduler_orgs o ON o.org_id = m.home_org_id
LEFT JOIN scheduler_records f ON f.member_id = m.member_id AND f.is_open
WHERE substr(m.joined_party_on, 6, 5) = ANY($1)
ORDER BY m.member_id";

type Candidate = (
    String,
    String,
    Option<String>,
    String,
    Option<serde_json::Value>,
    String,
    String,
);

/// `political_birthday`. Returns outbox rows written.
#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
pub async fn political_birthday(
    conn: &mut PgConnection,
    firing: &Firing<'_>,
) -> anyhow::Result<u64> {
    let today = local_day(firing.due);
    let days: Vec<String> = anniversary_days(today)
        .into_iter()
        .map(|(m, d)| format!("{m:02}-{d:02}"))
        .collect();
    let found: Vec<Candidate> = sqlx::query_as(CANDIDATES)
        .bind(&days)
        .fetch_all(&mut *conn)
        .await?;
    let caused_by = firing_id(firing.schedule, firing.due);
    let template = job_templates::POLITICAL_BIRTHDAY;
    let period = today.to_string();
    let mut rows = Vec::with_capacity(found.len());
    for (id, name, joined, phone, channels, home, branch_name) in found {
        let Some(years) = joined
            .as_deref()
            .and_then(|j| hongyan_domain::fields::parse_date(j).ok())
            .and_then(|j| party_anniversary(j, today))
        else {
            continue;
        };
        let (Ok(member), Ok(phone)) = (MemberId::parse(&id), Phone::parse(&phone)) else {
            warn!(member = %id, "A member's id or phone does not read; fix it with member.upserted. No greeting.");
            continue;
        };
        let channels: Vec<String> = channels
            .and_then(|c| serde_json::from_value(c).ok())
            .filter(|c: &Vec<String>| !c.is_empty())
            .unwrap_or_else(default_channels);
        let req = NotificationRequest {
            key: message_key(template, &period, Subject::Member(&member)),
            template: template.to_owned(),
            to: To::Recipient(Recipient {
                role: Role::Member,
                name: name.clone(),
                phone,
                channels,
                member_id: Some(member),
                org_id: OrgId::parse(&home).ok(),
            }),
            params: [
                ("member_name".to_owned(), name),
                ("years".to_owned(), years.to_string()),
                ("branch_name".to_owned(), branch_name),
            ]
            .into(),
            caused_by,
        };
        rows.push(request_row(&req, firing.due));
    }
    let n = write(conn, &rows, firing.settings.scheduler.batch_size).await?;
    info!(day = %today, greetings = n, "Political birthday greetings queued.");
    Ok(n)
}
