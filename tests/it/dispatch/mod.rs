//! The quarterly dispatch report (一季一调度, DESIGN.md section 4) against a real PostgreSQL.
//! The ledger is written directly (orgs, members, flow records, a few history rows): the
//! figures read only the tables, and this lets every date sit exactly where the test needs it.

mod county;
mod spot_check;

use chrono::{TimeZone, Utc};
use hongyan_scheduler::dispatch::quarterly_dispatch;
use hongyan_scheduler::firing::Firing;
use serde_json::{Value, json};

use crate::env::TestEnv;
use county::county;

async fn fire(env: &TestEnv) -> u64 {
    let due = hongyan_domain::TZ
        .with_ymd_and_hms(2026, 10, 1, 9, 30, 0)
        .unwrap()
        .with_timezone(&Utc);
    let firing = Firing {
        schedule: "quarterly_dispatch",
        due,
        settings: &env.settings,
        pool: &env.pool,
        alive: None,
    };
    let mut tx = env.pool.begin().await.unwrap();
    let n = quarterly_dispatch(&mut tx, &firing).await.unwrap();
    tx.commit().await.unwrap();
    n
}

async fn report(env: &TestEnv, org: &str) -> Value {
    let (v,): (Value,) =
        sqlx::query_as("SELECT report::jsonb FROM dispatch_reports WHERE org_id = $1")
            .bind(org)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    v
}

fn compliance(v: &[(u64, u64); 3]) -> Value {
    json!([
        {"month": "2026-07", "open": v[0].0, "confirmed": v[0].1},
        {"month": "2026-08", "open": v[1].0, "confirmed": v[1].1},
        {"month": "2026-09", "open": v[2].0, "confirmed": v[2].1},
    ])
}

#[tokio::test]
async fn dispatch_reports_the_quarter_per_department_once() {
    let env = TestEnv::new().await;
    county(&env).await;

    assert_eq!(
        fire(&env).await,
        4,
        "per department (qn, qx): dispatch.report_ready and its contact's SMS (neither has a robot)"
    );
    let qx = report(&env, "qx").await;
    assert_eq!(qx["quarter"], "2026Q3");
    assert_eq!(qx["org_id"], "qx");

    let b1 = json!({
        "open": 3, "by_status": {"out": 1, "checked_in": 1, "home_visit": 1},
        "departures": 1, "arrivals": 1, "returns": 1, "transfers": 0,
        "destinations": {"cross_province": 1, "in_province_cross_city": 1, "in_city": 1},
        "by_employer_type": {"private": 2, "state_owned": 1},
        "certificate_holders": 2,
        "monthly_compliance": compliance(&[(4, 1), (4, 2), (3, 1)]),
        "stale": ["m2"], "lost_contact": ["m3"], "lapse_risk": [], "transfer_suggested": [],
        "unmatched_arrivals": 1,
    });
    let b2 = json!({
        "open": 2, "by_status": {"out": 1, "checked_in": 1, "home_visit": 0},
        "departures": 1, "arrivals": 1, "returns": 0, "transfers": 1,
        "destinations": {"cross_province": 1, "in_province_cross_city": 0, "in_city": 1},
        "by_employer_type": {"private": 1, "self_employed": 1},
        "certificate_holders": 1,
        "monthly_compliance": compliance(&[(2, 0), (2, 0), (3, 1)]),
        "stale": [], "lost_contact": ["m5"], "lapse_risk": ["m5"], "transfer_suggested": ["m5"],
        "unmatched_arrivals": 0,
    });
    let totals = json!({
        "open": 5, "by_status": {"out": 2, "checked_in": 2, "home_visit": 1},
        "departures": 2, "arrivals": 2, "returns": 1, "transfers": 1,
        "destinations": {"cross_province": 2, "in_province_cross_city": 1, "in_city": 2},
        "by_employer_type": {"private": 3, "self_employed": 1, "state_owned": 1},
        "certificate_holders": 3,
        "monthly_compliance": compliance(&[(6, 1), (6, 2), (6, 2)]),
        "stale": ["m2"], "lost_contact": ["m3", "m5"], "lapse_risk": ["m5"], "transfer_suggested": ["m5"],
        "unmatched_arrivals": 1,
    });
    assert_eq!(qx["branches"][0]["org_id"], "b1");
    assert_eq!(qx["branches"][0]["name"], "b1党组织");
    assert_eq!(qx["branches"][0]["figures"], b1);
    assert_eq!(qx["branches"][1]["figures"], b2);
    assert_eq!(qx["totals"], totals);
    assert_eq!(qx["branches"].as_array().unwrap().len(), 2);
    // The city department sees the same subtree here.
    let qn = report(&env, "qn").await;
    assert_eq!(qn["totals"], totals);

    // Spot check: one of three open records in b1, one of two in b2, from the open ones.
    let spot = qx["spot_check"].as_array().unwrap().clone();
    assert_eq!(spot.len(), 2);
    assert_eq!(spot[0]["org_id"], "b1");
    let b1_pick = spot[0]["member_ids"].as_array().unwrap();
    assert_eq!(b1_pick.len(), 1);
    assert!(["m1", "m2", "m3"].contains(&b1_pick[0].as_str().unwrap()));
    let b2_pick = spot[1]["member_ids"].as_array().unwrap();
    assert_eq!(b2_pick.len(), 1);
    assert!(["m5", "m9"].contains(&b2_pick[0].as_str().unwrap()));
    assert_eq!(
        qn["spot_check"], qx["spot_check"],
        "a branch draws the same in both reports"
    );

    // The announcement, with a message id fixed by department and quarter.
    let ready: Vec<(String, Value)> = sqlx::query_as(
        "SELECT message_id, payload::jsonb FROM outbox WHERE routing_key = 'dispatch.report_ready' ORDER BY message_id",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(ready.len(), 2);
    let qx_ready = ready
        .iter()
        .find(|(_, p)| p["data"]["org_id"] == "qx")
        .unwrap();
    assert_eq!(qx_ready.1["data"]["report_id"], qx["report_id"]);
    assert_eq!(qx_ready.1["data"]["quarter"], "2026Q3");
    assert_eq!(qx_ready.1["event_id"], json!(qx_ready.0));

    // A rerun writes nothing new.
    assert_eq!(fire(&env).await, 0);
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM dispatch_reports")
            .await,
        2
    );
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM outbox WHERE routing_key = 'dispatch.report_ready'")
            .await,
        2
    );

    // Drawn again from scratch, the same quarter gives the very same report and message ids.
    sqlx::query("DELETE FROM dispatch_reports")
        .execute(&env.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM outbox")
        .execute(&env.pool)
        .await
        .unwrap();
    assert_eq!(fire(&env).await, 4);
    assert_eq!(report(&env, "qx").await, qx);
    let again: Vec<(String,)> =
        sqlx::query_as("SELECT message_id FROM outbox WHERE routing_key = 'dispatch.report_ready' ORDER BY message_id")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(
        again.iter().map(|r| &r.0).collect::<Vec<_>>(),
        ready.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    env.finish().await;
}

#[tokio::test]
async fn report_show_prints_the_stored_report_as_json_and_csv() {
    let env = TestEnv::new().await;
    county(&env).await;
    fire(&env).await;
    let qx = report(&env, "qx").await;
    let id = qx["report_id"].as_str().unwrap().to_owned();

    let (ok, json_out, err) = env.run_hongyan(&["report", "show", &id]).await;
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&json_out).unwrap(), qx);

    let (ok, csv_out, err) = env
        .run_hongyan(&["report", "show", &id, "--format", "csv"])
        .await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = csv_out.lines().collect();
    assert_eq!(
        lines.len(),
        4,
        "a header, one row per branch and 合计: {csv_out}"
    );
    assert!(lines[0].starts_with('\u{feff}'), "a BOM for Excel");
    let header: Vec<&str> = lines[0].trim_start_matches('\u{feff}').split(',').collect();
    let b2: Vec<&str> = lines[2].split(',').collect();
    let col = |name: &str| b2[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("组织名称"), "b2党组织");
    assert_eq!(col("在外党员"), "2");
    assert_eq!(col("本季度转出"), "1");
    assert_eq!(col("失联"), "1");
    assert_eq!(col("单位类型：个体经营"), "1");
    assert_eq!(col("单位类型：国有企业"), "0");
    assert_eq!(col("2026年9月在外"), "3");
    assert_eq!(col("2026年9月已确认"), "1");
    assert!(lines[3].starts_with("合计,"), "{csv_out}");

    let (ok, _, err) = env
        .run_hongyan(&["report", "show", &uuid::Uuid::new_v4().to_string()])
        .await;
    assert!(!ok);
    assert!(err.contains("No dispatch report has id"), "{err}");
    let (ok, _, err) = env
        .run_hongyan(&["report", "show", &id, "--format", "xml"])
        .await;
    assert!(!ok);
    assert!(err.contains("use json or csv"), "{err}");
    env.finish().await;
}

