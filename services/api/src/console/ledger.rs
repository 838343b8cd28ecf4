//! 台账 (DESIGN.md section 12): section 3's columns for the org's subtree, with filters by 状态,
//! 标记, 流入地 (province, city) and 连续未确认月数, search by 姓名, 手机号码 or 活动证编号,
//! 20 rows a page, and 导出Excel / 导出CSV giving section 3's files. The rows are the export's
//! own (`ledger::rows`), so the page and the files never disagree.

use std::collections::BTreeSet;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hongyan_domain::regions;
use maud::{Markup, html};
use serde::Deserialize;

use super::{frame, page, signed_in};
use crate::ledger::read::Ask;
use crate::ledger::rows::{HEADERS, LedgerRow, Places};
use crate::ledger::{self as export, LedgerFormat, LedgerScope};
use crate::state::AppState;

const PER_PAGE: usize = 20;

/// The filters, as the form sends them (every field optional, empty means any).
#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    flag: String,
    /// A province's 2 digits.
    #[serde(default)]
    province: String,
    /// A city's 4 digits.
    #[serde(default)]
    city: String,
    /// At least this many months unconfirmed.
    #[serde(default)]
    months: String,
    /// 姓名, 手机号码 or 活动证编号.
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: String,
}

impl Filters {
    fn keeps(&self, r: &LedgerRow, status_word: &str, flags: &[&str]) -> bool {
        let q = self.q.trim();
        let digits: String = q.chars().filter(char::is_ascii_digit).collect();
        (self.status.is_empty() || status_word == self.status)
            && (self.flag.is_empty() || flags.contains(&self.flag.as_str()))
            && (self.province.is_empty() || r.region_code.starts_with(&self.province))
            && (self.city.is_empty() || r.region_code.starts_with(&self.city))
            && self
                .months
                .parse::<u32>()
                .map_or(true, |m| r.months_unconfirmed >= m)
            && (q.is_empty()
                || r.member_name.contains(q)
                || (digits.len() >= 4 && r.phone.contains(&digits) && r.sees_phones)
                || r.certificate_no.as_deref() == Some(q))
    }

    /// Whether any filter other than the search is set.
    fn narrowed(&self) -> bool {
        [
            &self.status,
            &self.flag,
            &self.province,
            &self.city,
            &self.months,
        ]
        .iter()
        .any(|v| !v.is_empty())
    }

    fn page(&self) -> usize {
        self.page.parse::<usize>().unwrap_or(1).max(1)
    }

    /// The query string of these filters on page `n`.
    fn query(&self, n: usize) -> String {
        let pairs = [
            ("status", &self.status),
            ("flag", &self.flag),
            ("province", &self.province),
            ("city", &self.city),
            ("months", &self.months),
            ("q", &self.q),
        ];
        let mut out: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        out.push(format!("page={n}"));
        out.join("&")
    }
}

use super::encode_component as encode;

/// What the page shows: the matching rows of this page, how many match, and the choices the
/// filters offer (the statuses, flags and places present in the ledger).
struct Listing {
    rows: Vec<(LedgerRow, Vec<String>)>,
    matching: usize,
    statuses: BTreeSet<String>,
    flags: BTreeSet<String>,
    provinces: BTreeSet<String>,
    cities: BTreeSet<String>,
}

async fn list(state: &AppState, org: &str, f: &Filters) -> Result<Listing, sqlx::Error> {
    let ask = Ask {
        viewer_org: org.into(),
        org_id: org.into(),
        today: state
            .clock
            .now()
            .with_timezone(&hongyan_domain::TZ)
            .date_naive(),
        ladder: state.settings.policy.ladder(),
    };
    let mut rows = crate::ledger::read::stream(state.pool.clone(), ask, LedgerScope::Subtree);
    let mut places = Places::default();
    let (skip, mut out) = ((f.page() - 1) * PER_PAGE, Vec::new());
    let mut l = Listing {
        rows: Vec::new(),
        matching: 0,
        statuses: BTreeSet::new(),
        flags: BTreeSet::new(),
        provinces: BTreeSet::new(),
        cities: BTreeSet::new(),
    };
    while let Some(row) = rows.recv().await {
        let row = row?;
        let status = hongyan_domain::words::status(row.status).to_owned();
        let flags: Vec<&str> = row.flag_words();
        l.statuses.insert(status.clone());
        l.flags.extend(flags.iter().map(|s| (*s).to_owned()));
        if row.region_code.len() >= 4 {
            l.provinces.insert(row.region_code[..2].to_owned());
            l.cities.insert(row.region_code[..4].to_owned());
        }
        if !f.keeps(&row, &status, &flags) {
            continue;
        }
        l.matching += 1;
        if l.matching > skip && out.len() < PER_PAGE {
            let cells: Vec<String> = row
                .cells(&mut places)
                .iter()
                .map(|c| c.text().into_owned())
                .collect();
            out.push((row, cells));
        }
    }
    l.rows = out;
    Ok(l)
}

