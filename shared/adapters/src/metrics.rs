//! Prometheus metrics (DESIGN.md section 7, `/metrics`): every role counts through the
//! `metrics` facade with the names below; the API, in whatever process it runs, renders the
//! text. Without an installed recorder (a role run alone) the counts cost nothing and go
//! nowhere.
//!
//! Label values are bounded sets (event types, outcomes, providers, statuses, schedule names,
//! route templates), never ids, so the series stay few.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Events the registry settled: `type` and `outcome` (applied, stale, duplicate, parked,
/// retried, deferred).
pub const EVENTS: &str = "hongyan_events_total";
/// Notifications that reached a state: `provider` and `status` (delivered, retry, permanent,
/// paused, failed, waiting).
pub const NOTIFICATIONS: &str = "hongyan_notifications_total";
/// Org contacts' notices at the gathering step (DESIGN.md section 5, "Digests for org
/// contacts"): `outcome` alone (sent as itself), gathered (into a digest), digest (a digest
/// claimed to be sent; again after a retry).
pub const DIGESTS: &str = "hongyan_digest_notices_total";
/// Members' SMS replies (上行短信, DESIGN.md section 5) taken by the notifier: `provider`
/// (aliyun, tencent) and `meaning` (confirm, stop_reminders, other; unmatched for a phone with
/// no open record; duplicate for a reply pushed again).
pub const REPLIES: &str = "hongyan_replies_total";
/// Schedule firings: `schedule` and `result` (fired, lost_race, skipped, failed).
pub const SCHEDULE_FIRINGS: &str = "hongyan_schedule_firings_total";
/// HTTP request latency: `route` (the path template), `method`, `status`.
pub const HTTP_SECONDS: &str = "hongyan_http_request_duration_seconds";
/// Messages waiting in the outbox for the relay.
pub const OUTBOX_DEPTH: &str = "hongyan_outbox_depth";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder once and returns the handle that renders it. Later calls
/// (several roles, several tests in one process) share the first.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_SECONDS.into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0,
                    ],
                )
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness); then ours only renders
            // what is recorded through it, which is nothing. That is acceptable for tests.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn event(kind: &str, outcome: &'static str) {
    metrics::counter!(EVENTS, "type" => kind.to_owned(), "outcome" => outcome).increment(1);
}

pub fn notification(provider: &str, status: &'static str) {
    metrics::counter!(NOTIFICATIONS, "provider" => provider.to_owned(), "status" => status)
        .increment(1);
}

pub fn digest(outcome: &'static str, n: u64) {
    metrics::counter!(DIGESTS, "outcome" => outcome).increment(n);
}

pub fn reply(provider: &'static str, meaning: &'static str) {
    metrics::counter!(REPLIES, "provider" => provider, "meaning" => meaning).increment(1);
}

pub fn schedule_firings(schedule: &'static str, result: &'static str, n: u64) {
    metrics::counter!(SCHEDULE_FIRINGS, "schedule" => schedule, "result" => result).increment(n);
}

pub fn http_request(route: &str, method: &str, status: u16, took: Duration) {
    metrics::histogram!(
        HTTP_SECONDS,
        "route" => route.to_owned(),
        "method" => method.to_owned(),
        "status" => status.to_string()
    )
    .record(took.as_secs_f64());
}

pub fn outbox_depth(n: i64) {
    metrics::gauge!(OUTBOX_DEPTH).set(n as f64);
}
