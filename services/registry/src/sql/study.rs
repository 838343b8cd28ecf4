//! Study packs and completions: what the registry reads and writes for `study.*`.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use hongyan_domain::ids::EventId;
use hongyan_domain::study::StudyPublished;
use sqlx::PgConnection;

/// A pack as it is stored.
#[derive(Clone, Debug)]
pub struct PackRow {
    pub pack: StudyPublished,
    pub published_by: String,
    pub published_at: DateTime<FixedOffset>,
    pub event_id: EventId,
}

/// A completion as it is stored.
#[derive(Clone, Debug)]
pub struct CompletionRow {
    pub member_id: String,
    pub pack_id: String,
    pub on: NaiveDate,
    pub event_id: EventId,
}

/// Which of these packs exist, with the time of the event that last set each.
pub async fn packs(
    conn: &mut PgConnection,
    ids: &[String],
) -> sqlx::Result<Vec<(String, DateTime<Utc>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as("SELECT id, state_at FROM study_packs WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(conn)
        .await
}

/// Which of these (member, pack) pairs are already recorded as completed.
pub async fn completions(
    conn: &mut PgConnection,
    members: &[String],
    packs: &[String],
) -> sqlx::Result<HashSet<(String, String)>> {
    if members.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT member_id, pack_id FROM study_completions WHERE (member_id, pack_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))",
    )
    .bind(members)
    .bind(packs)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Inserts or replaces packs; when a pack went out is the scheduler's (`study_pack_sends`), so a
/// pack already sent is not sent twice.
pub async fn write_packs(conn: &mut PgConnection, rows: &[PackRow]) -> sqlx::Result<()> {
    for r in rows {
        let p = &r.pack;
        sqlx::query(
            "INSERT INTO study_packs (id, title, summary, items, audience_org_ids, audience_region_codes,
                 published_by, send_at, published_at, event_id, state_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9)
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, summary = EXCLUDED.summary,
                 items = EXCLUDED.items, audience_org_ids = EXCLUDED.audience_org_ids,
                 audience_region_codes = EXCLUDED.audience_region_codes, published_by = EXCLUDED.published_by,
                 send_at = EXCLUDED.send_at, published_at = EXCLUDED.published_at, event_id = EXCLUDED.event_id,
                 state_at = EXCLUDED.state_at, updated_at = now()",
        )
        .bind(p.pack_id.as_str())
        .bind(&p.title)
        .bind(&p.summary)
        .bind(serde_json::to_value(&p.items).expect("items serialize"))
        .bind(p.audience.org_ids.iter().map(|o| o.as_str()).collect::<Vec<_>>())
        .bind(&p.audience.region_codes)
        .bind(&r.published_by)
        .bind(p.send_at.map(|t| t.to_utc()))
        .bind(r.published_at.to_utc())
        .bind(r.event_id.0)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn write_completions(
    conn: &mut PgConnection,
    rows: &[CompletionRow],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO study_completions (member_id, pack_id, completed_on, event_id)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::date[], $4::uuid[]) ON CONFLICT DO NOTHING",
    )
    .bind(rows.iter().map(|r| r.member_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.pack_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.on).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.event_id.0).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
