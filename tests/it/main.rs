//! Cross-service tests against the real RabbitMQ, PostgreSQL and Redis. One binary (link time),
//! one module per concern.

mod env;
// The providers' fakes, shared with the notifier's own tests.
#[allow(dead_code)] // this binary uses only some of them
#[path = "../../services/notifier/tests/it/fakes/mod.rs"]
mod fakes;
mod fixtures;
mod health;

mod amqp;
mod api;
mod bad_input;
mod broadcast;
mod browser;
mod cli;
mod console;
mod directory;
mod dispatch;
mod export;
mod intake;
mod jobs;
mod leaks;
mod ledger;
mod ledger_views;
mod log_scan;
mod member_page;
mod metrics;
mod monthly_cycle;
mod notifier;
mod ordering;
mod pages;
mod permissions;
mod ratelimit;
mod receipts;
mod replies;
mod resilience;
mod scheduler;
mod spans;
mod study;
mod study_page;
mod topology;
