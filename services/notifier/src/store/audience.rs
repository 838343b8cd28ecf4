//! Who a broadcast reaches: its org's robot, or the org's flowing members one by one. Read
//! through the notifier's own views of the ledger (`notifier_org_channels`,
//! `notifier_recipients`, migration 0014), never the registry's tables.

use hongyan_domain::Phone;
use hongyan_domain::ids::{MemberId, OrgId};
use hongyan_domain::notify::{Recipient, Role};
use hongyan_domain::payloads::Chat;
use sqlx::PgPool;

/// An audience org as a broadcast needs it.
#[derive(Clone, Debug)]
pub struct AudienceOrg {
    pub name: String,
    pub chat: Option<Chat>,
}

/// The orgs of these broadcasts, read once per round. An org missing here is unknown.
pub async fn audience_orgs(
    pool: &PgPool,
    ids: &[&str],
) -> sqlx::Result<std::collections::HashMap<String, AudienceOrg>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(String, String, Option<serde_json::Value>)> = sqlx::query_as(
        "SELECT org_id, name, chat FROM notifier_org_channels WHERE org_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, chat)| {
            // A chat that does not read is treated as none: its members get SMS instead.
            let chat = chat.and_then(|c| serde_json::from_value(c).ok());
            (id, AudienceOrg { name, chat })
        })
        .collect())
}

/// The flowing members a broadcast to `org` reaches when it has no robot: those of its own
/// branch who are away, and those checked in with it (an inflow org), on their current phone.
pub async fn audience_members(
    pool: &PgPool,
    org: &str,
) -> sqlx::Result<Vec<(MemberId, Recipient)>> {
    let rows: Vec<(String, String, String, Option<serde_json::Value>, String)> = sqlx::query_as(
        "SELECT member_id, name, phone, channels, home_org_id FROM notifier_recipients
         WHERE away_from_org_id = $1 OR checked_in_org_id = $1
         ORDER BY member_id",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, name, phone, channels, home)| {
            let channels: Vec<String> = channels
                .and_then(|c| serde_json::from_value(c).ok())
                .unwrap_or_default();
            let id = MemberId::parse(&id).ok()?;
            let person = Recipient {
                role: Role::Member,
                name,
                phone: Phone::parse(&phone).ok()?,
                channels,
                member_id: Some(id.clone()),
                org_id: OrgId::parse(&home).ok(),
            };
            Some((id, person))
        })
        .collect())
}
