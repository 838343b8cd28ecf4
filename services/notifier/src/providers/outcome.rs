//! What became of one send, classified so the notifier's retry logic is a `match`, never a
//! parse of an error string (STYLE.md, "Ack after commit").

use std::time::Duration;

/// The classification of one send attempt.
///
/// Every provider code listed in PROVIDERS.md maps to exactly one variant; an unknown code is
/// `Permanent`, so a surprise falls back to the next channel instead of hammering a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider accepted the message. For SMS this is acceptance, not delivery to the
    /// handset: the receipt says that later, matched by `provider_message_id` (Aliyun `BizId`,
    /// Tencent `SerialNo`) or by our notification id.
    Delivered { provider_message_id: Option<String> },
    /// Try the same provider again later: rate limits, "busy" codes, HTTP 5xx and 429,
    /// timeouts and network errors.
    Retry {
        code: String,
        reason: String,
        /// The earliest sensible retry, when the provider says or documents one (Retry-After,
        /// WeCom's minute window, DingTalk's ten-minute throttle). `None`: use the backoff.
        not_before: Option<Duration>,
        /// The request may have reached the provider (a timeout after sending, a 5xx). SMS
        /// sends are not idempotent at the provider, so before sending again the caller should
        /// look for a receipt (PROVIDERS.md, "Rules for every provider").
        maybe_delivered: bool,
    },
    /// This message will never go through this provider (invalid number, unknown robot, template
    /// not approved): fail it here and fall back to the next channel.
    Permanent { code: String, reason: String },
    /// The provider is unusable for every message for a while (quota, balance, credentials,
    /// our clock): stop using it until an operator or the clock fixes it.
    PauseChannel { code: String, reason: String },
}

impl SendOutcome {
    /// The outcome with every phone in its reason masked: providers echo numbers (Tencent's
    /// `+86…`, Aliyun's string to sign), and reasons are stored, announced and logged.
    pub fn masked(self) -> Self {
        let m = |s: String| hongyan_domain::ids::mask_phones(&s);
        match self {
            Self::Retry {
                code,
                reason,
                not_before,
                maybe_delivered,
            } => Self::Retry {
                code: m(code),
                reason: m(reason),
                not_before,
                maybe_delivered,
            },
            Self::Permanent { code, reason } => Self::Permanent {
                code: m(code),
                reason: m(reason),
            },
            Self::PauseChannel { code, reason } => Self::PauseChannel {
                code: m(code),
                reason: m(reason),
            },
            delivered @ Self::Delivered { .. } => delivered,
        }
    }

    /// An accepted send.
    pub fn delivered(provider_message_id: Option<String>) -> Self {
        Self::Delivered {
            provider_message_id,
        }
    }

    /// A retry the provider refused before doing anything (a rate-limit or busy code).
    pub fn retry(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Retry {
            code: code.into(),
            reason: reason.into(),
            not_before: None,
            maybe_delivered: false,
        }
    }

    /// A retry after which the message may already have gone out.
    pub fn retry_uncertain(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Retry {
            code: code.into(),
            reason: reason.into(),
            not_before: None,
            maybe_delivered: true,
        }
    }

    /// Sets the earliest retry of a `Retry`; other variants are returned unchanged.
    pub fn not_before(mut self, wait: Option<Duration>) -> Self {
        if let Self::Retry { not_before, .. } = &mut self {
            *not_before = wait;
        }
        self
    }

    pub fn permanent(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Permanent {
            code: code.into(),
            reason: reason.into(),
        }
    }

    pub fn pause(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::PauseChannel {
            code: code.into(),
            reason: reason.into(),
        }
    }

    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Delivered { .. })
    }

    pub fn is_retry(&self) -> bool {
        matches!(self, Self::Retry { .. })
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent { .. })
    }

    pub fn is_pause(&self) -> bool {
        matches!(self, Self::PauseChannel { .. })
    }

    /// The provider's (or our transport's) code, for the attempt record; `None` when delivered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Delivered { .. } => None,
            Self::Retry { code, .. }
            | Self::Permanent { code, .. }
            | Self::PauseChannel { code, .. } => Some(code),
        }
    }

    /// The earliest retry, when this is a `Retry` that names one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retry { not_before, .. } => *not_before,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_before_only_touches_retries() {
        let wait = Some(Duration::from_secs(60));
        let retry = SendOutcome::retry("45009", "limited").not_before(wait);
        assert_eq!(retry.retry_after(), wait);
        assert_eq!(retry.code(), Some("45009"));
        let permanent = SendOutcome::permanent("93000", "bad url").not_before(wait);
        assert_eq!(permanent, SendOutcome::permanent("93000", "bad url"));
        assert_eq!(SendOutcome::delivered(None).code(), None);
    }
}
