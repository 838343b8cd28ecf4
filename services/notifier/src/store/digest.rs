//! The digests' rows (DESIGN.md section 5, "Digests for org contacts"): a round's ready notices
//! gathered per contact, and a digest closed when it is claimed. Each contact's row in
//! `org_digest_contacts` is locked while its notices are gathered or its digest is closed, so
//! replicas running rounds at once agree on what goes alone and what each digest holds.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use hongyan_domain::digest::{self, Gathering, Window};
use hongyan_domain::ids::{EventId, OrgId};
use hongyan_domain::notify::Recipient;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::templates::ORG_DIGEST;

type Tx<'c> = sqlx::Transaction<'c, sqlx::Postgres>;

/// One contact's notices ready in a round.
pub struct ContactNotices<'a> {
    pub org: &'a OrgId,
    /// The contact, as the first notice names them; a digest goes to them.
    pub recipient: &'a Recipient,
    /// The notices, in the order they came.
    pub ids: Vec<Uuid>,
    /// The event behind the first notice, which a new digest names as its cause.
    pub caused_by: EventId,
}

/// What gathering did with one contact's notices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gathered {
    /// The notice that goes now, as itself.
    pub alone: Option<Uuid>,
    /// The digest the other notices joined (or started).
    pub digest: Option<Uuid>,
}

/// How long windows are and how long a digest stays worth sending.
#[derive(Clone, Copy, Debug)]
pub struct Windows {
    pub every: TimeDelta,
    pub useful_for: TimeDelta,
}

