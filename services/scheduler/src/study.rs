//! Study packs going out (学习资源包, DESIGN.md sections 4 and 5): on the activity day (每月9日
//! 党员活动日) the packs that have no `send_at`, and every minute the packs whose `send_at` has
//! come. An audience org with a group robot gets one broadcast, a card linking to the pack's
//! page; an org without one gets nothing as a group, and each of its away members a short SMS
//! with their own study link (`/s/{pack_id}/{token}`, `hongyan_domain::link::study`), where
//! they read the pack and mark it studied. A pack is marked sent in the same transaction, so it
//! goes once; broadcasts are keyed by pack and org and SMS by pack and member, so a rerun adds
//! nothing.

use chrono::{DateTime, TimeDelta, Utc};
use hongyan_domain::ids::{EventId, MemberId, OrgId, Phone};
use hongyan_domain::link::study as study_link;
use hongyan_domain::notify::{NotificationRequest, Recipient, Role, default_channels, templates};
use hongyan_domain::regions;
use secrecy::ExposeSecret;
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

// Packs are the registry's (study_packs); when one went out is the scheduler's own
// (study_pack_sends, migration 0016), so each table keeps one writer.
const ACTIVITY_DAY_PACKS: &str = "
SELECT p.pack_id AS id, p.title, p.summary, p.audience_org_ids, p.audience_region_codes, p.event_id
FROM scheduler_study_packs p
WHERE NOT EXISTS (SELECT 1 FROM study_pack_sends s WHERE s.pack_id = p.pack_id)
  AND p.send_at IS NULL AND p.published_at <= $1 ORDER BY p.pack_id";

const SEND_AT_PACKS: &str = "
SELECT p.pack_id AS id, p.title, p.summary, p.audience_org_ids, p.audience_region_codes, p.event_id
FROM scheduler_study_packs p
WHERE NOT EXISTS (SELECT 1 FROM study_pack_sends s WHERE s.pack_id = p.pack_id)
  AND p.send_at <= $1 ORDER BY p.pack_id";

/// The audience's orgs a pack reaches: every org in the subtree of an audience org or located
/// in an audience region, that has a group robot (a card) or members away whose home it is
/// (SMS to each of them). Orgs with neither would get nothing, so they are not listed.
const AUDIENCE_ORGS: &str = "
SELECT o.org_id AS id, o.has_robot FROM scheduler_orgs o
WHERE (o.path && $1::text[] OR o.region_code LIKE ANY($2::text[]))
  AND (o.has_robot
       OR EXISTS (SELECT 1 FROM scheduler_records f WHERE f.is_open AND f.home_org_id = o.org_id))
ORDER BY o.org_id";

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
    let links = Links::of(firing);
    let mut rows = Vec::new();
    for pack in &packs {
        let (robots, without) = audience(conn, pack).await?;
        if robots.is_empty() && without.is_empty() {
            warn!(pack = %pack.id, "A study pack's audience reaches no org with a robot or members away; it is marked sent with nobody told.");
        }
        let members = away_members(conn, &without).await?;
        let requests = robots
            .into_iter()
            .map(|org| broadcast(pack, org, &links))
            .chain(members.iter().filter_map(|m| sms(pack, m, &links)));
        rows.extend(requests.map(|req| request_row(&req, firing.due)));
    }
    let ids: Vec<&str> = packs.iter().map(|p| p.id.as_str()).collect();
    sqlx::query(
        "INSERT INTO study_pack_sends (pack_id, sent_at) SELECT unnest($1::text[]), $2
         ON CONFLICT (pack_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(firing.due)
    .execute(&mut *conn)
    .await?;
    let n = write(conn, &rows, firing.settings.scheduler.batch_size).await?;
    info!(packs = packs.len(), requests = n, "Study packs sent out.");
    Ok(n)
}

/// The audience's orgs: those with a group robot, and those without one (whose away members
/// are told one by one).
async fn audience(conn: &mut PgConnection, pack: &Pack) -> sqlx::Result<(Vec<OrgId>, Vec<String>)> {
    // A region code in the form the table uses (`440300` → `4403`), as a prefix of the orgs'
    // codes at any level.
    let prefixes: Vec<String> = pack
        .audience_region_codes
        .iter()
        .filter_map(|c| regions::normalize(c))
        .map(|c| format!("{c}%"))
        .collect();
    let orgs: Vec<(String, bool)> = sqlx::query_as(AUDIENCE_ORGS)
        .bind(&pack.audience_org_ids)
        .bind(&prefixes)
        .fetch_all(conn)
        .await?;
    let (robots, without): (Vec<_>, Vec<_>) = orgs.into_iter().partition(|(_, robot)| *robot);
    Ok((
        robots
            .iter()
            .filter_map(|(id, _)| OrgId::parse(id).ok())
            .collect(),
        without.into_iter().map(|(id, _)| id).collect(),
    ))
}

/// An away member of an audience branch without a robot, as the SMS needs them.
#[derive(sqlx::FromRow)]
struct AwayMember {
    member_id: String,
    name: String,
    phone: String,
    home_org_id: String,
    channels: Option<sqlx::types::Json<Vec<String>>>,
}

/// The members with an open record whose home is one of `orgs`, in one query.
async fn away_members(conn: &mut PgConnection, orgs: &[String]) -> sqlx::Result<Vec<AwayMember>> {
    if orgs.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT f.member_id, m.name, f.phone, f.home_org_id, m.channels
         FROM scheduler_records f JOIN scheduler_members m ON m.member_id = f.member_id
         WHERE f.is_open AND f.home_org_id = ANY($1) ORDER BY f.member_id",
    )
    .bind(orgs)
    .fetch_all(conn)
    .await
}

