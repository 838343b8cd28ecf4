//! The job table: each schedule name of DESIGN.md section 4 and the code that does its work.
//! Every job has the same shape: it runs inside the firing's transaction and returns the number
//! of outbox rows it wrote.

use hongyan_domain::schedule::ScheduleName;
use sqlx::PgConnection;

use crate::firing::Firing;
use crate::{dispatch, jobs, monthly, study};

/// Runs `name`'s job for `firing` on `conn` (the firing's transaction). Every schedule has one:
/// the match is over the domain's [`ScheduleName`], so a new name without a job does not
/// compile.
pub async fn run(
    name: ScheduleName,
    conn: &mut PgConnection,
    firing: &Firing<'_>,
) -> anyhow::Result<u64> {
    use ScheduleName as S;
    match name {
        S::MonthlyReview => monthly::review::run(conn, firing).await,
        S::MonthlyReminder => monthly::reminder::monthly_reminder(conn, firing).await,
        S::MonthlySecondNudge => monthly::reminder::monthly_second_nudge(conn, firing).await,
        S::ActivityDay => study::activity_day(conn, firing).await,
        S::StudySendAt => study::study_send_at(conn, firing).await,
        S::QuarterlyDispatch => dispatch::quarterly_dispatch(conn, firing).await,
        S::QuarterlyTalk => jobs::quarterly_talk(conn, firing).await,
        S::QuarterlyTalkFollowup => jobs::quarterly_talk_followup(conn, firing).await,
        S::FamilyVisit => jobs::family_visit(conn, firing).await,
        S::PoliticalBirthday => jobs::political_birthday(conn, firing).await,
        S::ReturnPeaks => jobs::return_peaks(conn, firing).await,
    }
}
