//! A send that timed out (DESIGN.md section 5): the gateway took the SMS but answered after
//! the notifier's send timeout. Before sending again, the notifier asks the provider (Aliyun
//! `QuerySendDetails`, Tencent `PullSmsSendStatusByPhoneNumber`); whether or not receipts are
//! configured, each phone gets one SMS. The clock is set, never slept on: the receipt wait is
//! 0 and the first retry delay (10 s) is stepped over.

use std::collections::HashMap;

use super::*;
use crate::fakes::{Fake, tencent};

const PHONES: [&str; 3] = ["13911110001", "13911110002", "13911110003"];
const EVENTS: [&str; 3] = [EV1, EV2, EV3];
/// How long after a send the fakes post its receipt, in the tests where it comes after the
/// question: long enough that a loaded machine still asks first.
const RECEIPT_LAG: Duration = Duration::from_secs(8);
/// `notifier.receipts_token` for the tests that take receipts.
const TOKEN: &str = "t1med-0ut-r3c31pt-t0ken";

/// Answers 1 s after taking the SMS: past the notifier's 300 ms send timeout.
fn late() -> Script {
    Script::Late(Duration::from_secs(1))
}

fn timing(s: &mut hongyan_adapters::Settings) {
    s.notifier.send_timeout_ms = 300;
    s.notifier.receipt_wait_secs = 0;
    s.notifier.retry_delays_secs = vec![10, 60, 600];
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The receipts endpoint of `e`, served, listening on `port`.
async fn serve_receipts(e: &Env, port: u16) {
    tokio::spawn(hongyan_notifier::receipts::serve(
        e.n.clone(),
        e.stop.clone(),
    ));
    let url = format!("http://127.0.0.1:{port}/");
    e.env
        .eventually("the receipts endpoint listens", || async {
            reqwest::get(&url).await.is_ok()
        })
        .await;
}

fn with_receipts(s: &mut hongyan_adapters::Settings, port: u16) {
    s.notifier.receipts_listen = format!("127.0.0.1:{port}");
    s.notifier.receipts_token = Some(TOKEN.into());
}

/// Sends one notification to each of `PHONES`, lets every send time out, then steps past the
/// retry delay for the round that must ask rather than send.
async fn time_out_then_ask(e: &Env) {
    let reqs: Vec<_> = EVENTS
        .iter()
        .zip(PHONES)
        .map(|(ev, phone)| request(ev, phone, &["sms"]))
        .collect();
    e.send(&reqs).await;
    e.wait_rows(3).await;
    assert_eq!(e.round().await, 3);
    let timed_out = e.attempts().await;
    assert!(
        timed_out
            .iter()
            .all(|a| a.2 == "retry" && a.3.as_deref() == Some("timeout")),
        "{timed_out:?}"
    );
    e.env.clock.set(morning() + chrono::Duration::seconds(10));
    assert_eq!(
        e.round().await,
        3,
        "each is taken up again, to be asked about"
    );
}

/// How many SMS each phone got at the gateway, by the phone as the provider writes it.
fn per_phone(fake: &Fake, phone_of: impl Fn(&crate::fakes::Seen) -> String) -> Vec<usize> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for sent in fake.sends() {
        *counts.entry(phone_of(&sent)).or_default() += 1;
    }
    let mut counts: Vec<usize> = counts.into_values().collect();
    counts.sort();
    counts
}

fn aliyun_phone(s: &crate::fakes::Seen) -> String {
    fakes::aliyun::params(s)["PhoneNumbers"].clone()
}

fn tencent_phone(s: &crate::fakes::Seen) -> String {
    s.json()["PhoneNumberSet"][0].as_str().unwrap().to_owned()
}

/// After the ask: one SMS per phone, every notification delivered and announced once, its
/// attempts the timeout and the provider's "found", and nothing left to send.
async fn one_sms_each(e: &Env, fake: &Fake, phone_of: impl Fn(&crate::fakes::Seen) -> String) {
    assert_eq!(per_phone(fake, phone_of), [1, 1, 1], "one SMS per phone");
    assert!(
        fake.seen().iter().all(|s| s.signature_ok),
        "sends and queries signed"
    );
    assert_eq!(
        fake.queries().len(),
        3,
        "each timed-out send asked about once"
    );
    let statuses: Vec<String> = e.status().await.into_iter().map(|s| s.0).collect();
    assert_eq!(statuses, ["delivered"; 3]);
    let kinds: Vec<String> = e.attempts().await.into_iter().map(|a| a.2).collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "found").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(e.announced("notification.delivered").await.len(), 3);
    e.env.clock.set(morning() + chrono::Duration::hours(2));
    assert_eq!(e.round().await, 0, "nothing left to send");
    assert_eq!(fake.sends().len(), 3);
}

