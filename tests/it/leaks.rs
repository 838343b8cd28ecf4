//! No leaks (issue 7): the scenarios that used to leak whole phone numbers, run together while
//! every log line is captured, then every log line, stored reason and `parked list`'s output is
//! scanned for an unmasked mainland mobile number. Zero are allowed.
//!
//! The scenarios: Aliyun's SignatureDoesNotMatch, which echoes the string to sign with the
//! numbers in it; Tencent's per-number error, which names the number in E.164 (`+86…`); a
//! malformed `notification.requested` whose serde error text quotes the phone; events the
//! registry parks with phones in them; and `hongyan parked list` over those (`+86` numbers in
//! the bodies).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use hongyan_domain::Phone;
use hongyan_domain::ids::MemberId;
use hongyan_domain::notify::{NotificationRequest, Recipient, Role};
use serde_json::json;

use crate::env::TestEnv;
use crate::fakes::{self, Script};
use crate::fixtures::*;
use crate::notifier::{Env, checked_in_params, morning, start, use_aliyun, use_tencent};

/// Every log line of this process, as a subscriber at TRACE for hongyan's crates writes it
/// (also read by `spans.rs`).
pub(crate) fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Buffer(buf.clone());
        let filter = tracing_subscriber::EnvFilter::new(
            "info,hongyan_notifier=trace,hongyan_registry=trace,hongyan_adapters=trace,\
             hongyan_domain=trace,hongyan_api=trace,hongyan_scheduler=trace",
        );
        // One subscriber per process: nextest runs each test in its own.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buf
    })
}

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whole mainland mobile numbers in `text`: `(?:\+?86[- ]?)?1[3-9]\d{9}` with no digit before
/// or after, in the text as written and once or twice percent-decoded (a signed query string
/// echoes `%2B86…` and `%252B86…`).
pub fn unmasked_phones(text: &str) -> Vec<String> {
    let once = percent_decoded(text);
    let twice = percent_decoded(&once);
    let mut found = Vec::new();
    for t in [text, once.as_str(), twice.as_str()] {
        found.extend(phones_in(t));
    }
    found.sort();
    found.dedup();
    found
}

/// The maximal runs of digits that are a mobile number, alone or right after `86`: a match of
/// the pattern above, whose optional `+` and `86[- ]` only widen it to the left.
fn phones_in(text: &str) -> Vec<String> {
    let is_mobile = |d: &[u8]| d.len() == 11 && d[0] == b'1' && (b'3'..=b'9').contains(&d[1]);
    let b = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let run = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if run == 0 {
            i += 1;
            continue;
        }
        let d = &b[i..i + run];
        if is_mobile(d) || (d.starts_with(b"86") && is_mobile(&d[2..])) {
            found.push(String::from_utf8_lossy(d).into_owned());
        }
        i += run;
    }
    found
}

fn percent_decoded(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn the_scan_finds_whole_numbers_in_every_form_and_nothing_masked() {
    for leak in [
        "13900001111",
        "tel:+8613900001111.",
        "86-13900001111",
        "PhoneNumbers%3D%252B8613900001111",
        "%2513900001111",
        "a13900001111b",
    ] {
        assert_eq!(unmasked_phones(leak).len(), 1, "{leak}");
    }
    for fine in [
        "139****1111",
        "+86139****1111",
        "522627202600012",
        "1390000111122",
        "12900001111",
    ] {
        assert!(unmasked_phones(fine).is_empty(), "{fine}");
    }
}

fn member_request(event: &str, phone: &str) -> NotificationRequest {
    let recipient = Recipient {
        role: Role::Member,
        name: "王小明".into(),
        phone: Phone::parse(phone).unwrap(),
        channels: vec!["sms".into()],
        member_id: Some(MemberId::parse("m1").unwrap()),
        org_id: None,
    };
    let event = hongyan_domain::ids::EventId::parse(event).unwrap();
    NotificationRequest::new("checked_in_branch", recipient, event, &checked_in_params())
}

/// Every reason `e` stored or announced: attempts' errors, notifications' last errors, the
/// `notification.failed` announcements whole, and the parked messages' reasons.
async fn stored_reasons(e: &Env) -> Vec<String> {
    let pool = &e.env.pool;
    let mut all: Vec<String> =
        sqlx::query_scalar("SELECT coalesce(error, '') FROM delivery_attempts")
            .fetch_all(pool)
            .await
            .unwrap();
    all.extend(
        sqlx::query_scalar::<_, String>("SELECT coalesce(last_error, '') FROM notifications")
            .fetch_all(pool)
            .await
            .unwrap(),
    );
    all.extend(
        e.announced("notification.failed")
            .await
            .iter()
            .map(|v| v.to_string()),
    );
    all.extend(e.env.parked().await.into_iter().map(|p| p.reason));
    all
}

/// Events the registry and the notifier's intake park, with phones where their errors quote
/// what they could not read.
async fn publish_bad_input(env: &TestEnv) {
    // serde quotes the value it could not read: a number where a string belongs.
    let mut req = serde_json::to_value(member_request(
        "7d0c8a8e-5a1e-4f7e-9b8e-00000000000a",
        "13911110003",
    ))
    .unwrap();
    req["key"] = json!(8613911110004_u64);
    req["recipient"]["phone"] = json!(13911110005_u64);
    let envelope = json!({"event_id": id(), "type": "notification.requested", "schema_version": 1,
        "occurred_at": "2026-03-02T10:00:00+08:00", "actor": {"system": "hongyan"}, "data": req});
    env.publish_raw(
        "notification.requested",
        serde_json::to_vec(&envelope).unwrap(),
    )
    .await;
    // A phone that is not a valid one, and one given as a number, to the registry.
    let mut bad_phone = member("m7", "b1", "13911110006");
    bad_phone["data"]["phone"] = json!("+86139111100067");
    let mut number_phone = member("m8", "b1", "13911110008");
    number_phone["data"]["phone"] = json!(8613911110008_u64);
    // A member of an org nobody knows: parked after its looks, its body holds +86 numbers.
    let unknown_org = member("m9", "nowhere", "+8613911110009");
    env.publish_all(&[bad_phone, number_phone, unknown_org])
        .await;
    env.publish_raw(
        "member.upserted",
        b"{\"phone\": \"+8613911110010\", oops".to_vec(),
    )
    .await;
}

/// `hongyan parked list` run by the real binary on this test's names: its stdout and stderr.
async fn parked_list(env: &TestEnv) -> String {
    let out = env
        .hongyan()
        .args(["parked", "list"])
        .output()
        .await
        .expect("hongyan parked list runs");
    assert!(out.status.success(), "{out:?}");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("+86"), "the parked bodies are listed: {text}");
    text
}

