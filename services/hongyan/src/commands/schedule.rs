//! `hongyan schedule list` and `hongyan schedule run NAME --at TIME`.

use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use hongyan_adapters::{Settings, store};
use hongyan_domain::TZ;
use hongyan_scheduler::engine::{self, Fired, Schedule, local};

use crate::cli::ScheduleCommand;

pub async fn run(settings: &Settings, command: ScheduleCommand) -> anyhow::Result<ExitCode> {
    let schedules = engine::parse_all(settings)?;
    let pool = store::pool(&settings.database)?;
    match command {
        ScheduleCommand::List => list(&pool, &schedules).await,
        ScheduleCommand::Run { name, at } => {
            let schedule = schedules.iter().find(|s| s.name == name).with_context(|| {
                let names: Vec<&str> = schedules.iter().map(|s| s.name).collect();
                format!(
                    "There is no schedule {name:?}; the schedules are {}",
                    names.join(", ")
                )
            })?;
            run_one(&pool, settings, schedule, &at).await
        }
    }
}

async fn list(pool: &sqlx::PgPool, schedules: &[Schedule]) -> anyhow::Result<ExitCode> {
    let last = engine::last_firings(pool).await?;
    let now = Utc::now();
    for s in schedules {
        println!("{}  \"{}\"", s.name, s.expression);
        let next: Vec<String> = s.after(now).take(5).map(local).collect();
        println!("  next: {}", next.join(", "));
        match last.get(s.name) {
            Some((due, outcome, rows)) => {
                println!("  last: {} ({outcome}, {rows} messages)", local(*due))
            }
            None => println!("  last: never"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One firing as if the clock said `at`: the latest due time at or before it, with the same
/// fire key the scheduler would take, so it cannot double a real firing.
async fn run_one(
    pool: &sqlx::PgPool,
    settings: &Settings,
    schedule: &Schedule,
    at: &str,
) -> anyhow::Result<ExitCode> {
    let at = parse_time(at)?;
    let due = schedule.latest_due(at).with_context(|| {
        format!(
            "{} has no due time in the year before {}; give a later --at",
            schedule.name,
            local(at)
        )
    })?;
    match engine::fire(pool, settings, schedule.name, due, Utc::now(), true).await? {
        Fired::Done(rows) => {
            println!(
                "{} due {}: fired, {rows} messages written to the outbox.",
                schedule.name,
                local(due)
            );
        }
        Fired::AlreadyTaken => {
            println!(
                "{} due {}: already fired (or skipped) earlier; nothing written.",
                schedule.name,
                local(due)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// RFC 3339, or a local time `YYYY-MM-DDTHH:MM[:SS]` / `YYYY-MM-DD HH:MM[:SS]` in Asia/Shanghai.
fn parse_time(s: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f)
            && let Some(t) = TZ.from_local_datetime(&n).single()
        {
            return Ok(t.with_timezone(&Utc));
        }
    }
    anyhow::bail!(
        "--at {s:?} is not a time; write RFC 3339 (2026-12-01T09:00:00+08:00) or a local time in Asia/Shanghai (2026-12-01T09:00)"
    )
}
