//! What a check of the running API against DESIGN.md section 7 found missing: completion
//! counts with every audience org, the ledger's default scope, problems that name the field
//! (a missing `lat`, an unknown query parameter, a method a path does not take), and an
//! OpenAPI document that lists the pages and the request bodies' schemas.

use super::*;

#[tokio::test]
async fn api_completion_lists_every_audience_org_right_after_publishing() {
    let api = start(1200).await;
    let pack = json!({"pack_id": "p9", "title": "党章第二章", "summary": "党员的权利",
        "items": [{"kind": "text", "text": "认真学习"}], "audience": {"org_ids": ["t1"]}});
    let (s, r) = api
        .post(
            &api.c1,
            "/v1/study-packs",
            serde_json::to_vec(&pack).unwrap(),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    api.env
        .wait_processed(r["event_id"].as_str().unwrap())
        .await;
    let (s, c) = api.json(&api.c1, "/v1/study-packs/p9/completion").await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["completed"], 0);
    let rows: Vec<(String, String, i64, i64)> = c["by_org"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["org_id"].as_str().unwrap().to_owned(),
                o["name"].as_str().unwrap().to_owned(),
                o["reached"].as_i64().unwrap(),
                o["completed"].as_i64().unwrap(),
            )
        })
        .collect();
    let row = |id: &str, reached| (id.to_owned(), format!("{id}组织"), reached, 0);
    assert_eq!(rows, vec![row("b1", 1), row("b2", 1), row("t1", 0)]);
    // A branch sees its own row only.
    let (s, c) = api.json(&api.b2, "/v1/study-packs/p9/completion").await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["by_org"].as_array().unwrap().len(), 1);
    assert_eq!(c["by_org"][0]["org_id"], "b2");
    api.finish().await;
}

#[tokio::test]
async fn api_ledger_without_scope_is_a_departments_subtree_and_a_branchs_own() {
    let api = start(1200).await;
    let members = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["member_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (s, rows) = api.json(&api.c1, "/v1/orgs/c1/ledger").await;
    assert_eq!(s, 200, "{rows}");
    assert_eq!(members(&rows), ["m1", "m2"]);
    let (s, rows) = api.json(&api.b2, "/v1/orgs/b2/ledger").await;
    assert_eq!(s, 200, "{rows}");
    assert_eq!(members(&rows), ["m2"]);
    api.finish().await;
}

#[tokio::test]
async fn api_problems_name_the_field_the_parameter_and_the_methods() {
    let api = start(1200).await;
    // A point without its latitude names `lat`, the missing one.
    let (s, p) = api.json(&api.b2, "/v1/stations/nearest?lon=113.36").await;
    assert_eq!((s, p["field"].as_str()), (422, Some("lat")), "{p}");
    // Unknown query parameters are refused by name, on any path.
    for (path, name) in [
        ("/v1/regions/440106/members?limt=5", "limt"),
        ("/v1/members/m2/location?verbose=1", "verbose"),
        ("/v1/orgs/b2/ledger?scope=branch&formta=csv", "formta"),
        ("/v1/study-packs?limit=5&page=2", "page"),
    ] {
        let (s, headers, body) = api.get(Some(&api.b2), path).await;
        let p: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(
            (s, p["field"].as_str()),
            (422, Some(name)),
            "{path}: {body}"
        );
        assert!(is_problem(&headers), "{path}");
        assert!(p["detail"].as_str().unwrap().contains(name), "{body}");
    }
    // What a path takes still works.
    let (s, _) = api
        .json(&api.b2, "/v1/regions/440106/members?limit=5")
        .await;
    assert_eq!(s, 200);
    // A method the path does not take: a problem saying which do.
    let (s, headers, body) = api.get(Some(&api.b2), "/v1/events").await;
    assert_eq!(s, 405, "{body}");
    assert!(is_problem(&headers), "{headers:?}");
    assert_eq!(headers.get("allow").unwrap(), "POST");
    let p: Value = serde_json::from_str(&body).unwrap();
    assert!(p["detail"].as_str().unwrap().contains("POST"), "{body}");
    // A method a path does not take is that, whatever its query says.
    let r = api
        .http
        .delete(format!("{}/v1/regions/440106/members?limit=5", api.base))
        .bearer_auth(&api.b2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers().get("allow").unwrap(), "GET");
    api.finish().await;
}

#[tokio::test]
async fn api_openapi_lists_the_pages_and_the_bodies_schemas() {
    let api = start(1200).await;
    let (s, _, body) = api.get(None, "/v1/openapi.json").await;
    assert_eq!(s, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    for (path, method) in [
        ("/m/{token}", "get"),
        ("/m/{token}", "post"),
        ("/s/{pack_id}", "get"),
        ("/s/{pack_id}/{token}", "post"),
        ("/console/", "get"),
        ("/console/login", "post"),
        ("/console/ledger", "get"),
        ("/console/members/{id}", "get"),
    ] {
        let ok = &doc["paths"][path][method]["responses"]["200"]["content"];
        assert!(
            ok.as_object()
                .is_some_and(|c| c.keys().any(|k| k.starts_with("text/html"))),
            "{method} {path}: {ok}"
        );
    }
    let schema = |path: &str| {
        doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(
        schema("/v1/events").as_deref(),
        Some("#/components/schemas/EventEnvelope")
    );
    assert_eq!(
        schema("/v1/study-packs").as_deref(),
        Some("#/components/schemas/StudyPack")
    );
    let variants = doc["components"]["schemas"]["EventEnvelope"]["oneOf"]
        .as_array()
        .unwrap();
    let types: Vec<&str> = variants
        .iter()
        .map(|v| v["properties"]["type"]["enum"][0].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"registration.update") && types.len() == 10,
        "{types:?}"
    );
    // Every $ref points at a schema the document has.
    for r in body.split("\"$ref\":\"").skip(1) {
        let name = r.split('"').next().unwrap();
        let name = name.trim_start_matches("#/components/schemas/");
        assert!(
            doc["components"]["schemas"][name].is_object()
                || doc["components"]["responses"][name].is_object(),
            "{name}"
        );
    }
    api.finish().await;
}

/// The branch switches a member's monthly reminder SMS through `POST /v1/events` (what the
/// console will do): `reminders` alone, which confirms nothing.
#[tokio::test]
async fn api_a_branch_turns_a_members_reminder_sms_off_and_on() {
    let api = start(1200).await;
    for (on, at) in [
        (false, "2026-03-01T10:00:00"),
        (true, "2026-03-01T11:00:00"),
    ] {
        let mut e = update("m2", "b2", at, json!({"reminders": on}));
        e["actor"] = json!({"org_id": "b2", "user": "李书记"});
        let (s, r) = api
            .post(&api.b2, "/v1/events", serde_json::to_vec(&e).unwrap())
            .await;
        assert_eq!(s, 202, "{r}");
        api.env.wait_processed(&evt_id(&e)).await;
        let rec = api.env.record("m2").await.unwrap();
        assert_eq!(rec["reminders_stopped"], !on, "{rec}");
        assert_eq!(rec["last_confirmed_on"], "2026-02-11", "not a confirmation");
    }
    // Another branch's member is refused.
    let e = update(
        "m1",
        "b2",
        "2026-03-01T12:00:00",
        json!({"reminders": true}),
    );
    let (s, p) = api
        .post(&api.b2, "/v1/events", serde_json::to_vec(&e).unwrap())
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("actor.org_id")), "{p}");
    api.finish().await;
}
