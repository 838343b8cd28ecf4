//! The ledger export (DESIGN.md section 3, section 7's `GET /v1/orgs/{id}/ledger`) through a
//! real HTTP server: CSV, XLSX (read back with calamine) and JSON, branch and subtree scope,
//! and phone masking for each kind of viewer: the home branch, an ancestor department, and an
//! org with no right to the phones.

use std::io::Cursor;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use calamine::{Data, Reader, Xlsx};
use hongyan_api::ledger::{self, HEADERS, LedgerFormat, LedgerScope};
use hongyan_api::state::AppState;
use serde::Deserialize;
use serde_json::Value;

use crate::env::TestEnv;
use crate::fixtures::*;

const M1_PHONE: &str = "13911110001";
const M2_PHONE: &str = "13911110002";

struct Served {
    env: TestEnv,
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Params {
    viewer: String,
    scope: LedgerScope,
    format: LedgerFormat,
}

/// The test's stand-in for the API's route: the viewer comes from the query, not a key.
async fn route(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    ledger::export(&state, &p.viewer, &org, p.scope, p.format).await
}

/// The county of the fixtures with `m1` (branch b1) and `m2` (branch b2) away in Guangzhou.
async fn start() -> Served {
    start_with(Vec::new()).await
}

/// [`start`] with `more` events after the county's.
async fn start_with(more: Vec<Value>) -> Served {
    let mut env = TestEnv::new().await;
    let mut evs = county();
    evs.extend(m1_away(M1_PHONE, Some("某制衣厂")));
    evs.push(member("m2", "b2", M2_PHONE));
    let mut m2 = outbound("m2", "b2", "2026-02-11T09:00:00", 24, Some("某电子厂"));
    m2["data"]["inflow_contact"] = serde_json::json!({"name": "王书记", "phone": "13700000007"});
    evs.push(m2);
    evs.extend(more);
    env.publish_all(&evs).await;
    env.start_registry();
    for e in &evs {
        env.wait_processed(&evt_id(e)).await;
    }
    let app = axum::Router::new()
        .route("/ledger/{org}", axum::routing::get(route))
        .with_state(env.app_state());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Served {
        env,
        base,
        http: reqwest::Client::new(),
    }
}

impl Served {
    async fn get(&self, org: &str, viewer: &str, scope: &str, format: &str) -> reqwest::Response {
        self.http
            .get(format!(
                "{}/ledger/{org}?viewer={viewer}&scope={scope}&format={format}",
                self.base
            ))
            .send()
            .await
            .unwrap()
    }

    /// The CSV's rows under its header, keyed by 姓名.
    async fn csv(&self, org: &str, viewer: &str, scope: &str) -> Vec<Vec<String>> {
        let res = self.get(org, viewer, scope, "csv").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
        let disposition = res.headers()["content-disposition"].to_str().unwrap();
        assert!(
            disposition.starts_with(&format!(
                "attachment; filename=\"ledger-{org}-2026-03-01.csv\"; filename*=UTF-8''%E5%8F%B0%E8%B4%A6-"
            )),
            "{disposition}"
        );
        let bytes = res.bytes().await.unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert!(text.contains("\r\n"), "RFC 4180 line ends");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(headers, HEADERS);
        reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect()
    }

    /// The XLSX's sheet 台账 as text, title and header rows included.
    async fn xlsx(&self, org: &str, viewer: &str, scope: &str) -> Vec<Vec<String>> {
        let res = self.get(org, viewer, scope, "xlsx").await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        let bytes = res.bytes().await.unwrap().to_vec();
        let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
        let sheet = book.worksheet_range("台账").unwrap();
        sheet
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
}

fn col(name: &str) -> usize {
    HEADERS.iter().position(|h| *h == name).unwrap()
}

fn row_of<'a>(rows: &'a [Vec<String>], name: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no row for {name} in {rows:?}"))
}

#[tokio::test]
async fn csv_subtree_shows_words_and_masks_phones_of_other_branches() {
    let s = start().await;
    // b1 reads its township's ledger: its own member in full, b2's masked.
    let rows = s.csv("t1", "b1", "subtree").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let m1 = row_of(&rows, "党员m1");
    assert_eq!(m1[col("手机号码")], M1_PHONE);
    assert_eq!(m1[col("所在支部")], "b1组织");
    assert_eq!(m1[col("外出日期")], "2026-02-10");
    assert_eq!(m1[col("外出原因")], "务工");
    assert_eq!(m1[col("流入地区划代码")], "440106001");
    assert!(
        m1[col("流入地")].starts_with("广东省广州市天河区"),
        "{}",
        m1[col("流入地")]
    );
    assert_eq!(m1[col("详细地址")], "天河路1号");
    assert_eq!(m1[col("工作单位")], "某制衣厂");
    assert_eq!(m1[col("单位类型")], "民营企业");
    assert_eq!(m1[col("流入地党组织")], "gz-park组织");
    assert_eq!(m1[col("状态")], "外出");
    assert_eq!(
        m1[col("活动证编号")].len(),
        15,
        "four months: a certificate"
    );
    assert_eq!(m1[col("连续未确认月数")], "0");
    let m2 = row_of(&rows, "党员m2");
    assert_eq!(m2[col("手机号码")], "139****0002");
    assert_eq!(m2[col("流入地联系人")], "王书记");
    assert_eq!(m2[col("联系人电话")], "137****0007");
    assert_eq!(m2[col("标记")], "应转尽转", "24 months with an employer");
    assert_eq!(m2[col("活动证编号")], "");

    // The county department is an ancestor of both branches: every phone in full.
    let rows = s.csv("c1", "c1", "subtree").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(row_of(&rows, "党员m2")[col("手机号码")], M2_PHONE);
    assert_eq!(row_of(&rows, "党员m2")[col("联系人电话")], "13700000007");

    // Branch scope: only the branch's own records.
    let rows = s.csv("b2", "b2", "branch").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "党员m2");
    assert_eq!(rows[0][col("手机号码")], M2_PHONE);
    s.env.finish().await;
}

