//! The dispatch report's files (DESIGN.md section 4: "CSV flattens `branches`"), for people:
//! Chinese headers, names instead of ids, UTF-8 with a BOM for CSV (so Excel opens it as
//! Chinese text, as the ledger's), and an XLSX with a title row, a frozen header and sheets for
//! the spot check and the members needing attention. Shared by `GET
//! /v1/reports/{id}?format=csv|xlsx`, the console's 调度 and `hongyan report show --format
//! csv`.
//!
//! One row per branch in the report's order, then the department's 合计; the id lists of the
//! figures are counted, the spot check's members named.

use std::collections::HashMap;
use std::io::Write;

use hongyan_domain::dispatch::{DispatchReport, Figures};
use hongyan_domain::{EmployerType, words};
use rust_xlsxwriter::{Format, FormatBorder, Workbook};
use sqlx::PgPool;

/// Excel reads a CSV without a byte-order mark in the machine's legacy code page (GBK on a
/// Chinese Windows); with it, as UTF-8.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The counted figures' headers, in the order of [`numbers`].
const FIGURE_HEADERS: [&str; 17] = [
    "在外党员",
    "外出",
    "已报到",
    "回乡探亲",
    "本季度外出登记",
    "本季度报到",
    "本季度返回",
    "本季度转出",
    "跨省流动",
    "省内跨市流动",
    "市内流动",
    "持流动党员活动证",
    "逾期未更新",
    "失联",
    "组织生活预警",
    "应转尽转",
    "未匹配报到",
];

/// What the files name: members by id (name and home branch) and the department by id.
#[derive(Default)]
pub struct Names {
    pub org_name: String,
    members: HashMap<String, (String, String)>,
}

impl Names {
    /// A member's name, or the id when the ledger no longer knows them.
    pub fn member<'a>(&'a self, id: &'a str) -> &'a str {
        self.members.get(id).map_or(id, |(n, _)| n.as_str())
    }

    /// A member's home branch's name.
    pub fn branch(&self, id: &str) -> &str {
        self.members.get(id).map_or("", |(_, b)| b.as_str())
    }
}

/// Every member the report names (spot check and lists), with their branch, in one query
/// through the registry's view `console_members` (migration 0017).
pub async fn names(pool: &PgPool, report: &DispatchReport) -> Result<Names, sqlx::Error> {
    let t = &report.totals;
    let mut ids: Vec<&str> = report
        .spot_check
        .iter()
        .flat_map(|s| s.member_ids.iter().map(String::as_str))
        .collect();
    for list in [
        &t.stale,
        &t.lost_contact,
        &t.lapse_risk,
        &t.transfer_suggested,
    ] {
        ids.extend(list.iter().map(String::as_str));
    }
    ids.sort_unstable();
    ids.dedup();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.id, c.name, coalesce(o.name, c.home_org_id) FROM console_members c
         LEFT JOIN orgs o ON o.id = c.home_org_id WHERE c.id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let org_name: Option<String> = sqlx::query_scalar("SELECT name FROM orgs WHERE id = $1")
        .bind(&report.org_id)
        .fetch_optional(pool)
        .await?;
    Ok(Names {
        org_name: org_name.unwrap_or_else(|| report.org_id.clone()),
        members: rows.into_iter().map(|(id, n, b)| (id, (n, b))).collect(),
    })
}

/// `2026Q3` as people say it: `2026年第三季度`.
pub fn quarter_words(q: &str) -> String {
    let n = match q.get(5..6) {
        Some("1") => "一",
        Some("2") => "二",
        Some("3") => "三",
        Some("4") => "四",
        _ => return q.to_owned(),
    };
    format!("{}年第{n}季度", &q[..4])
}

/// `2026-07` as `2026年7月`.
pub fn month_words(m: &str) -> String {
    match (m.get(..4), m.get(5..).and_then(|s| s.parse::<u32>().ok())) {
        (Some(y), Some(n)) => format!("{y}年{n}月"),
        _ => m.to_owned(),
    }
}

/// The employer types the report counts, in the statistics sheet's order.
fn employer_types(report: &DispatchReport) -> Vec<EmployerType> {
    EmployerType::ALL
        .iter()
        .copied()
        .filter(|t| report.totals.by_employer_type.contains_key(t.as_str()))
        .collect()
}

