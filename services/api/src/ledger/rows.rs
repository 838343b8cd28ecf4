//! The ledger's rows: section 3's columns of one record ([`LedgerRow`]) and its cells. The
//! records are read by `read` (through `query`) and handed to the encoders as [`Rows`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use hongyan_domain::ledger::Status;
use hongyan_domain::{EmployerType, Phone, Reason, regions, words};
use tokio::sync::mpsc;

/// Section 3's columns, in this order and with these headers.
pub const HEADERS: [&str; 20] = [
    "姓名",
    "手机号码",
    "所在支部",
    "外出日期",
    "外出原因",
    "流入地区划代码",
    "流入地",
    "详细地址",
    "工作单位",
    "单位类型",
    "流入地党组织",
    "流入地联系人",
    "联系人电话",
    "活动证编号",
    "状态",
    "最近确认日期",
    "连续未确认月数",
    "最近谈心",
    "最近家访",
    "标记",
];

/// One ledger row: section 3's columns as plain values, and the names around them.
pub struct LedgerRow {
    pub member_id: String,
    pub member_name: String,
    /// As stored: [`LedgerRow::phone`] decides what the viewer reads.
    pub phone: String,
    pub home_org_id: String,
    pub branch_name: Arc<str>,
    /// The viewer is the member's home branch or one of its ancestors (section 3: "phones
    /// masked unless the reader has the right to see them").
    pub sees_phones: bool,
    pub left_on: Option<NaiveDate>,
    pub reason: Option<Reason>,
    pub region_code: String,
    pub address: String,
    pub employer: Option<String>,
    pub employer_type: EmployerType,
    pub inflow_org_id: Option<String>,
    /// The inflow org's name, when the record names one hongyan knows.
    pub inflow_org_name: Option<String>,
    pub inflow_contact: Option<InflowContact>,
    pub certificate_no: Option<String>,
    pub status: Status,
    pub last_confirmed_on: Option<NaiveDate>,
    pub months_unconfirmed: u32,
    pub last_talk: Option<NaiveDate>,
    pub last_family_visit: Option<NaiveDate>,
    pub flags: Vec<String>,
    pub transfer_suggested: bool,
    pub version: i64,
}

/// The inflow org's contact person named on the record.
pub struct InflowContact {
    pub name: String,
    pub phone: String,
}

/// `2026-03-01`, written by hand: chrono's formatter parses its pattern on every call, which
/// shows on a ledger of a hundred thousand rows.
fn date(d: Option<NaiveDate>) -> Cow<'static, str> {
    let Some(d) = d else {
        return Cow::Borrowed("");
    };
    let mut s = String::with_capacity(10);
    let (y, m, day) = (d.year(), d.month(), d.day());
    if (0..10_000).contains(&y) {
        push_digits(&mut s, y as u32, 4);
    } else {
        s.push_str(&y.to_string());
    }
    s.push('-');
    push_digits(&mut s, m, 2);
    s.push('-');
    push_digits(&mut s, day, 2);
    Cow::Owned(s)
}

/// `n` in decimal, zero-padded to `width` digits.
fn push_digits(s: &mut String, n: u32, width: u32) {
    for p in (0..width).rev() {
        s.push(char::from(b'0' + (n / 10u32.pow(p) % 10) as u8));
    }
}

/// Place names by region code, worked out once per code: a county's ledger names a few
/// hundred places over and over.
#[derive(Default)]
pub struct Places(HashMap<String, Arc<str>>);

/// More distinct codes than a county's ledger ever holds; past it the cache starts again, so
/// memory stays bounded whatever the data.
const PLACES_CACHED: usize = 10_000;

impl Places {
    pub fn name(&mut self, code: &str) -> Arc<str> {
        if let Some(name) = self.0.get(code) {
            return name.clone();
        }
        if self.0.len() >= PLACES_CACHED {
            self.0.clear();
        }
        let name: Arc<str> = regions::place_name(code).into();
        self.0.insert(code.to_owned(), name.clone());
        name
    }
}

