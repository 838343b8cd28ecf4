//! Study packs going out (学习资源包, DESIGN.md sections 4 and 5): on the activity day (每月9日
//! 党员活动日) the packs that have no `send_at`, and every minute the packs whose `send_at` has
//! come. Each pack is one broadcast per audience org: the notifier sends it to the org's group
//! robot as a card, or, for an org without a robot, to each of its away members by SMS with a
//! short text and the pack's link. A pack is marked sent in the same transaction, so it goes
//! once; its broadcasts are keyed by pack and org, so a rerun adds nothing.

use hongyan_domain::ids::{EventId, OrgId};
use hongyan_domain::notify::{NotificationRequest, templates};
use hongyan_domain::regions;
use sqlx::PgConnection;
use tracing::{info, instrument, warn};

use crate::firing::Firing;
use crate::jobs::{request_row, write};

/// Which packs a firing sends.
#[derive(Clone, Copy)]
enum Due {
    /// Published by the activity day, with no `send_at`.
    ActivityDay,
    /// Their `send_at` has come.
    SendAt,
}

/// `activity_day`: this month's packs that have no `send_at`. Returns outbox rows written.
#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
pub async fn activity_day(conn: &mut PgConnection, firing: &Firing<'_>) -> anyhow::Result<u64> {
    send(conn, firing, Due::ActivityDay).await
}

/// `study_send_at`: packs whose `send_at` has come. Returns outbox rows written.
#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
pub async fn study_send_at(conn: &mut PgConnection, firing: &Firing<'_>) -> anyhow::Result<u64> {
    send(conn, firing, Due::SendAt).await
}

/// A pack as sending needs it.
#[derive(sqlx::FromRow)]
struct Pack {
    id: String,
    title: String,
    summary: String,
    audience_org_ids: Vec<String>,
    audience_region_codes: Vec<String>,
    event_id: uuid::Uuid,
}

const ACTIVITY_DAY_PACKS: &str = "
SELECT id, title, summary, audience_org_ids, audience_region_codes, event_id FROM study_packs
WHERE sent_at IS NULL AND send_at IS NULL AND published_at <= $1 ORDER BY id FOR UPDATE";

const SEND_AT_PACKS: &str = "
SELECT id, title, summary, audience_org_ids, audience_region_codes, event_id FROM study_packs
WHERE sent_at IS NULL AND send_at <= $1 ORDER BY id FOR UPDATE";

/// The audience's orgs a broadcast reaches: every org in the subtree of an audience org or
/// located in an audience region, that has a group robot (a card) or members away whose home
/// it is (SMS to each of them). Orgs with neither would get nothing, so they get no request.
const AUDIENCE_ORGS: &str = "
SELECT o.id FROM orgs o
WHERE (o.path && $1::text[] OR o.region_code LIKE ANY($2::text[]))
  AND (o.chat IS NOT NULL
       OR EXISTS (SELECT 1 FROM flow_records f WHERE f.is_open AND f.home_org_id = o.id))
ORDER BY o.id";

async fn send(conn: &mut PgConnection, firing: &Firing<'_>, due: Due) -> anyhow::Result<u64> {
    let sql = match due {
        Due::ActivityDay => ACTIVITY_DAY_PACKS,
        Due::SendAt => SEND_AT_PACKS,
    };
    let packs: Vec<Pack> = sqlx::query_as(sql)
        .bind(firing.due)
        .fetch_all(&mut *conn)
        .await?;
    if packs.is_empty() {
        return Ok(0);
    }
    let base = firing.settings.api.public_url.trim_end_matches('/');
    let mut rows = Vec::new();
    for pack in &packs {
        let orgs = audience(conn, pack).await?;
        if orgs.is_empty() {
            warn!(pack = %pack.id, "A study pack's audience reaches no org with a robot or members away; it is marked sent with nobody told.");
        }
        rows.extend(
            orgs.into_iter()
                .map(|org| request_row(&broadcast(pack, org, base), firing.due)),
        );
    }
    let ids: Vec<&str> = packs.iter().map(|p| p.id.as_str()).collect();
    sqlx::query("UPDATE study_packs SET sent_at = $2, updated_at = now() WHERE id = ANY($1)")
        .bind(&ids)
        .bind(firing.due)
        .execute(&mut *conn)
        .await?;
    let n = write(conn, &rows, firing.settings.scheduler.batch_size).await?;
    info!(packs = packs.len(), broadcasts = n, "Study packs sent out.");
    Ok(n)
}

async fn audience(conn: &mut PgConnection, pack: &Pack) -> sqlx::Result<Vec<OrgId>> {
    // A region code in the form the table uses (`440300` → `4403`), as a prefix of the orgs'
    // codes at any level.
    let prefixes: Vec<String> = pack
        .audience_region_codes
        .iter()
        .filter_map(|c| regions::normalize(c))
        .map(|c| format!("{c}%"))
        .collect();
    let ids: Vec<String> = sqlx::query_scalar(AUDIENCE_ORGS)
        .bind(&pack.audience_org_ids)
        .bind(&prefixes)
        .fetch_all(conn)
        .await?;
    Ok(ids.iter().filter_map(|i| OrgId::parse(i).ok()).collect())
}

/// The pack's link for a member: `{api.public_url}/s/{pack_id}`.
pub fn pack_url(public_url: &str, pack_id: &str) -> String {
    format!("{}/s/{pack_id}", public_url.trim_end_matches('/'))
}

fn broadcast(pack: &Pack, org: OrgId, base: &str) -> NotificationRequest {
    NotificationRequest::broadcast(
        templates::STUDY_PACK,
        org,
        &pack.id,
        EventId(pack.event_id),
        &[
            ("title", pack.title.clone()),
            ("summary", pack.summary.clone()),
            ("url", pack_url(base, &pack.id)),
        ],
    )
}
