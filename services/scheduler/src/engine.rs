//! The schedule engine (DESIGN.md section 4): parses `[schedules]`, works out which due times
//! have come, and fires each once across every replica.
//!
//! A firing is one transaction: the fire key `(schedule, due)` in `schedule_firings` is taken
//! first (`INSERT .. ON CONFLICT DO NOTHING`), then the job writes its outbox rows and ledger
//! changes on the same connection, then everything commits together. Two replicas racing the
//! same due time both try the insert; PostgreSQL makes the second wait on the first's
//! uncommitted key and then see the conflict, so the loser writes nothing. If the winner rolls
//! back, the loser's insert goes through and it does the work instead. (`monthly_review` is
//! the one job that commits its batches on their own while the key waits; `review::run` says
//! why that still sends nothing twice.)

use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use hongyan_adapters::heartbeat::Heartbeat;
use hongyan_adapters::{Settings, metrics};
use hongyan_domain::TZ;
use hongyan_domain::schedule::ScheduleName;
use sqlx::{PgConnection, PgPool};
use tracing::{info, warn};

use crate::firing::Firing;
use crate::table as jobs;

/// One parsed schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub name: &'static str,
    pub expression: String,
    cron: cron::Schedule,
}

impl Schedule {
    /// Parses a 6-field expression (seconds first, day names), naming the schedule when it is
    /// wrong and saying what to write instead.
    pub fn parse(name: &'static str, expression: &str) -> anyhow::Result<Self> {
        let fields: Vec<&str> = expression.split_whitespace().collect();
        if fields.len() != 6 {
            anyhow::bail!(
                "schedules.{name} = {expression:?} has {} fields; write 6 (seconds minutes hours day-of-month month day-of-week), e.g. \"0 0 9 1 * *\"",
                fields.len()
            );
        }
        // The cron crate counts day-of-week from 1 = Sunday, unlike Unix cron: a number is
        // easily off by one, so DESIGN.md section 4 allows names only.
        if fields[5].chars().any(|c| c.is_ascii_digit()) {
            anyhow::bail!(
                "schedules.{name} = {expression:?} gives the day of week as a number; write day names (Mon, Tue, ... Sun)"
            );
        }
        let cron = cron::Schedule::from_str(expression).map_err(|e| {
            anyhow::anyhow!(
                "schedules.{name} = {expression:?} is not a cron expression the scheduler understands ({e}); write 6 fields, seconds first, with day and month names"
            )
        })?;
        if cron.after(&Utc::now().with_timezone(&TZ)).next().is_none() {
            anyhow::bail!(
                "schedules.{name} = {expression:?} never fires again; fix the expression"
            );
        }
        Ok(Self {
            name,
            expression: expression.to_owned(),
            cron,
        })
    }

    /// The due times after `t`, in order.
    pub fn after(&self, t: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.cron
            .after(&t.with_timezone(&TZ))
            .map(|d| d.with_timezone(&Utc))
    }

    /// The due times in `(from, to]`, in order.
    pub fn due_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.after(from).take_while(move |d| *d <= to)
    }
}

impl Schedule {
    /// The latest due time at or before `at`, looking back a day, a month, then a year (a
    /// minutely schedule is not walked over a whole year).
    pub fn latest_due(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        [
            TimeDelta::days(1),
            TimeDelta::days(32),
            TimeDelta::days(367),
        ]
        .into_iter()
        .find_map(|back| {
            self.due_between(at - back - TimeDelta::seconds(1), at)
                .last()
        })
    }
}

/// Every schedule of `[schedules]`, parsed. An unknown name is refused by the config loader
/// (`deny_unknown_fields`), naming it; every name has a job (`table::run` matches them all).
pub fn parse_all(settings: &Settings) -> anyhow::Result<Vec<Schedule>> {
    settings
        .schedules
        .all()
        .into_iter()
        .map(|(name, expr)| Schedule::parse(name.as_str(), expr))
        .collect()
}

/// What happened to one due time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fired {
    /// This process took the fire key and did the work; the job wrote this many outbox rows.
    Done(u64),
    /// Another replica (or an earlier run) holds the key: nothing was written.
    AlreadyTaken,
}

