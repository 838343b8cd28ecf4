//! 调度 after `hongyan schedule run quarterly_dispatch`: the report's page shows the figures of
//! the stored JSON report, records a spot check's result, and its XLSX and CSV open with
//! Chinese headers and names.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use serde_json::Value;

use super::{DEPARTMENT_PHONE, department_world, run_schedule, sign_in, table_rows};
use crate::browser::{self, Driver, Screen};
use crate::env::TestEnv;

fn cells(book: &mut Xlsx<Cursor<Vec<u8>>>, sheet: &str) -> Vec<Vec<String>> {
    let range = book.worksheet_range(sheet).unwrap();
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::String(s) => s.clone(),
                    Data::Float(f) => f.to_string(),
                    Data::Int(i) => i.to_string(),
                    Data::Empty => String::new(),
                    other => panic!("unexpected cell {other:?}"),
                })
                .collect()
        })
        .collect()
}

async fn fetch(base: &str, path: &str, cookie: &str) -> (String, Vec<u8>) {
    let res = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("cookie", format!("hy_console={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
    (kind, res.bytes().await.unwrap().to_vec())
}

async fn the_report(screen: Screen, shots: &'static str) {
    let Some((chromium, chromedriver)) = browser::tools(shots) else {
        return;
    };
    let mut env = TestEnv::new().await;
    let base = department_world(&mut env).await;
    run_schedule(&env, "quarterly_dispatch", "2026-10-01T09:30:00+08:00").await;
    let (id, report): (uuid::Uuid, Value) = sqlx::query_as(
        "SELECT id, report::jsonb FROM dispatch_reports WHERE org_id = 'c1' AND quarter = '2026Q3'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let mut sms = env.watch("notification.requested").await;
    let b = Driver::start_as(&chromium, &chromedriver, shots, screen).await;
    sign_in(&b, &base, DEPARTMENT_PHONE, &mut sms).await;
    b.press("调度").await;
    b.source_with("2026年第三季度").await;
    b.screenshot("6_dispatch_list").await;
    b.press("c1组织2026年第三季度调度报告").await;
    let page = b.source_with("各支部情况").await;
    shows_the_figures(&page, &report);
    b.screenshot("7_dispatch_report").await;
    b.scroll_to(".charts", true).await;
    b.screenshot("7b_dispatch_charts").await;

    let checked = spot_check(&b, &page, &report).await;
    let stored: Value =
        sqlx::query_scalar("SELECT report::jsonb FROM dispatch_reports WHERE id = $1")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(stored, report, "the scheduler's report is unchanged");
    let cookie = b.cookie("hy_console").await;
    files_for_people(&base, id, &cookie, &report, &checked).await;
    b.quit().await;
    env.finish().await;
}

/// The report's page shows the JSON report's figures: totals, bars, months, branches.
fn shows_the_figures(page: &str, report: &Value) {
    let t = &report["totals"];
    let figure = |label: &str, n: &Value| {
        format!("<span class=\"n\">{n}</span><span class=\"label\">{label}</span>")
    };
    for (label, n) in [
        ("在外党员", &t["open"]),
        ("本季度外出登记", &t["departures"]),
        ("持流动党员活动证", &t["certificate_holders"]),
        ("未匹配报到", &t["unmatched_arrivals"]),
    ] {
        assert!(page.contains(&figure(label, n)), "{label} {n}: {page}");
    }
    let lost = t["lost_contact"].as_array().unwrap().len();
    assert!(page.contains(&figure("失联", &lost.into())), "失联 {lost}");
    let bar = |label: &str, n: &Value| format!("value=\"{n}\" aria-label=\"{label}\"");
    for (label, n) in [
        ("外出", &t["by_status"]["out"]),
        ("已报到", &t["by_status"]["checked_in"]),
        ("跨省流动", &t["destinations"]["cross_province"]),
        ("省内跨市", &t["destinations"]["in_province_cross_city"]),
        ("市内流动", &t["destinations"]["in_city"]),
        ("民营企业", &t["by_employer_type"]["private"]),
    ] {
        assert!(page.contains(&bar(label, n)), "the {label} bar shows {n}");
    }
    for m in t["monthly_compliance"].as_array().unwrap() {
        let month = m["month"].as_str().unwrap();
        let words = format!("2026年{}月确认率", month[5..].trim_start_matches('0'));
        assert!(page.contains(&bar(&words, &m["confirmed"])), "{words}: {m}");
    }
    let rows = table_rows(page);
    for branch in report["branches"].as_array().unwrap() {
        let name = branch["name"].as_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no row for {name}: {rows:?}"));
        assert_eq!(row[1], branch["figures"]["open"].to_string(), "{name}");
    }
}

/// The spot check by name, and a result recorded for the first drawn: returns their name.
async fn spot_check(b: &Driver, page: &str, report: &Value) -> String {
    let drawn: Vec<String> = report["spot_check"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["member_ids"].as_array().unwrap().clone())
        .map(|m| format!("党员{}", m.as_str().unwrap()))
        .collect();
    assert_eq!(drawn.len(), 2, "one per branch: {report}");
    for name in &drawn {
        assert!(page.contains(name), "the spot check names {name}");
    }
    let first = &drawn[0];
    b.choose(&format!("{first}的抽查结果"), "未联系上").await;
    b.fill(&format!("{first}的备注"), "电话停机").await;
    b.press(&format!("记录{first}的结果")).await;
    let after = b.source_with("抽查结果：").await;
    assert!(after.contains("未联系上") && after.contains("电话停机"));
    assert!(after.contains("王部长记录于"), "who recorded it");
    b.scroll_to("#spot", true).await;
    b.screenshot("8_dispatch_spot").await;
    first.clone()
}

/// The XLSX and CSV: Chinese headers, names, the recorded result, a BOM on the CSV.
async fn files_for_people(base: &str, id: uuid::Uuid, cookie: &str, report: &Value, checked: &str) {
    let (kind, xlsx) = fetch(base, &format!("/console/dispatch/{id}/file/xlsx"), cookie).await;
    assert!(kind.contains("spreadsheetml"), "{kind}");
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(xlsx)).unwrap();
    let sheet = cells(&mut book, "调度报告");
    assert!(sheet[0][0].contains("c1组织") && sheet[0][0].contains("2026年第三季度"));
    assert_eq!(&sheet[1][..3], ["组织名称", "在外党员", "外出"]);
    assert!(sheet[1].iter().any(|h| h == "抽查对象"));
    let b1 = sheet.iter().find(|r| r[0] == "b1组织").expect("b1's row");
    let b1_json = report["branches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "b1组织")
        .unwrap();
    assert_eq!(b1[1], b1_json["figures"]["open"].to_string());
    assert_eq!(sheet.last().unwrap()[0], "合计");
    assert_eq!(
        sheet.last().unwrap()[1],
        report["totals"]["open"].to_string()
    );
    let spot = cells(&mut book, "抽查名单");
    assert!(
        spot.iter()
            .any(|r| r[1] == checked && r[2] == "未联系上" && r[3] == "电话停机"),
        "{spot:?}"
    );
    let (kind, csv) = fetch(base, &format!("/console/dispatch/{id}/file/csv"), cookie).await;
    assert!(kind.starts_with("text/csv"));
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("\u{feff}组织名称,在外党员,外出,"), "{csv}");
    assert!(
        csv.contains("\nb1组织,") && csv.contains("\n合计,"),
        "{csv}"
    );
    assert!(
        !csv.contains(",b1,") && !csv.contains("\nb1,"),
        "names, not ids: {csv}"
    );
}

#[tokio::test]
async fn the_dispatch_report_on_a_phone() {
    the_report(Screen::PHONE_390, "console-department/phone").await;
}

#[tokio::test]
async fn the_dispatch_report_at_a_desktop() {
    the_report(Screen::DESKTOP, "console-department/desktop").await;
}
