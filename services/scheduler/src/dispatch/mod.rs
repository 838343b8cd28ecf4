//! The quarterly dispatch report (一季一调度, DESIGN.md section 4).

use sqlx::PgConnection;

use crate::firing::Firing;

/// `quarterly_dispatch`: the report on the quarter just ended, for each county and city
/// department, stored, published as `dispatch.report_ready` and announced. Returns the number
/// of outbox rows written.
pub async fn quarterly_dispatch(
    _conn: &mut PgConnection,
    _firing: &Firing<'_>,
) -> anyhow::Result<u64> {
    anyhow::bail!("quarterly_dispatch is not built yet (issue 8)")
}
