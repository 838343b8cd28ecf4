//! `hongyan schedule`.

use std::process::ExitCode;

use hongyan_adapters::Settings;

use crate::cli::ScheduleCommand;

pub async fn run(_settings: &Settings, _command: ScheduleCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hongyan schedule` is not built yet (issue 8)")
}
