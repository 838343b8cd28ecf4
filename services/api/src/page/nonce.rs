//! The form nonce that makes a page's POST CSRF-safe.
//!
//! The GET sets a random nonce in a `SameSite=Strict` cookie scoped to the link's path and puts
//! the same nonce, with an HMAC binding it to the token, in the form. A POST counts only when the
//! form's nonce was made for this token and equals the cookie: another site can neither read the
//! nonce nor make the browser send a Strict cookie with its request.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// One page's form: its cookie and the purpose its HMAC is bound to, so that one page's nonce
/// is no other page's.
pub struct FormNonce {
    /// The cookie holding the nonce.
    pub cookie: &'static str,
    /// Mixed into the HMAC ahead of the token, e.g. `b"member-form|"`.
    pub purpose: &'static [u8],
}

impl FormNonce {
    fn tag(&self, secret: &[u8], token: &str, random: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(self.purpose);
        mac.update(token.as_bytes());
        mac.update(b"|");
        mac.update(random.as_bytes());
        mac
    }

    /// A new nonce for the page of `token`: `random.hmac`.
    pub fn new_nonce(&self, secret: &[u8], token: &str) -> String {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let t = self.tag(secret, token, &random).finalize().into_bytes();
        format!("{random}.{}", B64.encode(t))
    }

    /// True when the form's nonce was made for this token and matches the cookie.
    pub fn nonce_ok(
        &self,
        secret: &[u8],
        token: &str,
        form_nonce: &str,
        cookie: Option<&str>,
    ) -> bool {
        let Some((random, t)) = form_nonce.split_once('.') else {
            return false;
        };
        let Ok(t) = B64.decode(t) else {
            return false;
        };
        self.tag(secret, token, random).verify_slice(&t).is_ok() && cookie == Some(form_nonce)
    }

    /// True when the POST's form nonce is good for `token` and equals the request's cookie.
    pub fn posted_ok(
        &self,
        secret: &[u8],
        token: &str,
        form_nonce: &str,
        headers: &HeaderMap,
    ) -> bool {
        let cookie = self.cookie_nonce(headers);
        self.nonce_ok(secret, token, form_nonce, cookie.as_deref())
    }

    /// The nonce from the request's `Cookie` header.
    pub fn cookie_nonce(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == self.cookie)
            .map(|(_, v)| v.to_owned())
    }

    /// Sets `nonce` in a Strict, HttpOnly cookie scoped to the link's `path`, for a day.
    pub fn set_cookie(&self, resp: &mut Response, path: &str, nonce: &str) {
        let cookie = format!(
            "{}={nonce}; Path={path}; HttpOnly; SameSite=Strict; Max-Age=86400",
            self.cookie
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: FormNonce = FormNonce {
        cookie: "a",
        purpose: b"a-form|",
    };
    const B: FormNonce = FormNonce {
        cookie: "b",
        purpose: b"b-form|",
    };

    #[test]
    fn a_nonce_counts_only_for_its_token_its_cookie_and_its_page() {
        let n = A.new_nonce(b"secret", "tok");
        assert!(A.nonce_ok(b"secret", "tok", &n, Some(&n)));
        assert!(!A.nonce_ok(b"secret", "tok", &n, None));
        assert!(!A.nonce_ok(b"secret", "other", &n, Some(&n)));
        assert!(!A.nonce_ok(b"other", "tok", &n, Some(&n)));
        assert!(!B.nonce_ok(b"secret", "tok", &n, Some(&n)));
        assert!(!A.nonce_ok(b"secret", "tok", "no-dot", Some("no-dot")));
    }

    #[test]
    fn the_cookie_is_read_by_its_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("x=1; a=n.t; b=2"));
        assert_eq!(A.cookie_nonce(&headers).as_deref(), Some("n.t"));
        assert_eq!(B.cookie_nonce(&headers).as_deref(), Some("2"));
    }
}
