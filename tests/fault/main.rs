//! The fault suite (DESIGN.md section 8; issue 15): each case starts its own RabbitMQ node,
//! PostgreSQL cluster and Redis (never the machine's shared ones), runs the real registry and
//! notifier as processes of `target/debug/hongyan`, drives a little over 20,000 registration
//! events and the SMS they cause through an Aliyun-format gateway, injects one fault
//! mid-stream, and then checks member by member that nothing was lost or repeated
//! (`check.rs`). Each case prints a `fault figures:` line (also appended to
//! `target/fault-figures.txt`).
//!
//! The cases run one at a time (`.config/nextest.toml`, test group `fault`): each one loads
//! the machine on its own. Run them with `cargo build -p hongyan && cargo nextest run -p
//! hongyan-tests --test fault` (a filter picks cases); a case that fails keeps its servers'
//! and roles' logs and says where (`HYFAULT_KEEP=1` keeps them always, `HONGYAN_TEST_LOG=info`
//! makes the roles say more).

mod cases;
mod check;
mod producer;
mod roles;
mod servers;
mod sms;
mod workload;
mod world;
