//! The study page in headless Chromium at a phone's viewport (360 x 780), through chromedriver's
//! W3C WebDriver HTTP API (`crate::browser`): open the member's link, tap "我已学完", see the
//! thanks, open it again and see the completion recorded; a tampered and an expired link's pages.
//! Screenshots go to `target/screenshots/study_page_*.png`.

use super::{expiry, start, token};
use crate::browser::{self, Driver};

#[tokio::test]
async fn a_member_marks_a_pack_studied_on_a_phone() {
    let Some((chromium, driver)) = browser::tools("the study page browser test") else {
        return;
    };
    let s = start().await;
    let d = Driver::start(&chromium, &driver, "study_page").await;
    let url = format!("{}/s/p1/{}", s.base, token("p1", expiry()));
    d.open(&url).await;
    d.source_with("观看视频").await;
    d.screenshot("open").await;
    d.scroll_to("#done", false).await;
    d.screenshot("button").await;
    d.tap("#done").await;
    d.source_with("谢谢，已记录").await;
    d.screenshot("thanks").await;
    s.env
        .as_batches_settle("the registry records the completion", || async {
            s.env
                .scalar_i64("SELECT count(*) FROM study_completions")
                .await
                == 1
        })
        .await;
    d.open(&url).await;
    d.source_with("您已于2026年3月1日学完").await;
    d.scroll_to("#completed", false).await;
    d.screenshot("completed").await;
    d.open(&format!("{}/s/p1/{}x", s.base, token("p1", expiry())))
        .await;
    d.source_with("链接无法使用").await;
    d.screenshot("refusal").await;
    s.env.clock.set(expiry() + chrono::TimeDelta::seconds(1));
    d.open(&url).await;
    d.source_with("链接已过期").await;
    d.screenshot("expired").await;
    d.quit().await;
    s.finish().await;
}
