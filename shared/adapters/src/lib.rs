//! hongyan's edges: configuration, telemetry, shutdown, RabbitMQ, PostgreSQL, Redis and the
//! outbox relay. Thin on purpose: the rules live in `hongyan-domain`.

pub mod amqp;
pub mod config;
pub mod directory;
pub mod heartbeat;
pub mod metrics;
pub mod outbox;
pub mod ratelimit;
pub mod shutdown;
pub mod store;
pub mod supervise;
pub mod tasks;
pub mod telemetry;

pub use config::Settings;
