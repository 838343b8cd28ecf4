//! The members' update page (DESIGN.md section 7) served by the API's own router, against the
//! real registry: what a member sees, what a confirmation or an edit changes in the ledger, and
//! the pages a bad, old or used link gets.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use futures::StreamExt;
use hongyan_api::member_page;
use hongyan_domain::ids::MemberId;
use hongyan_domain::link;
use hongyan_domain::month::Month;
use hongyan_domain::regions;
use serde_json::Value;

use crate::env::TestEnv;
use crate::fixtures::*;
use crate::pages::{self, nonce_in};

mod browser;

const SECRET: &str = "member-page-test-secret";
const PHONE: &str = "13812345678";

pub struct Page {
    pub env: TestEnv,
    pub base: String,
    pub http: reqwest::Client,
}

/// A county with member `m1` of branch `b1`, away since February (so March is unconfirmed),
/// the registry running and the member page served on an ephemeral port.
pub async fn start() -> Page {
    let mut env = TestEnv::new().await;
    env.settings.api.link_secret = Some(SECRET.into());
    let mut evs = county();
    evs.extend(m1_away(PHONE, Some("某制衣厂")));
    env.publish_all(&evs).await;
    env.start_registry();
    env.wait_processed(&evt_id(evs.last().unwrap())).await;
    let app = axum::Router::new()
        .merge(member_page::routes())
        .with_state(env.app_state());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Page {
        env,
        base,
        http: pages::client(),
    }
}

/// March's link for `m1`, valid until mid-April (the test clock stands at 1 March).
pub fn token() -> String {
    link::mint(
        SECRET.as_bytes(),
        &MemberId::parse("m1").unwrap(),
        Month::parse("2026-03").unwrap(),
        Utc.with_ymd_and_hms(2026, 4, 15, 0, 0, 0).unwrap(),
    )
}

/// A GET of `token`'s page: its status, body and the form cookie it set.
async fn get(p: &Page, token: &str) -> (u16, String, Option<String>) {
    pages::get(&p.http, &format!("{}/m/{token}", p.base)).await
}

async fn post(p: &Page, token: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> (u16, String) {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    pages::post(&p.http, &format!("{}/m/{token}", p.base), cookie, body).await
}

/// `application/x-www-form-urlencoded` as a browser writes it.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A queue of the test's own bound to `registration.update`, left unconsumed so its depth
/// says how many updates were published.
async fn update_queue(env: &TestEnv) -> String {
    env.bind_queue("count.updates", "registration.update").await
}

async fn confirmed_on(env: &TestEnv) -> Value {
    env.record("m1").await.unwrap()["last_confirmed_on"].clone()
}

#[tokio::test]
async fn the_page_shows_the_record_and_one_tap_confirms_the_month() {
    let p = start().await;
    let mut updates = p.env.watch("registration.update").await;
    let (status, body, cookie) = get(&p, &token()).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&regions::place_name("440106001")),
        "place by name: {body}"
    );
    assert!(body.contains("广东省广州市天河区"), "{body}");
    assert!(body.contains("138****5678"), "masked phone shown");
    assert!(
        !body.contains(PHONE),
        "the whole phone never reaches the page"
    );
    assert!(
        body.contains("民营企业") && body.contains("没有变化，确认"),
        "{body}"
    );
    let cookie = cookie.expect("the page sets its form cookie");
    assert!(confirmed_on(&p.env).await == "2026-02-10");

    let nonce = nonce_in(&body);
    let (status, body) = post(
        &p,
        &token(),
        Some(&cookie),
        &[("nonce", &nonce), ("intent", "confirm")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("谢谢"), "{body}");

    let msg = tokio::time::timeout(Duration::from_secs(10), updates.next())
        .await
        .expect("an update is published")
        .unwrap()
        .unwrap();
    let env_json: Value = serde_json::from_slice(&msg.data).unwrap();
    assert_eq!(env_json["actor"], serde_json::json!({"member_id": "m1"}));
    assert_eq!(env_json["data"]["confirmed_unchanged"], true);
    p.env
        .as_batches_settle("the ledger records March's confirmation", || async {
            confirmed_on(&p.env).await == "2026-03-01"
        })
        .await;

    // Confirmed: the link still opens, says so, and lets the member change the answer; the
    // one-tap confirmation is gone.
    let (status, body, _) = get(&p, &token()).await;
    assert_eq!(status, 200);
    assert!(body.contains("2026年3月的信息已确认"), "{body}");
    assert!(!body.contains("没有变化，确认"), "{body}");
    assert!(body.contains("信息有变化？请修改"), "{body}");
    assert!(
        body.contains("href=\"tel:13900000003\""),
        "the branch's duty phone, whole and tap-to-call: {body}"
    );
    p.env.finish().await;
}