#[tokio::test]
async fn no_whole_phone_reaches_a_log_line_a_stored_reason_or_parked_list() {
    let log = log();
    let mut scanned: Vec<(String, String)> = Vec::new();

    // Aliyun, signed with the wrong secret: SignatureDoesNotMatch echoes the string to sign.
    let aliyun = fakes::aliyun::start("test-key-id", "another-secret", morning()).await;
    let url = aliyun.base_url.clone();
    let mut e = start(move |s| use_aliyun(s, url)).await;
    e.env.publish_all(&county()).await;
    e.env.start_registry();
    e.send(&[member_request(
        "7d0c8a8e-5a1e-4f7e-9b8e-000000000001",
        "13911110001",
    )])
    .await;
    publish_bad_input(&e.env).await;
    e.env
        .eventually("the request taken in", || async {
            e.env.scalar_i64("SELECT count(*) FROM notifications").await == 1
        })
        .await;
    e.round().await;
    let parked = e.env.wait_parked(5).await;
    assert!(
        parked.iter().any(|p| p.source_queue.contains("notifier")),
        "the malformed request is parked"
    );
    let reasons = stored_reasons(&e).await;
    assert!(
        reasons.iter().any(|r| r.contains("string to sign")),
        "the scenario ran: {reasons:?}"
    );
    scanned.extend(reasons.into_iter().map(|r| ("aliyun reason".into(), r)));
    scanned.push(("parked list".into(), parked_list(&e.env).await));
    e.finish().await;

    // Tencent names the refused number in E.164.
    let tencent = fakes::tencent::start("tc-id", "tc-key", morning()).await;
    tencent.script(Script::Fail(
        "InvalidParameterValue.IncorrectPhoneNumber".into(),
    ));
    let url = tencent.base_url.clone();
    let e = start(move |s| use_tencent(s, url)).await;
    e.send(&[member_request(
        "7d0c8a8e-5a1e-4f7e-9b8e-000000000002",
        "13911110002",
    )])
    .await;
    e.wait_rows(1).await;
    e.round().await;
    let reasons = stored_reasons(&e).await;
    assert!(
        reasons.iter().any(|r| r.contains("IncorrectPhoneNumber")),
        "the scenario ran: {reasons:?}"
    );
    scanned.extend(reasons.into_iter().map(|r| ("tencent reason".into(), r)));
    e.finish().await;

    let lines = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    assert!(
        lines.contains("SignatureDoesNotMatch") || lines.contains("string to sign"),
        "the logs were captured: {lines}"
    );
    scanned.extend(lines.lines().map(|l| ("log".to_owned(), l.to_owned())));
    let leaks: Vec<String> = scanned
        .iter()
        .filter_map(|(what, text)| {
            let found = unmasked_phones(text);
            (!found.is_empty()).then(|| format!("{what}: {found:?} in {text}"))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "{} whole phone number(s):\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}
