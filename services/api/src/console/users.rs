//! Console users (DESIGN.md section 12): a person at one org who signs in with their phone.
//! `hongyan users create|list|revoke` and the departments' 用户 screen both go through here.

use chrono::{DateTime, Utc};
use hongyan_domain::Phone;
use hongyan_domain::ids::OrgKind;
use sqlx::{PgPool, Row};

/// A console user as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub org_name: String,
    /// What the org is: the console's navigation and forms follow it.
    pub org_kind: OrgKind,
    pub name: String,
    pub phone: Phone,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl User {
    /// Whether the person works at a department (组织部门): the county's screens are theirs.
    pub fn is_department(&self) -> bool {
        self.org_kind == OrgKind::Department
    }
}

/// Why a user could not be created or revoked; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("No org {0} in the ledger: create it first (an org.upserted event), then the user.")]
    UnknownOrg(String),
    #[error(
        "The phone {0} already signs in as user {1}: revoke that user first (hongyan users revoke {1})."
    )]
    PhoneTaken(String, String),
    #[error("The name is empty: give the person's name as the org knows it.")]
    NoName,
    #[error("No active user {0}: see hongyan users list.")]
    NoSuchUser(String),
    #[error("Could not reach PostgreSQL: {0}")]
    Store(#[from] sqlx::Error),
}

/// Creates a user at `org_id`. `by` says who did (`cli`, or a console user's id).
pub async fn create(
    pool: &PgPool,
    org_id: &str,
    name: &str,
    phone: &Phone,
    by: &str,
    now: DateTime<Utc>,
) -> Result<User, UserError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(UserError::NoName);
    }
    let org: Option<(String, String)> = sqlx::query_as("SELECT name, kind FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_optional(pool)
        .await?;
    let (org_name, kind) = org.ok_or_else(|| UserError::UnknownOrg(org_id.to_owned()))?;
    if let Some(other) = by_phone(pool, phone).await? {
        return Err(UserError::PhoneTaken(phone.masked(), other.id));
    }
    let id = format!("u-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    sqlx::query(
        "INSERT INTO console_users (id, org_id, name, phone, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(org_id)
    .bind(name)
    .bind(phone.as_str())
    .bind(now)
    .bind(by)
    .execute(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            UserError::PhoneTaken(phone.masked(), "(another)".into())
        }
        _ => UserError::Store(e),
    })?;
    Ok(User {
        id,
        org_id: org_id.to_owned(),
        org_name,
        org_kind: kind_of(Some(&kind)),
        name: name.to_owned(),
        phone: phone.clone(),
        created_at: now,
        revoked_at: None,
    })
}

const SELECT: &str = "SELECT u.id, u.org_id, coalesce(o.name, u.org_id) AS org_name,
    o.kind AS org_kind, u.name, u.phone, u.created_at, u.revoked_at
    FROM console_users u LEFT JOIN orgs o ON o.id = u.org_id";

/// An org's kind as stored; an org the ledger no longer holds counts as a branch, whose
/// screens are the plainest.
fn kind_of(stored: Option<&str>) -> OrgKind {
    stored
        .and_then(|k| OrgKind::parse(k).ok())
        .unwrap_or(OrgKind::Branch)
}

fn read(r: &sqlx::postgres::PgRow) -> Result<User, sqlx::Error> {
    let phone: String = r.try_get("phone")?;
    Ok(User {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        org_name: r.try_get("org_name")?,
        org_kind: kind_of(r.try_get::<Option<String>, _>("org_kind")?.as_deref()),
        name: r.try_get("name")?,
        phone: Phone::parse(&phone).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// The active user who signs in with `phone`.
pub async fn by_phone(pool: &PgPool, phone: &Phone) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("{SELECT} WHERE u.phone = $1 AND u.revoked_at IS NULL");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(phone.as_str())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(read).transpose()
}

/// An active user by id.
pub async fn active(pool: &PgPool, id: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("{SELECT} WHERE u.id = $1 AND u.revoked_at IS NULL");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(read).transpose()
}

/// Users, revoked ones too, of `org` (or of every org), oldest first.
pub async fn list(pool: &PgPool, org: Option<&str>) -> Result<Vec<User>, sqlx::Error> {
    let sql =
        format!("{SELECT} WHERE $1::text IS NULL OR u.org_id = $1 ORDER BY u.created_at, u.id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .fetch_all(pool)
        .await?;
    rows.iter().map(read).collect()
}

/// Users, revoked ones too, of every org in `root`'s subtree (itself included), by org in the
/// tree's order, then oldest first: the 用户 screen of a department.
pub async fn in_subtree(pool: &PgPool, root: &str) -> Result<Vec<User>, sqlx::Error> {
    let sql =
        format!("{SELECT} WHERE o.path @> ARRAY[$1::text] ORDER BY o.path, u.created_at, u.id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(root)
        .fetch_all(pool)
        .await?;
    rows.iter().map(read).collect()
}

/// Revokes a user and ends their sessions at once.
pub async fn revoke(pool: &PgPool, id: &str, now: DateTime<Utc>) -> Result<(), UserError> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "UPDATE console_users SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(UserError::NoSuchUser(id.to_owned()));
    }
    sqlx::query(
        "UPDATE console_sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
