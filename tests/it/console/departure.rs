//! 外出登记 as a branch secretary does it on her phone: the form's own checks in Chinese, the
//! place picked province → city → county, the registry's answer (the 活动证编号) on the
//! member's page, and the printable 《流动党员活动证》.

use futures::StreamExt;

use crate::browser::{self, Driver, Screen};
use crate::env::TestEnv;

use super::{console_world, next_code, page_is_sound};

#[tokio::test]
async fn a_secretary_registers_a_departure_and_prints_the_certificate() {
    let shots = "console_departure";
    let Some((chromium, chromedriver)) = browser::tools(shots) else {
        return;
    };
    let mut env = TestEnv::new().await;
    let base = console_world(&mut env).await;
    let mut sms = env.watch("notification.requested").await;
    let b = Driver::start_as(&chromium, &chromedriver, shots, Screen::PHONE_390).await;
    b.open(&format!("{base}/console/outbound")).await;
    b.fill("手机号码", "13800138000").await;
    b.press("获取验证码").await;
    b.source_with("短信已发出").await;
    b.fill("验证码", &next_code(&mut sms).await).await;
    b.press("登录").await;
    // Signed in, the link followed opens: the form.
    b.source_with("登记外出").await;
    b.screenshot("1_form").await;
    page_is_sound(&b, Screen::PHONE_390).await;

    // Sent empty: each field says what it needs.
    b.press("登记外出").await;
    let page = b.source_with("请选择外出的党员").await;
    for said in [
        "请填写外出日期",
        "请选择外出原因",
        "预计外出月数请填",
        "请依次选择省、市、县",
        "请填写详细地址",
    ] {
        assert!(page.contains(said), "the form says {said:?}");
    }
    b.screenshot("2_problems").await;

    b.choose("党员", "党员cs3").await;
    b.fill("外出日期", "2026-04-12").await;
    b.choose("外出原因", "务工").await;
    b.fill("预计外出月数", "4").await;
    b.choose("省", "广东省").await;
    b.press("列出下一级").await;
    b.source_with("广州市").await;
    b.choose("市", "广州市").await;
    b.press("列出下一级").await;
    b.source_with("天河区").await;
    b.choose("县", "天河区").await;
    // The county chosen, its stations and party organizations are listed: the member will
    // report to station gz-s2 (the nearest to the county is gz-s1).
    b.press("列出下一级").await;
    b.source_with("gz-s2组织").await;
    b.choose("报到地点（服务站或流入地党组织）", "gz-s2组织")
        .await;
    b.fill("详细地址", "天河路2号").await;
    b.screenshot("3_filled").await;
    page_is_sound(&b, Screen::PHONE_390).await;
    b.press("登记外出").await;

    // The registry applies it; the member's page shows the number (reloading until then).
    let done = b.source_with("流动党员活动证编号").await;
    assert!(
        done.contains("522636202600003"),
        "the county's third certificate: {done}"
    );
    assert!(
        done.contains("李书记"),
        "the timeline names who registered it"
    );
    assert!(
        done.contains("流入地党组织") && done.contains("gz-s2组织"),
        "the record names where the member will report: {done}"
    );
    b.screenshot("4_result").await;
    let record = env
        .record("cs3")
        .await
        .expect("the departure is in the ledger");
    assert_eq!(record["status"], "out");
    assert_eq!(record["location"]["region_code"], "440106");

    b.press("打印活动证").await;
    let cert = b.source_with("流动党员活动证").await;
    for part in [
        "党员cs3",
        "522636202600003",
        "2026年4月12日",
        "广东省广州市天河区",
        "天河路2号",
    ] {
        assert!(cert.contains(part), "the certificate shows {part}");
    }
    b.screenshot("5_certificate").await;

    // The station is told to expect the member, one to one; the member is told of the station.
    let (mut to_station, mut to_member) = (None, None);
    while to_station.is_none() || to_member.is_none() {
        let d = tokio::time::timeout(std::time::Duration::from_secs(30), sms.next())
            .await
            .expect("the departure's notices within 30 s")
            .unwrap()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&d.data).unwrap();
        match v["data"]["template"].as_str() {
            Some("outbound_inflow") => to_station = Some(v["data"].clone()),
            Some("outbound_member") => to_member = Some(v["data"].clone()),
            _ => {}
        }
    }
    let to_station = to_station.unwrap();
    assert_eq!(
        to_station["recipient"]["phone"], "13900000009",
        "gz-s2's contact"
    );
    assert_eq!(to_station["recipient"]["org_id"], "gz-s2");
    assert_eq!(to_station["params"]["member_name"], "党员cs3");
    assert_eq!(to_member.unwrap()["params"]["station_name"], "gz-s2组织");
    b.quit().await;
    env.finish().await;
}
