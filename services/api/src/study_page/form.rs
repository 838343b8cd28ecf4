//! The "我已学完" form's nonce, CSRF-safe the way the member page's form is: the GET sets a
//! random nonce in a `SameSite=Strict` cookie scoped to the link's path and puts the same nonce,
//! with an HMAC binding it to the token, in the form. A POST counts only when the form's nonce
//! was made for this token and equals the cookie: another site can neither read the nonce nor
//! make the browser send a Strict cookie with its request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac as _};
use serde::Deserialize;
use sha2::Sha256;

/// The cookie holding the nonce.
pub const COOKIE: &str = "hy_study_form";

fn tag(secret: &[u8], token: &str, random: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    // Its own purpose: a member page nonce is no study nonce.
    mac.update(b"study-form|");
    mac.update(token.as_bytes());
    mac.update(b"|");
    mac.update(random.as_bytes());
    mac
}

/// A new nonce for the page of `token`: `random.hmac`.
pub fn new_nonce(secret: &[u8], token: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    let t = tag(secret, token, &random).finalize().into_bytes();
    format!("{random}.{}", B64.encode(t))
}

/// True when the form's nonce was made for this token and matches the cookie.
pub fn nonce_ok(secret: &[u8], token: &str, form_nonce: &str, cookie: Option<&str>) -> bool {
    let Some((random, t)) = form_nonce.split_once('.') else {
        return false;
    };
    let Ok(t) = B64.decode(t) else {
        return false;
    };
    tag(secret, token, random).verify_slice(&t).is_ok() && cookie == Some(form_nonce)
}

/// The nonce from the request's `Cookie` header.
pub fn cookie_nonce(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// What the form sends.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Posted {
    #[serde(default)]
    pub nonce: String,
}
