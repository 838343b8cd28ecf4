//! The study link: `{api.public_url}/s/{pack_id}/{token}`, sent by SMS with a study pack to an
//! away member whose branch has no group robot (DESIGN.md section 5), so the page can record
//! that this member studied this pack (`study.completed`).
//!
//! DESIGN.md fixes only the member link; this one has the same shape (base64url, no padding, of
//! `member_id|pack_id|expires_unix`, a `.`, and base64url of an HMAC-SHA256) under a key
//! derived from `api.link_secret` for this purpose alone: HMAC-SHA256(`api.link_secret`,
//! [`PURPOSE`]). A study token therefore never verifies as a member link, nor a member link as
//! a study token, whatever their texts, and one secret still serves both. It expires after
//! `api.link_valid_days` counted from the sending, and is not spent by use: the member may
//! open the pack again after marking it studied.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::Mac as _;

use super::{LinkError, mac};
use crate::ids::{MemberId, OrgId};
use crate::study::PackId;

/// What the study key is derived for; changing it invalidates every study link sent.
pub const PURPOSE: &[u8] = b"hongyan study link v1";

/// What a valid study token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StudyLink {
    pub member_id: MemberId,
    pub pack_id: PackId,
    pub expires_at: DateTime<Utc>,
}

/// Why a study token does not open the page.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StudyLinkError {
    /// Not a study token, or changed, truncated or forged (a member link is one of these).
    #[error("the study link is damaged or was not made by hongyan")]
    Invalid,
    /// Genuine but past its time.
    #[error("the study link for member {member_id}, pack {pack_id}, expired at {expires_at}")]
    Expired {
        member_id: MemberId,
        pack_id: PackId,
        expires_at: DateTime<Utc>,
    },
}

impl From<LinkError> for StudyLinkError {
    fn from(_: LinkError) -> Self {
        Self::Invalid
    }
}

/// The key study tokens are signed with, derived from `api.link_secret`.
fn study_key(secret: &[u8]) -> Vec<u8> {
    mac(secret, PURPOSE).finalize().into_bytes().to_vec()
}

/// The token for `member_id` to open and complete `pack_id`, valid until `expires_at`.
pub fn mint(
    secret: &[u8],
    member_id: &MemberId,
    pack_id: &PackId,
    expires_at: DateTime<Utc>,
) -> String {
    let payload = format!("{member_id}|{pack_id}|{}", expires_at.timestamp());
    let tag = mac(&study_key(secret), payload.as_bytes())
        .finalize()
        .into_bytes();
    format!("{}.{}", B64.encode(payload), B64.encode(tag))
}

/// The link a member is sent: `public_url` (without a trailing slash) + `/s/{pack_id}/{token}`.
pub fn url(public_url: &str, pack_id: &PackId, token: &str) -> String {
    format!("{}/s/{pack_id}/{token}", public_url.trim_end_matches('/'))
}

/// The pack's page without a member (the robot card's link): it shows the pack only.
pub fn pack_url(public_url: &str, pack_id: &PackId) -> String {
    format!("{}/s/{pack_id}", public_url.trim_end_matches('/'))
}