/// Fires `schedule` for `due` once: takes the fire key and runs the job in one transaction.
pub async fn fire(
    pool: &PgPool,
    settings: &Settings,
    schedule: &str,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    by_hand: bool,
) -> anyhow::Result<Fired> {
    fire_beating(pool, settings, schedule, due, now, by_hand, None).await
}

/// [`fire`], beating `alive` between the job's batches (the scheduler's own loop).
pub async fn fire_beating(
    pool: &PgPool,
    settings: &Settings,
    schedule: &str,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    by_hand: bool,
    alive: Option<&Heartbeat>,
) -> anyhow::Result<Fired> {
    // The name is parsed here, where it enters (the engine's own, or an operator's command).
    let name = ScheduleName::parse(schedule)?;
    let mut tx = pool.begin().await?;
    if !take_key(&mut tx, schedule, due, now, by_hand, "fired").await? {
        return Ok(Fired::AlreadyTaken);
    }
    let firing = Firing {
        schedule,
        due,
        settings,
        pool,
        alive,
    };
    let rows = jobs::run(name, &mut tx, &firing).await.with_context(|| {
        format!(
            "{schedule} due {} failed; nothing of it was kept",
            local(due)
        )
    })?;
    sqlx::query("UPDATE schedule_firings SET rows = $3 WHERE schedule = $1 AND due = $2")
        .bind(schedule)
        .bind(due)
        .bind(rows as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Fired::Done(rows))
}

async fn take_key(
    conn: &mut PgConnection,
    schedule: &str,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    by_hand: bool,
    outcome: &str,
) -> sqlx::Result<bool> {
    let taken = sqlx::query(
        "INSERT INTO schedule_firings (schedule, due, outcome, by_hand, at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (schedule, due) DO NOTHING",
    )
    .bind(schedule)
    .bind(due)
    .bind(outcome)
    .bind(by_hand)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// A due time as people read it: Asia/Shanghai.
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&TZ)
        .format("%Y-%m-%d %H:%M:%S%:z")
        .to_string()
}

/// The latest due time recorded for each schedule (fired or skipped).
pub async fn last_firings(
    pool: &PgPool,
) -> sqlx::Result<std::collections::HashMap<String, (DateTime<Utc>, String, i64)>> {
    let rows: Vec<(String, DateTime<Utc>, String, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON (schedule) schedule, due, outcome, rows FROM schedule_firings
         ORDER BY schedule, due DESC",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(s, d, o, r)| (s, (d, o, r)))
        .collect())
}

/// What one tick did for one schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TickReport {
    pub schedule: &'static str,
    /// The due time fired (or found taken), when one was within the grace.
    pub fired: Option<(DateTime<Utc>, Fired)>,
    /// Missed due times that do not run: every one but the latest, and the latest too when it is
    /// older than the grace.
    pub skipped: Vec<DateTime<Utc>>,
    /// Why the firing failed (it was rolled back and is not retried by itself).
    pub error: Option<String>,
}

/// The schedules and, per schedule, the due time up to which everything has been handled.
pub struct Engine {
    schedules: Vec<(Schedule, DateTime<Utc>)>,
    grace: TimeDelta,
    /// The role's heartbeat, beaten between a firing's batches ([`Engine::beating`]).
    alive: Option<Arc<Heartbeat>>,
}

/// At most this many skipped due times are named one by one in the log (a minutely schedule
/// down for a day would otherwise write a thousand lines).
const SKIPPED_NAMED: usize = 5;

impl Engine {
    /// Parses the schedules and starts each one from its last recorded firing; a schedule never
    /// fired starts `grace` before `now`, so a new deployment still catches up a firing it
    /// just missed (a reminder due at 09:00 on a system started at 09:05).
    pub async fn start(
        pool: &PgPool,
        settings: &Settings,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Self> {
        let grace = TimeDelta::minutes(settings.schedules.grace_minutes as i64);
        let last = last_firings(pool).await?;
        let schedules = parse_all(settings)?
            .into_iter()
            .map(|s| {
                let from = last
                    .get(s.name)
                    .map(|(due, _, _)| *due)
                    .unwrap_or(now - grace);
                (s, from)
            })
            .collect();
        Ok(Self {
            schedules,
            grace,
            alive: None,
        })
    }

    pub fn schedules(&self) -> impl Iterator<Item = &Schedule> {
        self.schedules.iter().map(|(s, _)| s)
    }

    /// The earliest due time after what has been handled.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.schedules
            .iter()
            .filter_map(|(s, from)| s.after(*from).next())
            .min()
    }

