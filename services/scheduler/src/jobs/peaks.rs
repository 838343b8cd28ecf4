//! The return peaks (春节, 五一, 国庆; DESIGN.md section 4): on the day `return_peak_notice_days`
//! before a peak listed in `[policy.return_peaks]`, every branch with members away is asked,
//! through its contact, to plan the winter-spring training (冬春训) and home meetings for the
//! members coming back (凡回乡必见面).

use chrono::{Datelike, NaiveDate};
use hongyan_domain::Phone;
use hongyan_domain::ids::OrgId;
use hongyan_domain::notify::{NotificationRequest, Recipient, To, job_templates};
use hongyan_domain::payloads::Contact;
use hongyan_domain::rules::greetings::peak_noticed;
use hongyan_domain::rules::keys::{Subject, firing_id, message_key};
use hongyan_domain::rules::periods::local_day;
use sqlx::PgConnection;
use tracing::{debug, info, instrument, warn};

use super::{request_row, write};
use crate::firing::Firing;

/// Branches with members away, and how many.
const BRANCHES: &str = "
SELECT o.org_id, o.contact_name, o.contact_phone, count(*)
FROM scheduler_records f JOIN scheduler_orgs o ON o.org_id = f.home_org_id
WHERE f.is_open GROUP BY o.org_id, o.contact_name, o.contact_phone ORDER BY o.org_id";

/// What people call a peak: Spring Festival falls in January or February, May Day and National
/// Day on their dates; any other listed day is a return peak by its date.
fn peak_name(peak: NaiveDate) -> &'static str {
    match (peak.month(), peak.day()) {
        (1 | 2, _) => "春节",
        (5, 1) => "五一",
        (10, 1) => "国庆",
        _ => "返乡高峰",
    }
}

/// `return_peaks`. Returns outbox rows written (none on days that notice no peak).
#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
pub async fn return_peaks(conn: &mut PgConnection, firing: &Firing<'_>) -> anyhow::Result<u64> {
    let today = local_day(firing.due);
    let policy = &firing.settings.policy;
    let peaks = policy.return_peaks.dates()?;
    let Some(peak) = peak_noticed(&peaks, today, policy.return_peak_notice_days) else {
        debug!(day = %today, "No return peak to give notice of today.");
        return Ok(0);
    };
    let found: Vec<(String, Option<String>, Option<String>, i64)> =
        sqlx::query_as(BRANCHES).fetch_all(&mut *conn).await?;
    let caused_by = firing_id(firing.schedule, firing.due);
    let template = job_templates::RETURN_PEAK;
    let mut rows = Vec::with_capacity(found.len());
    for (org, name, phone, away) in found {
        let (Ok(org), Some(phone)) = (
            OrgId::parse(&org),
            phone.as_deref().and_then(|p| Phone::parse(p).ok()),
        ) else {
            warn!(org = %org, "A branch has no usable contact phone; fix it with org.upserted. No return-peak notice.");
            continue;
        };
        let contact = Contact {
            name: name.unwrap_or_default(),
            phone,
        };
        let req = NotificationRequest {
            key: message_key(template, &peak.to_string(), Subject::Org(&org)),
            template: template.to_owned(),
            to: To::Recipient(Recipient::org_contact(&org, &contact)),
            params: [
                ("peak_name".to_owned(), peak_name(peak).to_owned()),
                (
                    "peak_date".to_owned(),
                    peak.format("%-m月%-d日").to_string(),
                ),
                ("count".to_owned(), away.to_string()),
            ]
            .into(),
            caused_by,
        };
        rows.push(request_row(&req, firing.due));
    }
    let n = write(conn, &rows, firing.settings.scheduler.batch_size).await?;
    info!(peak = %peak, notices = n, "Return-peak notices queued.");
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_are_named_as_people_say_them() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(peak_name(d("2027-02-06")), "春节");
        assert_eq!(peak_name(d("2027-05-01")), "五一");
        assert_eq!(peak_name(d("2027-10-01")), "国庆");
        assert_eq!(peak_name(d("2027-08-15")), "返乡高峰");
    }
}
