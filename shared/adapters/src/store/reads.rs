//! What the registry loads for a batch: one query per kind of thing, whatever the batch size.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};
use hongyan_domain::ids::{MemberId, OrgId};
use hongyan_domain::ledger::FlowRecord;
use hongyan_domain::payloads::{Chat, Contact, Geo, OrgUpsert};
use hongyan_domain::station::StationRef;
use hongyan_domain::{OrgKind, RegionCode};
use sqlx::{PgConnection, Row};

use super::rows::{MemberRow, OrgRow};

fn corrupt(what: &str, e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("a stored {what} does not read back: {e}").into())
}

fn fixed(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.fixed_offset()
}

/// Event ids already applied.
pub async fn processed(
    conn: &mut PgConnection,
    ids: &[uuid::Uuid],
) -> sqlx::Result<Vec<uuid::Uuid>> {
    sqlx::query_scalar("SELECT event_id FROM processed_events WHERE event_id = ANY($1)")
        .bind(ids)
        .fetch_all(conn)
        .await
}

pub async fn members(conn: &mut PgConnection, ids: &[String]) -> sqlx::Result<Vec<MemberRow>> {
    let rows = sqlx::query("SELECT doc, state_at FROM members WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(member_row).collect()
}

pub async fn members_by_phone(
    conn: &mut PgConnection,
    phones: &[String],
) -> sqlx::Result<Vec<MemberRow>> {
    let rows = sqlx::query("SELECT doc, state_at FROM members WHERE phone = ANY($1) ORDER BY id")
        .bind(phones)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(member_row).collect()
}

fn member_row(r: sqlx::postgres::PgRow) -> sqlx::Result<MemberRow> {
    let doc: serde_json::Value = r.try_get("doc")?;
    Ok(MemberRow {
        member: serde_json::from_value(doc).map_err(|e| corrupt("member", e))?,
        state_at: fixed(r.try_get("state_at")?),
    })
}

pub async fn orgs(conn: &mut PgConnection, ids: &[String]) -> sqlx::Result<Vec<OrgRow>> {
    let rows = sqlx::query(
        "SELECT id, name, kind, parent_id, path, region_code, contact, chat, lon, lat, state_at FROM orgs WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(org_row).collect()
}

fn parse<T, E: std::fmt::Display>(what: &str, res: Result<T, E>) -> sqlx::Result<T> {
    res.map_err(|e| corrupt(what, e))
}

fn org_row(r: sqlx::postgres::PgRow) -> sqlx::Result<OrgRow> {
    let path: Vec<String> = r.try_get("path")?;
    let contact: serde_json::Value = r.try_get("contact")?;
    let chat: Option<serde_json::Value> = r.try_get("chat")?;
    let lon: Option<f64> = r.try_get("lon")?;
    let lat: Option<f64> = r.try_get("lat")?;
    let org = OrgUpsert {
        id: parse("org id", OrgId::parse(r.try_get("id")?))?,
        name: r.try_get("name")?,
        kind: parse("org kind", OrgKind::parse(r.try_get("kind")?))?,
        parent_id: r
            .try_get::<Option<&str>, _>("parent_id")?
            .map(|p| parse("org id", OrgId::parse(p)))
            .transpose()?,
        region_code: parse("region code", RegionCode::parse(r.try_get("region_code")?))?,
        contact: serde_json::from_value::<Contact>(contact).map_err(|e| corrupt("contact", e))?,
        chat: chat
            .map(serde_json::from_value::<Chat>)
            .transpose()
            .map_err(|e| corrupt("chat", e))?,
        geo: lon.zip(lat).map(|(lon, lat)| Geo { lon, lat }),
    };
    Ok(OrgRow {
        org,
        path: path
            .iter()
            .map(|p| parse("org path", OrgId::parse(p)))
            .collect::<sqlx::Result<_>>()?,
        state_at: fixed(r.try_get("state_at")?),
    })
}

/// Open records of these members. Not locked: the registry writes a record back only where
/// it still holds the version read ([`super::writes::changed_records`]), so two transactions
/// never both apply events to one record.
pub async fn open_records(
    conn: &mut PgConnection,
    member_ids: &[String],
) -> sqlx::Result<Vec<FlowRecord>> {
    let rows = sqlx::query("SELECT doc FROM flow_records WHERE member_id = ANY($1) AND is_open")
        .bind(member_ids)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(record_row).collect()
}

/// Open records holding these activity-certificate numbers.
pub async fn records_by_certificate(
    conn: &mut PgConnection,
    numbers: &[String],
) -> sqlx::Result<Vec<FlowRecord>> {
    let rows =
        sqlx::query("SELECT doc FROM flow_records WHERE certificate_no = ANY($1) AND is_open")
            .bind(numbers)
            .fetch_all(conn)
            .await?;
    rows.into_iter().map(record_row).collect()
}

/// Each member's newest record, open or closed: its version is where the next change counts
/// on from, and its `state_at` says whether a late event is older than the ledger.
pub async fn latest_records(
    conn: &mut PgConnection,
    member_ids: &[String],
) -> sqlx::Result<HashMap<MemberId, FlowRecord>> {
    let rows = sqlx::query(
        "SELECT DISTINCT ON (member_id) doc FROM flow_records WHERE member_id = ANY($1) ORDER BY member_id, version DESC",
    )
    .bind(member_ids)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| record_row(r).map(|rec| (rec.member_id.clone(), rec)))
        .collect()
}

fn record_row(r: sqlx::postgres::PgRow) -> sqlx::Result<FlowRecord> {
    let doc: serde_json::Value = r.try_get("doc")?;
    serde_json::from_value(doc).map_err(|e| corrupt("flow record", e))
}

/// Every service station, for choosing the one to tell a departing member about.
pub async fn stations(conn: &mut PgConnection) -> sqlx::Result<Vec<StationRef>> {
    let rows =
        sqlx::query("SELECT id, name, region_code FROM orgs WHERE kind = 'station' ORDER BY id")
            .fetch_all(conn)
            .await?;
    rows.into_iter()
        .map(|r| {
            Ok(StationRef {
                id: OrgId::parse(r.try_get("id")?).map_err(|e| corrupt("org id", e))?,
                name: r.try_get("name")?,
                region_code: RegionCode::parse(r.try_get("region_code")?)
                    .map_err(|e| corrupt("region code", e))?,
            })
        })
        .collect()
}

/// One page of open records, by member id, for rebuilding the directory.
pub async fn open_records_page(
    conn: &mut PgConnection,
    after: &str,
    limit: i64,
) -> sqlx::Result<Vec<FlowRecord>> {
    let rows = sqlx::query(
        "SELECT doc FROM flow_records WHERE is_open AND member_id > $1 ORDER BY member_id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(record_row).collect()
}

/// One page of each member's newest record, open or closed, by member id: rebuilding the
/// directory from these leaves it equal to PostgreSQL (a closed one replaces an open entry
/// that a failed write-through left behind).
pub async fn latest_records_page(
    conn: &mut PgConnection,
    after: &str,
    limit: i64,
) -> sqlx::Result<Vec<FlowRecord>> {
    let rows = sqlx::query(
        "SELECT DISTINCT ON (member_id) doc FROM flow_records WHERE member_id > $1
         ORDER BY member_id, version DESC LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(record_row).collect()
}

/// The open record of one member, for directory reads that miss.
pub async fn open_record(
    conn: &mut PgConnection,
    member_id: &str,
) -> sqlx::Result<Option<FlowRecord>> {
    let row = sqlx::query("SELECT doc FROM flow_records WHERE member_id = $1 AND is_open")
        .bind(member_id)
        .fetch_optional(conn)
        .await?;
    row.map(record_row).transpose()
}

/// Stations with coordinates, for the directory's GEO set.
pub async fn station_points(conn: &mut PgConnection) -> sqlx::Result<Vec<(String, f64, f64)>> {
    let rows = sqlx::query("SELECT id, lon, lat FROM orgs WHERE kind = 'station' AND lon IS NOT NULL AND lat IS NOT NULL")
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("lon")?, r.try_get("lat")?)))
        .collect()
}