    /// Handles every due time up to `now`: per schedule, the latest one runs if it is at most
    /// the grace old; older ones are logged and recorded as skipped.
    /// Beats `alive` between the batches of every firing this engine runs.
    pub fn beating(mut self, alive: Arc<Heartbeat>) -> Self {
        self.alive = Some(alive);
        self
    }

    pub async fn tick(
        &mut self,
        pool: &PgPool,
        settings: &Settings,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<TickReport>> {
        let mut reports = Vec::new();
        for (schedule, from) in &mut self.schedules {
            let mut missed: Vec<DateTime<Utc>> = schedule.due_between(*from, now).collect();
            let Some(latest) = missed.pop() else {
                continue;
            };
            let mut report = TickReport {
                schedule: schedule.name,
                fired: None,
                skipped: Vec::new(),
                error: None,
            };
            if now - latest <= self.grace {
                report.skipped = missed;
            } else {
                missed.push(latest);
                report.skipped = missed;
            }
            if !report.skipped.is_empty() {
                skip(pool, schedule.name, &report.skipped, now, self.grace).await?;
                metrics::schedule_firings(schedule.name, "skipped", report.skipped.len() as u64);
            }
            if now - latest <= self.grace {
                let alive = self.alive.as_deref();
                let fired =
                    fire_beating(pool, settings, schedule.name, latest, now, false, alive).await;
                let outcome = match fired {
                    Ok(o) => o,
                    Err(e) => {
                        // One job failing must not hold up the others; its firing rolled back
                        // whole, so an operator can run it again by hand once the cause is fixed.
                        tracing::error!(
                            schedule = schedule.name,
                            due = %local(latest),
                            error = format!("{e:#}"),
                            "Schedule failed; fix the cause and run it with `hongyan schedule run`."
                        );
                        metrics::schedule_firings(schedule.name, "failed", 1);
                        report.error = Some(format!("{e:#}"));
                        *from = latest;
                        reports.push(report);
                        continue;
                    }
                };
                let result = match outcome {
                    Fired::Done(_) => "fired",
                    Fired::AlreadyTaken => "lost_race",
                };
                metrics::schedule_firings(schedule.name, result, 1);
                match outcome {
                    Fired::Done(rows) => info!(
                        schedule = schedule.name,
                        due = %local(latest),
                        rows,
                        "Schedule fired."
                    ),
                    Fired::AlreadyTaken => tracing::debug!(
                        schedule = schedule.name,
                        due = %local(latest),
                        "Another replica fired it."
                    ),
                }
                report.fired = Some((latest, outcome));
            }
            *from = latest;
            reports.push(report);
        }
        Ok(reports)
    }
}

/// Logs the missed due times that will not run (all but the latest, which runs only within the
/// grace) and records the latest of them as skipped, so the next start does not report them
/// again.
async fn skip(
    pool: &PgPool,
    schedule: &str,
    dues: &[DateTime<Utc>],
    now: DateTime<Utc>,
    grace: TimeDelta,
) -> anyhow::Result<()> {
    for due in dues.iter().rev().take(SKIPPED_NAMED) {
        warn!(
            schedule,
            due = %local(*due),
            grace_minutes = grace.num_minutes(),
            "Missed firing skipped: after downtime only the latest missed firing runs, and only within schedules.grace_minutes; run this one with `hongyan schedule run` if it is still wanted."
        );
    }
    if dues.len() > SKIPPED_NAMED {
        warn!(
            schedule,
            count = dues.len(),
            first = %local(dues[0]),
            "More missed firings skipped."
        );
    }
    let last = *dues.last().expect("dues is not empty");
    let mut conn = pool.acquire().await?;
    take_key(&mut conn, schedule, last, now, false, "skipped").await?;
    Ok(())
}
