//! The contract's event types (DESIGN.md section 2), which are also the routing keys. Apart
//! from the envelope (`envelope.rs`), so that field errors (`fields.rs`) can name a bad type
//! without the two modules importing each other.

use serde::{Deserialize, Serialize};

/// Event types, which are also the routing keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "org.upserted")]
    OrgUpserted,
    #[serde(rename = "member.upserted")]
    MemberUpserted,
    #[serde(rename = "registration.outbound")]
    Outbound,
    #[serde(rename = "registration.inbound")]
    Inbound,
    #[serde(rename = "registration.update")]
    Update,
    #[serde(rename = "registration.return")]
    Return,
    #[serde(rename = "registration.transfer")]
    Transfer,
    #[serde(rename = "contact.recorded")]
    ContactRecorded,
    #[serde(rename = "study.published")]
    StudyPublished,
    #[serde(rename = "study.completed")]
    StudyCompleted,
    /// Sent by hongyan's own scheduler only ([`TransferSuggested`]).
    #[serde(rename = "review.transfer_suggested")]
    TransferSuggested,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        EventType::OrgUpserted,
        EventType::MemberUpserted,
        EventType::Outbound,
        EventType::Inbound,
        EventType::Update,
        EventType::Return,
        EventType::Transfer,
        EventType::ContactRecorded,
        EventType::StudyPublished,
        EventType::StudyCompleted,
        EventType::TransferSuggested,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrgUpserted => "org.upserted",
            EventType::MemberUpserted => "member.upserted",
            EventType::Outbound => "registration.outbound",
            EventType::Inbound => "registration.inbound",
            EventType::Update => "registration.update",
            EventType::Return => "registration.return",
            EventType::Transfer => "registration.transfer",
            EventType::ContactRecorded => "contact.recorded",
            EventType::StudyPublished => "study.published",
            EventType::StudyCompleted => "study.completed",
            EventType::TransferSuggested => "review.transfer_suggested",
        }
    }

    /// Event types only hongyan sends, to itself: never accepted from an org system.
    pub fn is_hongyans(self) -> bool {
        self == EventType::TransferSuggested
    }

    pub fn parse(s: &str) -> Result<Self, EventTypeError> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| EventTypeError(s.to_owned()))
    }
}

/// A type that is not one of the contract's event types (the text given).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an event type: use one of {words}", words = event_type_words())]
pub struct EventTypeError(pub String);

fn event_type_words() -> String {
    EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