/// Checks a token at `now`: the signature first (in constant time), then the expiry.
pub fn check(secret: &[u8], token: &str, now: DateTime<Utc>) -> Result<StudyLink, StudyLinkError> {
    let payload = super::verified_payload(&study_key(secret), token)?;
    let mut parts = payload.split('|');
    let (Some(member), Some(pack), Some(expires), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(StudyLinkError::Invalid);
    };
    let member_id = MemberId::parse(member).map_err(|_| StudyLinkError::Invalid)?;
    let pack_id = OrgId::parse(pack).map_err(|_| StudyLinkError::Invalid)?;
    let expires_at = super::timestamp(expires).ok_or(StudyLinkError::Invalid)?;
    if now >= expires_at {
        return Err(StudyLinkError::Expired {
            member_id,
            pack_id,
            expires_at,
        });
    }
    Ok(StudyLink {
        member_id,
        pack_id,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::month::Month;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn ids() -> (MemberId, PackId) {
        (
            MemberId::parse("m-001").unwrap(),
            OrgId::parse("p-2026-03").unwrap(),
        )
    }

    #[test]
    fn a_minted_token_checks_and_names_member_and_pack() {
        let (m, p) = ids();
        let exp = at("2026-04-23T01:00:00Z");
        let token = mint(b"k", &m, &p, exp);
        let (payload, _) = token.split_once('.').unwrap();
        assert_eq!(
            String::from_utf8(B64.decode(payload).unwrap()).unwrap(),
            format!("m-001|p-2026-03|{}", exp.timestamp())
        );
        let link = check(b"k", &token, at("2026-03-09T01:00:00Z")).unwrap();
        assert_eq!((link.member_id, link.pack_id), (m, p));
        assert_eq!(
            url("http://h/", &ids().1, &token),
            format!("http://h/s/p-2026-03/{token}")
        );
        assert_eq!(pack_url("http://h", &ids().1), "http://h/s/p-2026-03");
    }

    #[test]
    fn the_signature_matches_an_independent_computation() {
        // Python: k = hmac.new(b"secret", b"hongyan study link v1", hashlib.sha256).digest();
        // base64.urlsafe_b64encode(hmac.new(k, b"m1|p1|1800000000", hashlib.sha256).digest())
        let token = mint(
            b"secret",
            &MemberId::parse("m1").unwrap(),
            &OrgId::parse("p1").unwrap(),
            DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        );
        assert_eq!(
            token,
            "bTF8cDF8MTgwMDAwMDAwMA.vdCeVVz8BFn9jUjrs68z86W1ilK_QbmfVVIVjL4Zd6k"
        );
    }

    #[test]
    fn study_and_member_tokens_never_open_each_other() {
        let (m, p) = ids();
        let exp = at("2026-04-23T01:00:00Z");
        let now = at("2026-03-09T01:00:00Z");
        let member_token = super::super::mint(b"k", &m, Month::parse("2026-03").unwrap(), exp);
        assert_eq!(
            check(b"k", &member_token, now),
            Err(StudyLinkError::Invalid)
        );
        let study_token = mint(b"k", &m, &p, exp);
        assert_eq!(
            super::super::check(b"k", &study_token, now),
            Err(LinkError::Invalid)
        );
        // Even a study payload signed the member link's way is refused.
        let payload = format!("m-001|p-2026-03|{}", exp.timestamp());
        let tag = mac(b"k", payload.as_bytes()).finalize().into_bytes();
        let forged = format!("{}.{}", B64.encode(&payload), B64.encode(tag));
        assert_eq!(check(b"k", &forged, now), Err(StudyLinkError::Invalid));
    }

    #[test]
    fn a_changed_token_is_invalid_and_an_old_one_expired() {
        let (m, p) = ids();
        let exp = at("2026-04-23T01:00:00Z");
        let token = mint(b"k", &m, &p, exp);
        let now = at("2026-03-09T01:00:00Z");
        assert_eq!(check(b"other", &token, now), Err(StudyLinkError::Invalid));
        let (_, tag) = token.split_once('.').unwrap();
        let other_pack = B64.encode(format!("m-001|p-2026-04|{}", exp.timestamp()));
        assert_eq!(
            check(b"k", &format!("{other_pack}.{tag}"), now),
            Err(StudyLinkError::Invalid)
        );
        for junk in ["", ".", "abc", "a.b.c", "%%%.%%%"] {
            assert_eq!(
                check(b"k", junk, now),
                Err(StudyLinkError::Invalid),
                "{junk}"
            );
        }
        match check(b"k", &token, exp) {
            Err(StudyLinkError::Expired { pack_id, .. }) => assert_eq!(pack_id, p),
            other => panic!("expected expiry, got {other:?}"),
        }
    }
}
