//! Sign-in by phone and SMS code, the mainland habit (DESIGN.md section 12). The rules, each
//! against guessing or flooding: a code works for 5 minutes and 5 tries; a phone gets at most
//! one code a minute and 10 a day; a client address at most 30 code requests and 60 code
//! entries an hour. A phone nobody registered is answered exactly like a registered one (the
//! code is recorded and counted, no SMS goes out), so the page tells nobody who is registered.

use chrono::{DateTime, TimeDelta, Utc};
use hongyan_adapters::amqp::Names;
use hongyan_adapters::amqp::publisher::Outgoing;
use hongyan_domain::Phone;
use hongyan_domain::ids::{EventId, OrgId};
use hongyan_domain::notify::{self, NotificationRequest, Recipient, Role};
use hongyan_domain::outgoing::keyed_envelope;
use lapin::types::FieldTable;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::users::{self, User};
use crate::state::AppState;

/// The SMS template of a code (`config/templates/login_code.toml`).
pub const TEMPLATE: &str = "login_code";
/// How long a code works.
pub const CODE_VALID: TimeDelta = TimeDelta::minutes(5);
/// Wrong entries a code takes before it stops working.
pub const TRIES: i32 = 5;
const PER_PHONE_MINUTE: i64 = 1;
const PER_PHONE_DAY: i64 = 10;
const PER_CLIENT_CODES_HOUR: i64 = 30;
const PER_CLIENT_ENTRIES_HOUR: i64 = 60;

/// What asking for a code came to. `Sent` is said for unknown phones too.
#[derive(Debug, PartialEq, Eq)]
pub enum Asked {
    Sent,
    /// The phone had a code less than a minute ago.
    TooSoon,
    /// The phone had 10 codes today.
    PhoneDailyLimit,
    /// This address asked for 30 codes this hour.
    ClientLimit,
}

/// What entering a code came to.
#[derive(Debug)]
pub enum Entered {
    SignedIn(User),
    /// Wrong code; it takes this many more tries.
    Wrong {
        tries_left: i32,
    },
    /// No code works for this phone: none asked, expired, used or out of tries.
    NoCode,
    /// This address entered 60 codes this hour.
    ClientLimit,
}

