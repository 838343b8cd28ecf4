//! One firing of a schedule: what every job receives.

use chrono::{DateTime, Utc};
use hongyan_adapters::Settings;
use hongyan_adapters::heartbeat::Heartbeat;
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
    /// The scheduler's heartbeat, beaten between batches: a firing over a million records takes
    /// longer than the heartbeat's TTL, and the role is alive while its batches go on. `None`
    /// for a firing by hand (`hongyan schedule run`), which is not the role's loop.
    pub alive: Option<&'a Heartbeat>,
}

impl Firing<'_> {
    /// Between two batches: beats (at most every few seconds), so a long firing that makes
    /// progress keeps the role healthy, and one stuck inside a batch does not.
    pub async fn progress(&self) {
        if let Some(alive) = self.alive {
            alive.beat().await;
        }
    }
}