#[tokio::test]
async fn aliyun_a_late_answer_without_receipts_sends_one_sms_per_phone() {
    let fake = fakes::aliyun::start("test-key-id", "test-secret", morning()).await;
    fake.script(late());
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_aliyun(s, url);
        timing(s);
    })
    .await;
    time_out_then_ask(&e).await;
    one_sms_each(&e, &fake, aliyun_phone).await;
    // The question named the phone and the send's date in Beijing, and paged.
    let asked = fakes::aliyun::params(&fake.queries()[0]);
    assert!(PHONES.contains(&asked["PhoneNumber"].as_str()), "{asked:?}");
    assert_eq!(
        (
            asked["SendDate"].as_str(),
            asked["PageSize"].as_str(),
            asked["CurrentPage"].as_str()
        ),
        ("20260302", "50", "1")
    );
    e.finish().await;
}

#[tokio::test]
async fn aliyun_a_late_answer_with_receipts_sends_one_sms_and_the_receipt_still_lands() {
    let port = free_port();
    let receipts = format!("http://127.0.0.1:{port}/v1/receipts/{TOKEN}/aliyun");
    // The receipts come after the question is answered: the provider's lag.
    let fake = fakes::aliyun::start_with_receipts(
        "test-key-id",
        "test-secret",
        morning(),
        Some((receipts, RECEIPT_LAG)),
    )
    .await;
    fake.script(late());
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_aliyun(s, url);
        timing(s);
        with_receipts(s, port);
    })
    .await;
    serve_receipts(&e, port).await;
    time_out_then_ask(&e).await;
    one_sms_each(&e, &fake, aliyun_phone).await;
    e.env
        .eventually("the receipts recorded, matched by OutId", || async {
            e.env
                .scalar_i64("SELECT count(*) FROM notifications WHERE status = 'delivered' AND receipt LIKE 'delivered DELIVERED%'")
                .await
                == 3
        })
        .await;
    e.finish().await;
}

/// A receipt that comes before the question settles the send by itself: nothing is asked,
/// nothing sent again. (This held before the question existed; it guards the order.)
#[tokio::test]
async fn a_receipt_that_arrives_first_settles_the_send_without_a_question() {
    let port = free_port();
    let receipts = format!("http://127.0.0.1:{port}/v1/receipts/{TOKEN}/aliyun");
    let fake = fakes::aliyun::start_with_receipts(
        "test-key-id",
        "test-secret",
        morning(),
        Some((receipts, Duration::ZERO)),
    )
    .await;
    fake.script(late());
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_aliyun(s, url);
        timing(s);
        with_receipts(s, port);
    })
    .await;
    serve_receipts(&e, port).await;
    e.send(&[request(EV1, PHONES[0], &["sms"])]).await;
    e.wait_rows(1).await;
    e.round().await;
    e.env
        .eventually("the receipt recorded", || async {
            e.status().await[0].0 == "delivered"
        })
        .await;
    e.env.clock.set(morning() + chrono::Duration::seconds(10));
    assert_eq!(e.round().await, 0, "nothing left to ask about or send");
    assert_eq!((fake.sends().len(), fake.queries().len()), (1, 0));
    e.finish().await;
}

async fn tencent_case(options: tencent::Options, port: Option<u16>) -> (Env, Fake) {
    let fake = tencent::start_with("tc-id", "tc-key", morning(), options).await;
    fake.script(late());
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_tencent(s, url);
        timing(s);
        if let Some(port) = port {
            with_receipts(s, port);
        }
    })
    .await;
    if let Some(port) = port {
        serve_receipts(&e, port).await;
    }
    time_out_then_ask(&e).await;
    one_sms_each(&e, &fake, tencent_phone).await;
    (e, fake)
}

/// The serial numbers the provider's rows gave, recorded so a receipt matches them.
async fn serials_recorded(e: &Env) -> i64 {
    e.env
        .scalar_i64("SELECT count(*) FROM notifications WHERE provider = 'tencent' AND provider_message_id LIKE '2106:%'")
        .await
}

#[tokio::test]
async fn tencent_a_late_answer_with_session_context_sends_one_sms_per_phone() {
    let options = tencent::Options {
        session_context: true,
        receipts_to: None,
    };
    let (e, fake) = tencent_case(options, None).await;
    let asked = fake.queries()[0].json();
    assert_eq!(asked["Offset"], 0);
    assert_eq!(
        asked["BeginTime"],
        morning().timestamp(),
        "from the minute of the send"
    );
    assert_eq!(serials_recorded(&e).await, 3);
    e.finish().await;
}

#[tokio::test]
async fn tencent_a_late_answer_without_session_context_is_matched_by_phone_and_minute() {
    let (e, _fake) = tencent_case(tencent::Options::default(), None).await;
    assert_eq!(serials_recorded(&e).await, 3);
    e.finish().await;
}

#[tokio::test]
async fn tencent_a_late_answer_with_receipts_sends_one_sms_and_the_receipt_still_lands() {
    let port = free_port();
    let options = tencent::Options {
        session_context: true,
        receipts_to: Some((
            format!("http://127.0.0.1:{port}/v1/receipts/{TOKEN}/tencent"),
            RECEIPT_LAG,
        )),
    };
    let (e, _fake) = tencent_case(options, Some(port)).await;
    // Tencent's receipt names only the serial number, which the timed-out send never
    // returned: the row the question found gave it.
    e.env
        .eventually("the receipts recorded, matched by serial number", || async {
            e.env
                .scalar_i64("SELECT count(*) FROM notifications WHERE receipt LIKE 'delivered DELIVRD%'")
                .await
                == 3
        })
        .await;
    e.finish().await;
}

