//! Secrets (DESIGN.md section 10): only ever from the environment, and held in a type that
//! redacts itself in `Debug` (the `secrecy` crate), so settings can be logged.

use secrecy::{ExposeSecret, SecretString};

/// Every setting that is a secret. A configuration file that sets one is refused: secrets never
/// live in files in the repository (STYLE.md), so a leaked checkout leaks none.
pub const SECRET_KEYS: &[&str] = &[
    "api.link_secret",
    "notifier.receipts_token",
    "notifier.webhook.secret",
    "notifier.sms.aliyun.access_key_id",
    "notifier.sms.aliyun.access_key_secret",
    "notifier.sms.tencent.secret_id",
    "notifier.sms.tencent.secret_key",
];

/// The environment variable that sets `key`.
pub fn variable(key: &str) -> String {
    format!("HONGYAN__{}", key.replace('.', "__").to_uppercase())
}

/// A secret's text, or "" when unset: for the few places that must send it (a signature key,
/// a request parameter).
pub fn expose(secret: &Option<SecretString>) -> &str {
    secret.as_ref().map_or("", |s| s.expose_secret())
}
