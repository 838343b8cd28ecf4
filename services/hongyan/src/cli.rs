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
    /// Fire the schedules of DESIGN.md section 4 (monthly, quarterly, daily work).
    Scheduler,
    /// Serve the HTTP API and the members' update page on api.listen.
    Api,
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
    /// Exit 0 when RabbitMQ, PostgreSQL and Redis are reachable and, given a role, that role
    /// works: `registry` and `notifier` have a consumer on their queue, `api` answers
    /// /healthz on api.listen (for container health checks).
    Health {
        /// registry, notifier, scheduler or api.
        role: Option<String>,
    },
    /// The schedules: list them, or run one firing by hand.
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Print a member's update link (DESIGN.md section 7), for operators and tests.
    Link {
        /// The member's id.
        #[arg(long)]
        member: String,
        /// The month the link confirms, YYYY-MM; default this month (Asia/Shanghai).
        #[arg(long)]
        month: Option<String>,
    },
    /// API keys of organizations.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// People who sign in to the console (DESIGN.md section 12).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Quarterly dispatch reports.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Each schedule, its expression, its next five firings and its last firing.
    List,
    /// One firing of NAME as if at TIME (RFC 3339, or YYYY-MM-DDTHH:MM:SS in Asia/Shanghai). It
    /// takes the same fire key as the real firing, so it can never double one.
    Run {
        name: String,
        #[arg(long)]
        at: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new key for an org and print it once (only its SHA-256 is stored).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// An org's keys: ids, names, last use.
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a key by its id.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// A person at an org who may sign in to the console with this phone (SMS code).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// A mainland mobile; spaces and dashes are fine.
        #[arg(long)]
        phone: String,
    },
    /// Console users, revoked ones too, of one org or of all.
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Revoke a user by id: their sessions end at once.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Print a stored report.
    Show {
        id: String,
        /// json or csv.
        #[arg(long, default_value = "json")]
        format: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DirectoryCommand {
    /// Rebuild the directory from PostgreSQL; safe while consumers run.
    Rebuild,
}

#[derive(Subcommand, Debug)]
pub enum ParkedCommand {
    /// Show parked events with the reason each was parked (phones masked), and outbox messages
    /// the broker returned, set aside with their next try. Takes nothing off.
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
