//! The "我已学完" form: what it sends, and its nonce, CSRF-safe the way the member page's form
//! is (`crate::page::nonce`).

use serde::Deserialize;

use crate::page::nonce::FormNonce;

/// The form's nonce. Its own cookie and HMAC purpose: a member page nonce is no study nonce.
pub const NONCE: FormNonce = FormNonce {
    cookie: "hy_study_form",
    purpose: b"study-form|",
};

/// What the form sends.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Posted {
    #[serde(default)]
    pub nonce: String,
}
