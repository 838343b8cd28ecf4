//! The member link (DESIGN.md section 7): `{api.public_url}/m/{token}`, where `token` is
//! base64url (no padding) of `member_id|YYYY-MM|expires_unix`, a `.`, and base64url of the
//! HMAC-SHA256 of that text under `api.link_secret`. It is bound to one member and one month,
//! expires after `api.link_valid_days`, and is spent once the month's confirmation is
//! recorded (the API checks that against the ledger). The scheduler mints links for its
//! reminders; the API checks them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::ids::MemberId;
use crate::month::Month;

pub mod study;

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberLink {
    pub member_id: MemberId,
    pub month: Month,
    pub expires_at: DateTime<Utc>,
}

/// Why a token does not open the page.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token at all, or its signature does not match: changed, truncated or forged.
    /// Nothing in it can be trusted, not even the member id.
    #[error("the link is damaged or was not made by hongyan")]
    Invalid,
    /// Genuine but past its time; the member id can be trusted (to show their branch contact).
    #[error("the link for member {member_id}, month {month}, expired at {expires_at}")]
    Expired {
        member_id: MemberId,
        month: Month,
        expires_at: DateTime<Utc>,
    },
}

fn mac(secret: &[u8], payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(payload);
    mac
}

/// The payload of `payload_b64.tag_b64` once its tag is checked (in constant time) under `key`.
fn verified_payload(key: &[u8], token: &str) -> Result<String, LinkError> {
    let (payload_b64, tag_b64) = token.split_once('.').ok_or(LinkError::Invalid)?;
    let payload = B64.decode(payload_b64).map_err(|_| LinkError::Invalid)?;
    let tag = B64.decode(tag_b64).map_err(|_| LinkError::Invalid)?;
    mac(key, &payload)
        .verify_slice(&tag)
        .map_err(|_| LinkError::Invalid)?;
    String::from_utf8(payload).map_err(|_| LinkError::Invalid)
}

/// A token's `expires_unix` field.
fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    s.parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
}

/// The token for `member_id`'s confirmation of `month`, valid until `expires_at`.
pub fn mint(
    secret: &[u8],
    member_id: &MemberId,
    month: Month,
    expires_at: DateTime<Utc>,
) -> String {
    let payload = format!("{member_id}|{month}|{}", expires_at.timestamp());
    let tag = mac(secret, payload.as_bytes()).finalize().into_bytes();
    format!("{}.{}", B64.encode(payload), B64.encode(tag))
}

/// The link a member is sent: `public_url` (without a trailing slash) + `/m/` + the token.
pub fn url(public_url: &str, token: &str) -> String {
    format!("{}/m/{token}", public_url.trim_end_matches('/'))
}

/// Checks a token at `now`: the signature first (in constant time), then the expiry.
pub fn check(secret: &[u8], token: &str, now: DateTime<Utc>) -> Result<MemberLink, LinkError> {
    let payload = verified_payload(secret, token)?;
    // Signed by us, so the fields are ours; still read them strictly.
    let mut parts = payload.split('|');
    let (Some(member), Some(month), Some(expires), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(LinkError::Invalid);
    };
    let member_id = MemberId::parse(member).map_err(|_| LinkError::Invalid)?;
    let month = Month::parse(month).map_err(|_| LinkError::Invalid)?;
    let expires_at = timestamp(expires).ok_or(LinkError::Invalid)?;
    if now >= expires_at {
        return Err(LinkError::Expired {
            member_id,
            month,
            expires_at,
        });
    }
    Ok(MemberLink {
        member_id,
        month,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn member() -> MemberId {
        MemberId::parse("m-001").unwrap()
    }

    #[test]
    fn a_minted_token_has_the_contracts_shape_and_checks() {
        let month = Month::parse("2026-12").unwrap();
        let exp = at("2027-01-15T01:00:00Z");
        let token = mint(b"k", &member(), month, exp);
        let (payload, _) = token.split_once('.').unwrap();
        assert_eq!(
            String::from_utf8(B64.decode(payload).unwrap()).unwrap(),
            format!("m-001|2026-12|{}", exp.timestamp())
        );
        assert!(!token.contains('='), "no padding");
        let link = check(b"k", &token, at("2026-12-01T01:00:00Z")).unwrap();
        assert_eq!(link.member_id, member());
        assert_eq!(link.month, month);
        assert_eq!(
            url("http://127.0.0.1:8080/", &token),
            format!("http://127.0.0.1:8080/m/{token}")
        );
    }

    #[test]
    fn the_signature_matches_an_independent_computation() {
        // Python: base64.urlsafe_b64encode(hmac.new(b"secret", b"m1|2026-12|1800000000",
        // hashlib.sha256).digest()).rstrip(b"=")
        let token = mint(
            b"secret",
            &MemberId::parse("m1").unwrap(),
            Month::parse("2026-12").unwrap(),
            DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        );
        assert_eq!(
            token,
            "bTF8MjAyNi0xMnwxODAwMDAwMDAw.W0ypb4jS7o1chtHzxA7s6GYhPhSSlrXY4XH9f9CgckQ"
        );
    }

    #[test]
    fn a_changed_token_or_another_key_is_invalid() {
        let exp = at("2027-01-15T01:00:00Z");
        let now = at("2026-12-01T01:00:00Z");
        let token = mint(b"k", &member(), Month::parse("2026-12").unwrap(), exp);
        assert_eq!(check(b"other", &token, now), Err(LinkError::Invalid));
        let forged_payload = B64.encode(format!("m-002|2026-12|{}", exp.timestamp()));
        let (_, tag) = token.split_once('.').unwrap();
        assert_eq!(
            check(b"k", &format!("{forged_payload}.{tag}"), now),
            Err(LinkError::Invalid)
        );
        for junk in ["", ".", "abc", "a.b.c", "%%%.%%%"] {
            assert_eq!(check(b"k", junk, now), Err(LinkError::Invalid), "{junk}");
        }
    }

    #[test]
    fn a_link_expires_at_its_time_and_still_names_its_member() {
        let exp = at("2027-01-15T01:00:00Z");
        let token = mint(b"k", &member(), Month::parse("2026-12").unwrap(), exp);
        assert!(check(b"k", &token, at("2027-01-15T00:59:59Z")).is_ok());
        match check(b"k", &token, exp) {
            Err(LinkError::Expired { member_id, .. }) => assert_eq!(member_id, member()),
            other => panic!("expected expiry, got {other:?}"),
        }
    }
}