/// One SMS to the first phone through Aliyun, whose gateway answers `isp.SYSTEM_ERROR`
/// without taking it: a send that may have gone out, as far as the notifier can tell.
async fn aliyun_uncertain_untaken() -> (Env, Fake) {
    let fake = fakes::aliyun::start("test-key-id", "test-secret", morning()).await;
    fake.script(Script::Fail("isp.SYSTEM_ERROR".into()));
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_aliyun(s, url);
        timing(s);
    })
    .await;
    e.send(&[request(EV1, PHONES[0], &["sms"])]).await;
    e.wait_rows(1).await;
    e.round().await;
    fake.script(Script::Succeed);
    (e, fake)
}

#[tokio::test]
async fn a_query_that_finds_nothing_leads_to_exactly_one_resend() {
    let (e, fake) = aliyun_uncertain_untaken().await;
    e.env.clock.set(morning() + chrono::Duration::seconds(10));
    assert_eq!(e.round().await, 1);
    assert_eq!(fake.queries().len(), 1, "asked before sending again");
    assert_eq!(fake.sends().len(), 2, "the refused send and one resend");
    let order: Vec<String> = fake
        .seen()
        .iter()
        .map(|s| fakes::aliyun::params(s)["Action"].clone())
        .collect();
    assert_eq!(order, ["SendSms", "QuerySendDetails", "SendSms"]);
    assert_eq!(e.status().await[0].0, "delivered");
    e.env.clock.set(morning() + chrono::Duration::hours(2));
    assert_eq!(e.round().await, 0);
    assert_eq!(fake.sends().len(), 2);
    e.finish().await;
}

#[tokio::test]
async fn a_query_that_fails_transiently_sends_nothing_until_it_answers() {
    let (e, fake) = aliyun_uncertain_untaken().await;
    let mut at = morning();
    // A system error, a throttled question, a question left hanging past the timeout.
    for answer in [
        Script::Fail("isp.SYSTEM_ERROR".into()),
        Script::Fail("Throttling.User".into()),
        Script::Hang,
    ] {
        fake.script_queries(answer);
        at += chrono::Duration::seconds(10);
        e.env.clock.set(at);
        assert_eq!(e.round().await, 1, "taken up to be asked about");
        assert_eq!(
            fake.sends().len(),
            1,
            "nothing sent while the provider does not say"
        );
        assert_eq!(e.round().await, 0, "asked again only after a wait");
    }
    assert_eq!(fake.queries().len(), 3);
    let (status, attempts, _) = e.status().await.remove(0);
    assert_eq!(
        (status.as_str(), attempts),
        ("pending", 1),
        "questions are not attempts"
    );
    fake.script_queries(Script::Succeed);
    e.env.clock.set(at + chrono::Duration::seconds(10));
    assert_eq!(e.round().await, 1);
    assert_eq!(
        fake.sends().len(),
        2,
        "sent once the provider says it has none"
    );
    assert_eq!(e.status().await[0].0, "delivered");
    e.finish().await;
}

/// The notifier dies mid-send (its round dropped as a `kill -9` would stop it): the gateway
/// took the SMS, nothing was recorded. Once the claim and the receipt wait run out, the
/// provider is asked and nothing goes out twice.
#[tokio::test]
async fn a_send_in_flight_when_the_notifier_died_is_asked_about_not_sent_again() {
    let fake = fakes::aliyun::start("test-key-id", "test-secret", morning()).await;
    fake.script(Script::Hang);
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_aliyun(s, url);
        s.notifier.claim_secs = 60;
        s.notifier.receipt_wait_secs = 120;
    })
    .await;
    e.send(&[request(EV1, PHONES[0], &["sms"])]).await;
    e.wait_rows(1).await;
    let n = e.n.clone();
    let dying = tokio::spawn(async move { deliver::round(&n).await });
    e.env
        .eventually("the SMS reached the gateway", || async {
            fake.sends().len() == 1
        })
        .await;
    dying.abort();
    assert!(dying.await.unwrap_err().is_cancelled());
    fake.script(Script::Succeed);
    assert_eq!(e.status().await[0].0, "sending", "nothing recorded");

    e.env.clock.set(morning() + chrono::Duration::seconds(61));
    assert_eq!(e.round().await, 1, "the claim ran out");
    assert_eq!(
        fake.seen().len(),
        1,
        "not sent again, not asked yet: the receipt wait"
    );
    e.env
        .clock
        .set(morning() + chrono::Duration::seconds(61 + 120));
    assert_eq!(e.round().await, 1);
    assert_eq!(fake.sends().len(), 1, "one SMS");
    assert_eq!(fake.queries().len(), 1, "asked");
    assert_eq!(e.status().await[0].0, "delivered");
    assert_eq!(
        e.attempts().await,
        [("sms".into(), "aliyun".into(), "found".into(), None)]
    );
    e.finish().await;
}