#[tokio::test]
async fn a_report_is_announced_to_its_contact_with_the_link_and_to_its_own_robot_without_names() {
    let env = TestEnv::new().await;
    county(&env).await;
    sqlx::query("UPDATE orgs SET chat = '{\"provider\": \"wecom\", \"webhook\": \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k\"}' WHERE id = 'qx'")
        .execute(&env.pool)
        .await
        .unwrap();
    assert_eq!(
        fire(&env).await,
        5,
        "two reports, two contacts' SMS, qx's robot"
    );
    let qx = report(&env, "qx").await;
    let requests: Vec<Value> = sqlx::query_scalar(
        "SELECT payload->'data' FROM outbox WHERE routing_key = 'notification.requested' ORDER BY id",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    let to_contact = requests
        .iter()
        .find(|r| r["template"] == "dispatch_report" && r["recipient"]["org_id"] == "qx")
        .expect("qx's contact is told");
    assert_eq!(to_contact["recipient"]["phone"], "13800000000");
    assert_eq!(to_contact["recipient"]["channels"], json!(["sms"]));
    assert_eq!(
        to_contact["params"]["url"],
        format!(
            "{}/console/dispatch/{}",
            env.settings.api.public_url,
            qx["report_id"].as_str().unwrap()
        )
    );
    assert_eq!(to_contact["params"]["quarter"], "2026年第三季度");
    assert_eq!(to_contact["params"]["lost_contact"], "2");
    assert_eq!(to_contact["key"], "dispatch_report:2026Q3:org:qx");

    let summaries: Vec<&Value> = requests
        .iter()
        .filter(|r| r["template"] == "dispatch_summary")
        .collect();
    assert_eq!(summaries.len(), 1, "qn has no robot: no summary for it");
    let summary = summaries[0];
    assert_eq!(summary["org"], "qx", "to its own group, as a broadcast");
    let p = &summary["params"];
    assert_eq!(
        (
            p["open"].as_str(),
            p["departures"].as_str(),
            p["stale"].as_str(),
            p["lapse_risk"].as_str()
        ),
        (Some("5"), Some("2"), Some("1"), Some("1"))
    );
    let text = summary.to_string();
    for id in ["m1", "m2", "m3", "m5", "m9", "138000", "139000"] {
        assert!(
            !text.contains(id),
            "the group summary names nobody ({id}): {text}"
        );
    }
    // A rerun stores nothing and announces nothing again.
    assert_eq!(fire(&env).await, 0);
    env.finish().await;
}
