//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// 鸿雁 hongyan keeps flowing party members in touch with their home branch.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Cli {
    /// The configuration directory (default.toml, $HONGYAN_ENV.toml); default `config`, or
    /// HONGYAN_CONFIG_DIR.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Every role in one process (the default for a small deployment and the quick start).
    All,
    /// Apply registration events to the ledger and the live directory, and relay the outbox.
    Registry,
    /// Deliver notifications: render, route, rate-limit, send, record, retry.
    Notifier,
    /// Create the database if missing and apply the schema migrations.
    Migrate,
    /// Load orgs and members from CSV or JSON lines (the fields of org.upserted and
    /// member.upserted) straight into the ledger, as an operator. Re-importing the same lines
    /// changes nothing.
    Import {
        /// Orgs, parents before children (.jsonl/.json lines or .csv).
        #[arg(long)]
        orgs: Option<PathBuf>,
        /// Members (.jsonl or .csv).
        #[arg(long)]
        members: Option<PathBuf>,
    },
    /// Publish event envelopes from a JSON-lines file to hongyan.events with confirms, after
    /// checking each one; bad lines are reported and not published.
    Publish { file: PathBuf },
    /// The live directory in Redis.
    Directory {
        #[command(subcommand)]
        command: DirectoryCommand,
    },
    /// Events parked as bad input (or after too many attempts).
    Parked {
        #[command(subcommand)]
        command: ParkedCommand,
    },
    /// Exit 0 when RabbitMQ, PostgreSQL and Redis are reachable (for container health checks).
    Health,
}

#[derive(Subcommand, Debug)]
pub enum DirectoryCommand {
    /// Rebuild the directory from PostgreSQL; safe while consumers run.
    Rebuild,
}

#[derive(Subcommand, Debug)]
pub enum ParkedCommand {
    /// Show parked events with the reason each was parked (phones masked). Takes nothing off.
    List {
        /// Show at most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Send parked events back to the queue they came from, once the cause is fixed.
    Replay {
        /// Only the event with this id.
        #[arg(long)]
        event_id: Option<String>,
        /// Only events whose reason contains this text.
        #[arg(long)]
        reason_contains: Option<String>,
    },
}
