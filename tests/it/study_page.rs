//! The study pack's page (`/s/{pack_id}/{token}`) served by the API's own router against the
//! real registry: what a member sees, "我已学完" recorded once however often it is tapped, the
//! refusals of a tampered, foreign or expired token, and the scheduler's SMS link opening it.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hongyan_adapters::store::keys;
use hongyan_domain::ids::{MemberId, OrgId};
use hongyan_domain::link;
use hongyan_domain::month::Month;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::env::TestEnv;
use crate::fixtures::*;
use crate::pages::{self, nonce_in};

mod browser;
mod sms;

const SECRET: &str = "study-page-test-secret";

pub struct Served {
    pub env: TestEnv,
    pub base: String,
    pub http: reqwest::Client,
    stop: CancellationToken,
}

/// A pack from the county department `c1` for township `t1`'s subtree, one item of each kind.
pub fn pack_event(id: &str) -> Value {
    event(
        "study.published",
        "c1",
        "2026-03-01T08:00:00",
        json!({"pack_id": id, "title": "学习党章第一章<党员>", "summary": "一月一课：党员的义务和权利。",
               "items": [
                   {"kind": "text", "title": "导读", "text": "党员必须履行下列义务：\n认真学习马克思列宁主义。"},
                   {"kind": "image", "title": "入党誓词", "url": "https://img.example/oath.png"},
                   {"kind": "voice", "url": "https://audio.example/ch1.mp3"},
                   {"kind": "video", "title": "微党课", "url": "https://v.example/1?a=1&b=2"},
                   {"kind": "link", "title": "党章全文", "url": "https://www.example.cn/dangzhang"}],
               "audience": {"org_ids": ["t1"]}}),
    )
}

/// The county with `m1` (branch b1) away, pack `p1` stored, the registry running.
pub async fn ledger() -> TestEnv {
    let mut env = TestEnv::new().await;
    env.settings.api.link_secret = Some(SECRET.into());
    publish_ledger(&env).await;
    env.start_registry();
    env.wait_processed(PACK_EVENT).await;
    env
}

/// The events of [`ledger`]; the pack's event id is fixed so the caller can wait for it.
pub async fn publish_ledger(env: &TestEnv) {
    let mut evs = county();
    evs.extend(m1_away("13812345678", None));
    let mut pack = pack_event("p1");
    pack["event_id"] = json!(PACK_EVENT);
    evs.push(pack);
    env.publish_all(&evs).await;
}

pub const PACK_EVENT: &str = "5a7e0c8a-0000-4f7e-9b8e-0c7a1e2b3c4d";

/// The whole API served on `listener` for `env`, until the token is cancelled.
pub fn serve(env: &TestEnv, listener: TcpListener) -> (String, CancellationToken) {
    env.serve_api(listener)
}

pub async fn start() -> Served {
    let env = ledger().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (base, stop) = serve(&env, listener);
    Served {
        env,
        base,
        http: pages::client(),
        stop,
    }
}

impl Served {
    pub async fn finish(self) {
        self.stop.cancel();
        self.env.finish().await;
    }
}

/// `m1`'s token for `pack`, valid until `expires`.
pub fn token(pack: &str, expires: DateTime<Utc>) -> String {
    link::study::mint(
        SECRET.as_bytes(),
        &MemberId::parse("m1").unwrap(),
        &OrgId::parse(pack).unwrap(),
        expires,
    )
}

pub fn expiry() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 15, 1, 0, 0).unwrap()
}

/// A GET's status, body and the form cookie it set.
pub async fn get(s: &Served, path: &str) -> (u16, String, Option<String>) {
    pages::get(&s.http, &format!("{}{path}", s.base)).await
}

async fn post(s: &Served, path: &str, cookie: Option<&str>, nonce: Option<&str>) -> (u16, String) {
    let body = nonce.map(|n| format!("nonce={n}")).unwrap_or_default();
    pages::post(&s.http, &format!("{}{path}", s.base), cookie, body).await
}

/// A queue of the test's own bound to `study.completed`, left unconsumed so its depth says how
/// many completions were published.
async fn completed_queue(env: &TestEnv) -> String {
    env.bind_queue("count.completed", "study.completed").await
}