/// The branch table: its headers and one row per branch, then 合计.
pub fn table(report: &DispatchReport, names: &Names) -> (Vec<String>, Vec<Vec<Value>>) {
    let types = employer_types(report);
    let months: Vec<&str> = report
        .totals
        .monthly_compliance
        .iter()
        .map(|m| m.month.as_str())
        .collect();
    let mut header = vec!["组织名称".to_owned()];
    header.extend(FIGURE_HEADERS.iter().map(|h| (*h).to_owned()));
    header.extend(
        types
            .iter()
            .map(|t| format!("单位类型：{}", words::employer_type(*t))),
    );
    for m in &months {
        let m = month_words(m);
        header.push(format!("{m}在外"));
        header.push(format!("{m}已确认"));
        header.push(format!("{m}确认率"));
    }
    header.push("抽查对象".to_owned());
    let row = |name: &str, f: &Figures, spot: String| {
        let mut r = vec![Value::Text(name.to_owned())];
        r.extend(numbers(f).into_iter().map(Value::Number));
        for t in &types {
            let n = f.by_employer_type.get(t.as_str()).copied().unwrap_or(0);
            r.push(Value::Number(n));
        }
        for m in &months {
            let c = f.monthly_compliance.iter().find(|c| c.month == *m);
            let (open, confirmed) = c.map_or((0, 0), |c| (c.open, c.confirmed));
            r.push(Value::Number(open));
            r.push(Value::Number(confirmed));
            r.push(Value::Text(percent(confirmed, open)));
        }
        r.push(Value::Text(spot));
        r
    };
    let mut rows: Vec<Vec<Value>> = report
        .branches
        .iter()
        .map(|b| {
            let spot = report
                .spot_check
                .iter()
                .find(|s| s.org_id == b.org_id)
                .map(|s| {
                    let n: Vec<&str> = s.member_ids.iter().map(|m| names.member(m)).collect();
                    n.join("、")
                })
                .unwrap_or_default();
            row(&b.name, &b.figures, spot)
        })
        .collect();
    rows.push(row("合计", &report.totals, String::new()));
    (header, rows)
}

/// A cell of the files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Number(u64),
}

/// `87.5%`, or `—` when nothing was open.
pub fn percent(n: u64, of: u64) -> String {
    if of == 0 {
        return "—".into();
    }
    let tenths = (n * 1000 + of / 2) / of;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

fn numbers(f: &Figures) -> [u64; 17] {
    [
        f.open,
        f.by_status.out,
        f.by_status.checked_in,
        f.by_status.home_visit,
        f.departures,
        f.arrivals,
        f.returns,
        f.transfers,
        f.destinations.cross_province,
        f.destinations.in_province_cross_city,
        f.destinations.in_city,
        f.certificate_holders,
        f.stale.len() as u64,
        f.lost_contact.len() as u64,
        f.lapse_risk.len() as u64,
        f.transfer_suggested.len() as u64,
        f.unmatched_arrivals,
    ]
}

/// The CSV: a BOM, the headers, a row per branch and 合计. Typed text (a branch's or a
/// member's name) that a spreadsheet would open as a formula gets a leading `'` (OWASP).
pub fn write_csv(
    report: &DispatchReport,
    names: &Names,
    mut out: impl Write,
) -> anyhow::Result<()> {
    out.write_all(BOM)?;
    let (header, rows) = table(report, names);
    let mut w = csv::Writer::from_writer(out);
    w.write_record(&header)?;
    for r in rows {
        w.write_record(r.iter().map(|v| match v {
            Value::Text(t) => neutral(t),
            Value::Number(n) => n.to_string(),
        }))?;
    }
    w.flush()?;
    Ok(())
}

fn neutral(s: &str) -> String {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{s}"),
        _ => s.to_owned(),
    }
}

/// A spot check's recorded result, for the XLSX's 抽查 sheet: member id to (result, note).
pub type Checked = HashMap<String, (String, String)>;

