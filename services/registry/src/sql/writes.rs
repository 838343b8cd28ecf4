//! What the registry writes for a batch. Rows of one kind go in one statement (`UNNEST` over
//! arrays), so a batch of hundreds of events costs a handful of round trips. The registry is
//! the only writer of these tables (issue 16); the outbox is a shared write
//! (`hongyan_adapters::store::writes`).

use chrono::{DateTime, FixedOffset, Utc};
use hongyan_adapters::store::rows::{HistoryRow, MemberRow, OrgRow};
use hongyan_domain::ids::{EventId, OrgId};
use hongyan_domain::ledger::FlowRecord;
use serde_json::Value;
use sqlx::PgConnection;

fn utc(t: DateTime<FixedOffset>) -> DateTime<Utc> {
    t.with_timezone(&Utc)
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("domain types always serialize")
}

/// An arrival that matched nobody.
#[derive(Clone, Debug)]
pub struct UnmatchedRow {
    pub event_id: EventId,
    pub receiving_org_id: OrgId,
    pub county: String,
    pub name: String,
    pub phone: String,
    pub arrived_on: chrono::NaiveDate,
    pub location: Value,
}

/// A batch of records as column arrays, for `UNNEST`.
#[derive(Default)]
struct RecordColumns {
    ids: Vec<uuid::Uuid>,
    member: Vec<String>,
    home: Vec<String>,
    status: Vec<String>,
    open: Vec<bool>,
    region: Vec<String>,
    inflow: Vec<Option<String>>,
    cert: Vec<Option<String>>,
    phone: Vec<String>,
    confirmed: Vec<Option<chrono::NaiveDate>>,
    version: Vec<i64>,
    state_at: Vec<DateTime<Utc>>,
    doc: Vec<serde_json::Value>,
}

impl RecordColumns {
    fn of<'a>(recs: impl IntoIterator<Item = &'a FlowRecord>) -> Self {
        let mut c = Self::default();
        for r in recs {
            c.ids.push(r.record_id);
            c.member.push(r.member_id.as_str().to_owned());
            c.home.push(r.home_org_id.as_str().to_owned());
            c.status.push(r.status.as_str().to_owned());
            c.open.push(r.status.is_open());
            c.region.push(r.location.region_code.as_str().to_owned());
            c.inflow
                .push(r.inflow_org_id.as_ref().map(|o| o.as_str().to_owned()));
            c.cert
                .push(r.certificate_no.as_ref().map(|n| n.as_str().to_owned()));
            c.phone.push(r.phone.as_str().to_owned());
            c.confirmed.push(r.last_confirmed_on);
            c.version.push(r.version);
            c.state_at.push(utc(r.state_at));
            c.doc.push(json(r));
        }
        c
    }

    fn bind<'q>(
        self,
        q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        q.bind(self.ids)
            .bind(self.member)
            .bind(self.home)
            .bind(self.status)
            .bind(self.open)
            .bind(self.region)
            .bind(self.inflow)
            .bind(self.cert)
            .bind(self.phone)
            .bind(self.confirmed)
            .bind(self.version)
            .bind(self.state_at)
            .bind(self.doc)
    }
}

/// Inserts new records.
pub async fn new_records(conn: &mut PgConnection, recs: &[&FlowRecord]) -> sqlx::Result<()> {
    if recs.is_empty() {
        return Ok(());
    }
    let q = sqlx::query(
        "INSERT INTO flow_records (id, member_id, home_org_id, status, is_open, region_code, inflow_org_id,
             certificate_no, phone, last_confirmed_on, version, state_at, doc)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::text[],
             $8::text[], $9::text[], $10::date[], $11::bigint[], $12::timestamptz[], $13::jsonb[])",
    );
    RecordColumns::of(recs.iter().copied())
        .bind(q)
        .execute(conn)
        .await?;
    Ok(())
}

