//! The member page in headless Chromium at a phone's viewport (360 x 780), driven through
//! chromedriver's W3C WebDriver HTTP API (`crate::browser`): open the link, tap confirm, see the
//! ledger change, open it again and see the refusal page. Screenshots go to
//! `target/screenshots/member_page_*.png`.

use super::{start, token};
use crate::browser::{self, Driver};

#[tokio::test]
async fn a_member_confirms_on_a_phone_and_the_link_is_then_spent() {
    let Some((chromium, driver)) = browser::tools("the member page browser test") else {
        return;
    };
    let p = start().await;
    let d = Driver::start(&chromium, &driver, "member_page").await;
    let url = format!("{}/m/{}", p.base, token());
    d.open(&url).await;
    let page = d.source().await;
    assert!(
        page.contains("广东省广州市天河区") && page.contains("138****5678"),
        "{page}"
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
        page.contains("本月已确认") && page.contains("139****0003"),
        "{page}"
    );
    d.screenshot("refusal").await;
    d.quit().await;
    p.env.finish().await;
}
