//! The ledger's rows: one SQL query streamed from PostgreSQL, each row mapped to section 3's
//! columns. Nothing is collected: rows go through a bounded channel to whichever encoder
//! writes the format, so memory stays flat however large the county.

use std::borrow::Cow;

use futures::StreamExt;
use hongyan_domain::ledger::FlowRecord;
use hongyan_domain::{regions, words};
use sqlx::PgPool;
use sqlx::types::Json;
use tokio::sync::mpsc;

use super::LedgerScope;

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

/// The column of 连续未确认月数, the one number (XLSX writes it as a number).
pub const COL_MONTHS_UNCONFIRMED: usize = 16;

/// The records of one export, with what the row needs from the member and the orgs. The
/// recursive CTE walks the org tree down from `$1` (only `$1` itself for a branch ledger, when
/// `$3` is false) and decides once per home branch whether the viewer `$2` may read phones:
/// the viewer is that branch or one of its ancestors (`orgs.path` runs from the root down to
/// the org itself). Open records only (section 3: "The export lists open records").
const QUERY: &str = r#"
WITH RECURSIVE scope (id, name, path, sees_phones) AS (
    SELECT o.id, o.name, o.path, $2 = ANY (o.path) FROM orgs o WHERE o.id = $1
    UNION ALL
    SELECT c.id, c.name, c.path, $2 = ANY (c.path)
    FROM orgs c JOIN scope s ON c.parent_id = s.id
    WHERE $3
)
SELECT r.doc,
       m.doc ->> 'name' AS member_name,
       s.name AS branch_name,
       s.sees_phones,
       i.name AS inflow_org_name
FROM scope s
JOIN flow_records r ON r.home_org_id = s.id AND r.is_open
JOIN members m ON m.id = r.member_id
LEFT JOIN orgs i ON i.id = r.inflow_org_id
ORDER BY s.path, r.member_id
"#;

#[derive(sqlx::FromRow)]
struct Raw {
    doc: Json<FlowRecord>,
    member_name: Option<String>,
    branch_name: String,
    sees_phones: bool,
    inflow_org_name: Option<String>,
}

/// One ledger row: the record as the domain sees it, and the names around it.
pub struct LedgerRow {
    pub record: FlowRecord,
    pub member_name: String,
    pub branch_name: String,
    /// The inflow org's name, when the record names one hongyan knows.
    pub inflow_org_name: Option<String>,
    /// The viewer is the member's home branch or one of its ancestors (section 3: "phones
    /// masked unless the reader has the right to see them").
    pub sees_phones: bool,
}

impl From<Raw> for LedgerRow {
    fn from(r: Raw) -> Self {
        Self {
            record: r.doc.0,
            member_name: r.member_name.unwrap_or_default(),
            branch_name: r.branch_name,
            inflow_org_name: r.inflow_org_name,
            sees_phones: r.sees_phones,
        }
    }
}

fn date(d: Option<chrono::NaiveDate>) -> Cow<'static, str> {
    d.map_or(Cow::Borrowed(""), |d| {
        Cow::Owned(d.format("%Y-%m-%d").to_string())
    })
}

impl LedgerRow {
    /// A phone as this viewer may read it. The inflow contact's phone follows the member's
    /// rule: whoever may not see the member's number sees no full number on the row.
    pub fn phone<'a>(&self, p: &'a hongyan_domain::Phone) -> Cow<'a, str> {
        if self.sees_phones {
            Cow::Borrowed(p.as_str())
        } else {
            Cow::Owned(p.masked())
        }
    }

    pub fn place(&self) -> String {
        regions::place_name(self.record.location.region_code.as_str())
    }

    /// 标记: the record's flags and the transfer suggestion, in words, joined with 、.
    pub fn flag_words(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.record.flags.iter().map(|f| words::flag(f)).collect();
        if self.record.transfer_suggested {
            out.push(words::TRANSFER_SUGGESTED);
        }
        out
    }

    /// The row's cells under [`HEADERS`], codes shown as words.
    pub fn cells(&self) -> [Cow<'_, str>; 20] {
        let r = &self.record;
        let loc = &r.location;
        let contact = r.inflow_contact.as_ref();
        [
            Cow::Borrowed(self.member_name.as_str()),
            self.phone(&r.phone),
            Cow::Borrowed(self.branch_name.as_str()),
            date(r.left_on),
            Cow::Borrowed(r.reason.map_or("", words::reason)),
            Cow::Borrowed(loc.region_code.as_str()),
            Cow::Owned(self.place()),
            Cow::Borrowed(loc.address.as_str()),
            Cow::Borrowed(loc.employer.as_deref().unwrap_or("")),
            Cow::Borrowed(words::employer_type(loc.employer_type)),
            Cow::Borrowed(self.inflow_org_name.as_deref().unwrap_or("")),
            Cow::Borrowed(contact.map_or("", |c| c.name.as_str())),
            contact.map_or(Cow::Borrowed(""), |c| self.phone(&c.phone)),
            Cow::Borrowed(r.certificate_no.as_ref().map_or("", |c| c.as_str())),
            Cow::Borrowed(words::status(r.status)),
            date(r.last_confirmed_on),
            Cow::Owned(r.months_unconfirmed.to_string()),
            date(r.contacts.talk),
            date(r.contacts.family_visit),
            Cow::Owned(self.flag_words().join("、")),
        ]
    }
}

/// Rows waiting for an encoder; a bounded channel, so the query runs only as fast as the
/// client reads.
pub type Rows = mpsc::Receiver<Result<LedgerRow, sqlx::Error>>;

/// How many rows may wait between the query and the encoder.
const ROWS_IN_FLIGHT: usize = 1024;

/// Starts the query on its own task and hands back its rows. When the reader goes away (the
/// client hung up), the send fails, the task ends and the query's stream is dropped, which
/// gives the connection back. A failed row is passed on and ends the stream.
pub fn stream(pool: PgPool, viewer_org: String, org_id: String, scope: LedgerScope) -> Rows {
    let (tx, rx) = mpsc::channel(ROWS_IN_FLIGHT);
    tokio::spawn(async move {
        let mut rows = sqlx::query_as::<_, Raw>(QUERY)
            .bind(&org_id)
            .bind(&viewer_org)
            .bind(matches!(scope, LedgerScope::Subtree))
            .fetch(&pool);
        while let Some(row) = rows.next().await {
            let failed = row.is_err();
            if tx.send(row.map(LedgerRow::from)).await.is_err() || failed {
                return;
            }
        }
    });
    rx
}