async fn completion(s: &Served, key: &str) -> Value {
    let resp = s
        .http
        .get(format!("{}/v1/study-packs/p1/completion", s.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn the_members_link_shows_the_pack_and_completing_it_counts_once() {
    let mut s = start().await;
    let (_, key) = keys::create(&s.env.pool, "c1", "test").await.unwrap();
    let q = completed_queue(&s.env).await;
    let path = format!("/s/p1/{}", token("p1", expiry()));
    let (status, body, cookie) = get(&s, &path).await;
    assert_eq!(status, 200, "{body}");
    for shown in [
        "学习党章第一章&lt;党员&gt;",
        "一月一课：党员的义务和权利。",
        "<p>党员必须履行下列义务：</p><p>认真学习马克思列宁主义。</p>",
        "查看图片",
        "收听音频",
        "观看视频",
        "打开链接",
        "href=\"https://v.example/1?a=1&amp;b=2\"",
        "党员m1同志",
        "我已学完",
    ] {
        assert!(body.contains(shown), "{shown}: {body}");
    }
    assert!(!body.contains("<党员>"), "the title is escaped");
    let cookie = cookie.expect("the page sets its form cookie");
    let nonce = nonce_in(&body);
    let (status, body) = post(&s, &path, Some(&cookie), Some(&nonce)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("谢谢，已记录"), "{body}");
    // A double tap: the same form sent again.
    let (status, _) = post(&s, &path, Some(&cookie), Some(&nonce)).await;
    assert_eq!(status, 200);
    s.env
        .eventually("both taps published", || async {
            s.env.queue_depth(&q).await == 2
        })
        .await;
    s.env
        .as_batches_settle("the completion is counted", || async {
            completion(&s, &key).await["completed"] == 1
        })
        .await;
    // Both taps consumed and their batches finished: still one.
    s.env
        .as_batches_settle("the registry took both", || async {
            s.env.queue_depth(&s.env.names.registry()).await == 0
        })
        .await;
    s.env.stop_registry().await;
    let c = completion(&s, &key).await;
    assert_eq!(c["completed"], 1, "{c}");
    assert_eq!(c["by_org"][0]["org_id"], "b1", "{c}");
    assert_eq!(
        s.env
            .scalar_i64("SELECT count(*) FROM study_completions")
            .await,
        1
    );
    let (status, body, _) = get(&s, &path).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("您已于2026年3月1日学完") && !body.contains("type=\"submit\""),
        "{body}"
    );
    s.finish().await;
}

#[tokio::test]
async fn tampered_foreign_and_expired_tokens_are_refused_and_nothing_is_published() {
    let s = start().await;
    let q = completed_queue(&s.env).await;
    let good = token("p1", expiry());
    let tampered = format!("{}x", &good[..good.len() - 1]);
    let member_link = link::mint(
        SECRET.as_bytes(),
        &MemberId::parse("m1").unwrap(),
        Month::parse("2026-03").unwrap(),
        expiry(),
    );
    for (path, status, says) in [
        (format!("/s/p1/{tampered}"), 403, "链接无法使用"),
        (format!("/s/p1/{member_link}"), 403, "链接无法使用"),
        (format!("/m/{good}"), 403, "链接无法使用"),
        (format!("/s/p2/{good}"), 403, "链接无法使用"),
        (
            format!("/s/nope/{}", token("nope", expiry())),
            404,
            "没有找到这期学习资料",
        ),
        ("/s/nope".to_owned(), 404, "没有找到这期学习资料"),
    ] {
        let (got, body, _) = get(&s, &path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(
            body.contains(says) && body.contains("联系您所在的党支部"),
            "{path}: {body}"
        );
        assert!(!body.contains("我已学完"), "{path}");
        assert!(
            !body.contains("13900000003"),
            "{path}: a forged link names no branch"
        );
    }
    // The group card's link: the pack for reading, no button.
    let (got, body, _) = get(&s, "/s/p1").await;
    assert_eq!(got, 200);
    assert!(body.contains("观看视频") && !body.contains("type=\"submit\""));

    // A POST from another site: no nonce, no cookie; then the page's nonce without its cookie.
    let path = format!("/s/p1/{good}");
    let (_, body, _) = get(&s, &path).await;
    let nonce = nonce_in(&body);
    let (got, body) = post(&s, &path, None, None).await;
    assert_eq!(got, 403);
    assert!(body.contains("请重新打开页面"), "{body}");
    let (got, _) = post(&s, &path, None, Some(&nonce)).await;
    assert_eq!(got, 403);
    // The page's nonce and cookie on another token's path.
    let other = format!("/s/p1/{}", token("p1", expiry() - TimeDelta::days(1)));
    let cookie = format!("hy_study_form={nonce}");
    let (got, _) = post(&s, &other, Some(&cookie), Some(&nonce)).await;
    assert_eq!(got, 403);

    s.env.clock.set(expiry() + TimeDelta::seconds(1));
    let (got, body, _) = get(&s, &path).await;
    assert_eq!(got, 403);
    assert!(
        body.contains("链接已过期")
            && body.contains("b1组织")
            && body.contains("href=\"tel:13900000003\""),
        "the branch and its duty phone to call: {body}"
    );
    assert_eq!(s.env.queue_depth(&q).await, 0, "nothing published");
    s.finish().await;
}
