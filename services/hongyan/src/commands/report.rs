//! `hongyan report`.

use std::process::ExitCode;

use hongyan_adapters::Settings;

use crate::cli::ReportCommand;

pub async fn run(_settings: &Settings, _command: ReportCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hongyan report` is not built yet (issue 8)")
}
