//! Replies (上行短信) as the SMS providers push them (PROVIDERS.md "Replies", docs/providers.md),
//! read into the domain's [`Reply`]. Each provider's shape is in its own module
//! (`aliyun::parse_replies`, `tencent::parse_replies`).

use hongyan_domain::replies::Reply;

/// The longest reply text kept: a long SMS is a few hundred characters; anything beyond this is
/// not a member's answer and is cut (the forward to the branch contact must fit one SMS
/// template).
pub const TEXT_LIMIT: usize = 300;

/// What a push held: the replies that read, and how many items did not (an Aliyun array's bad
/// items are logged and the good ones taken, DESIGN.md section 5).
#[derive(Debug, Default)]
pub struct Replies {
    pub replies: Vec<Reply>,
    pub bad: Vec<String>,
}

/// A body that is not the provider's shape: not JSON, not the documented array or object, or no
/// item with a mainland phone. Answered 400; nothing is taken.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("The reply body is not JSON in the provider's shape ({0})")]
    Shape(#[from] serde_json::Error),
    #[error("No reply in the body has a mainland mobile phone ({0})")]
    NoPhone(String),
}

/// The text as kept: at most [`TEXT_LIMIT`] characters.
pub(crate) fn kept_text(text: &str) -> String {
    text.chars().take(TEXT_LIMIT).collect()
}
