//! The export's two queries, in one read-only snapshot: the orgs in scope (a few hundred at
//! most, in the ledger's order), then their open records as plain columns.
//!
//! Why two queries and not one recursive CTE joined to the records: the CTE's row estimate is
//! far too high for the planner, which then JIT-compiles the query (over a second of CPU for
//! nothing) and sorts whole JSON documents on disk. With the org ids as an array, the sort is
//! by an integer and the member id over narrow rows, and each field is taken out of the
//! document in the database rather than the whole document being printed as JSON text and
//! parsed again here (`EXPLAIN ANALYZE` and the backend's CPU time on 100,000 records: about
//! a third of the old query's).

use std::sync::Arc;

use chrono::NaiveDate;
use hongyan_domain::ledger::Status;
use hongyan_domain::rules::monthly::{Ladder, ladder_flags};
use hongyan_domain::{EmployerType, Reason};
use sqlx::PgConnection;
use sqlx::types::Json;

use super::LedgerScope;
use super::rows::{InflowContact, LedgerRow};

/// An org whose records the export lists, with what every row of its records shares.
pub struct ScopeOrg {
    pub id: String,
    pub name: Arc<str>,
    /// The viewer is this org or one of its ancestors (`orgs.path` runs from the root down to
    /// the org itself), so it reads its members' phones in full.
    pub sees_phones: bool,
}

/// `$1` itself, and for a subtree every org whose path passes through `$1`, in the ledger's
/// order (by path: each org before its children, siblings by id).
const SCOPE: &str = "
SELECT id, name, $2 = ANY (path) AS sees_phones
FROM orgs
WHERE id = $1 OR ($3 AND path @> ARRAY[$1])
ORDER BY path";

/// The open records whose home is one of `$1` (the scope's ids in order), ordered by that
/// order and then the member id, read through the registry's view `api_ledger_records`
/// (migration 0016). `ord` says which scope org a row belongs to; months unconfirmed are
/// counted to `$2`, today. Section 3: "The export lists open records".
const RECORDS: &str = r#"
SELECT s.ord,
       r.member_id, r.status, r.region_code, r.inflow_org_id, r.certificate_no, r.phone,
       r.last_confirmed_on, ledger_months_unconfirmed(r.confirmed_on, $2) AS months_unconfirmed,
       r.version, r.left_on, r.reason, r.address, r.employer, r.employer_type,
       r.contact_name, r.contact_phone, r.talk, r.family_visit, r.flags, r.transfer_suggested,
       r.member_name, r.inflow_org_name
FROM unnest($1::text[]) WITH ORDINALITY AS s (id, ord)
JOIN api_ledger_records r ON r.home_org_id = s.id
ORDER BY s.ord, r.member_id
"#;

/// Opens the export's snapshot on `db`: one consistent view for both queries, read only; no
/// JIT, whose compile time costs more than it saves on a query read once; and no parallel
/// workers, which only take CPU from the API that encodes the rows, on the same few cores.
pub async fn begin(db: &mut PgConnection) -> Result<(), sqlx::Error> {
    for setting in [
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        "SET LOCAL jit = off",
        "SET LOCAL max_parallel_workers_per_gather = 0",
    ] {
        sqlx::query(setting).execute(&mut *db).await?;
    }
    Ok(())
}

/// The orgs in scope of `org_id`, in the ledger's order, as `viewer_org` sees them.
pub async fn scope_orgs(
    db: &mut PgConnection,
    viewer_org: &str,
    org_id: &str,
    scope: LedgerScope,
) -> Result<Vec<ScopeOrg>, sqlx::Error> {
    let rows: Vec<(String, String, bool)> = sqlx::query_as(SCOPE)
        .bind(org_id)
        .bind(viewer_org)
        .bind(matches!(scope, LedgerScope::Subtree))
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, sees_phones)| ScopeOrg {
            id,
            name: name.into(),
            sees_phones,
        })
        .collect())
}