#[tokio::test]
async fn xlsx_has_a_title_a_header_row_and_masks_for_an_outside_viewer() {
    let s = start().await;
    // gz is no ancestor of either branch: every phone masked.
    let sheet = s.xlsx("c1", "gz", "subtree").await;
    assert!(
        sheet[0][0].contains("c1组织") && sheet[0][0].contains("2026-03-01"),
        "title row names the org and the date: {:?}",
        sheet[0]
    );
    assert_eq!(sheet[1], HEADERS);
    let rows = &sheet[2..];
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(row_of(rows, "党员m1")[col("手机号码")], "139****0001");
    assert_eq!(row_of(rows, "党员m2")[col("联系人电话")], "137****0007");
    assert_eq!(row_of(rows, "党员m1")[col("单位类型")], "民营企业");
    assert_eq!(row_of(rows, "党员m1")[col("连续未确认月数")], "0");

    // The home branch reads its own branch ledger in full.
    let sheet = s.xlsx("b1", "b1", "branch").await;
    let rows = &sheet[2..];
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][col("手机号码")], M1_PHONE);
    assert_eq!(rows[0][col("状态")], "外出");
    s.env.finish().await;
}

#[tokio::test]
async fn json_is_one_array_with_codes_and_words() {
    let s = start().await;
    let res = s.get("t1", "c1", "subtree", "json").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let rows: Vec<Value> = res.json().await.unwrap();
    assert_eq!(rows.len(), 2);
    let m1 = rows.iter().find(|r| r["member_id"] == "m1").unwrap();
    assert_eq!(m1["phone"], M1_PHONE);
    assert_eq!(m1["phone_masked"], false);
    assert_eq!(m1["status"], "out");
    assert_eq!(m1["status_label"], "外出");
    assert_eq!(m1["employer_type_label"], "民营企业");
    assert_eq!(m1["reason_label"], "务工");
    assert_eq!(m1["branch"], "b1组织");

    let rows: Vec<Value> = s
        .get("b1", "b2", "branch", "json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["phone"], "139****0001");
    assert_eq!(rows[0]["phone_masked"], true);

    // An empty ledger is an empty array, not an error.
    let rows: Vec<Value> = s
        .get("gz", "gz", "subtree", "json")
        .await
        .json()
        .await
        .unwrap();
    assert!(rows.is_empty());

    let res = s.get("nobody", "c1", "branch", "csv").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 404);
    assert!(problem["detail"].as_str().unwrap().contains("nobody"));
    s.env.finish().await;
}

#[tokio::test]
async fn typed_text_that_would_open_as_a_formula_is_text_in_csv_and_xlsx() {
    let hyperlink = r#"=HYPERLINK("http://x","y")"#;
    let mut m3 = outbound("m3", "b1", "2026-02-12T09:00:00", 4, Some(hyperlink));
    m3["data"]["destination"]["address"] = serde_json::json!("+1");
    let s = start_with(vec![member("m3", "b1", "13911110003"), m3]).await;

    let rows = s.csv("b1", "b1", "branch").await;
    let m3 = row_of(&rows, "党员m3");
    assert_eq!(m3[col("工作单位")], format!("'{hyperlink}"));
    assert_eq!(m3[col("详细地址")], "'+1");
    assert_eq!(row_of(&rows, "党员m1")[col("工作单位")], "某制衣厂");
    let raw = s
        .get("b1", "b1", "branch", "csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        raw.contains(",\"'+1\","),
        "a neutralised field is quoted: {raw}"
    );

    let sheet = s.xlsx("b1", "b1", "branch").await;
    let m3 = row_of(&sheet[2..], "党员m3");
    assert_eq!(m3[col("工作单位")], format!("'{hyperlink}"));
    assert_eq!(m3[col("详细地址")], "'+1");
    assert_eq!(row_of(&sheet[2..], "党员m1")[col("工作单位")], "某制衣厂");
    let bytes = s
        .get("b1", "b1", "branch", "xlsx")
        .await
        .bytes()
        .await
        .unwrap();
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    let formulas = book.worksheet_formula("台账").unwrap();
    assert!(
        formulas.used_cells().all(|(_, _, f)| f.is_empty()),
        "no cell is a formula: {formulas:?}"
    );
    s.env.finish().await;
}
