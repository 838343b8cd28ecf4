//! 报到登记 as a station clerk does it: the member found by the 活动证编号 (typed with spaces)
//! or the 手机号码 (typed with dashes), checked in with 确认报到, and then seen as 已报到 in the
//! home branch's ledger, whose contact is told; an arrival nobody registered goes on the
//! unmatched list; the clerk sees nothing of a member not checked in with the station (404).
//! On a phone with JavaScript and at a desktop without it.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::browser::{self, Driver, Screen};
use crate::env::TestEnv;

use super::{console_world, page_is_sound, sign_in};

/// The station clerk of gz-s1 (a service station in Guangzhou's 天河区).
async fn station_clerk(env: &TestEnv) {
    let (ok, out, err) = env
        .run_hongyan(&[
            "users",
            "create",
            "--org",
            "gz-s1",
            "--name",
            "王站长",
            "--phone",
            "13700137000",
        ])
        .await;
    assert!(ok, "hongyan users create: {out}{err}");
}

/// The next `checked_in_branch` request on the notifier's queue.
async fn told_the_branch(sms: &mut lapin::Consumer) -> Value {
    loop {
        let d = tokio::time::timeout(Duration::from_secs(30), sms.next())
            .await
            .expect("the branch contact is told within 30 s")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&d.data).unwrap();
        if v["data"]["template"] == "checked_in_branch" {
            return v["data"].clone();
        }
    }
}

async fn a_clerk_checks_members_in(screen: Screen, shots: &'static str) {
    let Some((chromium, chromedriver)) = browser::tools(shots) else {
        return;
    };
    let mut env = TestEnv::new().await;
    let base = console_world(&mut env).await;
    station_clerk(&env).await;
    let mut sms = env.watch("notification.requested").await;
    let b = Driver::start_as(&chromium, &chromedriver, shots, screen).await;

    b.open(&format!("{base}/console/inbound")).await;
    sign_in(&b, "13700137000", &mut sms).await;
    let form = b.source_with("查找党员").await;
    assert!(
        form.contains("报到登记") && !form.contains(">外出登记<"),
        "a station's menu has 报到登记 and not 外出登记: {form}"
    );
    page_is_sound(&b, screen).await;
    b.screenshot("1_form").await;

    // By the certificate, as read off the card:党员cs1 left first, so 522636202600001.
    b.fill("活动证编号", "5226 3620 2600 001").await;
    b.press("查找").await;
    let found = b.source_with("找到外出记录").await;
    for part in ["党员cs1", "139****8001", "b1组织", "天河路1号"] {
        assert!(found.contains(part), "the match shows {part}: {found}");
    }
    assert!(!found.contains("13900008001"), "the phone is masked");
    page_is_sound(&b, screen).await;
    b.screenshot("2_found").await;
    b.fill("详细地址", "天河路1号3栋").await;
    b.press("确认报到").await;
    let done = b.source_with("已报到：").await;
    assert!(
        done.contains("党员cs1") && done.contains("已告知原支部"),
        "{done}"
    );
    b.screenshot("3_checked_in").await;
    let told = told_the_branch(&mut sms).await;
    assert_eq!(told["recipient"]["phone"], "13900000003", "b1's contact");
    assert_eq!(told["params"]["member_name"], "党员cs1");
    assert_eq!(told["params"]["receiving_org"], "gz-s1组织");
    let record = env.record("cs1").await.unwrap();
    assert_eq!(record["status"], "checked_in");
    assert_eq!(record["location"]["address"], "天河路1号3栋");

    // The member is now the station's to see; cs2, not checked in here, is not.
    b.press("查看党员cs1的记录").await;
    b.source_with("到达流入地报到").await;
    b.open(&format!("{base}/console/members/cs2")).await;
    b.source_with("找不到这名党员").await;
    b.screenshot("4_other_member_404").await;

    // By the phone, typed with dashes: cs2.
    b.open(&format!("{base}/console/inbound")).await;
    b.fill("手机号码", "139-0000-8002").await;
    b.press("查找").await;
    b.source_with("党员cs2").await;
    b.press("确认报到").await;
    b.source_with("已报到：").await;
    assert_eq!(env.record("cs2").await.unwrap()["status"], "checked_in");

    // Nobody registered this one: 姓名 and 手机号码, the place picked, the unmatched list.
    b.press("登记下一位").await;
    b.fill("手机号码", "137 0000 9999").await;
    b.press("查找").await;
    b.source_with("没有找到外出记录").await;
    b.screenshot("5_not_found").await;
    b.press("确认报到").await;
    let problems = b.source_with("请依次选择省、市、县").await;
    assert!(
        problems.contains("没有找到外出记录时，请填写姓名"),
        "{problems}"
    );
    b.fill("姓名", "陈新来").await;
    b.choose("省", "广东省").await;
    b.press("列出下一级").await;
    b.source_with("广州市").await;
    b.choose("市", "广州市").await;
    b.press("列出下一级").await;
    b.source_with("天河区").await;
    b.choose("县", "天河区").await;
    b.fill("详细地址", "科韵路10号").await;
    b.press("确认报到").await;
    let unmatched = b.source_with("待匹配名单").await;
    b.screenshot("6_unmatched").await;
    assert!(!unmatched.contains("已报到："), "{unmatched}");
    let waiting: (String, String) = sqlx::query_as(
        "SELECT name, phone FROM unmatched_arrivals WHERE receiving_org_id = 'gz-s1'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(waiting, ("陈新来".to_owned(), "13700009999".to_owned()));

    // The branch secretary sees 已报到 in her ledger.
    b.press("退出").await;
    b.source_with("获取验证码").await;
    b.open(&format!("{base}/console/ledger")).await;
    sign_in(&b, "13800138000", &mut sms).await;
    b.source_with("共2人符合条件").await;
    b.press("更多筛选条件").await;
    b.choose("状态", "已报到").await;
    b.press("筛选").await;
    let ledger = b.source_with("共2人符合条件").await;
    assert!(
        ledger.contains("党员cs1") && ledger.contains("党员cs2"),
        "{ledger}"
    );
    b.screenshot("7_branch_ledger").await;
    b.quit().await;
    env.finish().await;
}

#[tokio::test]
async fn a_station_clerk_checks_members_in_on_her_phone() {
    a_clerk_checks_members_in(Screen::PHONE_390, "console_arrival_phone").await;
}

#[tokio::test]
async fn a_station_clerk_checks_members_in_at_a_desktop_without_javascript() {
    a_clerk_checks_members_in(
        Screen::DESKTOP.without_javascript(),
        "console_arrival_desktop_nojs",
    )
    .await;
}
