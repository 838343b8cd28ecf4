//! The notifier's one integration-test binary (STYLE.md, "Tests"): each provider adapter
//! against a local fake that checks signatures and answers like the provider.

mod fakes;

mod aliyun;
mod console;
mod dingtalk;
mod feishu;
mod tencent;
mod webhook;
mod wecom;

use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use hongyan_notifier::providers::{SendContext, SendOutcome};

/// The moment every test sends at and every fake's clock reads: 2026-03-01 16:00 in Beijing.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
}

pub fn ctx() -> SendContext {
    SendContext {
        now: now(),
        nonce: uuid::Uuid::new_v4().to_string(),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A client that gives up quickly, for fakes scripted to hang.
pub fn impatient_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap()
}

/// The outcome of a send into a hanging fake: a timeout, possibly delivered.
pub fn assert_timeout(outcome: &SendOutcome) {
    assert!(
        matches!(outcome, SendOutcome::Retry { code, maybe_delivered: true, .. } if code == "timeout"),
        "{outcome:?}"
    );
}

pub fn assert_code(outcome: &SendOutcome, code: &str) {
    assert_eq!(outcome.code(), Some(code), "{outcome:?}");
}