/// Updates records read at version `read_at`, each only where the row still holds that
/// version. Returns how many were updated: fewer than given means another transaction (a
/// replica taking over; the registry is the records' only writer) changed one since it was read, and
/// this batch must roll back and read again. (Optimistic, instead of locking every record
/// read with `FOR UPDATE`: that lock cost a WAL record and a dirtied page per record.)
pub async fn changed_records(
    conn: &mut PgConnection,
    recs: &[(&FlowRecord, i64)],
) -> sqlx::Result<u64> {
    if recs.is_empty() {
        return Ok(0);
    }
    let read_at: Vec<i64> = recs.iter().map(|(_, v)| *v).collect();
    let q = sqlx::query(
        "UPDATE flow_records r SET home_org_id = u.home, status = u.status, is_open = u.open,
             region_code = u.region, inflow_org_id = u.inflow, certificate_no = u.cert, phone = u.phone,
             last_confirmed_on = u.confirmed, version = u.version,
             state_at = u.state_at, doc = u.doc, updated_at = now()
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::text[],
             $8::text[], $9::text[], $10::date[], $11::bigint[], $12::timestamptz[], $13::jsonb[],
             $14::bigint[])
             AS u(id, member, home, status, open, region, inflow, cert, phone, confirmed, version,
                  state_at, doc, read_at)
         WHERE r.id = u.id AND r.version = u.read_at",
    );
    let done = RecordColumns::of(recs.iter().map(|(r, _)| *r))
        .bind(q)
        .bind(read_at)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub async fn members(conn: &mut PgConnection, rows: &[&MemberRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.member.id.as_str().to_owned())
        .collect();
    let homes: Vec<String> = rows
        .iter()
        .map(|r| r.member.home_org_id.as_str().to_owned())
        .collect();
    let phones: Vec<String> = rows
        .iter()
        .map(|r| r.member.phone.as_str().to_owned())
        .collect();
    let docs: Vec<serde_json::Value> = rows.iter().map(|r| json(&r.member)).collect();
    let at: Vec<DateTime<Utc>> = rows.iter().map(|r| utc(r.state_at)).collect();
    sqlx::query(
        "INSERT INTO members (id, home_org_id, phone, doc, state_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[])
         ON CONFLICT (id) DO UPDATE SET home_org_id = EXCLUDED.home_org_id, phone = EXCLUDED.phone,
             doc = EXCLUDED.doc, state_at = EXCLUDED.state_at, updated_at = now()",
    )
    .bind(ids)
    .bind(homes)
    .bind(phones)
    .bind(docs)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes one org; when its place in the tree changed, every descendant's path follows.
pub async fn org(
    conn: &mut PgConnection,
    row: &OrgRow,
    old_path: Option<&[String]>,
) -> sqlx::Result<()> {
    let o = &row.org;
    let path: Vec<String> = row.path.iter().map(|p| p.as_str().to_owned()).collect();
    sqlx::query(
        "INSERT INTO orgs (id, name, kind, parent_id, path, region_code, contact, chat, lon, lat, state_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, parent_id = EXCLUDED.parent_id,
             path = EXCLUDED.path, region_code = EXCLUDED.region_code, contact = EXCLUDED.contact, chat = EXCLUDED.chat,
             lon = EXCLUDED.lon, lat = EXCLUDED.lat, state_at = EXCLUDED.state_at, updated_at = now()",
    )
    .bind(o.id.as_str())
    .bind(&o.name)
    .bind(o.kind.as_str())
    .bind(o.parent_id.as_ref().map(|p| p.as_str()))
    .bind(&path)
    .bind(o.region_code.as_str())
    .bind(json(&o.contact))
    .bind(o.chat.as_ref().map(json))
    .bind(o.geo.map(|g| g.lon))
    .bind(o.geo.map(|g| g.lat))
    .bind(utc(row.state_at))
    .execute(&mut *conn)
    .await?;
    if let Some(old) = old_path.filter(|old| *old != path.as_slice()) {
        // Descendants keep the part of their path below this org and take its new path above.
        sqlx::query(
            "UPDATE orgs SET path = $2 || path[cardinality($3::text[]) + 1:], updated_at = now()
             WHERE $1 = ANY(path) AND id <> $1",
        )
        .bind(o.id.as_str())
        .bind(&path)
        .bind(old)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Records events as applied. Returns how many were new: fewer than given means a concurrent
/// transaction applied some of them first, and this batch must roll back.
pub async fn processed(conn: &mut PgConnection, ids: &[uuid::Uuid]) -> sqlx::Result<u64> {
    let done = sqlx::query("INSERT INTO processed_events (event_id) SELECT * FROM UNNEST($1::uuid[]) ON CONFLICT DO NOTHING")
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub async fn unmatched(conn: &mut PgConnection, row: &UnmatchedRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO unmatched_arrivals (event_id, receiving_org_id, county, name, phone, arrived_on, location)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(row.event_id.0)
    .bind(row.receiving_org_id.as_str())
    .bind(&row.county)
    .bind(&row.name)
    .bind(&row.phone)
    .bind(row.arrived_on)
    .bind(&row.location)
    .execute(conn)
    .await?;
    Ok(())
}

/// History lines (append-only), one statement per batch.
pub async fn history(conn: &mut PgConnection, rows: &[HistoryRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ev: Vec<uuid::Uuid> = rows.iter().map(|r| r.event_id.0).collect();
    let ty: Vec<&str> = rows.iter().map(|r| r.event_type).collect();
    let member: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.member_id.as_ref().map(|m| m.as_str()))
        .collect();
    let org: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.org_id.as_ref().map(|o| o.as_str()))
        .collect();
    let rec: Vec<Option<uuid::Uuid>> = rows.iter().map(|r| r.record_id).collect();
    let at: Vec<DateTime<Utc>> = rows.iter().map(|r| utc(r.occurred_at)).collect();
    let actor: Vec<&serde_json::Value> = rows.iter().map(|r| &r.actor).collect();
    let data: Vec<&serde_json::Value> = rows.iter().map(|r| &r.data).collect();
    let applied: Vec<bool> = rows.iter().map(|r| r.applied).collect();
    let note: Vec<Option<&str>> = rows.iter().map(|r| r.note.as_deref()).collect();
    sqlx::query(
        "INSERT INTO history (event_id, event_type, member_id, org_id, record_id, occurred_at, actor, data, applied, note)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::timestamptz[],
             $7::jsonb[], $8::jsonb[], $9::bool[], $10::text[])",
    )
    .bind(ev)
    .bind(ty)
    .bind(member)
    .bind(org)
    .bind(rec)
    .bind(at)
    .bind(actor)
    .bind(data)
    .bind(applied)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}