fn code_hash(code_id: uuid::Uuid, code: &str) -> String {
    let digest = Sha256::digest(format!("{code_id}|{code}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 6-digit code from the OS-seeded generator behind v4 UUIDs.
fn new_code() -> String {
    format!("{:06}", uuid::Uuid::new_v4().as_u128() % 1_000_000)
}

async fn count(
    state: &AppState,
    sql: &'static str,
    key: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(sql)
        .bind(key)
        .bind(since)
        .fetch_one(&state.pool)
        .await
}

/// Asks for a code for `phone` from `client`: checks the limits, records the code, and sends
/// it by SMS when the phone is a user's.
pub async fn ask(state: &AppState, phone: &Phone, client: &str) -> anyhow::Result<Asked> {
    let now = state.clock.now();
    let by_client: &'static str =
        "SELECT count(*) FROM console_codes WHERE client = $1 AND created_at > $2";
    let by_phone: &'static str =
        "SELECT count(*) FROM console_codes WHERE phone = $1 AND created_at > $2";
    if count(state, by_client, client, now - TimeDelta::hours(1)).await? >= PER_CLIENT_CODES_HOUR {
        return Ok(Asked::ClientLimit);
    }
    if count(state, by_phone, phone.as_str(), now - TimeDelta::minutes(1)).await?
        >= PER_PHONE_MINUTE
    {
        return Ok(Asked::TooSoon);
    }
    if count(state, by_phone, phone.as_str(), now - TimeDelta::days(1)).await? >= PER_PHONE_DAY {
        return Ok(Asked::PhoneDailyLimit);
    }
    let user = users::by_phone(&state.pool, phone).await?;
    let code_id = uuid::Uuid::now_v7();
    let code = new_code();
    sqlx::query(
        "INSERT INTO console_codes (id, phone, user_id, code_hash, client, created_at, expires_at, tries_left)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(code_id)
    .bind(phone.as_str())
    .bind(user.as_ref().map(|u| u.id.as_str()))
    .bind(code_hash(code_id, &code))
    .bind(client)
    .bind(now)
    .bind(now + CODE_VALID)
    .bind(TRIES)
    .execute(&state.pool)
    .await?;
    if let Some(user) = user {
        send_code(state, &user, code_id, &code, now).await?;
    }
    Ok(Asked::Sent)
}

/// The code as a `login_code` notification to the user's phone, published with confirms.
async fn send_code(
    state: &AppState,
    user: &User,
    code_id: uuid::Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let recipient = Recipient {
        role: Role::OrgContact,
        name: user.name.clone(),
        phone: user.phone.clone(),
        channels: vec!["sms".into()],
        member_id: None,
        org_id: OrgId::parse(&user.org_id).ok(),
    };
    let event = EventId::parse(&code_id.to_string())?;
    let minutes = CODE_VALID.num_minutes().to_string();
    let req = NotificationRequest::new(
        TEMPLATE,
        recipient,
        event,
        &[("code", code.to_owned()), ("minutes", minutes)],
    );
    let names = Names::new(&state.settings.amqp.prefix);
    let message = Outgoing {
        exchange: names.exchange_for(notify::ROUTING_KEY),
        routing_key: notify::ROUTING_KEY.to_owned(),
        body: keyed_envelope(notify::ROUTING_KEY, event, now, &req).into_bytes(),
        headers: FieldTable::default(),
        message_id: Some(code_id.to_string()),
    };
    state.publisher.publish_all(&[message]).await?;
    Ok(())
}

/// Checks `code` for `phone` from `client`; on success the code is spent and the user given.
pub async fn enter(
    state: &AppState,
    phone: &Phone,
    code: &str,
    client: &str,
) -> anyhow::Result<Entered> {
    let now = state.clock.now();
    let entries: &'static str =
        "SELECT count(*) FROM console_code_entries WHERE client = $1 AND at > $2";
    if count(state, entries, client, now - TimeDelta::hours(1)).await? >= PER_CLIENT_ENTRIES_HOUR {
        return Ok(Entered::ClientLimit);
    }
    sqlx::query("INSERT INTO console_code_entries (client, at) VALUES ($1, $2)")
        .bind(client)
        .bind(now)
        .execute(&state.pool)
        .await?;
    let mut tx = state.pool.begin().await?;
    // The newest code only: asking again replaces the last one.
    let row = sqlx::query(
        "SELECT id, user_id, code_hash, tries_left, expires_at, used_at FROM console_codes
         WHERE phone = $1 ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
    )
    .bind(phone.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Entered::NoCode);
    };
    let id: uuid::Uuid = row.try_get("id")?;
    let tries_left: i32 = row.try_get("tries_left")?;
    let expires: DateTime<Utc> = row.try_get("expires_at")?;
    let used: Option<DateTime<Utc>> = row.try_get("used_at")?;
    if used.is_some() || tries_left <= 0 || now > expires {
        return Ok(Entered::NoCode);
    }
    let user_id: Option<String> = row.try_get("user_id")?;
    let right = code_hash(id, code.trim()) == row.try_get::<String, _>("code_hash")?;
    let user = match (right, user_id) {
        (true, Some(user_id)) => users::active(&state.pool, &user_id).await?,
        _ => None,
    };
    let Some(user) = user else {
        sqlx::query("UPDATE console_codes SET tries_left = tries_left - 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(if tries_left > 1 {
            Entered::Wrong {
                tries_left: tries_left - 1,
            }
        } else {
            Entered::NoCode
        });
    };
    sqlx::query("UPDATE console_codes SET used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Entered::SignedIn(user))
}
