//! Study packs in the registry (DESIGN.md section 2, `study.*`): a department's pack is stored
//! with its audience for the scheduler; a pack from anyone else, or for an audience outside
//! the department, is parked with the reason; a member's completion is recorded once.

use serde_json::json;

use crate::env::TestEnv;
use crate::fixtures::*;

fn pack(actor: &str, id: &str, audience: serde_json::Value) -> serde_json::Value {
    event(
        "study.published",
        actor,
        "2026-03-02T09:00:00",
        json!({"pack_id": id, "title": "党章第一章", "summary": "党员的义务和权利",
               "items": [{"kind": "text", "text": "认真学习"}, {"kind": "video", "url": "https://v.example/1"}],
               "audience": audience}),
    )
}

#[tokio::test]
async fn a_departments_pack_is_stored_with_its_audience_and_others_are_parked() {
    let mut env = TestEnv::new().await;
    env.publish_all(&county()).await;
    let good = pack(
        "c1",
        "p1",
        json!({"org_ids": ["t1"], "region_codes": ["522636100"]}),
    );
    let from_branch = pack("b1", "p2", json!({"org_ids": ["b1"]}));
    let outside = pack("c1", "p3", json!({"org_ids": ["gz-park"]}));
    let other_region = pack("c1", "p4", json!({"region_codes": ["440106"]}));
    let bad_item = with_item(pack("c1", "p5", json!({"org_ids": ["t1"]})));
    env.publish_all(&[good.clone(), from_branch, outside, other_region, bad_item])
        .await;
    env.start_registry();
    env.wait_processed(&evt_id(&good)).await;
    let parked = env.wait_parked(4).await;
    let reasons: Vec<&str> = parked.iter().map(|p| p.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("only a department may")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("gz-park") && r.contains("outside")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("440106") && r.contains("outside")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("data.items[1].url")),
        "{reasons:?}"
    );
    let (orgs, regions, sent): (
        Vec<String>,
        Vec<String>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) = sqlx::query_as(
        "SELECT p.audience_org_ids, p.audience_region_codes, s.sent_at FROM study_packs p
         LEFT JOIN study_pack_sends s ON s.pack_id = p.id WHERE p.id = 'p1'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        (orgs, regions, sent),
        (vec!["t1".into()], vec!["522636100".into()], None)
    );
    assert_eq!(env.scalar_i64("SELECT count(*) FROM study_packs").await, 1);
    env.finish().await;
}

fn with_item(mut e: serde_json::Value) -> serde_json::Value {
    e["data"]["items"][1] = json!({"kind": "video"});
    e
}

#[tokio::test]
async fn a_completion_is_recorded_once_per_member_and_pack() {
    let mut env = TestEnv::new().await;
    env.publish_all(&county()).await;
    env.publish(&member("m1", "b1", "13911110001")).await;
    env.publish(&pack("c1", "p1", json!({"org_ids": ["c1"]})))
        .await;
    let done = |on: &str| {
        let mut e = event(
            "study.completed",
            "b1",
            &format!("{on}T10:00:00"),
            json!({"member_id": "m1", "pack_id": "p1", "on": on}),
        );
        e["actor"] = json!({"member_id": "m1"});
        e
    };
    let first = done("2026-03-03");
    let again = done("2026-03-04");
    let by_other_branch = event(
        "study.completed",
        "b2",
        "2026-03-05T10:00:00",
        json!({"member_id": "m1", "pack_id": "p1", "on": "2026-03-05"}),
    );
    env.publish_all(&[first.clone(), again.clone(), by_other_branch])
        .await;
    env.start_registry();
    env.wait_processed(&evt_id(&again)).await;
    let parked = env.wait_parked(1).await;
    assert!(
        parked[0].reason.contains("org b2 has no right"),
        "{}",
        parked[0].reason
    );
    let on: Vec<chrono::NaiveDate> =
        sqlx::query_scalar("SELECT completed_on FROM study_completions WHERE member_id = 'm1'")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(on, [chrono::NaiveDate::from_ymd_opt(2026, 3, 3).unwrap()]);
    env.finish().await;
}
