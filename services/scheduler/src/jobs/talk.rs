//! The quarterly talk (一季度一谈心, DESIGN.md section 4): in each quarter's first week, and
//! again two weeks before it ends, the committee member paired with each flowing member is
//! reminded of their members with no `talk` yet this quarter. Members with no pair are not
//! forgotten: their branch's contact gets their names instead. Lists of names go one-to-one
//! by SMS, never to a group.

use hongyan_domain::Phone;
use hongyan_domain::ids::OrgId;
use hongyan_domain::notify::{
    NotificationRequest, Recipient, Role, To, default_channels, job_templates,
};
use hongyan_domain::rules::contacts::talk_quarter;
use hongyan_domain::rules::keys::{Subject, firing_id, message_key};
use hongyan_domain::rules::periods::{Quarter, local_day};
use sqlx::PgConnection;
use tracing::{info, instrument, warn};

use super::{name_list, request_row, write};
use crate::firing::Firing;

/// `quarterly_talk`: the quarter's first reminder. Returns outbox rows written.
#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
pub async fn quarterly_talk(conn: &mut PgConnection, firing: &Firing<'_>) -> anyhow::Result<u64> {
    remind(conn, firing, job_templates::QUARTERLY_TALK).await
}

/// `quarterly_talk_followup`: the same, two weeks before the quarter ends. Returns outbox rows
/// written.
#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
pub async fn quarterly_talk_followup(
    conn: &mut PgConnection,
    firing: &Firing<'_>,
) -> anyhow::Result<u64> {
    remind(conn, firing, job_templates::QUARTERLY_TALK_FOLLOWUP).await
}

/// Who is reminded: a pair (by phone) or, for unpaired members, their branch's contact.
enum Reminded {
    Pair,
    Branch(OrgId),
}

/// Members still owed a talk in the quarter beginning on $1, one row per person to remind: a
/// pair (grouped by phone, so a committee member paired across branches gets one list) or the
/// branch contact of the unpaired. A talk in an older quarter does not count (talk_due).
const OWED: &str = "
WITH owed AS (
    SELECT m.member_id AS id, COALESCE(m.name, m.member_id) AS name, m.home_org_id,
           m.pair_phone, m.pair_name
    FROM scheduler_records f JOIN scheduler_members m ON m.member_id = f.member_id
    WHERE f.is_open AND (f.talk_on IS NULL OR f.talk_on < $1))
SELECT pair_phone AS phone, min(pair_name) AS name, NULL::text AS org,
       array_agg(name ORDER BY name, id) AS names
FROM owed WHERE pair_phone IS NOT NULL GROUP BY pair_phone
UNION ALL
SELECT o.contact_phone, o.contact_name, o.org_id, array_agg(w.name ORDER BY w.name, w.id)
FROM owed w JOIN scheduler_orgs o ON o.org_id = w.home_org_id WHERE w.pair_phone IS NULL
GROUP BY o.org_id, o.contact_phone, o.contact_name
ORDER BY 1, 3";

/// One person to remind and the names on their list.
#[derive(sqlx::FromRow)]
struct Owed {
    phone: Option<String>,
    name: Option<String>,
    /// The branch, for the unpaired members' list; none for a pair.
    org: Option<String>,
    names: Vec<String>,
}

async fn remind(
    conn: &mut PgConnection,
    firing: &Firing<'_>,
    template: &str,
) -> anyhow::Result<u64> {
    let quarter = talk_quarter(local_day(firing.due));
    let found: Vec<Owed> = sqlx::query_as(OWED)
        .bind(quarter.first_day())
        .fetch_all(&mut *conn)
        .await?;
    let caused_by = firing_id(firing.schedule, firing.due);
    let mut rows = Vec::with_capacity(found.len());
    for Owed {
        phone,
        name,
        org,
        names,
    } in found
    {
        let who = match org.as_deref().map(OrgId::parse) {
            None => Reminded::Pair,
            Some(Ok(org)) => Reminded::Branch(org),
            Some(Err(e)) => {
                warn!(error = %e, "An org id in the ledger does not read; its unpaired members are skipped.");
                continue;
            }
        };
        let Some(phone) = phone.as_deref().and_then(|p| Phone::parse(p).ok()) else {
            warn!(
                members = names.len(),
                "A pair or branch contact has no usable phone; fix it with member.upserted or org.upserted. Skipped."
            );
            continue;
        };
        rows.push(request_row(
            &request(
                template,
                quarter,
                who,
                name.unwrap_or_default(),
                phone,
                &names,
                caused_by,
            ),
            firing.due,
        ));
    }
    let n = write(conn, &rows, firing.settings.scheduler.batch_size).await?;
    info!(quarter = %quarter, reminders = n, "Talk reminders queued.");
    Ok(n)
}

fn request(
    template: &str,
    quarter: Quarter,
    who: Reminded,
    name: String,
    phone: Phone,
    names: &[String],
    caused_by: hongyan_domain::ids::EventId,
) -> NotificationRequest {
    let period = quarter.to_string();
    let (key, recipient) = match who {
        Reminded::Pair => (
            message_key(template, &period, Subject::Person(&phone)),
            Recipient {
                role: Role::Pair,
                name,
                phone,
                channels: default_channels(),
                member_id: None,
                org_id: None,
            },
        ),
        Reminded::Branch(org) => (
            message_key(template, &period, Subject::Org(&org)),
            Recipient {
                role: Role::OrgContact,
                name,
                phone,
                channels: default_channels(),
                member_id: None,
                org_id: Some(org),
            },
        ),
    };
    NotificationRequest {
        key,
        template: template.to_owned(),
        to: To::Recipient(recipient),
        params: [
            ("quarter".to_owned(), quarter.label()),
            ("count".to_owned(), names.len().to_string()),
            ("names".to_owned(), name_list(names)),
        ]
        .into(),
        caused_by,
    }
}
