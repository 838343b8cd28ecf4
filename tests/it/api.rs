//! The HTTP API (DESIGN.md section 7) served in process on an ephemeral port against the real
//! registry, RabbitMQ, PostgreSQL and Redis: every endpoint's happy path and its refusals.

use std::sync::Arc;
use std::time::Duration;

use hongyan_adapters::store::keys;
use hongyan_api::state::AppState;
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
    evs.push(member("m1", "b1", "13812345678"));
    evs.push(member("m2", "b2", "13812345679"));
    evs.push(outbound(
        "m1",
        "b1",
        "2026-02-10T09:00:00",
        4,
        Some("某制衣厂"),
    ));
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
    let state = AppState {
        settings: Arc::new(env.settings.clone()),
        pool: env.pool.clone(),
        directory: env.directory.clone(),
        publisher: env.publisher.clone(),
        clock: Arc::new(env.clock.clone()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(hongyan_api::serve(state, listener, stop.clone()));
    let key = |org: &'static str| {
        let pool = env.pool.clone();
        async move { keys::create(&pool, org, "test").await.unwrap().1 }
    };
    let (c1, b2, gz) = (key("c1").await, key("b2").await, key("gz").await);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
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

#[tokio::test]
async fn api_health_metrics_and_openapi_need_no_key() {
    let api = start(1200).await;
    let (s, _, body) = api.get(None, "/healthz").await;
    assert_eq!(s, 200, "{body}");
    let (s, _, body) = api.get(None, "/readyz").await;
    assert_eq!(s, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    for server in ["rabbitmq", "postgresql", "redis"] {
        assert_eq!(ready[server]["status"], "ok", "{body}");
    }
    let (s, _, body) = api.get(None, "/v1/openapi.json").await;
    assert_eq!(s, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    for path in [
        "/v1/events",
        "/v1/members/{id}/location",
        "/v1/regions/{code}/members",
        "/v1/stations/nearest",
        "/v1/orgs/{id}/ledger",
        "/v1/orgs/{id}/unmatched",
        "/v1/reports",
        "/v1/reports/{id}",
        "/v1/study-packs",
        "/v1/study-packs/{id}/completion",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi has {path}");
    }
    let (s, _, body) = api.get(None, "/metrics").await;
    assert_eq!(s, 200);
    assert!(
        body.contains("hongyan_http_request_duration_seconds")
            && body.contains("route=\"/readyz\""),
        "request latency by route in /metrics: {body}"
    );
    api.finish().await;
}

#[tokio::test]
async fn api_refuses_missing_unknown_and_revoked_keys() {
    let api = start(1200).await;
    let path = "/v1/members/m1/location";
    let (s, h, body) = api.get(None, path).await;
    assert_eq!(s, 401, "{body}");
    assert!(is_problem(&h));
    let p: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(p["status"], 401);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );
    let (s, _, _) = api.get(Some("hy_not-a-key"), path).await;
    assert_eq!(s, 401);
    let (id, key) = keys::create(&api.env.pool, "c1", "soon revoked")
        .await
        .unwrap();
    assert!(keys::revoke(&api.env.pool, id).await.unwrap());
    let (s, h, _) = api.get(Some(&key), path).await;
    assert_eq!(s, 401);
    assert!(is_problem(&h));
    // A good key's use is recorded.
    let (s, _, _) = api.get(Some(&api.c1), path).await;
    assert_eq!(s, 200);
    api.env
        .eventually("last_used_at recorded", || async {
            api.env
                .scalar_i64("SELECT count(*) FROM api_keys WHERE org_id = 'c1' AND last_used_at IS NOT NULL")
                .await
                == 1
        })
        .await;
    api.finish().await;
}

#[tokio::test]
async fn api_location_is_scoped_to_the_subtree_and_the_inflow_region() {
    let api = start(1200).await;
    let (s, loc) = api.json(&api.c1, "/v1/members/m1/location").await;
    assert_eq!(s, 200, "{loc}");
    assert_eq!(loc["region_code"], "440106001");
    assert_eq!(loc["home_org_id"], "b1");
    assert!(
        loc["place"].as_str().unwrap().starts_with("广东省广州市"),
        "{loc}"
    );
    // The inflow side sees who is in its region.
    let (s, _) = api.json(&api.gz, "/v1/members/m1/location").await;
    assert_eq!(s, 200);
    // Another branch's member, and a member who does not exist, look the same.
    let (s, p) = api.json(&api.b2, "/v1/members/m1/location").await;
    assert_eq!(s, 404, "{p}");
    let (s, _) = api.json(&api.b2, "/v1/members/m2/location").await;
    assert_eq!(s, 200);
    let (s, _) = api.json(&api.c1, "/v1/members/nobody/location").await;
    assert_eq!(s, 404);
    api.finish().await;
}

#[tokio::test]
async fn api_lists_a_region_by_cursor_and_hides_regions_outside_the_caller() {
    let api = start(1200).await;
    let (s, page) = api
        .json(&api.gz, "/v1/regions/440106/members?limit=1")
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["members"][0]["member_id"], "m1");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let (s, page) = api
        .json(
            &api.gz,
            &format!("/v1/regions/440106/members?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(page["members"][0]["member_id"], "m2");
    assert!(page["next_cursor"].is_null());
    let (s, page) = api.json(&api.gz, "/v1/regions/440106001/members").await;
    assert_eq!((s, page["members"].as_array().unwrap().len()), (200, 2));
    // The county department of the home side is not the inflow side of Guangzhou.
    let (s, p) = api.json(&api.c1, "/v1/regions/440106/members").await;
    assert_eq!(s, 404, "{p}");
    let (s, p) = api.json(&api.gz, "/v1/regions/4401/members").await;
    assert_eq!((s, p["field"].as_str()), (422, Some("code")), "{p}");
    let (s, p) = api
        .json(&api.gz, "/v1/regions/440106/members?cursor=zzz")
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("cursor")), "{p}");
    api.finish().await;
}

#[tokio::test]
async fn api_finds_the_nearest_stations_in_metres() {
    let api = start(1200).await;
    let (s, r) = api
        .json(&api.b2, "/v1/stations/nearest?lon=113.36&lat=23.13&limit=2")
        .await;
    assert_eq!(s, 200, "{r}");
    let st = r["stations"].as_array().unwrap();
    assert_eq!(st.len(), 2);
    assert_eq!(st[0]["id"], "gz-s1");
    assert!(st[0]["metres"].as_f64().unwrap() < 5.0);
    assert_eq!(st[1]["id"], "gz-s2");
    assert!(st[1]["metres"].as_f64().unwrap() > 4_000.0, "{r}");
    let (s, p) = api
        .json(&api.b2, "/v1/stations/nearest?lon=200&lat=23")
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("lon")));
    api.finish().await;
}

