//! A branch secretary signs in on her phone (390 px) and at a desktop with JavaScript off:
//! fields found by their labels, buttons by their names, a screenshot of every screen.

use crate::browser::{self, Driver, Screen};
use crate::env::TestEnv;

use super::{console_world, next_code, page_is_sound};

async fn sign_in_and_see_the_home(screen: Screen, shots: &'static str) {
    let Some((chromium, chromedriver)) = browser::tools(shots) else {
        return;
    };
    let mut env = TestEnv::new().await;
    let base = console_world(&mut env).await;
    let mut sms = env.watch("notification.requested").await;
    let b = Driver::start_as(&chromium, &chromedriver, shots, screen).await;

    b.open(&format!("{base}/console/")).await;
    b.source_with("获取验证码").await;
    b.screenshot("1_login").await;
    page_is_sound(&b, screen).await;
    b.fill("手机号码", "138 0013 8000").await;
    b.press("获取验证码").await;
    let page = b.source_with("短信已发出").await;
    assert!(page.contains("138****8000"), "the phone is shown masked");
    b.screenshot("2_code_sent").await;

    let code = next_code(&mut sms).await;
    b.fill("验证码", "000000").await;
    b.press("登录").await;
    b.source_with("验证码不对").await;
    b.screenshot("3_wrong_code").await;
    b.fill("验证码", &code).await;
    b.press("登录").await;
    let home = b.source_with("本月未确认").await;
    for figure in ["外出", "已报到", "失联", "李书记"] {
        assert!(home.contains(figure), "the 工作台 shows {figure}");
    }
    assert!(
        home.contains("党员cs1") && home.contains("党员cs2"),
        "the list names the members unconfirmed in April: {home}"
    );
    b.screenshot("4_home").await;
    page_is_sound(&b, screen).await;

    // 台账: every member, then one found by name.
    b.press("台账").await;
    let ledger = b.source_with("共2人符合条件").await;
    for header in ["姓名", "活动证编号", "连续未确认月数", "标记"] {
        assert!(
            ledger.contains(header),
            "the ledger has the column {header}"
        );
    }
    b.screenshot("5_ledger").await;
    page_is_sound(&b, screen).await;
    b.fill("搜索（姓名、手机号码或活动证编号）", "党员cs2")
        .await;
    b.press("筛选").await;
    let found = b.source_with("共1人符合条件").await;
    assert!(found.contains("党员cs2") && !found.contains("党员cs1"));
    b.screenshot("6_ledger_search").await;

    // The member's page: the record, the history, the messages sent.
    b.press("党员cs2").await;
    let member = b.source_with("外出记录").await;
    for part in ["外出登记", "经历", "发给本人的消息", "活动证编号"] {
        assert!(
            member.contains(part),
            "the member's page shows {part}: {member}"
        );
    }
    b.screenshot("7_member").await;
    page_is_sound(&b, screen).await;

    b.press("退出").await;
    b.source_with("获取验证码").await;
    b.open(&format!("{base}/console/")).await;
    b.source_with("获取验证码").await;
    b.quit().await;
    env.finish().await;
}

#[tokio::test]
async fn a_secretary_signs_in_on_her_phone() {
    sign_in_and_see_the_home(Screen::PHONE_390, "console_phone").await;
}

#[tokio::test]
async fn a_secretary_signs_in_at_a_desktop_without_javascript() {
    sign_in_and_see_the_home(Screen::DESKTOP.without_javascript(), "console_desktop_nojs").await;
}