/// Gathers the round's ready notices, contact by contact, in one transaction: decides with
/// [`digest::gather`] under the contact's row lock and records it. A gathered notice leaves
/// its claim (`gathered`, not an attempt) and settles with its digest. Returned in the order
/// of `contacts`.
pub async fn gather(
    pool: &PgPool,
    contacts: &[ContactNotices<'_>],
    now: DateTime<Utc>,
    windows: Windows,
) -> sqlx::Result<Vec<Gathered>> {
    let mut out = vec![Gathered::default(); contacts.len()];
    if contacts.is_empty() {
        return Ok(out);
    }
    // Locked in one order (bytewise, as closing's `COLLATE "C"`) by every replica, so two
    // rounds never wait on each other in a cycle.
    let mut order: Vec<usize> = (0..contacts.len()).collect();
    order.sort_by_key(|&i| {
        (
            contacts[i].org.as_str(),
            contacts[i].recipient.phone.as_str(),
        )
    });
    let mut tx = pool.begin().await?;
    for i in order {
        out[i] = gather_one(&mut tx, &contacts[i], now, windows).await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// One contact: its window, the decision, and its writes.
async fn gather_one(
    tx: &mut Tx<'_>,
    c: &ContactNotices<'_>,
    now: DateTime<Utc>,
    windows: Windows,
) -> sqlx::Result<Gathered> {
    let (org, phone) = (c.org.as_str(), c.recipient.phone.as_str());
    sqlx::query(
        "INSERT INTO org_digest_contacts (org_id, phone) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(org)
    .bind(phone)
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(
        "SELECT last_sms_at, open_digest FROM org_digest_contacts WHERE org_id = $1 AND phone = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(phone)
    .fetch_one(&mut **tx)
    .await?;
    let window = Window {
        last_sms_at: row.try_get("last_sms_at")?,
        open: row.try_get::<Option<Uuid>, _>("open_digest")?,
    };
    let Some((&first, rest)) = c.ids.split_first() else {
        return Ok(Gathered::default());
    };
    match digest::gather(window, now, windows.every, c.ids.len()) {
        Gathering::FirstAlone { rest_at } => {
            sqlx::query("UPDATE notifications SET digest_id = id WHERE id = $1")
                .bind(first)
                .execute(&mut **tx)
                .await?;
            let digest = match rest_at {
                Some(at) => Some(start(tx, c, rest, at, windows).await?),
                None => {
                    set_window(tx, c, now, None).await?;
                    None
                }
            };
            Ok(Gathered {
                alone: Some(first),
                digest,
            })
        }
        Gathering::JoinOpen(digest) => {
            join(tx, digest, &c.ids).await?;
            Ok(Gathered {
                alone: None,
                digest: Some(digest),
            })
        }
        Gathering::StartDigest { at } => Ok(Gathered {
            alone: None,
            digest: Some(start(tx, c, &c.ids, at, windows).await?),
        }),
    }
}

/// Starts a digest due at `at` with `ids`: an `org_digest` notification to the contact, whose
/// params are written when it is claimed ([`close`]).
async fn start(
    tx: &mut Tx<'_>,
    c: &ContactNotices<'_>,
    ids: &[Uuid],
    at: DateTime<Utc>,
    windows: Windows,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO notifications (id, key, template, recipient, params, caused_by, channels, next_attempt_at, useful_until)
         VALUES ($1, $2, $3, $4::json, '{}'::json, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(format!("{ORG_DIGEST}:org:{}:{id}", c.org))
    .bind(ORG_DIGEST)
    .bind(serde_json::to_string(c.recipient).expect("a recipient serializes"))
    .bind(c.caused_by.0)
    .bind(&c.recipient.channels)
    .bind(at)
    .bind(at + windows.useful_for)
    .execute(&mut **tx)
    .await?;
    join(tx, id, ids).await?;
    set_window(tx, c, at, Some(id)).await?;
    Ok(id)
}

/// The notices leave their claim for the digest; the claim was not an attempt.
async fn join(tx: &mut Tx<'_>, digest: Uuid, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE notifications SET status = 'gathered', digest_id = $1, claimed_until = NULL,
             attempts = attempts - 1, updated_at = now()
         WHERE id = ANY($2) AND status = 'sending'",
    )
    .bind(digest)
    .bind(ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn set_window(
    tx: &mut Tx<'_>,
    c: &ContactNotices<'_>,
    last_sms_at: DateTime<Utc>,
    open: Option<Uuid>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE org_digest_contacts SET last_sms_at = $3, open_digest = $4 WHERE org_id = $1 AND phone = $2",
    )
    .bind(c.org.as_str())
    .bind(c.recipient.phone.as_str())
    .bind(last_sms_at)
    .bind(open)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Closes claimed digests: from now on no notice joins them (a later one starts the next
/// digest), and each one's params are built by `params` from the member names of the notices
/// it holds, in the order they came, and stored. Closing again (a retry, a dead worker's
/// claim taken again) finds the same notices and builds the same params.
pub async fn close(
    pool: &PgPool,
    digests: &[Uuid],
    params: impl Fn(&[String]) -> BTreeMap<String, String>,
) -> sqlx::Result<HashMap<Uuid, BTreeMap<String, String>>> {
    if digests.is_empty() {
        return Ok(HashMap::new());
    }
    let mut tx = pool.begin().await?;
    // Locked in the order gathering locks them, so a close and a gathering never deadlock.
    sqlx::query(
        r#"SELECT 1 FROM org_digest_contacts WHERE open_digest = ANY($1) ORDER BY org_id COLLATE "C", phone COLLATE "C" FOR UPDATE"#,
    )
    .bind(digests)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE org_digest_contacts SET open_digest = NULL WHERE open_digest = ANY($1)")
        .bind(digests)
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query(
        "SELECT digest_id, params::text AS params FROM notifications
         WHERE digest_id = ANY($1) AND id <> digest_id ORDER BY created_at, id",
    )
    .bind(digests)
    .fetch_all(&mut *tx)
    .await?;
    let mut names: HashMap<Uuid, Vec<String>> = digests.iter().map(|d| (*d, Vec::new())).collect();
    for r in rows {
        let params: BTreeMap<String, String> =
            serde_json::from_str(r.try_get("params")?).unwrap_or_default();
        let name = params.get("member_name").cloned().unwrap_or_default();
        names.entry(r.try_get("digest_id")?).or_default().push(name);
    }
    let built: HashMap<Uuid, BTreeMap<String, String>> = names
        .iter()
        .map(|(id, names)| (*id, params(names)))
        .collect();
    let (ids, docs): (Vec<Uuid>, Vec<String>) = built
        .iter()
        .map(|(id, p)| (*id, serde_json::to_string(p).expect("params serialize")))
        .unzip();
    sqlx::query(
        "UPDATE notifications n SET params = u.params::json, updated_at = now()
         FROM UNNEST($1::uuid[], $2::text[]) AS u(id, params) WHERE n.id = u.id",
    )
    .bind(ids)
    .bind(docs)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(built)
}