#[tokio::test]
async fn api_publishes_good_events_and_refuses_bad_ones_unpublished() {
    let api = start(1200).await;
    let mut watch = api.env.watch("member.upserted").await;
    let good = member("m3", "b1", "13812345670");
    // From c1, an ancestor of b1.
    let mut good_c1 = good.clone();
    good_c1["actor"]["org_id"] = json!("c1");
    let (s, r) = api
        .post(&api.c1, "/v1/events", serde_json::to_vec(&good_c1).unwrap())
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["event_id"], good_c1["event_id"]);
    api.env.wait_processed(&evt_id(&good_c1)).await;
    use futures::StreamExt as _;
    let seen = tokio::time::timeout(Duration::from_secs(10), watch.next()).await;
    assert!(seen.is_ok(), "the accepted event was published");

    let mut bad = member("m4", "b1", "12");
    bad["actor"]["org_id"] = json!("c1");
    let (s, p) = api
        .post(&api.c1, "/v1/events", serde_json::to_vec(&bad).unwrap())
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("data.phone")), "{p}");
    // The actor must be the key's own org.
    let (s, p) = api
        .post(&api.c1, "/v1/events", serde_json::to_vec(&good).unwrap())
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("actor.org_id")), "{p}");
    // b2 has no right over b1's members.
    let mut other = member("m1", "b1", "13812345678");
    other["actor"]["org_id"] = json!("b2");
    let (s, p) = api
        .post(&api.b2, "/v1/events", serde_json::to_vec(&other).unwrap())
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("actor.org_id")), "{p}");
    // A member's own event does not come through an org key.
    let mut by_member = update(
        "m1",
        "c1",
        "2026-03-01T10:00:00",
        json!({"confirmed_unchanged": true}),
    );
    by_member["actor"] = json!({"member_id": "m1"});
    let (s, p) = api
        .post(
            &api.c1,
            "/v1/events",
            serde_json::to_vec(&by_member).unwrap(),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("actor")), "{p}");
    let (s, p) = api.post(&api.c1, "/v1/events", b"{not json".to_vec()).await;
    assert_eq!(s, 422, "{p}");
    let (s, p) = api.post(&api.c1, "/v1/events", vec![b' '; 1_048_577]).await;
    assert_eq!(s, 413, "{p}");
    let nothing = tokio::time::timeout(Duration::from_millis(500), watch.next()).await;
    assert!(nothing.is_err(), "no refused event was published");
    api.finish().await;
}

