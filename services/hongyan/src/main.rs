//! `hongyan`: every role and the operator commands in one binary. This file only parses the
//! command line, loads the configuration, starts telemetry and hands over.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;
use hongyan_adapters::{Settings, telemetry};

// glibc's allocator showed up at about 9% of the machine in the benchmark profiles; mimalloc
// handles the many small, short-lived allocations of message handling better.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let dir = cli.config.clone().unwrap_or_else(Settings::default_dir);
    let settings = match Settings::load(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hongyan: {e:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    match commands::run(cli.command, settings).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "Stopped with an error.");
            eprintln!("hongyan: {e:#}");
            ExitCode::FAILURE
        }
    }
}
