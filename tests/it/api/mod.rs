//! The HTTP API (DESIGN.md section 7) served in process on an ephemeral port against the real
//! registry, RabbitMQ, PostgreSQL and Redis: every endpoint's happy path and its refusals.
//! This file serves the API; the tests are by topic: keys, limits and the open endpoints
//! (`access`), the directory and org lists (`directory`), events (`events`), reports and
//! study packs (`reports`).

mod access;
mod directory;
mod events;
mod gaps;
mod reports;

use std::time::Duration;

use hongyan_adapters::store::keys;
use hongyan_domain::dispatch::{DispatchReport, Figures};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::env::TestEnv;
use crate::fixtures::*;

struct Api {
    env: TestEnv,
    base: String,
    http: reqwest::Client,
    stop: CancellationToken,
    /// Keys of c1 (county department 522636), b2 (a branch of c1), gz (city department
    /// 440106, where m1 went) and gz-park (the committee m1 reports to).
    c1: String,
    b2: String,
    gz: String,
}

/// The county with `m1` (branch b1) away in 440106001 and `m2` (branch b2) too, the registry
/// running and the API served with `requests_per_minute`.
async fn start(requests_per_minute: u32) -> Api {
    let mut env = TestEnv::new().await;
    let mut evs = county();
    evs.extend(m1_away("13812345678", Some("某制衣厂")));
    evs.push(member("m2", "b2", "13812345679"));
    evs.push(outbound(
        "m2",
        "b2",
        "2026-02-11T09:00:00",
        4,
        Some("某制衣厂"),
    ));
    env.publish_all(&evs).await;
    env.start_registry();
    env.wait_processed(&evt_id(evs.last().unwrap())).await;
    env.settings.api.requests_per_minute = requests_per_minute;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (base, stop) = env.serve_api(listener);
    let key = |org: &'static str| {
        let pool = env.pool.clone();
        async move { keys::create(&pool, org, "test").await.unwrap().1 }
    };
    let (c1, b2, gz) = (key("c1").await, key("b2").await, key("gz").await);
    let http = crate::pages::client();
    Api {
        env,
        base,
        http,
        stop,
        c1,
        b2,
        gz,
    }
}

impl Api {
    async fn get(
        &self,
        key: Option<&str>,
        path: &str,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap())
    }

    async fn json(&self, key: &str, path: &str) -> (u16, Value) {
        let (s, _, body) = self.get(Some(key), path).await;
        (s, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    async fn post(&self, key: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn finish(self) {
        self.stop.cancel();
        self.env.finish().await;
    }
}

fn is_problem(headers: &reqwest::header::HeaderMap) -> bool {
    headers.get("content-type").map(|v| v.to_str().unwrap()) == Some("application/problem+json")
}
