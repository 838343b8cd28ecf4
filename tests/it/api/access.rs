//! Keys, the request rate and the endpoints that need no key.

use super::*;

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