/// How this firing links to a pack: the public base, and the study key with the links' expiry
/// (`api.link_valid_days` from the sending) when `api.link_secret` is set.
struct Links {
    base: String,
    signing: Option<(Vec<u8>, DateTime<Utc>)>,
}

impl Links {
    fn of(firing: &Firing<'_>) -> Self {
        let api = &firing.settings.api;
        let signing = api.link_secret.as_ref().map(|s| {
            let expires = firing.due + TimeDelta::days(i64::from(api.link_valid_days));
            (s.expose_secret().as_bytes().to_vec(), expires)
        });
        if signing.is_none() {
            warn!(
                "api.link_secret is not set: study pack SMS link to the pack's page only, where members cannot mark it studied; export HONGYAN__API__LINK_SECRET."
            );
        }
        Self {
            base: api.public_url.clone(),
            signing,
        }
    }

    /// The member's own link, or the pack's page when links cannot be signed.
    fn for_member(&self, member: &MemberId, pack: &OrgId) -> String {
        match &self.signing {
            Some((secret, expires)) => {
                let token = study_link::mint(secret, member, pack, *expires);
                study_link::url(&self.base, pack, &token)
            }
            None => study_link::pack_url(&self.base, pack),
        }
    }
}

fn params(pack: &Pack, url: String) -> Vec<(&'static str, String)> {
    vec![
        ("title", pack.title.clone()),
        ("summary", pack.summary.clone()),
        ("url", url),
    ]
}

/// The card for an org's group robot: it links to the pack's page, which names nobody.
fn broadcast(pack: &Pack, org: OrgId, links: &Links) -> NotificationRequest {
    let url = OrgId::parse(&pack.id)
        .map(|p| study_link::pack_url(&links.base, &p))
        .unwrap_or_else(|_| links.base.clone());
    NotificationRequest::broadcast(
        templates::STUDY_PACK,
        org,
        &pack.id,
        EventId(pack.event_id),
        &params(pack, url),
    )
}

/// The SMS to one away member with their own study link, keyed by pack and member; `None`
/// (logged) when the stored row does not read back, which must not hold up everyone else's.
fn sms(pack: &Pack, m: &AwayMember, links: &Links) -> Option<NotificationRequest> {
    let (Ok(member), Ok(phone), Ok(pack_id)) = (
        MemberId::parse(&m.member_id),
        Phone::parse(&m.phone),
        OrgId::parse(&pack.id),
    ) else {
        warn!(member_id = %m.member_id, pack = %pack.id, "Study pack SMS skipped: the member id, phone or pack id does not read back; fix it with member.upserted.");
        return None;
    };
    let url = links.for_member(&member, &pack_id);
    let mut params = params(pack, url);
    params.push(("member_name", m.name.clone()));
    let channels = m
        .channels
        .as_ref()
        .map(|c| c.0.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(default_channels);
    let recipient = Recipient {
        role: Role::Member,
        name: m.name.clone(),
        phone,
        channels,
        member_id: Some(member.clone()),
        org_id: OrgId::parse(&m.home_org_id).ok(),
    };
    let mut req = NotificationRequest::new(
        templates::STUDY_PACK,
        recipient,
        EventId(pack.event_id),
        &params,
    );
    req.key = format!("{}:{}:member:{member}", templates::STUDY_PACK, pack.id);
    Some(req)
}
