//! What the registry loads for a batch: one query per kind of thing, whatever the batch size.
//! The reads other roles also make (members, orgs, one open record, stations' points) are
//! shared ones, in `hongyan_adapters::store::reads`.

use std::collections::HashMap;

use hongyan_adapters::store::reads::{corrupt, member_row, record_row};
use hongyan_adapters::store::rows::MemberRow;
use hongyan_domain::RegionCode;
use hongyan_domain::ids::{MemberId, OrgId};
use hongyan_domain::ledger::FlowRecord;
use hongyan_domain::station::StationRef;
use sqlx::{PgConnection, Row};

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