impl LedgerRow {
    /// A phone as this viewer may read it. The inflow contact's phone follows the member's
    /// rule: whoever may not see the member's number sees no full number on the row. Stored
    /// text that is no phone shows no digit to such a viewer.
    pub fn phone<'a>(&self, p: &'a str) -> Cow<'a, str> {
        if self.sees_phones {
            Cow::Borrowed(p)
        } else {
            Cow::Owned(Phone::parse(p).map_or_else(|_| "****".to_owned(), |p| p.masked()))
        }
    }

    /// 标记: the record's flags and the transfer suggestion, in words, joined with 、.
    pub fn flag_words(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.flags.iter().map(|f| words::flag(f)).collect();
        if self.transfer_suggested {
            out.push(words::TRANSFER_SUGGESTED);
        }
        out
    }

    fn flags_cell(&self) -> Cow<'_, str> {
        if self.flags.is_empty() && !self.transfer_suggested {
            Cow::Borrowed("")
        } else {
            Cow::Owned(self.flag_words().join("、"))
        }
    }

    /// The row's cells under [`HEADERS`], codes shown as words.
    pub fn cells(&self, places: &mut Places) -> [Cell<'_>; 20] {
        let contact = self.inflow_contact.as_ref();
        [
            text(&self.member_name),
            Cell::Fixed(self.phone(&self.phone)),
            text(&self.branch_name),
            Cell::Fixed(date(self.left_on)),
            Cell::Fixed(Cow::Borrowed(self.reason.map_or("", words::reason))),
            Cell::Fixed(Cow::Borrowed(&self.region_code)),
            Cell::Place(places.name(&self.region_code)),
            text(&self.address),
            text(self.employer.as_deref().unwrap_or("")),
            Cell::Fixed(Cow::Borrowed(words::employer_type(self.employer_type))),
            text(self.inflow_org_name.as_deref().unwrap_or("")),
            text(contact.map_or("", |c| c.name.as_str())),
            Cell::Fixed(contact.map_or(Cow::Borrowed(""), |c| self.phone(&c.phone))),
            Cell::Fixed(Cow::Borrowed(self.certificate_no.as_deref().unwrap_or(""))),
            Cell::Fixed(Cow::Borrowed(words::status(self.status))),
            Cell::Fixed(date(self.last_confirmed_on)),
            Cell::Number(self.months_unconfirmed),
            Cell::Fixed(date(self.last_talk)),
            Cell::Fixed(date(self.last_family_visit)),
            Cell::Fixed(self.flags_cell()),
        ]
    }
}

fn text(s: &str) -> Cell<'_> {
    Cell::Text(Cow::Borrowed(s))
}

/// A cell of the CSV and XLSX ledger.
pub enum Cell<'a> {
    /// Text someone typed (a name, an address, an employer): it may begin with anything.
    Text(Cow<'a, str>),
    /// Text hongyan made or checked: a date, a word, a code, a masked or checked phone.
    Fixed(Cow<'a, str>),
    /// A place name from the division table.
    Place(Arc<str>),
    Number(u32),
}

impl Cell<'_> {
    /// The cell as text (a number in decimal), typed text made safe to open (see
    /// [`Cell::is_neutralised`]).
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Cell::Text(s) if opens_as_formula(s) => Cow::Owned(format!("'{s}")),
            Cell::Text(s) | Cell::Fixed(s) => Cow::Borrowed(s.as_ref()),
            Cell::Place(s) => Cow::Borrowed(s.as_ref()),
            Cell::Number(n) => Cow::Owned(n.to_string()),
        }
    }

    /// Typed text that Excel or WPS would take for a formula (CSV or formula injection, e.g.
    /// `=HYPERLINK(...)` in an employer's name) gets a leading `'`, as OWASP recommends: the
    /// spreadsheet then shows it as text, and even editing the cell keeps it text.
    pub fn is_neutralised(&self) -> bool {
        matches!(self, Cell::Text(s) if opens_as_formula(s))
    }
}

/// What a spreadsheet reads as the start of a formula (OWASP, CSV Injection): `=`, `+`, `-`,
/// `@`, a tab or a carriage return.
fn opens_as_formula(s: &str) -> bool {
    matches!(
        s.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// Rows waiting for an encoder; a bounded channel, so the query runs only as fast as the
/// client reads.
pub type Rows = mpsc::Receiver<Result<LedgerRow, sqlx::Error>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_that_opens_as_a_formula_gets_a_quote_and_nothing_else_does() {
        for s in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            let cell = text(s);
            assert!(cell.is_neutralised(), "{s:?}");
            assert_eq!(cell.text(), format!("'{s}"));
        }
        for s in ["天河路1号", "a=b", "", "'quoted"] {
            assert_eq!(text(s).text(), s);
        }
        // Dates, words and checked values are never changed.
        assert_eq!(Cell::Fixed(Cow::Borrowed("-")).text(), "-");
    }
}
