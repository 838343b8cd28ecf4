//! Publishing events: good ones go out, bad ones are refused and nothing is published.

use super::*;

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