/// The records' query, bound to the scope's ids and today.
pub fn records(
    orgs: &[ScopeOrg],
    today: NaiveDate,
) -> sqlx::query::QueryAs<'static, sqlx::Postgres, Raw, sqlx::postgres::PgArguments> {
    let ids: Vec<String> = orgs.iter().map(|o| o.id.clone()).collect();
    sqlx::query_as::<_, Raw>(RECORDS).bind(ids).bind(today)
}

/// One row of [`RECORDS`] as PostgreSQL sends it.
#[derive(sqlx::FromRow)]
pub struct Raw {
    ord: i64,
    member_id: String,
    status: String,
    region_code: String,
    inflow_org_id: Option<String>,
    certificate_no: Option<String>,
    phone: String,
    last_confirmed_on: Option<NaiveDate>,
    months_unconfirmed: i32,
    version: i64,
    left_on: Option<NaiveDate>,
    reason: Option<String>,
    address: Option<String>,
    employer: Option<String>,
    employer_type: Option<String>,
    contact_name: Option<String>,
    contact_phone: Option<String>,
    talk: Option<NaiveDate>,
    family_visit: Option<NaiveDate>,
    flags: Option<Json<Vec<String>>>,
    transfer_suggested: Option<bool>,
    member_name: Option<String>,
    inflow_org_name: Option<String>,
}

impl Raw {
    /// The row with its codes checked and the scope org's name and phone right attached. A
    /// code the domain does not know means the stored record is damaged: an error, which ends
    /// the export rather than showing a wrong word.
    pub fn into_row(self, orgs: &[ScopeOrg], ladder: &Ladder) -> Result<LedgerRow, sqlx::Error> {
        let org = usize::try_from(self.ord - 1)
            .ok()
            .and_then(|i| orgs.get(i))
            .ok_or_else(|| damaged(&self.member_id, "home org", &self.ord.to_string()))?;
        let status = Status::parse(&self.status)
            .ok_or_else(|| damaged(&self.member_id, "status", &self.status))?;
        let reason = match self.reason.as_deref() {
            Some(r) => Some(
                Reason::parse(r).map_err(|e| damaged(&self.member_id, "reason", &e.to_string()))?,
            ),
            None => None,
        };
        let employer_type = self.employer_type.as_deref().unwrap_or_default();
        let employer_type = EmployerType::parse(employer_type)
            .map_err(|e| damaged(&self.member_id, "employer type", &e.to_string()))?;
        let months = u32::try_from(self.months_unconfirmed).unwrap_or(0);
        let inflow_contact = self.contact_name.map(|name| InflowContact {
            name,
            phone: self.contact_phone.unwrap_or_default(),
        });
        Ok(LedgerRow {
            member_id: self.member_id,
            member_name: self.member_name.unwrap_or_default(),
            phone: self.phone,
            home_org_id: org.id.clone(),
            branch_name: org.name.clone(),
            sees_phones: org.sees_phones,
            left_on: self.left_on,
            reason,
            region_code: self.region_code,
            address: self.address.unwrap_or_default(),
            employer: self.employer,
            employer_type,
            inflow_org_id: self.inflow_org_id,
            inflow_org_name: self.inflow_org_name,
            inflow_contact,
            certificate_no: self.certificate_no,
            status,
            last_confirmed_on: self.last_confirmed_on,
            months_unconfirmed: months,
            last_talk: self.talk,
            last_family_visit: self.family_visit,
            flags: ladder_flags(
                &self.flags.map(|f| f.0).unwrap_or_default(),
                ladder.rung(months),
            ),
            transfer_suggested: self.transfer_suggested.unwrap_or(false),
            version: self.version,
        })
    }
}

fn damaged(member_id: &str, what: &str, detail: &str) -> sqlx::Error {
    sqlx::Error::Decode(
        format!(
            "the open record of member {member_id} has an unreadable {what} ({detail}); \
             re-send the member's latest registration to repair it"
        )
        .into(),
    )
}
