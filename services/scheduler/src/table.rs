//! The job table: each schedule name of DESIGN.md section 4 and the code that does its work.
//! Every job has the same shape: it runs inside the firing's transaction and returns the number
//! of outbox rows it wrote.

use sqlx::PgConnection;

use crate::firing::Firing;
use crate::{dispatch, jobs, monthly, study};

/// Every schedule name the scheduler knows, in the order of DESIGN.md section 4.
pub const NAMES: &[&str] = &[
    "monthly_review",
    "monthly_reminder",
    "monthly_second_nudge",
    "activity_day",
    "study_send_at",
    "quarterly_dispatch",
    "quarterly_talk",
    "quarterly_talk_followup",
    "family_visit",
    "political_birthday",
    "return_peaks",
];

pub fn is_known(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Runs `name`'s job for `firing` on `conn` (the firing's transaction).
pub async fn run(name: &str, conn: &mut PgConnection, firing: &Firing<'_>) -> anyhow::Result<u64> {
    match name {
        "monthly_review" => monthly::review::run(conn, firing).await,
        "monthly_reminder" => monthly::reminder::monthly_reminder(conn, firing).await,
        "monthly_second_nudge" => monthly::reminder::monthly_second_nudge(conn, firing).await,
        "activity_day" => study::activity_day(conn, firing).await,
        "study_send_at" => study::study_send_at(conn, firing).await,
        "quarterly_dispatch" => dispatch::quarterly_dispatch(conn, firing).await,
        "quarterly_talk" => jobs::quarterly_talk(conn, firing).await,
        "quarterly_talk_followup" => jobs::quarterly_talk_followup(conn, firing).await,
        "family_visit" => jobs::family_visit(conn, firing).await,
        "political_birthday" => jobs::political_birthday(conn, firing).await,
        "return_peaks" => jobs::return_peaks(conn, firing).await,
        other => anyhow::bail!(
            "{other} is not a schedule; the schedules are {}",
            NAMES.join(", ")
        ),
    }
}
