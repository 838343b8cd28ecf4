//! The member page in headless Chromium at a small phone's screen (360 x 640), driven through
//! chromedriver's W3C WebDriver HTTP API (`crate::browser`): open the link, find 没有变化，确认
//! without scrolling, tap it, see the ledger change, open it again and see that the month is
//! confirmed and the answer may still be changed. Screenshots go to
//! `target/screenshots/member_page_*.png`.

use super::{start, token};
use crate::browser::{self, Driver, Screen};

#[tokio::test]
async fn a_member_confirms_on_a_small_phone_and_may_still_change_the_answer() {
    let Some((chromium, driver)) = browser::tools("the member page browser test") else {
        return;
    };
    let p = start().await;
    let d = Driver::start_as(&chromium, &driver, "member_page", Screen::PHONE_360_640).await;
    let url = format!("{}/m/{}", p.base, token());
    d.open(&url).await;
    let page = d.source().await;
    assert!(
        page.contains("广东省广州市天河区") && page.contains("138****5678"),
        "{page}"
    );
    let bottom = d
        .script("return document.querySelector('#confirm').getBoundingClientRect().bottom")
        .await;
    assert!(
        bottom.as_f64().unwrap() <= 640.0,
        "没有变化，确认 is above the fold of a 360 x 640 screen: its bottom is at {bottom}"
    );
    assert!(
        page.contains("href=\"tel:13900000003\""),
        "the branch's phone, tap to call: {page}"
    );
    d.screenshot("open").await;
    d.scroll_to("#edit", true).await;
    d.screenshot("edit_form").await;
    // Choosing another city lists its counties: the page's script sends the form back.
    d.tap("#city option[value='4403']").await;
    let page = d.source_with(">南山区<").await;
    assert!(
        page.contains("天河路1号"),
        "what was in the form stays: {page}"
    );
    d.tap("#confirm").await;
    d.source_with("谢谢，已收到").await;
    d.screenshot("thanks").await;
    p.env
        .as_batches_settle("the ledger records March's confirmation", || async {
            p.env.record("m1").await.unwrap()["last_confirmed_on"] == "2026-03-01"
        })
        .await;
    d.open(&url).await;
    let page = d.source().await;
    assert!(
        page.contains("的信息已确认") && page.contains("信息有变化？请修改"),
        "{page}"
    );
    d.screenshot("confirmed").await;
    d.quit().await;
    p.env.finish().await;
}

/// A member who answered 退订 finds 恢复每月提醒短信 on the page (DESIGN.md section 5, "Replies"),
/// with and without JavaScript, at a phone's width and on a desktop; pressing it turns the
/// reminder SMS back on and is no confirmation of the month.
#[tokio::test]
async fn a_member_who_unsubscribed_turns_the_reminder_sms_back_on() {
    use crate::browser::Screen;
    use crate::fixtures::{evt_id, update};

    let Some((chromium, driver)) = browser::tools("the reminders-on browser test") else {
        return;
    };
    let p = start().await;
    let url = format!("{}/m/{}", p.base, token());
    // Before the 退订, the page offers nothing of the kind.
    let d = Driver::start_as(
        &chromium,
        &driver,
        "member_page_reminders",
        Screen::PHONE_390,
    )
    .await;
    d.open(&url).await;
    assert!(!d.source().await.contains("恢复每月提醒短信"));
    // Earlier than the page's clock (09:00), so the page's update is the newer one.
    let stop = update(
        "m1",
        "b1",
        "2026-03-01T08:30:00",
        serde_json::json!({"reminders": false}),
    );
    p.env.publish(&stop).await;
    p.env.wait_processed(&evt_id(&stop)).await;
    let screens = [
        ("phone", Screen::PHONE_390),
        ("desktop_no_js", Screen::DESKTOP.without_javascript()),
    ];
    d.quit().await;
    for (i, (name, screen)) in screens.into_iter().enumerate() {
        let shots = [
            "member_page_reminders_phone",
            "member_page_reminders_desktop",
        ][i];
        let d = Driver::start_as(&chromium, &driver, shots, screen).await;
        d.open(&url).await;
        let page = d.source().await;
        assert!(page.contains("您回复过退订"), "{name}: {page}");
        d.scroll_to("#reminders", true).await;
        d.screenshot("offered").await;
        if i == 0 {
            d.press("恢复每月提醒短信").await;
            d.source_with("已恢复每月提醒短信").await;
            d.screenshot("done").await;
            p.env
                .eventually("reminders on again in the ledger", || async {
                    p.env.record("m1").await.unwrap()["reminders_stopped"] == false
                })
                .await;
            // Not a confirmation: the month is still to confirm.
            assert_eq!(
                p.env.record("m1").await.unwrap()["last_confirmed_on"],
                "2026-02-10"
            );
        }
        d.quit().await;
        if i == 0 {
            // Off again, for the page without script.
            let stop = update(
                "m1",
                "b1",
                "2026-03-01T09:30:00",
                serde_json::json!({"reminders": false}),
            );
            p.env.publish(&stop).await;
            p.env.wait_processed(&evt_id(&stop)).await;
        }
    }
    p.env.finish().await;
}
