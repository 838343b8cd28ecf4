//! The county's view of the console (issue 18), as a county organization department's staff
//! use it in headless Chromium: 工作台's lists and 分布 against the ledger, 调度 after the
//! quarterly dispatch, 学习 from composing to completion, 消息 and a replay, 用户.
//! Screenshots go to `target/screenshots/console-department/`.

mod dispatch;
mod home;
mod messages;
mod study;
mod users;

use serde_json::{Value, json};

use crate::browser::Driver;
use crate::env::TestEnv;
use crate::fixtures::*;

use std::time::Duration;

use futures::StreamExt;

/// The department's staff member who signs in.
pub(crate) const DEPARTMENT_PHONE: &str = "13800138001";
/// The secretary of branch b1.
pub(crate) const BRANCH_PHONE: &str = "13800138002";

/// Where a member went: (member, branch, left on, region, employer).
pub(crate) const AWAY: [(&str, &str, &str, &str, Option<&str>); 7] = [
    ("k1", "b1", "2026-10-02", "440106001", Some("天河软件公司")),
    ("k2", "b1", "2026-09-05", "440305", None),
    ("k3", "b1", "2026-06-03", "310101", None),
    ("k4", "b1", "2026-03-20", "440106002", Some("某建筑公司")),
    ("k5", "b1", "2026-03-20", "110101", None),
    ("k6", "b2", "2026-10-05", "522601", None),
    ("k7", "b2", "2026-08-01", "330106", Some("某商贸公司")),
];

/// A departure to `region`, on `on`, with or without an employer.
fn departure(member: &str, home: &str, on: &str, region: &str, employer: Option<&str>) -> Value {
    let kind = if employer.is_some() {
        "private"
    } else {
        "other"
    };
    event(
        "registration.outbound",
        home,
        &format!("{on}T09:00:00"),
        json!({"member_id": member, "left_on": on, "reason": "work", "expected_months": 12,
               "destination": {"region_code": region, "address": "某路1号", "employer": employer,
                               "employer_type": kind}}),
    )
}

fn contact(member: &str, home: &str, kind: &str, on: &str) -> Value {
    event(
        "contact.recorded",
        home,
        &format!("{on}T10:00:00"),
        json!({"member_id": member, "kind": kind, "on": on, "by": "结对委员"}),
    )
}

/// County c1 (t1 → b1, b2) on 10 October 2026, 10:00 in Shanghai, with seven members away
/// (`AWAY`), one at home (k8), a talk for k3 this quarter and a family visit for k5 this half
/// year; the monthly review of 1 October has run. k1, k4 and k7 have employers and expect 12
/// months away: each branch was asked to transfer them (应转尽转) at their departure. A department user
/// (`DEPARTMENT_PHONE`, 王部长) and b1's secretary (`BRANCH_PHONE`, 李书记) may sign in. The
/// API is served with `api.public_url` its own address; returns the base URL.
pub(crate) async fn department_world(env: &mut TestEnv) -> String {
    env.settings.api.link_secret = Some("console-test-secret".to_owned().into());
    // The day the console is used; the events below are dated before it.
    env.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 10, 10, 2, 0, 0).unwrap());
    env.start_registry();
    let mut events = county();
    for (i, (m, home, ..)) in AWAY.iter().enumerate() {
        events.push(member(m, home, &format!("1390000810{i}")));
    }
    events.push(member("k8", "b2", "13900008108"));
    for (m, home, on, region, employer) in AWAY {
        events.push(departure(m, home, on, region, employer));
    }
    events.push(contact("k3", "b1", "talk", "2026-10-03"));
    events.push(contact("k5", "b1", "family_visit", "2026-08-15"));
    env.publish_all(&events).await;
    env.wait_processed(&evt_id(events.last().unwrap())).await;
    for (org, name, phone) in [
        ("c1", "王部长", DEPARTMENT_PHONE),
        ("b1", "李书记", BRANCH_PHONE),
    ] {
        let (ok, out, err) = env
            .run_hongyan(&[
                "users", "create", "--org", org, "--name", name, "--phone", phone,
            ])
            .await;
        assert!(ok, "hongyan users create: {out}{err}");
    }
    run_schedule(env, "monthly_review", "2026-10-01T08:00:00+08:00").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    env.settings.api.public_url = format!("http://{}", listener.local_addr().unwrap());
    let (base, _stop) = env.serve_api(listener);
    base
}

/// `hongyan schedule run NAME --at AT` on the test's names.
pub(crate) async fn run_schedule(env: &TestEnv, name: &str, at: &str) {
    let (ok, out, err) = env
        .run_hongyan(&["schedule", "run", name, "--at", at])
        .await;
    assert!(
        ok && out.contains("fired"),
        "hongyan schedule run {name}: {out}{err}"
    );
}

/// Signs in at `base` with `phone` and the code the console sends; lands on the 工作台.
pub(crate) async fn sign_in(b: &Driver, base: &str, phone: &str, sms: &mut lapin::Consumer) {
    b.open(&format!("{base}/console/")).await;
    b.source_with("获取验证码").await;
    b.fill("手机号码", phone).await;
    b.press("获取验证码").await;
    b.source_with("短信已发出").await;
    b.fill("验证码", &login_code(sms).await).await;
    b.press("登录").await;
    b.source_with("本月未确认").await;
}

/// The code of the next `login_code` request on the watched queue, passing over the other
/// requests that share it (the review's lists, the world's notices) as the notifier would.
pub(crate) async fn login_code(sms: &mut lapin::Consumer) -> String {
    loop {
        let d = tokio::time::timeout(Duration::from_secs(10), sms.next())
            .await
            .expect("a login_code notification within 10 s")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&d.data).unwrap();
        if v["data"]["template"] == "login_code" {
            return v["data"]["params"]["code"].as_str().unwrap().to_owned();
        }
    }
}

/// The rows of every table of a page: each row's cells as text (tags stripped).
pub(crate) fn table_rows(page: &str) -> Vec<Vec<String>> {
    page.split("<tbody")
        .skip(1)
        .map(|body| body.split("</tbody>").next().unwrap_or(""))
        .flat_map(|body| body.split("<tr").skip(1))
        .map(|row| {
            row.split("<t")
                .skip(1)
                .filter(|c| c.starts_with('d') || c.starts_with('h'))
                .map(|c| text(c.split_once('>').map_or("", |(_, rest)| rest)))
                .collect()
        })
        .collect()
}

/// Text with tags stripped and entities of the pages decoded.
pub(crate) fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&").trim().to_owned()
}
