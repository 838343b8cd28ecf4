//! Ledger reads that more than one role makes (the registry, the API's member page, the
//! directory's rebuild and misses, `hongyan import`), and the decoders of its rows. The
//! registry's own batch reads are in `hongyan-registry` (`sql::reads`).

use chrono::{DateTime, FixedOffset, Utc};
use hongyan_domain::ids::OrgId;
use hongyan_domain::ledger::FlowRecord;
use hongyan_domain::payloads::{Chat, Contact, Geo, OrgUpsert};
use hongyan_domain::{OrgKind, RegionCode};
use sqlx::{PgConnection, Row};

use super::rows::{MemberRow, OrgRow};

/// A stored value that does not decode, as a decode error naming what it was.
pub fn corrupt(what: &str, e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("a stored {what} does not read back: {e}").into())
}

fn fixed(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.fixed_offset()
}

pub async fn members(conn: &mut PgConnection, ids: &[String]) -> sqlx::Result<Vec<MemberRow>> {
    let rows = sqlx::query("SELECT doc, state_at FROM members WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(member_row).collect()
}

/// A member row (`doc`, `state_at`) as read.
pub fn member_row(r: sqlx::postgres::PgRow) -> sqlx::Result<MemberRow> {
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

/// A flow record row (`doc`) as read.
pub fn record_row(r: sqlx::postgres::PgRow) -> sqlx::Result<FlowRecord> {
    let doc: serde_json::Value = r.try_get("doc")?;
    serde_json::from_value(doc).map_err(|e| corrupt("flow record", e))
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
