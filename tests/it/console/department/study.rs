//! 学习: a pack composed in the console is checked field by field, published through the same
//! checks as `POST /v1/study-packs`, sent at its time to every member away in its audience, and
//! its completion shows per branch with the members reached.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use super::{AWAY, DEPARTMENT_PHONE, department_world, run_schedule, sign_in, table_rows};
use crate::browser::{self, Driver, Screen};
use crate::env::TestEnv;
use crate::fixtures::{event, evt_id};

async fn compose_send_complete(screen: Screen, shots: &'static str) {
    let Some((chromium, chromedriver)) = browser::tools(shots) else {
        return;
    };
    let mut env = TestEnv::new().await;
    let base = department_world(&mut env).await;
    let mut sms = env.watch("notification.requested").await;
    let b = Driver::start_as(&chromium, &chromedriver, shots, screen).await;
    sign_in(&b, &base, DEPARTMENT_PHONE, &mut sms).await;
    b.press("学习").await;
    b.source_with("还没有学习资源包").await;
    b.press("编写学习资源包").await;
    b.source_with("学习对象").await;
    b.screenshot("9_study_form").await;

    b.press("发布").await;
    let page = b.source_with("请填写标题").await;
    for said in [
        "请至少填写一项学习内容",
        "请选择学习对象",
        "请用一两句话写明学习内容",
    ] {
        assert!(page.contains(said), "the form says {said:?}");
    }
    b.choose("内容2的类型", "视频").await;
    b.fill("内容2的文字或网址", "v.example/dangke").await;
    b.press("发布").await;
    b.source_with("请填写完整网址").await;
    b.screenshot("10_study_problems").await;

    b.fill("标题", "十月学习：党章第九条").await;
    b.fill("简介", "学习党章关于党员组织生活的规定").await;
    b.choose("内容1的类型", "文字").await;
    b.fill("内容1的文字或网址", "党员有下列情形之一的……").await;
    b.fill("内容2的文字或网址", "https://v.example/dangke")
        .await;
    b.tap("#a-t1").await;
    b.tap("#when-at").await;
    b.fill("发送日期", "2026-10-10").await;
    b.fill("发送时刻", "14:00").await;
    b.press("发布").await;
    let pack = b.source_with("各组织学习情况").await;
    assert!(pack.contains("十月学习：党章第九条") && pack.contains("定于2026-10-10 14:00发出"));
    assert!(pack.contains("资源包尚未发出"));

    // At its time the pack goes to every member away in t1's branches, one SMS each (neither
    // branch has a group robot); k8, at home, gets nothing.
    run_schedule(&env, "study_send_at", "2026-10-10T14:00:00+08:00").await;
    let away: Vec<&str> = AWAY.iter().map(|a| a.0).collect();
    assert_eq!(sent_to(&mut sms).await, away);

    let pack_id = studied_by_k1(&env).await;
    b.open(&format!("{base}/console/study/{pack_id}")).await;
    let page = b.source_with("各组织学习情况").await;
    assert!(page.contains("已于2026-10-10 14:00发出"), "{page}");
    let rows = table_rows(&page);
    let row = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
            .clone()
    };
    assert_eq!(row("b1组织")[1..], ["5", "1", "20.0%"]);
    assert_eq!(row("b2组织")[1..], ["2", "0", "0.0%"]);
    b.screenshot("11_study_pack").await;
    b.press("学习").await;
    let list = b.source_with("十月学习：党章第九条").await;
    assert!(table_rows(&list)[0][3] == "1", "{list}");
    b.screenshot("12_study_list").await;
    b.quit().await;
    env.finish().await;
}

/// The members the pack's SMS go to (the notifier's requests, read off the queue), in order.
async fn sent_to(sms: &mut lapin::Consumer) -> Vec<String> {
    let mut reached: Vec<String> = Vec::new();
    while reached.len() < AWAY.len() {
        let d = tokio::time::timeout(Duration::from_secs(20), sms.next())
            .await
            .expect("the pack's SMS requests within 20 s")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&d.data).unwrap();
        if v["data"]["template"] == "study_pack" {
            let to = &v["data"]["recipient"];
            reached.push(to["member_id"].as_str().unwrap().to_owned());
            assert!(v["data"]["params"]["url"].as_str().unwrap().contains("/s/"));
        }
    }
    reached.sort();
    reached
}

/// k1 studies the pack (through the study page, which sends this as the member); its id.
async fn studied_by_k1(env: &TestEnv) -> String {
    let pack_id: String = sqlx::query_scalar("SELECT id FROM study_packs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    let mut done = event(
        "study.completed",
        "b1",
        "2026-10-10T15:00:00",
        json!({"member_id": "k1", "pack_id": pack_id, "on": "2026-10-10"}),
    );
    done["actor"] = json!({"member_id": "k1"});
    env.publish(&done).await;
    env.wait_processed(&evt_id(&done)).await;
    pack_id
}

#[tokio::test]
async fn a_pack_composed_on_a_phone_reaches_its_audience() {
    compose_send_complete(Screen::PHONE_390, "console-department/phone").await;
}

#[tokio::test]
async fn a_pack_composed_at_a_desktop_without_javascript_reaches_its_audience() {
    compose_send_complete(
        Screen::DESKTOP.without_javascript(),
        "console-department/desktop",
    )
    .await;
}
