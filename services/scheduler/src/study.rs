//! Study packs going out (DESIGN.md sections 4 and 5): the activity day and `send_at`.

use sqlx::PgConnection;

use crate::firing::Firing;

/// `activity_day`: this month's packs that have no `send_at`. Returns outbox rows written.
pub async fn activity_day(_conn: &mut PgConnection, _firing: &Firing<'_>) -> anyhow::Result<u64> {
    anyhow::bail!("activity_day is not built yet (issue 8)")
}

/// `study_send_at`: packs whose `send_at` has come. Returns outbox rows written.
pub async fn study_send_at(_conn: &mut PgConnection, _firing: &Firing<'_>) -> anyhow::Result<u64> {
    anyhow::bail!("study_send_at is not built yet (issue 8)")
}
