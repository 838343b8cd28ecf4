//! What each subcommand does.

mod health;
mod import;
mod keys;
mod link;
mod parked;
mod publish;
mod report;
mod schedule;
mod users;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use hongyan_adapters::directory::{self, Directory};
use hongyan_adapters::{Settings, shutdown, store};

use crate::cli::{Command, DirectoryCommand};

/// Every role, as `hongyan all` runs them (DESIGN.md section 1).
const ROLES: &[&str] = &["registry", "notifier", "scheduler", "api"];

/// Runs roles until SIGTERM or Ctrl-C, then gives in-flight work `shutdown.deadline_secs`.
async fn serve(settings: Settings, roles: &[&'static str]) -> anyhow::Result<ExitCode> {
    let stop = shutdown::on_signal();
    let deadline = Duration::from_secs(settings.shutdown.deadline_secs);
    let mut running = tokio::task::JoinSet::new();
    for &role in roles {
        tracing::info!(role, "Starting.");
        let (s, stop) = (settings.clone(), stop.clone());
        match role {
            "registry" => {
                running.spawn(async move { (role, hongyan_registry::run(s, stop).await) })
            }
            "notifier" => {
                running.spawn(async move { (role, hongyan_notifier::run(s, stop).await) })
            }
            "scheduler" => {
                running.spawn(async move { (role, hongyan_scheduler::run(s, stop).await) })
            }
            _ => running.spawn(async move { (role, hongyan_api::run(s, stop).await) }),
        };
    }
    // A role that ends by itself (say, with a configuration error) stops the others too.
    let first = tokio::select! {
        _ = stop.cancelled() => None,
        done = running.join_next() => done,
    };
    stop.cancel();
    let mut failed = None;
    if let Some(done) = first {
        let (role, result) = done.context("A role panicked")?;
        if let Err(e) = result {
            failed = Some(e.context(format!("The {role} stopped")));
        }
    }
    let drain = async {
        while let Some(done) = running.join_next().await {
            let (role, result) = done.context("A role panicked")?;
            result.with_context(|| format!("The {role} stopped"))?;
        }
        anyhow::Ok(())
    };
    match tokio::time::timeout(deadline, drain).await {
        Ok(result) => result?,
        Err(_) => anyhow::bail!(
            "In-flight work did not finish within shutdown.deadline_secs; unacknowledged messages return to their queues"
        ),
    }
    if let Some(e) = failed {
        return Err(e);
    }
    tracing::info!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

pub async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::All => serve(settings, ROLES).await,
        Command::Registry => serve(settings, &["registry"]).await,
        Command::Notifier => serve(settings, &["notifier"]).await,
        Command::Scheduler => serve(settings, &["scheduler"]).await,
        Command::Api => serve(settings, &["api"]).await,
        Command::Migrate => {
            store::migrate(&settings.database).await?;
            tracing::info!("Migrations applied.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { orgs, members } => {
            import::run(&settings, orgs.as_deref(), members.as_deref()).await
        }
        Command::Publish { file } => publish::run(&settings, &file).await,
        Command::Directory {
            command: DirectoryCommand::Rebuild,
        } => {
            let dir = Directory::connect(&settings.redis).await?;
            let pool = store::pool(&settings.database)?;
            let n = directory::rebuild(&dir, &pool).await?;
            println!("Directory rebuilt: {n} members away.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Parked { command } => parked::run(&settings, command).await,
        Command::Health { role } => health::run(&settings, role.as_deref()).await,
        Command::Schedule { command } => schedule::run(&settings, command).await,
        Command::Link { member, month } => link::run(&settings, &member, month.as_deref()),
        Command::Keys { command } => keys::run(&settings, command).await,
        Command::Report { command } => report::run(&settings, command).await,
        Command::Users { command } => users::run(&settings, command).await,
    }
}
