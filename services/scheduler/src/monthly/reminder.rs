//! `monthly_reminder` and `monthly_second_nudge` (一月一更新): every open record not confirmed
//! in the firing's month gets the update reminder with the member's link (DESIGN.md section 7).

use anyhow::Context;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use hongyan_adapters::store::writes;
use hongyan_domain::ids::{MemberId, Phone};
use hongyan_domain::link;
use hongyan_domain::month::Month;
use hongyan_domain::notify::{
    NotificationRequest, Recipient, Role, Template, To, default_channels,
};
use hongyan_domain::rules::keys::{self, Subject};
use hongyan_domain::schedule::ScheduleName;
use secrecy::ExposeSecret;
use sqlx::PgConnection;
use tracing::{info, instrument, warn};

use super::{BATCH, month_words, notification_row};
use crate::firing::Firing;

/// The template both reminders use: the text is the same, the key (the rule) differs.
pub const TEMPLATE: &str = Template::MonthlyReminder.as_str();

/// `monthly_reminder`: on the 1st.
pub async fn monthly_reminder(conn: &mut PgConnection, firing: &Firing<'_>) -> anyhow::Result<u64> {
    remind(conn, firing, ScheduleName::MonthlyReminder.as_str()).await
}

/// `monthly_second_nudge`: on the 20th, to those still unconfirmed. A member who confirmed
/// since the 1st is no longer selected.
pub async fn monthly_second_nudge(
    conn: &mut PgConnection,
    firing: &Firing<'_>,
) -> anyhow::Result<u64> {
    remind(conn, firing, ScheduleName::MonthlySecondNudge.as_str()).await
}

/// One unconfirmed open record, as the reminder needs it.
#[derive(sqlx::FromRow)]
struct Unconfirmed {
    member_id: String,
    name: String,
    phone: String,
    channels: Option<sqlx::types::Json<Vec<String>>>,
    /// The member answered 退订: no reminder SMS (DESIGN.md section 5, "Replies").
    reminders_stopped: bool,
}

#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
async fn remind(conn: &mut PgConnection, firing: &Firing<'_>, rule: &str) -> anyhow::Result<u64> {
    let settings = firing.settings;
    let secret = settings.api.link_secret.as_ref().context(
        "The reminder carries each member's link, signed with api.link_secret, which is not set: export HONGYAN__API__LINK_SECRET (scripts/run makes a local one) and run the schedule again",
    )?;
    let secret = secret.expose_secret().as_bytes();
    let month = Month::of_instant(firing.due);
    let period = month.to_string();
    let expires = firing.due + TimeDelta::days(i64::from(settings.api.link_valid_days));
    let caused_by = keys::firing_id(firing.schedule, firing.due);
    let first_day: NaiveDate = month.first_day();
    let mut after = String::new();
    let mut written = 0u64;
    loop {
        // Keyset over the one-open-record-per-member index: each batch starts where the last
        // ended, so the scan is linear and nothing is held between batches.
        let batch: Vec<Unconfirmed> = sqlx::query_as(
            "SELECT member_id, name, phone, channels, reminders_stopped
             FROM scheduler_reminder_records
             WHERE member_id > $1 AND (last_confirmed_on IS NULL OR last_confirmed_on < $2)
             ORDER BY member_id LIMIT $3",
        )
        .bind(&after)
        .bind(first_day)
        .bind(BATCH)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = batch.last() else { break };
        after = last.member_id.clone();
        let rows: Vec<_> = batch
            .iter()
            .filter_map(|u| {
                request(
                    u, rule, &period, month, secret, expires, settings, caused_by,
                )
            })
            .map(|req| notification_row(&req, firing.due))
            .collect();
        writes::outbox(conn, &rows).await?;
        written += rows.len() as u64;
        firing.progress().await;
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    info!(rule, month = %month, reminders = written, "Monthly reminders queued.");
    Ok(written)
}

/// The reminder to one member, or `None` (logged) when the stored row cannot be read back,
/// which entry validation makes unlikely and which must not hold up everyone else's.
#[allow(clippy::too_many_arguments)]
fn request(
    u: &Unconfirmed,
    rule: &str,
    period: &str,
    month: Month,
    secret: &[u8],
    expires: DateTime<Utc>,
    settings: &hongyan_adapters::Settings,
    caused_by: hongyan_domain::ids::EventId,
) -> Option<NotificationRequest> {
    let (Ok(member), Ok(phone)) = (MemberId::parse(&u.member_id), Phone::parse(&u.phone)) else {
        warn!(member_id = %u.member_id, "Open record skipped: its member id or phone does not read back; fix the member with member.upserted.");
        return None;
    };
    let token = link::mint(secret, &member, month, expires);
    let url = link::url(&settings.api.public_url, &token);
    let mut channels = u
        .channels
        .as_ref()
        .map(|c| c.0.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(default_channels);
    if u.reminders_stopped {
        // 退订 stops the SMS; a one-to-one webhook the member has still gets the reminder.
        channels.retain(|c| c != "sms");
        if channels.is_empty() {
            return None;
        }
    }
    Some(NotificationRequest {
        key: keys::message_key(rule, period, Subject::Member(&member)),
        template: TEMPLATE.into(),
        params: [
            ("member_name".to_owned(), u.name.clone()),
            ("month".to_owned(), month_words(month)),
            ("url".to_owned(), url),
        ]
        .into_iter()
        .collect(),
        to: To::Recipient(Recipient {
            role: Role::Member,
            name: u.name.clone(),
            phone,
            channels,
            member_id: Some(member),
            org_id: None,
        }),
        caused_by,
    })
}
