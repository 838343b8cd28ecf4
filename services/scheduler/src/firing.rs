//! One firing of a schedule: what every job receives.

use chrono::{DateTime, Utc};
use hongyan_adapters::Settings;
use sqlx::PgPool;

/// A schedule due at `due`, run inside the transaction that holds its fire key: a job writes its
/// outbox rows (and ledger changes) on that same connection, so the work and the key commit
/// together or not at all.
pub struct Firing<'a> {
    /// The schedule's name, as in `[schedules]` (DESIGN.md section 4).
    pub schedule: &'a str,
    /// The due time being fired (not the wall clock when it runs).
    pub due: DateTime<Utc>,
    pub settings: &'a Settings,
    /// For a job that commits its work in batches of its own (`monthly_review`) while the
    /// firing's transaction holds the fire key.
    pub pool: &'a PgPool,
}
