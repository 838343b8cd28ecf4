//! Logs carry no message bodies (DESIGN.md section 8): a whole run of the real roles, as
//! separate processes logging at TRACE for everything (the worst an operator can ask for),
//! through registrations, a message the broker returns, provider errors and bad input; then
//! every line of their logs is scanned for whole mainland mobiles, as text and as runs of byte
//! values (how lapin printed a returned message's body). Masked forms are fine.

use std::time::Duration;

use serde_json::json;

use crate::env::{TestEnv, config_dir};
use crate::fakes;
use crate::fixtures::*;
use crate::leaks::unmasked_phones;

const MEMBERS: usize = 5;

/// Whole phones in `line` written as byte values (`[49, 51, 57, ...]` or `49,51,57`): every
/// run of 11 or more small numbers separated by commas, read back as bytes.
fn phones_in_byte_runs(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut run: Vec<u8> = Vec::new();
    let mut flush = |run: &mut Vec<u8>| {
        if run.len() >= 11 {
            found.extend(unmasked_phones(&String::from_utf8_lossy(run)));
        }
        run.clear();
    };
    for token in line.split([',', '[', ']']) {
        match token.trim().parse::<u16>() {
            Ok(n) if n < 256 => run.push(n as u8),
            _ => flush(&mut run),
        }
    }
    flush(&mut run);
    found
}

#[test]
fn the_byte_scan_reads_a_body_printed_as_byte_values() {
    let printed = format!(
        "body: {:?}",
        br#"{"phone":"13911112222"}"#.iter().collect::<Vec<_>>()
    );
    assert_eq!(phones_in_byte_runs(&printed), vec!["13911112222"]);
    assert!(phones_in_byte_runs("[49, 51, 57, 42, 42, 42, 42, 49, 49, 49, 49]").is_empty());
}

/// A role of the real binary on this test's names, logging everything at TRACE, with SMS
/// through the Aliyun fake at `sms_url` (signed with a secret it does not accept).
fn role(env: &TestEnv, name: &str, sms_url: &str) -> tokio::process::Child {
    let mut cmd = env.hongyan();
    cmd.arg(name)
        .env("RUST_LOG", "trace")
        .env("HONGYAN__POLICY__SMS_QUIET_HOURS", "")
        .env("HONGYAN__NOTIFIER__RECEIPTS_LISTEN", "")
        .env(
            "HONGYAN__NOTIFIER__TEMPLATES_DIR",
            config_dir().join("templates"),
        )
        .env("HONGYAN__NOTIFIER__SMS__PROVIDER", "aliyun")
        .env("HONGYAN__NOTIFIER__SMS__ALIYUN__BASE_URL", sms_url)
        .env(
            "HONGYAN__NOTIFIER__SMS__ALIYUN__ACCESS_KEY_ID",
            "test-key-id",
        )
        .env(
            "HONGYAN__NOTIFIER__SMS__ALIYUN__ACCESS_KEY_SECRET",
            "not-the-secret",
        )
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    for t in std::fs::read_dir(config_dir().join("templates")).unwrap() {
        let file = t.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(template) = file.strip_suffix(".toml") {
            cmd.env(
                format!(
                    "HONGYAN__NOTIFIER__SMS__TEMPLATES__{}",
                    template.to_uppercase()
                ),
                "SMS_100001",
            );
        }
    }
    cmd.spawn().expect("hongyan starts")
}

/// SIGTERM, then everything the role wrote to stderr.
async fn stop(child: tokio::process::Child) -> String {
    let pid = child.id().expect("still running").to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let out = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .expect("the role stops within its deadline")
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_whole_run_at_trace_logs_no_whole_phone() {
    let env = TestEnv::new().await;
    let aliyun = fakes::aliyun::start("test-key-id", "the-secret", chrono::Utc::now()).await;

    // A message no queue takes, with a phone in its body: the broker returns it to the relay.
    sqlx::query("INSERT INTO outbox (routing_key, message_id, payload) VALUES ($1, $2, $3)")
        .bind("nobody.listens")
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(json!({"type": "nobody.listens", "data": {"phone": "13911112222"}}))
        .execute(&env.pool)
        .await
        .unwrap();
    let registry = role(&env, "registry", &aliyun.base_url);
    let notifier = role(&env, "notifier", &aliyun.base_url);

    let mut events = county();
    for i in 0..MEMBERS {
        let id = format!("ls{i}");
        events.push(member(&id, "b1", &format!("1391111{:04}", 3000 + i)));
        events.push(outbound(&id, "b1", "2026-03-01T09:00:00", 4, None));
    }
    // Bad input that quotes phones: a phone too long, and one given as a number.
    let mut too_long = member("ls-bad1", "b1", "13911114001");
    too_long["data"]["phone"] = json!("+86139111140017");
    let mut a_number = member("ls-bad2", "b1", "13911114002");
    a_number["data"]["phone"] = json!(8613911114002_u64);
    events.push(too_long);
    events.push(a_number);
    env.publish_all(&events).await;

    let last = events[events.len() - 3]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.wait_processed(&last).await;
    env.wait_parked(2).await;
    env.eventually("the provider refused sends", || async {
        env.scalar_i64("SELECT count(*) FROM delivery_attempts WHERE error IS NOT NULL")
            .await
            >= MEMBERS as i64
    })
    .await;
    env.eventually("the broker returned the outbox row", || async {
        env.scalar_i64("SELECT count(*) FROM outbox WHERE returns > 0")
            .await
            == 1
    })
    .await;

    // The operator sees the returned row, set aside with its reason and next try.
    let (ok, listed, _) = env.run_hongyan(&["parked", "list"]).await;
    assert!(ok, "{listed}");
    assert!(
        listed.contains("outbox row")
            && listed.contains("nobody.listens")
            && listed.contains("next try"),
        "{listed}"
    );
    assert!(unmasked_phones(&listed).is_empty(), "{listed}");

    let logs = format!("{}{}", stop(registry).await, stop(notifier).await);
    assert!(
        logs.contains("TRACE") && logs.contains("set aside"),
        "the roles logged the scenario at TRACE: {}",
        &logs[..logs.len().min(2000)]
    );
    let leaks: Vec<String> = logs
        .lines()
        .filter_map(|line| {
            let mut found = unmasked_phones(line);
            found.extend(phones_in_byte_runs(line));
            (!found.is_empty()).then(|| format!("{found:?} in {}", &line[..line.len().min(400)]))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "{} log line(s) with a whole phone:\n{}",
        leaks.len(),
        leaks[..leaks.len().min(10)].join("\n")
    );
    env.finish().await;
}
