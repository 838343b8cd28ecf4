//! Asking an SMS provider about a send whose answer never came (DESIGN.md section 5, "A send
//! that timed out"; PROVIDERS.md, "Asking about a send that timed out").

use chrono::{DateTime, Utc};

use super::SendOutcome;

/// What asking the provider about an uncertain send decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The provider has it: the SMS went out, and must not be sent again. Its id when the row
    /// carries one (Tencent's `SerialNo`; Aliyun's rows carry none), so a receipt matches it.
    Found { provider_message_id: Option<String> },
    /// The provider has no record of it: it never got there, and sending it is safe.
    NotFound,
    /// The question was not answered (a timeout, a 5xx, a rate limit, an error code, an
    /// answer we cannot read): ask again later, and never send blind meanwhile.
    Unanswered { code: String, reason: String },
}

impl Lookup {
    pub fn unanswered(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Unanswered {
            code: code.into(),
            reason: reason.into(),
        }
    }

    /// A transport failure or an HTTP status that decided the exchange, as a question not
    /// answered: whatever the send would have made of it, a query retries.
    pub(crate) fn from_failure(failure: SendOutcome) -> Self {
        match failure {
            SendOutcome::Retry { code, reason, .. }
            | SendOutcome::Permanent { code, reason }
            | SendOutcome::PauseChannel { code, reason } => Self::unanswered(code, reason),
            // A failure is never a delivery; if one ever were, it still answers nothing.
            SendOutcome::Delivered { .. } => Self::unanswered("bad_answer", "no answer"),
        }
    }
}

/// Where to look: the window in which the uncertain send (or sends) may have reached the
/// provider, from the earliest one to now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentWithin {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}
