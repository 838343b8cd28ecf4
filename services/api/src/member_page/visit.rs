//! Who opened the page: a token becomes either a member with an open record whose month is not
//! yet confirmed, or a refusal that says what to do (DESIGN.md section 7).

use hongyan_adapters::config;
use hongyan_adapters::store::reads;
use hongyan_domain::ids::MemberId;
use hongyan_domain::ledger::{FlowRecord, Member};
use hongyan_domain::link::{self, LinkError, MemberLink};
use hongyan_domain::payloads::Contact;
use hongyan_domain::rules::monthly::confirmed_in;
use sqlx::PgPool;

use crate::page;
pub use crate::page::BranchContact;
use crate::state::AppState;

/// A member allowed to confirm or edit this month's record.
#[derive(Clone, Debug)]
pub struct Visit {
    pub link: MemberLink,
    pub member: Member,
    pub branch_name: String,
    /// The branch's contact, whom the page offers to call.
    pub branch: Option<BranchContact>,
    pub record: FlowRecord,
    /// The link's month is confirmed already: the member may still change the answer.
    pub confirmed: bool,
}

/// Why the page does not open, and whom the member should call.
#[derive(Clone, Debug)]
pub enum Refusal {
    /// Damaged or forged: nothing in it is trusted, so no branch can be named.
    Tampered,
    /// Genuine but past its time.
    Expired { branch: Option<BranchContact> },
    /// The member has no open flow record (returned, transferred, or never registered).
    NoRecord { branch: Option<BranchContact> },
}

/// What a token leads to.
pub type Access = page::Access<Visit, Refusal>;

/// Reading the ledger failed; the page says "try later" and the cause is logged.
#[derive(Debug, thiserror::Error)]
#[error("could not read the member's ledger")]
pub struct StoreError(#[source] pub sqlx::Error);

/// Checks the token, then the ledger: the member, their open record, and whether the link's
/// month is already confirmed (then the page says so, and the member may still change their
/// answer within the month: the confirmation is spent, the link is not).
pub async fn open(state: &AppState, token: &str) -> Result<Access, StoreError> {
    let secret = config::expose(&state.settings.api.link_secret);
    if secret.is_empty() {
        tracing::error!(
            "api.link_secret is not set: member links cannot be checked; export HONGYAN__API__LINK_SECRET."
        );
        return Ok(Access::Refused(Refusal::Tampered));
    }
    let now = state.clock.now();
    let link = match link::check(secret.as_bytes(), token, now) {
        Ok(link) => link,
        Err(LinkError::Invalid) => return Ok(Access::Refused(Refusal::Tampered)),
        Err(LinkError::Expired { member_id, .. }) => {
            let branch = branch_of(&state.pool, &member_id).await?;
            return Ok(Access::Refused(Refusal::Expired { branch }));
        }
    };
    let mut conn = state.pool.acquire().await.map_err(StoreError)?;
    let Some(member) = reads::members(&mut conn, &[link.member_id.to_string()])
        .await
        .map_err(StoreError)?
        .into_iter()
        .next()
        .map(|r| r.member)
    else {
        return Ok(Access::Refused(Refusal::Tampered));
    };
    let branch = contact_of(&mut conn, &member).await?;
    let record = reads::open_record(&mut conn, member.id.as_str())
        .await
        .map_err(StoreError)?;
    let Some(record) = record else {
        return Ok(Access::Refused(Refusal::NoRecord { branch }));
    };
    // 一月一更新: any update counts as the month's confirmation.
    let confirmed = confirmed_in(record.last_confirmed_on, link.month);
    let branch_name = branch
        .as_ref()
        .map(|b| b.branch_name.clone())
        .unwrap_or_else(|| member.home_org_id.to_string());
    Ok(Access::Open(Box::new(Visit {
        link,
        member,
        branch_name,
        branch,
        record,
        confirmed,
    })))
}

async fn branch_of(
    pool: &PgPool,
    member_id: &MemberId,
) -> Result<Option<BranchContact>, StoreError> {
    let mut conn = pool.acquire().await.map_err(StoreError)?;
    let member = reads::members(&mut conn, &[member_id.to_string()])
        .await
        .map_err(StoreError)?
        .into_iter()
        .next();
    match member {
        Some(m) => contact_of(&mut conn, &m.member).await,
        None => Ok(None),
    }
}

async fn contact_of(
    conn: &mut sqlx::PgConnection,
    member: &Member,
) -> Result<Option<BranchContact>, StoreError> {
    let org = reads::orgs(conn, &[member.home_org_id.to_string()])
        .await
        .map_err(StoreError)?
        .into_iter()
        .next();
    Ok(org.map(|o| {
        let Contact { name, phone } = o.org.contact;
        BranchContact {
            branch_name: o.org.name,
            contact_name: name,
            phone: phone.as_str().to_owned(),
        }
    }))
}