/// `GET /console/ledger`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(f): Query<Filters>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    match list(&state, &session.user.org_id, &f).await {
        Ok(l) => page(StatusCode::OK, frame("台账", Some(&session), body(&f, &l))),
        Err(e) => super::store_failed(&e),
    }
}

/// `GET /console/ledger.xlsx` and `.csv`: the whole subtree's ledger, as section 3 says.
pub async fn download(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    format: LedgerFormat,
) -> Response {
    match signed_in(state, headers, uri).await {
        Ok(s) => {
            let org = &s.user.org_id;
            export::export(state, org, org, LedgerScope::Subtree, format).await
        }
        Err(to_login) => to_login,
    }
}

fn place(code: &str) -> String {
    let padded = format!("{code:0<6}");
    regions::name(&padded).map_or_else(|| code.to_owned(), str::to_owned)
}

fn select(id: &str, label: &str, current: &str, options: Vec<(String, String)>) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(id) {
                option value="" { "全部" }
                @for (value, text) in options {
                    option value=(value) selected[value == current] { (text) }
                }
            }
        }
    }
}

fn filters(f: &Filters, l: &Listing) -> Markup {
    let words = |s: &BTreeSet<String>| s.iter().map(|w| (w.clone(), w.clone())).collect();
    let places = |s: &BTreeSet<String>| s.iter().map(|c| (c.clone(), place(c))).collect();
    html! {
        form.card.filters method="get" action="/console/ledger" {
            div.field {
                label for="q" { "搜索（姓名、手机号码或活动证编号）" }
                input id="q" name="q" type="search" value=(f.q);
            }
            // Folded on a phone until used: the table matters more than six fields.
            details open[f.narrowed()] {
                summary { "更多筛选条件" }
                div.grid {
                (select("status", "状态", &f.status, words(&l.statuses)))
                (select("flag", "标记", &f.flag, words(&l.flags)))
                (select("province", "流入地（省）", &f.province, places(&l.provinces)))
                (select("city", "流入地（市）", &f.city, places(&l.cities)))
                div.field {
                    label for="months" { "连续未确认月数（至少）" }
                    input id="months" name="months" type="number" min="0" value=(f.months);
                }
                }
            }
            button.primary type="submit" { "筛选" }
        }
    }
}

fn body(f: &Filters, l: &Listing) -> Markup {
    let page_no = f.page();
    let pages = l.matching.div_ceil(PER_PAGE).max(1);
    html! {
        h1 { "台账" }
        (filters(f, l))
        p.actions {
            a.button href="/console/ledger.xlsx" { "导出Excel" }
            " "
            a.button href="/console/ledger.csv" { "导出CSV" }
        }
        p.note id="count" { "共" (l.matching) "人符合条件，第" (page_no) "页，共" (pages) "页。" }
        div.scroll {
            table {
                thead { tr { @for h in HEADERS { th scope="col" { (h) } } } }
                tbody {
                    @for (row, cells) in &l.rows {
                        tr {
                            td { a href={ "/console/members/" (encode(&row.member_id)) } { (cells[0]) } }
                            @for c in &cells[1..] { td { (c) } }
                        }
                    }
                }
            }
        }
        nav.pages aria-label="翻页" {
            @if page_no > 1 { a href={ "/console/ledger?" (f.query(page_no - 1)) } { "上一页" } }
            " "
            @if page_no < pages { a href={ "/console/ledger?" (f.query(page_no + 1)) } { "下一页" } }
        }
    }
}
