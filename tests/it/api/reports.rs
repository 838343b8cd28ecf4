//! Reports and study packs.

use super::*;

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
    // Found by schemathesis: a NUL in the org id or the cursor reached PostgreSQL (500).
    let (s, p) = api.json(&api.c1, "/v1/reports?org_id=c%001").await;
    assert_eq!((s, p["field"].as_str()), (422, Some("org_id")), "{p}");
    let nul_cursor =
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, "v1|\0");
    let (s, p) = api
        .json(&api.c1, &format!("/v1/reports?cursor={nul_cursor}"))
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("cursor")), "{p}");
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
    // For people: a BOM, Chinese headers, names rather than ids, and the total.
    assert!(csv.starts_with("\u{feff}组织名称,在外党员,外出,"), "{csv}");
    assert!(csv.contains("\nb1组织,1,"), "{csv}");
    assert!(csv.contains("\n合计,0,"), "{csv}");
    let (s, h, _) = api
        .get(Some(&api.c1), &format!("/v1/reports/{id}?format=xlsx"))
        .await;
    assert_eq!(s, 200);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .contains("spreadsheetml")
    );
    let (s, p) = api
        .json(&api.c1, &format!("/v1/reports/{id}?format=pdf"))
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("format")), "{p}");
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
