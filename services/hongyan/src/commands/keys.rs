//! `hongyan keys`.

use std::process::ExitCode;

use hongyan_adapters::Settings;

use crate::cli::KeysCommand;

pub async fn run(_settings: &Settings, _command: KeysCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`hongyan keys` is not built yet (issue 9)")
}
