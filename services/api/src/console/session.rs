//! Console sessions (DESIGN.md section 12): a server-side record behind an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` when `api.public_url` is https). The cookie holds 32
//! random bytes; only their SHA-256 is stored, so a copy of the table opens no session. A
//! session ends after 8 hours idle, 7 days in all, at 退出, or when its user is revoked.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::users::{self, User};
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "hy_console";
/// Idle this long, a session ends.
pub const IDLE: TimeDelta = TimeDelta::hours(8);
/// A session ends this long after sign-in, however busy.
pub const LIFETIME: TimeDelta = TimeDelta::days(7);

/// A signed-in person and the token their forms carry.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: User,
    pub form_token: String,
    id_hash: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    B64.encode(bytes)
}

fn hash(id: &str) -> String {
    hex(&Sha256::digest(id.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts a session for `user`; returns the cookie's value.
pub async fn start(state: &AppState, user: &User) -> Result<String, sqlx::Error> {
    let id = random_token();
    let now = state.clock.now();
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, user_id, form_token, created_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(hash(&id))
    .bind(&user.id)
    .bind(random_token())
    .bind(now)
    .execute(&state.pool)
    .await?;
    Ok(id)
}

/// The request's session, if its cookie names one that is still open; marks it seen.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, sqlx::Error> {
    let Some(id) = cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let id_hash = hash(&id);
    let row = sqlx::query(
        "SELECT user_id, form_token, created_at, last_seen_at FROM console_sessions
         WHERE id_hash = $1 AND ended_at IS NULL",
    )
    .bind(&id_hash)
    .fetch_optional(&state.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let now = state.clock.now();
    let created: DateTime<Utc> = row.try_get("created_at")?;
    let seen: DateTime<Utc> = row.try_get("last_seen_at")?;
    if now - seen > IDLE || now - created > LIFETIME {
        end_hash(state, &id_hash).await?;
        return Ok(None);
    }
    let user_id: String = row.try_get("user_id")?;
    let Some(user) = users::active(&state.pool, &user_id).await? else {
        return Ok(None);
    };
    sqlx::query("UPDATE console_sessions SET last_seen_at = $2 WHERE id_hash = $1")
        .bind(&id_hash)
        .bind(now)
        .execute(&state.pool)
        .await?;
    Ok(Some(Session {
        user,
        form_token: row.try_get("form_token")?,
        id_hash,
    }))
}

/// Ends the session (退出).
pub async fn end(state: &AppState, session: &Session) -> Result<(), sqlx::Error> {
    end_hash(state, &session.id_hash).await
}

async fn end_hash(state: &AppState, id_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE console_sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL",
    )
    .bind(id_hash)
    .bind(state.clock.now())
    .execute(&state.pool)
    .await?;
    Ok(())
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Sets the session cookie (`value`), or clears it (`None`).
pub fn set_cookie(state: &AppState, resp: &mut Response, value: Option<&str>) {
    let secure = if state.settings.api.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = match value {
        Some(v) => format!("{COOKIE}={v}; Path=/console; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Whether a POST comes from the console itself: its `Origin` is `api.public_url`'s, and the
/// form's token is the session's. Either missing is a refusal (DESIGN.md section 12).
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let expected = origin_of(&state.settings.api.public_url);
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| Some(o.trim_end_matches('/')) == expected.as_deref())
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_scheme_host_and_port() {
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x/").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            origin_of("https://hy.example.cn").as_deref(),
            Some("https://hy.example.cn")
        );
        assert_eq!(origin_of("no-scheme"), None);
    }

    #[test]
    fn a_cookie_is_read_by_its_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hy_console=abc; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "zz"), None);
    }
}