#[tokio::test]
async fn an_edit_through_the_picker_changes_the_destination() {
    let p = start().await;
    let (_, body, cookie) = get(&p, &token()).await;
    let cookie = cookie.unwrap();
    let nonce = nonce_in(&body);
    // Choosing a province lists its cities and keeps what was typed.
    let (status, body) = post(
        &p,
        &token(),
        Some(&cookie),
        &[
            ("nonce", &nonce),
            ("intent", "pick"),
            ("province", "44"),
            ("city", "4401"),
            ("county", "440106"),
            ("address", "南山大道100号"),
            ("employer_type", "private"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(">深圳市<") && body.contains("南山大道100号"),
        "{body}"
    );
    let nonce = nonce_in(&body);
    let (status, body) = post(
        &p,
        &token(),
        Some(&cookie_from_page(&nonce)),
        &[
            ("nonce", &nonce),
            ("intent", "save"),
            ("province", "44"),
            ("city", "4403"),
            ("county", "440305"),
            ("address", "南山大道100号"),
            ("employer", "某科技公司"),
            ("employer_type", "self_employed"),
            ("phone", ""),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    p.env
        .as_batches_settle("the destination moves to Nanshan", || async {
            p.env.record("m1").await.unwrap()["location"]["region_code"] == "440305"
        })
        .await;
    let rec = p.env.record("m1").await.unwrap();
    assert_eq!(rec["location"]["employer_type"], "self_employed");
    assert_eq!(rec["last_confirmed_on"], "2026-03-01");
    assert_eq!(rec["phone"], PHONE, "an empty phone field keeps the phone");
    p.env.finish().await;
}

/// The cookie a browser holds after the page that carried `nonce`.
fn cookie_from_page(nonce: &str) -> String {
    format!("hy_member_form={nonce}")
}

#[tokio::test]
async fn a_bad_edit_is_shown_again_with_what_to_fix_and_nothing_typed_lost() {
    let p = start().await;
    let q = update_queue(&p.env).await;
    let (_, body, cookie) = get(&p, &token()).await;
    let nonce = nonce_in(&body);
    let (status, body) = post(
        &p,
        &token(),
        cookie.as_deref(),
        &[
            ("nonce", &nonce),
            ("intent", "save"),
            ("province", "44"),
            ("city", "4403"),
            ("county", ""),
            ("address", "南山大道100号"),
            ("employer_type", "private"),
            ("phone", "12345"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body.contains("请依次选择省、市、县（区）") && body.contains("手机号码应为11位"),
        "{body}"
    );
    assert!(body.contains("南山大道100号"), "what was typed stays");
    assert_eq!(p.env.queue_depth(&q).await, 0);
    p.env.finish().await;
}

#[tokio::test]
async fn tampered_expired_and_unknown_links_get_a_clear_refusal() {
    let p = start().await;
    let good = token();
    let tampered = format!("{}x", &good[..good.len() - 1]);
    let (status, body, _) = get(&p, &tampered).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("链接无法使用") && body.contains("联系您所在的党支部"),
        "{body}"
    );
    assert!(
        !body.contains("13900000003"),
        "a forged link names no branch"
    );

    p.env
        .clock
        .set(Utc.with_ymd_and_hms(2026, 4, 16, 0, 0, 0).unwrap());
    let (status, body, _) = get(&p, &good).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("链接已过期") && body.contains("href=\"tel:13900000003\""),
        "{body}"
    );
    assert!(body.contains("b1组织"), "the branch by name: {body}");
    p.env.finish().await;
}

#[tokio::test]
async fn a_post_without_the_right_nonce_is_refused_and_nothing_is_published() {
    let p = start().await;
    let q = update_queue(&p.env).await;
    let (_, body, cookie) = get(&p, &token()).await;
    let nonce = nonce_in(&body);
    // No nonce, no cookie: what another site's form would send.
    let (status, body) = post(&p, &token(), None, &[("intent", "confirm")]).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("请重新打开页面") && body.contains("没有保存"),
        "{body}"
    );
    // The right nonce without the cookie (a cross-site POST cannot send a Strict cookie).
    let (status, _) = post(
        &p,
        &token(),
        None,
        &[("nonce", &nonce), ("intent", "confirm")],
    )
    .await;
    assert_eq!(status, 403);
    // A nonce made for another link.
    let other = link::mint(
        SECRET.as_bytes(),
        &MemberId::parse("m1").unwrap(),
        Month::parse("2026-03").unwrap(),
        Utc.with_ymd_and_hms(2026, 4, 14, 0, 0, 0).unwrap(),
    );
    let (_, other_body, other_cookie) = get(&p, &other).await;
    let other_nonce = nonce_in(&other_body);
    let (status, _) = post(
        &p,
        &token(),
        other_cookie.as_deref(),
        &[("nonce", &other_nonce), ("intent", "confirm")],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(p.env.queue_depth(&q).await, 0, "nothing published");
    assert_eq!(confirmed_on(&p.env).await, "2026-02-10");
    // The page's own form still works afterwards.
    let (status, _) = post(
        &p,
        &token(),
        cookie.as_deref(),
        &[("nonce", &nonce), ("intent", "confirm")],
    )
    .await;
    assert_eq!(status, 200);
    p.env
        .eventually("one update published", || async {
            p.env.queue_depth(&q).await == 1
        })
        .await;
    p.env.finish().await;
}

#[tokio::test]
async fn a_member_home_for_good_tells_the_branch_one_to_one_and_it_goes_into_the_history() {
    let p = start().await;
    let mut requests = p.env.watch("notification.requested").await;
    let (_, body, cookie) = get(&p, &token()).await;
    assert!(body.contains("我已回乡（不再外出）"), "{body}");
    let nonce = nonce_in(&body);
    let (status, body) = post(
        &p,
        &token(),
        cookie.as_deref(),
        &[("nonce", &nonce), ("intent", "home")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("已告诉支部") && body.contains("tel:13900000003"),
        "{body}"
    );

    // The setup's own notices (the departure's) may still be on their way: passed over.
    let req = loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), requests.next())
            .await
            .expect("the branch contact is told")
            .unwrap()
            .unwrap();
        let req: Value = serde_json::from_slice(&msg.data).unwrap();
        if req["data"]["template"] == "reply_forward" {
            break req;
        }
    };
    assert_eq!(
        req["data"]["recipient"]["phone"], "13900000003",
        "b1's contact, one to one"
    );
    assert_eq!(req["data"]["params"]["text"], "我已回乡（不再外出）");
    p.env
        .eventually("the member's history holds what they said", || async {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM history WHERE member_id = 'm1'
                 AND event_type = 'contact.recorded' AND data->>'text' LIKE '我已回乡%'",
            )
            .fetch_one(&p.env.pool)
            .await
            .unwrap();
            n == 1
        })
        .await;
    assert_eq!(
        p.env.record("m1").await.unwrap()["status"],
        "out",
        "the branch registers the return once it has checked"
    );
    p.env.finish().await;
}
