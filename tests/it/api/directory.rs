//! The directory (location, region lists, nearest stations) and org lists, each scoped to the
//! caller.

use super::*;

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
async fn api_lists_a_region_by_cursor_filtered_to_what_the_caller_may_see() {
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
    // The region filters what the caller may see: the county department of the home side
    // sees its own members in Guangzhou, a branch only its own (DESIGN.md section 7).
    let (s, page) = api.json(&api.c1, "/v1/regions/440106/members").await;
    assert_eq!(s, 200, "{page}");
    let ids: Vec<&str> = page["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m1", "m2"]);
    let (s, page) = api.json(&api.b2, "/v1/regions/440000/members").await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["members"].as_array().unwrap().len(), 1);
    assert_eq!(page["members"][0]["member_id"], "m2");
    // Shenzhen, where none of them is: an empty page, not 404.
    let (s, page) = api.json(&api.c1, "/v1/regions/440300/members").await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["members"], json!([]));
    assert!(page["next_cursor"].is_null());
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