/// The XLSX: sheet 调度报告 (title row, frozen header, the branch table), 抽查名单 (each
/// member drawn, their branch and the result recorded), 需关注党员 (the lists by name).
pub fn xlsx(report: &DispatchReport, names: &Names, checked: &Checked) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let title = Format::new().set_bold().set_font_size(14);
    let head = Format::new()
        .set_bold()
        .set_background_color("#F2DCDB")
        .set_border_bottom(FormatBorder::Thin);
    let heading = format!(
        "{}流动党员{}调度报告（生成于{}）",
        names.org_name,
        quarter_words(&report.quarter),
        report
            .generated_at
            .get(..10)
            .unwrap_or(&report.generated_at)
    );
    let (header, rows) = table(report, names);
    let text_rows: Vec<Vec<Value>> = rows;
    sheet(
        &mut book,
        "调度报告",
        &heading,
        &header,
        &text_rows,
        (&title, &head),
    )?;
    let spot: Vec<Vec<Value>> = report
        .spot_check
        .iter()
        .flat_map(|s| s.member_ids.iter())
        .map(|m| {
            let (result, note) = checked.get(m).cloned().unwrap_or_default();
            vec![
                Value::Text(names.branch(m).to_owned()),
                Value::Text(names.member(m).to_owned()),
                Value::Text(result),
                Value::Text(note),
            ]
        })
        .collect();
    let spot_header = ["所在支部", "姓名", "抽查结果", "备注"].map(String::from);
    sheet(
        &mut book,
        "抽查名单",
        &heading,
        &spot_header,
        &spot,
        (&title, &head),
    )?;
    let t = &report.totals;
    let lists = [
        ("失联", &t.lost_contact),
        ("组织生活预警", &t.lapse_risk),
        ("应转尽转", &t.transfer_suggested),
        ("逾期未更新", &t.stale),
    ];
    let attention: Vec<Vec<Value>> = lists
        .iter()
        .flat_map(|(what, ids)| {
            ids.iter().map(move |m| {
                vec![
                    Value::Text((*what).to_owned()),
                    Value::Text(names.branch(m).to_owned()),
                    Value::Text(names.member(m).to_owned()),
                ]
            })
        })
        .collect();
    let attention_header = ["类别", "所在支部", "姓名"].map(String::from);
    sheet(
        &mut book,
        "需关注党员",
        &heading,
        &attention_header,
        &attention,
        (&title, &head),
    )?;
    Ok(book.save_to_buffer()?)
}

fn sheet(
    book: &mut Workbook,
    name: &str,
    heading: &str,
    header: &[String],
    rows: &[Vec<Value>],
    (title, head): (&Format, &Format),
) -> anyhow::Result<()> {
    let s = book.add_worksheet();
    s.set_name(name)?;
    let last = header.len().saturating_sub(1) as u16;
    s.merge_range(0, 0, 0, last.max(1), heading, title)?;
    s.set_row_height(0, 24)?;
    let mut widths: Vec<f64> = header.iter().map(|h| width(h)).collect();
    for (c, h) in header.iter().enumerate() {
        s.write_string_with_format(1, c as u16, h, head)?;
    }
    s.set_freeze_panes(2, 0)?;
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 2;
        for (c, v) in row.iter().enumerate() {
            match v {
                Value::Text(t) => {
                    widths[c] = widths[c].max(width(t));
                    s.write_string(r, c as u16, t)?;
                }
                Value::Number(n) => {
                    s.write_number(r, c as u16, *n as f64)?;
                }
            };
        }
    }
    for (c, w) in widths.iter().enumerate() {
        s.set_column_width(c as u16, (w + 2.0).min(40.0))?;
    }
    Ok(())
}

/// Width in Excel's character units: a Chinese character takes about two.
fn width(s: &str) -> f64 {
    s.chars()
        .map(|c| if c.is_ascii() { 1.0 } else { 2.0 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_months_and_shares_read_as_words() {
        assert_eq!(quarter_words("2026Q3"), "2026年第三季度");
        assert_eq!(month_words("2026-07"), "2026年7月");
        assert_eq!(percent(7, 8), "87.5%");
        assert_eq!(percent(0, 0), "—");
        assert_eq!(neutral("=1+1"), "'=1+1");
    }
}
