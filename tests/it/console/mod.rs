//! The console (DESIGN.md section 12) as its people use it: a branch secretary signs in with
//! her phone and the SMS code and lands on her 工作台; the rules around sign-in hold against a
//! stranger (another site's POST, a guessed code, an unknown phone).

mod arrival;
mod browser;
mod department;
mod departure;
mod member_actions;
mod signin;

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::browser::{Driver, Screen};
use crate::env::TestEnv;
use crate::fixtures::*;

/// A county with a branch secretary (`b1`) who may sign in, two departures and an arrival, the
/// API served with `api.public_url` its own address; returns the base URL.
pub(crate) async fn console_world(env: &mut TestEnv) -> String {
    env.settings.api.link_secret = Some("console-test-secret".to_owned().into());
    env.start_registry();
    let mut events = county();
    events.push(member("cs1", "b1", "13900008001"));
    events.push(member("cs2", "b1", "13900008002"));
    events.push(member("cs3", "b1", "13900008003"));
    events.push(outbound("cs1", "b1", "2026-03-01T09:00:00", 4, None));
    events.push(outbound("cs2", "b1", "2026-03-01T09:00:00", 4, None));
    env.publish_all(&events).await;
    env.wait_processed(events.last().unwrap()["event_id"].as_str().unwrap())
        .await;
    let (ok, out, err) = env
        .run_hongyan(&[
            "users",
            "create",
            "--org",
            "b1",
            "--name",
            "李书记",
            "--phone",
            "138 0013 8000",
        ])
        .await;
    assert!(ok, "hongyan users create: {out}{err}");
    assert!(out.contains("138****8000"), "{out}");
    // April: the March departures are not confirmed this month.
    env.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 4, 10, 2, 0, 0).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    env.settings.api.public_url = format!("http://{}", listener.local_addr().unwrap());
    let (base, _stop) = env.serve_api(listener);
    base
}

/// The code of the next `login_code` SMS the console asked for, read off the notifier's queue
/// as the notifier would take it (other requests on the queue are passed over).
pub(crate) async fn next_code(sms: &mut lapin::Consumer) -> String {
    loop {
        let d = tokio::time::timeout(Duration::from_secs(10), sms.next())
            .await
            .expect("a login_code notification within 10 s")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&d.data).unwrap();
        if v["data"]["template"] != "login_code" {
            continue;
        }
        let params = &v["data"]["params"];
        return params["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code in {v}"))
            .to_owned();
    }
}

/// Signs in on the sign-in page the browser is at, as `phone`, with the SMS code.
pub(crate) async fn sign_in(b: &Driver, phone: &str, sms: &mut lapin::Consumer) {
    b.fill("手机号码", phone).await;
    b.press("获取验证码").await;
    b.source_with("短信已发出").await;
    b.fill("验证码", &next_code(sms).await).await;
    b.press("登录").await;
    b.source_with("退出").await;
}

/// What every console page must be for a person (JavaScript on, where the page can be asked):
/// every field has a visible label, and nothing scrolls sideways.
pub(crate) async fn page_is_sound(b: &Driver, screen: Screen) {
    if !screen.javascript {
        return;
    }
    let unlabelled = b
        .script(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(f => !f.labels || f.labels.length === 0 || !f.labels[0].textContent.trim())
               .map(f => f.name || f.id)",
        )
        .await;
    assert_eq!(unlabelled, serde_json::json!([]), "fields without a label");
    let sideways = b
        .script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        )
        .await;
    assert!(
        sideways.as_i64().unwrap() <= 0,
        "the page scrolls sideways by {sideways} px at {} px",
        screen.width
    );
}