#[tokio::test]
async fn api_answers_429_with_retry_after_past_the_keys_rate() {
    let api = start(2).await;
    for _ in 0..2 {
        let (s, _, _) = api.get(Some(&api.c1), "/v1/members/m1/location").await;
        assert_eq!(s, 200);
    }
    let (s, h, body) = api.get(Some(&api.c1), "/v1/members/m1/location").await;
    assert_eq!(s, 429, "{body}");
    assert!(is_problem(&h));
    let after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&after), "Retry-After {after}");
    // Another key has its own allowance.
    let (s, _, _) = api.get(Some(&api.gz), "/v1/members/m1/location").await;
    assert_eq!(s, 200);
    api.finish().await;
}

#[tokio::test]
async fn api_serves_reports_in_scope_as_json_and_csv() {
    let api = start(1200).await;
    let id = uuid::Uuid::new_v4();
    let report = DispatchReport {
        report_id: id,
        org_id: "c1".into(),
        quarter: "2026Q1".into(),
        generated_at: "2026-04-01T09:30:00+08:00".into(),
        totals: Figures::default(),
        branches: vec![hongyan_domain::dispatch::BranchReport {
            org_id: "b1".into(),
            name: "b1组织".into(),
            figures: Figures {
                open: 1,
                ..Figures::default()
            },
        }],
        spot_check: vec![],
    };
    sqlx::query("INSERT INTO dispatch_reports (id, org_id, quarter, generated_at, report) VALUES ($1, 'c1', '2026Q1', now(), $2)")
        .bind(id)
        .bind(serde_json::to_value(&report).unwrap())
        .execute(&api.env.pool)
        .await
        .unwrap();
    let (s, list) = api.json(&api.c1, "/v1/reports?quarter=2026Q1").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["reports"][0]["report_id"], id.to_string());
    let (s, list) = api.json(&api.gz, "/v1/reports").await;
    assert_eq!((s, list["reports"].as_array().unwrap().len()), (200, 0));
    let (s, p) = api.json(&api.c1, "/v1/reports?quarter=2026-1").await;
    assert_eq!((s, p["field"].as_str()), (422, Some("quarter")));
    let (s, doc) = api.json(&api.c1, &format!("/v1/reports/{id}")).await;
    assert_eq!(
        (s, doc["branches"][0]["figures"]["open"].as_u64()),
        (200, Some(1))
    );
    let (s, h, csv) = api
        .get(Some(&api.c1), &format!("/v1/reports/{id}?format=csv"))
        .await;
    assert_eq!(s, 200);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(csv.starts_with("org_id,name,open,"), "{csv}");
    assert!(csv.contains("b1,b1组织,1,"), "{csv}");
    let (s, _) = api.json(&api.b2, &format!("/v1/reports/{id}")).await;
    assert_eq!(s, 404);
    let (s, _) = api.json(&api.c1, "/v1/reports/not-a-uuid").await;
    assert_eq!(s, 404);
    api.finish().await;
}

