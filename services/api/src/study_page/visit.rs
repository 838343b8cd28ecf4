//! Who opened a study page: a study token becomes the member with the pack they were sent, or
//! a refusal that says what to do. The pack's page without a token shows the pack alone.

use chrono::NaiveDate;
use hongyan_adapters::config;
use hongyan_domain::ids::Phone;
use hongyan_domain::link::study::{self as study_link, StudyLink, StudyLinkError};
use hongyan_domain::study::Item;
use sqlx::PgPool;

use crate::page;
pub use crate::page::BranchContact;
use crate::state::AppState;

/// A stored pack, as the page shows it.
#[derive(Clone, Debug)]
pub struct Pack {
    pub title: String,
    pub summary: String,
    pub items: Vec<Item>,
}

/// A member on their own link to a pack.
#[derive(Clone, Debug)]
pub struct Visit {
    pub link: StudyLink,
    pub member_name: String,
    pub pack: Pack,
    /// When the registry recorded this member's completion of the pack, if it has.
    pub completed_on: Option<NaiveDate>,
}

/// Why the page does not open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Damaged, forged, made for another page (a member link), or for another pack.
    Tampered,
    /// Genuine but past its time: the member can be trusted, so their branch is named.
    Expired { branch: Option<BranchContact> },
    /// No such pack in the ledger (mistyped, or never stored).
    UnknownPack,
    /// The token's member is not in the ledger (removed since it was sent).
    UnknownMember,
}

/// What a token leads to.
pub type Access = page::Access<Visit, Refusal>;

/// Reading the ledger failed; the page says "try later" and the cause is logged.
#[derive(Debug, thiserror::Error)]
#[error("could not read the study pack or the member from the ledger")]
pub struct StoreError(#[from] sqlx::Error);

/// Checks the token (and that it was made for `pack_id`), then reads the pack, the member and
/// their completion.
pub async fn open(state: &AppState, pack_id: &str, token: &str) -> Result<Access, StoreError> {
    let link = match check(state, token) {
        Ok(link) if link.pack_id.as_str() == pack_id => link,
        Ok(_) | Err(StudyLinkError::Invalid) => return Ok(Access::Refused(Refusal::Tampered)),
        Err(StudyLinkError::Expired { member_id, .. }) => {
            let branch = branch_of(&state.pool, member_id.as_str()).await?;
            return Ok(Access::Refused(Refusal::Expired { branch }));
        }
    };
    let Some(pack) = pack(&state.pool, pack_id).await? else {
        return Ok(Access::Refused(Refusal::UnknownPack));
    };
    let Some(member_name) = member_name(&state.pool, link.member_id.as_str()).await? else {
        return Ok(Access::Refused(Refusal::UnknownMember));
    };
    let completed_on = completed_on(&state.pool, link.member_id.as_str(), pack_id).await?;
    Ok(Access::Open(Box::new(Visit {
        link,
        member_name,
        pack,
        completed_on,
    })))
}

fn check(state: &AppState, token: &str) -> Result<StudyLink, StudyLinkError> {
    let secret = config::expose(&state.settings.api.link_secret);
    if secret.is_empty() {
        tracing::error!(
            "api.link_secret is not set: study links cannot be checked; export HONGYAN__API__LINK_SECRET."
        );
        return Err(StudyLinkError::Invalid);
    }
    study_link::check(secret.as_bytes(), token, state.clock.now())
}

/// The pack `id`, if the registry stored it.
pub async fn pack(pool: &PgPool, id: &str) -> Result<Option<Pack>, StoreError> {
    let row: Option<(String, String, sqlx::types::Json<Vec<Item>>)> =
        sqlx::query_as("SELECT title, summary, items FROM study_packs WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(title, summary, items)| Pack {
        title,
        summary,
        items: items.0,
    }))
}

/// The member's home branch and its contact, to name on a refusal.
async fn branch_of(pool: &PgPool, member: &str) -> Result<Option<BranchContact>, StoreError> {
    let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT o.name, o.contact->>'name', o.contact->>'phone' FROM members m
         JOIN orgs o ON o.id = m.home_org_id WHERE m.id = $1",
    )
    .bind(member)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(branch_name, name, phone)| BranchContact {
        branch_name,
        contact_name: name.unwrap_or_default(),
        phone: phone
            .and_then(|p| Phone::parse(&p).ok())
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
    }))
}

async fn member_name(pool: &PgPool, id: &str) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT doc->>'name' FROM members WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

async fn completed_on(
    pool: &PgPool,
    member: &str,
    pack: &str,
) -> Result<Option<NaiveDate>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT completed_on FROM study_completions WHERE member_id = $1 AND pack_id = $2",
    )
    .bind(member)
    .bind(pack)
    .fetch_optional(pool)
    .await?)
}
