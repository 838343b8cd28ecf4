//! A branch secretary works on her members' pages: 记录联系, 更新信息 (an edit, then "no
//! change"), 登记返乡 for a visit home, and 登记转出; each result shows on the member's page
//! once the registry has applied it, and the ledger holds it. On a phone with JavaScript and at
//! a desktop without it.

use crate::browser::{self, Driver, Screen};
use crate::env::TestEnv;

use super::{console_world, page_is_sound, sign_in};

async fn a_secretary_acts_on_members(screen: Screen, shots: &'static str) {
    let Some((chromium, chromedriver)) = browser::tools(shots) else {
        return;
    };
    let mut env = TestEnv::new().await;
    let base = console_world(&mut env).await;
    let mut sms = env.watch("notification.requested").await;
    let b = Driver::start_as(&chromium, &chromedriver, shots, screen).await;
    b.open(&format!("{base}/console/members/cs1")).await;
    sign_in(&b, "13800138000", &mut sms).await;
    let page = b.source_with("外出记录").await;
    for action in ["更新信息", "登记返乡", "登记转出", "记录联系"] {
        assert!(page.contains(action), "the member's page offers {action}");
    }
    page_is_sound(&b, screen).await;
    b.screenshot("1_member").await;

    // 记录联系: a talk today, by the secretary (filled in for her).
    b.press("记录联系").await;
    b.source_with("联系方式").await;
    page_is_sound(&b, screen).await;
    b.press("记录联系").await;
    b.source_with("请选择联系方式").await;
    b.choose("联系方式", "谈心谈话").await;
    b.screenshot("2_contact_form").await;
    b.press("记录联系").await;
    let done = b.source_with("已登记，台账已更新").await;
    assert!(
        done.contains("谈心谈话") && done.contains("李书记"),
        "{done}"
    );
    b.screenshot("3_contact_recorded").await;
    assert_eq!(
        env.record("cs1").await.unwrap()["contacts"]["talk"],
        "2026-04-10"
    );

    // 更新信息: nothing changed is said so; a new employer is saved.
    b.press("更新信息").await;
    b.source_with("保存更新").await;
    page_is_sound(&b, screen).await;
    b.press("保存更新").await;
    b.source_with("没有改动").await;
    b.fill("工作单位", "广州某电子厂").await;
    b.choose("单位类型", "国有企业").await;
    b.screenshot("4_update_form").await;
    b.press("保存更新").await;
    b.source_with("已登记，台账已更新").await;
    let cs1 = env.record("cs1").await.unwrap();
    assert_eq!(cs1["location"]["employer"], "广州某电子厂");
    assert_eq!(cs1["location"]["employer_type"], "state_owned");
    assert_eq!(
        cs1["last_confirmed_on"], "2026-04-10",
        "an update confirms the month"
    );

    // 登记返乡: a visit home; the record stays open.
    b.press("登记返乡").await;
    b.source_with("返乡类型").await;
    page_is_sound(&b, screen).await;
    b.check("回乡探亲（还会外出）").await;
    b.screenshot("5_return_form").await;
    b.press("登记返乡").await;
    b.source_with("已登记，台账已更新").await;
    assert_eq!(env.record("cs1").await.unwrap()["status"], "home_visit");

    // 登记转出 for cs2: the record closes and its page offers nothing more.
    b.open(&format!("{base}/console/members/cs2/transfer"))
        .await;
    b.source_with("转入党组织").await;
    page_is_sound(&b, screen).await;
    b.fill("转入党组织", "广州市天河区某公司党支部").await;
    b.screenshot("6_transfer_form").await;
    b.press("登记转出").await;
    let done = b.source_with("已登记，台账已更新").await;
    assert!(done.contains("组织关系转出"), "{done}");
    assert!(
        !done.contains(">登记返乡<"),
        "a closed record has no actions"
    );
    b.screenshot("7_transferred").await;
    assert_eq!(env.record("cs2").await.unwrap()["status"], "transferred");
    b.quit().await;
    env.finish().await;
}

#[tokio::test]
async fn a_secretary_acts_on_her_members_on_her_phone() {
    a_secretary_acts_on_members(Screen::PHONE_390, "console_actions_phone").await;
}

#[tokio::test]
async fn a_secretary_acts_on_her_members_at_a_desktop_without_javascript() {
    a_secretary_acts_on_members(
        Screen::DESKTOP.without_javascript(),
        "console_actions_desktop_nojs",
    )
    .await;
}