#[tokio::test]
async fn api_publishes_study_packs_lists_them_and_counts_completions() {
    let api = start(1200).await;
    let pack = json!({"pack_id": "p1", "title": "党章第一章", "summary": "党员的义务和权利",
        "items": [{"kind": "text", "text": "认真学习"}], "audience": {"org_ids": ["t1"]}});
    let (s, r) = api
        .post(
            &api.c1,
            "/v1/study-packs",
            serde_json::to_vec(&pack).unwrap(),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["pack_id"], "p1");
    api.env
        .wait_processed(r["event_id"].as_str().unwrap())
        .await;
    let (s, list) = api.json(&api.b2, "/v1/study-packs").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["packs"][0]["pack_id"], "p1");
    let done = event(
        "study.completed",
        "b1",
        "2026-03-02T10:00:00",
        json!({"member_id": "m1", "pack_id": "p1", "on": "2026-03-02"}),
    );
    api.env.publish(&done).await;
    api.env.wait_processed(&evt_id(&done)).await;
    let (s, c) = api.json(&api.c1, "/v1/study-packs/p1/completion").await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["completed"], 1);
    assert_eq!(c["by_org"][0]["org_id"], "b1");
    let (s, _) = api.json(&api.gz, "/v1/study-packs/p1/completion").await;
    assert_eq!(s, 404);
    // A branch is not a department; a department cannot address another's subtree.
    let (s, p) = api
        .post(
            &api.b2,
            "/v1/study-packs",
            serde_json::to_vec(&pack).unwrap(),
        )
        .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (422, Some("data.audience")),
        "{p}"
    );
    let mut outside = pack.clone();
    outside["pack_id"] = json!("p2");
    outside["audience"] = json!({"org_ids": ["t1"]});
    let (s, p) = api
        .post(
            &api.gz,
            "/v1/study-packs",
            serde_json::to_vec(&outside).unwrap(),
        )
        .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (422, Some("data.audience")),
        "{p}"
    );
    let mut no_title = pack.clone();
    no_title.as_object_mut().unwrap().remove("title");
    let (s, p) = api
        .post(
            &api.c1,
            "/v1/study-packs",
            serde_json::to_vec(&no_title).unwrap(),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("data.title")), "{p}");
    api.finish().await;
}

#[tokio::test]
async fn api_org_lists_are_scoped_to_the_subtree() {
    let api = start(1200).await;
    let arrival = inbound(
        "gz-park",
        "2026-03-01T09:00:00",
        json!({"member": {"name": "无名", "phone": "13700001111"}}),
    );
    api.env.publish(&arrival).await;
    api.env.wait_processed(&evt_id(&arrival)).await;
    let (s, list) = api.json(&api.gz, "/v1/orgs/gz-park/unmatched").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["arrivals"][0]["name"], "无名");
    assert_eq!(list["arrivals"][0]["phone"], "13700001111");
    let (s, _) = api.json(&api.c1, "/v1/orgs/gz-park/unmatched").await;
    assert_eq!(s, 404);
    // The ledger route: scope first (the export itself is the export work's).
    let (s, _) = api.json(&api.gz, "/v1/orgs/b1/ledger?format=csv").await;
    assert_eq!(s, 404);
    let (s, p) = api.json(&api.c1, "/v1/orgs/b1/ledger?format=pdf").await;
    assert_eq!((s, p["field"].as_str()), (422, Some("format")), "{p}");
    let (s, _) = api
        .json(&api.c1, "/v1/orgs/b1/ledger?scope=subtree&format=xlsx")
        .await;
    assert_ne!(s, 404);
    api.finish().await;
}
