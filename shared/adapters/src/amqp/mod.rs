//! RabbitMQ: names, connections, topology, confirmed publishing, parking and retries.

pub mod consumer;
pub mod headers;
pub mod parked;
pub mod publisher;
pub mod topology;

use anyhow::Context;
use lapin::{Connection, ConnectionProperties};

use crate::config::{AmqpSettings, redact};

/// Routing keys only hongyan itself publishes, on the internal exchange.
pub const INTERNAL_KEYS: &[&str] = &[hongyan_domain::notify::ROUTING_KEY];

/// What hongyan announces to the world on `hongyan.events` (DESIGN.md section 2). Nobody may be
/// subscribed, so these are published without `mandatory`; everything else must reach a queue.
pub const ANNOUNCEMENT_KEYS: &[&str] = &[
    "ledger.changed",
    "notification.delivered",
    "notification.failed",
    "dispatch.report_ready",
];

/// The names of everything hongyan declares, with the configured prefix.
#[derive(Clone, Debug)]
pub struct Names {
    prefix: String,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The topic exchange every event goes through.
    pub fn exchange(&self) -> String {
        format!("{}hongyan.events", self.prefix)
    }

    /// The topic exchange only hongyan's own user may write to: notification requests go
    /// through it, so an org system that may publish on `hongyan.events` cannot make hongyan
    /// send anything (README, "Deployment": users and permissions).
    pub fn internal_exchange(&self) -> String {
        format!("{}hongyan.internal", self.prefix)
    }

    /// The exchange a message with this routing key is published on: hongyan's own requests
    /// ([`INTERNAL_KEYS`]) on the internal exchange, every other event on `hongyan.events`.
    pub fn exchange_for(&self, routing_key: &str) -> String {
        if INTERNAL_KEYS.contains(&routing_key) {
            self.internal_exchange()
        } else {
            self.exchange()
        }
    }

    /// The registry's work queue.
    pub fn registry(&self) -> String {
        format!("{}hongyan.registry", self.prefix)
    }

    /// The notifier's work queue: notification requests wait here for the notifier.
    pub fn notifier(&self) -> String {
        format!("{}hongyan.notifier", self.prefix)
    }

    /// Retry tier `n` (1-based) of a work queue.
    pub fn retry(&self, queue: &str, n: usize) -> String {
        format!("{queue}.retry.{n}")
    }

    /// Where bad input waits for a person (DESIGN.md section 2, "Bad input").
    pub fn parked(&self) -> String {
        format!("{}hongyan.parked", self.prefix)
    }
}

/// Connects with lapin's automatic recovery on: channels and consumers come back by themselves
/// after a broker restart, and callers that see an error wait for the recovery
/// (`Channel::wait_for_recovery`) before going on. The supervisors around each loop catch what
/// recovery cannot.
pub async fn connect(settings: &AmqpSettings, name: &str) -> anyhow::Result<Connection> {
    let props = ConnectionProperties::default()
        // The prefix makes a test's connections its own (tests close them to simulate a
        // broker restart without disturbing each other).
        .with_connection_name(format!("{}hongyan-{name}", settings.prefix).into())
        .enable_auto_recover();
    Connection::connect(&settings.url, props)
        .await
        .with_context(|| {
            format!(
                "Could not connect to RabbitMQ at {}; start it (scripts/services) or fix amqp.url",
                redact(&settings.url)
            )
        })
}
