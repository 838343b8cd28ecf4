//! 用户: the department adds a secretary for branch b2, who then signs in with her own phone
//! and lands on b2's 工作台; the department stops b1's secretary from signing in.

use super::{BRANCH_PHONE, DEPARTMENT_PHONE, department_world, sign_in, table_rows};
use crate::browser::{self, Driver, Screen};
use crate::env::TestEnv;

async fn add_and_stop(screen: Screen, shots: &'static str) {
    let Some((chromium, chromedriver)) = browser::tools(shots) else {
        return;
    };
    let mut env = TestEnv::new().await;
    let base = department_world(&mut env).await;
    let mut sms = env.watch("notification.requested").await;
    let b = Driver::start_as(&chromium, &chromedriver, shots, screen).await;
    sign_in(&b, &base, DEPARTMENT_PHONE, &mut sms).await;
    b.press("用户").await;
    let page = b.source_with("添加用户").await;
    let rows = table_rows(&page);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][..3], ["李书记", "b1组织", "138****8002"]);
    b.screenshot("16_users").await;

    b.choose("组织", "b2组织").await;
    b.fill("姓名", "赵书记").await;
    b.fill("手机号码", "139 0000 77").await;
    b.press("添加用户").await;
    b.source_with("请填写11位手机号码").await;
    b.fill("手机号码", "139 0000 7777").await;
    b.press("添加用户").await;
    let added = b.source_with("已添加赵书记").await;
    assert!(added.contains("139****7777"), "{added}");
    b.fill("姓名", "重复").await;
    b.choose("组织", "b1组织").await;
    b.fill("手机号码", "13900007777").await;
    b.press("添加用户").await;
    b.source_with("已经是另一位用户的登录号码").await;
    b.screenshot("17_users_added").await;

    // 李书记 (b1) may sign in no more.
    b.press("停用").await;
    let stopped = b.source_with("已停用").await;
    let li = table_rows(&stopped)
        .into_iter()
        .find(|r| r[0] == "李书记")
        .unwrap();
    assert_eq!(li[4], "已停用");
    let by: String =
        sqlx::query_scalar("SELECT created_by FROM console_users WHERE name = '赵书记'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert!(
        by.starts_with("u-"),
        "the department's user added her: {by}"
    );

    b.press("退出").await;
    sign_in(&b, &base, "13900007777", &mut sms).await;
    let home = b.source().await;
    assert!(home.contains("b2组织 · 赵书记"), "{home}");
    assert!(
        home.contains("党员k7") && !home.contains("党员k2"),
        "b2's lists: {home}"
    );
    b.screenshot("18_new_user_home").await;
    b.press("退出").await;
    b.source_with("获取验证码").await;
    b.fill("手机号码", BRANCH_PHONE).await;
    b.press("获取验证码").await;
    b.source_with("短信已发出").await;
    b.quit().await;
    let codes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM console_codes WHERE phone = $1 AND user_id IS NOT NULL",
    )
    .bind(BRANCH_PHONE)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(codes, 0, "a revoked user's phone gets no code");
    env.finish().await;
}

#[tokio::test]
async fn a_department_adds_a_branch_user_on_a_phone() {
    add_and_stop(Screen::PHONE_390, "console-department/phone").await;
}

#[tokio::test]
async fn a_department_adds_a_branch_user_at_a_desktop_without_javascript() {
    add_and_stop(
        Screen::DESKTOP.without_javascript(),
        "console-department/desktop",
    )
    .await;
}
