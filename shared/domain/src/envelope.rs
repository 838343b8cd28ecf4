//! The event envelope (DESIGN.md section 2) and the one place a raw message becomes an event.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use crate::event_type::{EventType, EventTypeError};
use crate::fields::{FieldError, Obj, parse_timestamp};
use crate::ids::{EventId, MemberId, OrgId};
use crate::payloads::{
    ContactRecorded, Inbound, MemberUpsert, OrgUpsert, Outbound, Return, Transfer,
    TransferSuggested, Update,
};
use crate::study::{StudyCompleted, StudyPublished};

/// The schema versions this build understands.
pub const SCHEMA_VERSION: u32 = 1;

/// Who acts. `Operator` is never read from the wire: it is an operator command such as
/// `hongyan import`, run by someone with database access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    Org {
        org_id: OrgId,
        user: Option<String>,
    },
    Member {
        member_id: MemberId,
    },
    Operator {
        name: String,
    },
    /// hongyan itself (its scheduler), `{"system": "hongyan"}` on the wire: accepted only on
    /// the event types hongyan sends to itself ([`EventType::is_hongyans`]).
    Hongyan,
}

impl Actor {
    pub fn to_json(&self) -> Value {
        match self {
            Actor::Org { org_id, user } => json!({"org_id": org_id, "user": user}),
            Actor::Member { member_id } => json!({"member_id": member_id}),
            Actor::Operator { name } => json!({"system": name}),
            Actor::Hongyan => json!({"system": HONGYAN}),
        }
    }

    pub fn org_id(&self) -> Option<&OrgId> {
        match self {
            Actor::Org { org_id, .. } => Some(org_id),
            _ => None,
        }
    }
}

/// The typed `data` of an event the registry applies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventData {
    OrgUpserted(OrgUpsert),
    MemberUpserted(MemberUpsert),
    Outbound(Outbound),
    Inbound(Inbound),
    Update(Update),
    Return(Return),
    Transfer(Transfer),
    ContactRecorded(ContactRecorded),
    StudyPublished(StudyPublished),
    StudyCompleted(StudyCompleted),
    TransferSuggested(TransferSuggested),
}

impl EventData {
    /// The member an event is about, where it names one by id.
    pub fn member_id(&self) -> Option<&MemberId> {
        match self {
            EventData::MemberUpserted(m) => Some(&m.id),
            EventData::Outbound(o) => Some(o.subject.member_id()),
            EventData::Inbound(i) => i.keys.iter().find_map(|k| match k {
                crate::payloads::ArrivalKey::MemberId(id) => Some(id),
                _ => None,
            }),
            EventData::Update(u) => Some(&u.member_id),
            EventData::Return(r) => Some(&r.member_id),
            EventData::Transfer(t) => Some(&t.member_id),
            EventData::ContactRecorded(c) => Some(&c.member_id),
            EventData::StudyCompleted(c) => Some(&c.member_id),
            EventData::TransferSuggested(t) => Some(&t.member_id),
            EventData::OrgUpserted(_) | EventData::StudyPublished(_) => None,
        }
    }
}

/// A validated event.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub event_id: EventId,
    pub kind: EventType,
    pub occurred_at: DateTime<FixedOffset>,
    pub actor: Actor,
    pub data: EventData,
    /// The `data` as received, kept verbatim in the member's history.
    pub raw_data: Value,
}

/// serde_json's refusal of a message body, shared so that a [`Rejection`] stays `Clone` and
/// comparable; two are equal when serde says the same thing at the same place.
#[derive(Clone, Debug)]
pub struct JsonError(Arc<serde_json::Error>);

impl From<serde_json::Error> for JsonError {
    fn from(e: serde_json::Error) -> Self {
        Self(Arc::new(e))
    }
}

impl JsonError {
    pub fn inner(&self) -> &serde_json::Error {
        &self.0
    }
}

impl PartialEq for JsonError {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&*self.0, &*other.0);
        a.classify() == b.classify()
            && (a.line(), a.column()) == (b.line(), b.column())
            && a.to_string() == b.to_string()
    }
}

impl Eq for JsonError {}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for JsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Why an event can never be applied as sent. Its `Display` is the parked reason: a plain
/// sentence saying what was wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("The message is not JSON ({0}); send a UTF-8 JSON envelope.")]
    NotJson(#[source] JsonError),
    #[error("The envelope's {0}; fix it and send the event again.")]
    Field(#[from] FieldError),
    #[error(
        "The routing key {routing_key:?} disagrees with the envelope's type {kind:?}; publish with the type as the routing key."
    )]
    RoutingKey { routing_key: String, kind: String },
    #[error(
        "schema_version {0} is not understood by this hongyan (it reads version 1); send version 1 or upgrade hongyan."
    )]
    SchemaVersion(u64),
    #[error("{0}")]
    Unknown(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
}

impl Rejection {
    /// The part of the envelope the rejection is about, as a client names it (`type`,
    /// `data.member_id`, ...).
    pub fn field(&self) -> &str {
        match self {
            Rejection::NotJson(_) => "envelope",
            Rejection::Field(f) => &f.field,
            Rejection::RoutingKey { .. } => "type",
            Rejection::SchemaVersion(_) => "schema_version",
            Rejection::Forbidden(_) => "actor",
            Rejection::Unknown(_) | Rejection::Conflict(_) => "data",
        }
    }
}

impl Envelope {
    /// Reads a message body published with `routing_key`. Everything the contract says about
    /// the envelope and the fields of `data` is checked here; what needs the ledger (known ids,
    /// rights) is checked by the registry.
    pub fn parse(body: &[u8], routing_key: Option<&str>) -> Result<Self, Rejection> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| Rejection::NotJson(JsonError::from(e)))?;
        let o = Obj::new("", &value)
            .map_err(|_| FieldError::new("envelope", "must be a JSON object"))?;
        let event_id = o.parse("event_id", EventId::parse)?;
        let kind = o.parse("type", EventType::parse)?;
        if let Some(rk) = routing_key
            && rk != kind.as_str()
        {
            return Err(Rejection::RoutingKey {
                routing_key: rk.to_owned(),
                kind: kind.as_str().to_owned(),
            });
        }
        match o.get("schema_version").map(|v| v.as_u64()) {
            Some(Some(v)) if v == u64::from(SCHEMA_VERSION) => {}
            Some(Some(v)) => return Err(Rejection::SchemaVersion(v)),
            Some(None) => {
                return Err(FieldError::new("schema_version", "must be the number 1").into());
            }
            None => return Err(FieldError::new("schema_version", "is missing: send 1").into()),
        }
        let occurred_at = o.parse("occurred_at", |s| {
            parse_timestamp(s, "2026-03-01T09:15:00+08:00")
        })?;
        let actor = read_actor(o.obj("actor", "actor")?)?;
        let raw_data = o.get("data").cloned().unwrap_or(Value::Null);
        let d = Obj::new("data", &raw_data)?;
        let data = match kind {
            EventType::OrgUpserted => EventData::OrgUpserted(OrgUpsert::read(d)?),
            EventType::MemberUpserted => EventData::MemberUpserted(MemberUpsert::read(d)?),
            EventType::Outbound => EventData::Outbound(Outbound::read(d)?),
            EventType::Inbound => EventData::Inbound(Inbound::read(d)?),
            EventType::Update => EventData::Update(Update::read(d)?),
            EventType::Return => EventData::Return(Return::read(d)?),
            EventType::Transfer => EventData::Transfer(Transfer::read(d)?),
            EventType::ContactRecorded => EventData::ContactRecorded(ContactRecorded::read(d)?),
            EventType::StudyPublished => EventData::StudyPublished(StudyPublished::read(d)?),
            EventType::StudyCompleted => EventData::StudyCompleted(StudyCompleted::read(d)?),
            EventType::TransferSuggested => {
                EventData::TransferSuggested(TransferSuggested::read(d)?)
            }
        };
        // hongyan records a member's SMS reply in their history itself (DESIGN.md section 2,
        // `contact.recorded` "or hongyan, for a reply").
        let hongyans_reply = matches!(&data, EventData::ContactRecorded(c) if c.kind == crate::ids::ContactKind::Reply);
        let by_hongyan = matches!(actor, Actor::Hongyan);
        if kind.is_hongyans() && !by_hongyan {
            return Err(Rejection::Forbidden(format!(
                "Only hongyan itself sends {}; an org system may not: drop this message.",
                kind.as_str()
            )));
        }
        if by_hongyan && !kind.is_hongyans() && !hongyans_reply {
            return Err(Rejection::Forbidden(format!(
                "hongyan sends no {} as {{\"system\": \"hongyan\"}}; send it with your org_id as the actor.",
                kind.as_str()
            )));
        }
        if matches!(actor, Actor::Member { .. })
            && kind != EventType::Update
            && kind != EventType::StudyCompleted
        {
            return Err(Rejection::Forbidden(format!(
                "A member may only send registration.update or study.completed, not {}; send it from the member's home branch.",
                kind.as_str()
            )));
        }
        Ok(Self {
            event_id,
            kind,
            occurred_at,
            actor,
            data,
            raw_data,
        })
    }

    /// The envelope as JSON, for publishing and history.
    pub fn to_json(&self) -> Value {
        json!({
            "event_id": self.event_id,
            "type": self.kind.as_str(),
            "schema_version": SCHEMA_VERSION,
            "occurred_at": self.occurred_at.to_rfc3339(),
            "actor": self.actor.to_json(),
            "data": self.raw_data,
        })
    }
}

/// The name hongyan's own events carry as their actor (`{"system": "hongyan"}`).
pub const HONGYAN: &str = "hongyan";

fn read_actor(a: Obj<'_>) -> Result<Actor, FieldError> {
    if a.opt_str("system")? == Some(HONGYAN) {
        return Ok(Actor::Hongyan);
    }
    if let Some(org) = a.opt_parse("org_id", OrgId::parse)? {
        return Ok(Actor::Org {
            org_id: org,
            user: a.opt_text("user")?,
        });
    }
    if let Some(member_id) = a.opt_parse("member_id", MemberId::parse)? {
        return Ok(Actor::Member { member_id });
    }
    Err(FieldError::new(
        "actor.org_id",
        "is missing: the actor is an org_id (or a member_id signed for by the API)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(kind: &str, data: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "event_id": "7d0c8a8e-5a1e-4f7e-9b8e-0c7a1e2b3c4d",
            "type": kind,
            "schema_version": 1,
            "occurred_at": "2026-03-01T09:15:00+08:00",
            "actor": {"org_id": "gz-qx-xz-c01", "user": "li.secretary"},
            "data": data,
        }))
        .unwrap()
    }

    #[test]
    fn only_hongyan_sends_a_transfer_suggestion_and_only_that() {
        let t = TransferSuggested {
            member_id: MemberId::parse("m1").unwrap(),
            record_id: uuid::Uuid::from_u128(1),
            months: 6,
        };
        let now = chrono::DateTime::parse_from_rfc3339("2026-09-01T08:00:00+08:00").unwrap();
        let id = EventId(uuid::Uuid::from_u128(2));
        let wire = crate::outgoing::keyed_envelope(
            EventType::TransferSuggested.as_str(),
            id,
            now.to_utc(),
            t.to_wire(),
        );
        let e = Envelope::parse(wire.as_bytes(), Some("review.transfer_suggested")).unwrap();
        assert_eq!(e.actor, Actor::Hongyan);
        assert_eq!(e.data, EventData::TransferSuggested(t.clone()));
        // An org system may not send it, and hongyan's actor sends nothing else.
        let from_org = envelope("review.transfer_suggested", t.to_wire());
        assert!(matches!(
            Envelope::parse(&from_org, None),
            Err(Rejection::Forbidden(_))
        ));
        let mut forged: Value = serde_json::from_slice(&envelope(
            "registration.update",
            json!({"member_id": "m1", "confirmed_unchanged": true}),
        ))
        .unwrap();
        forged["actor"] = json!({"system": "hongyan"});
        let forged = serde_json::to_vec(&forged).unwrap();
        assert!(matches!(
            Envelope::parse(&forged, None),
            Err(Rejection::Forbidden(_))
        ));
    }

    #[test]
    fn a_good_update_parses() {
        let body = envelope(
            "registration.update",
            json!({"member_id": "m1", "confirmed_unchanged": true}),
        );
        let e = Envelope::parse(&body, Some("registration.update")).unwrap();
        assert_eq!(e.kind, EventType::Update);
        assert_eq!(e.data.member_id().unwrap().as_str(), "m1");
    }

    #[test]
    fn the_routing_key_must_match_the_type() {
        let body = envelope(
            "registration.update",
            json!({"member_id": "m1", "confirmed_unchanged": true}),
        );
        let err = Envelope::parse(&body, Some("registration.return")).unwrap_err();
        assert!(matches!(err, Rejection::RoutingKey { .. }), "{err}");
    }

    #[test]
    fn a_bad_nested_field_is_named_in_full() {
        let body = envelope(
            "registration.outbound",
            json!({"member_id": "m1", "left_on": "2026-03-01", "reason": "work", "expected_months": 3,
                   "destination": {"region_code": "4401", "address": "x", "employer_type": "private"}}),
        );
        let err = Envelope::parse(&body, None).unwrap_err().to_string();
        assert!(err.contains("data.destination.region_code"), "{err}");
    }

    #[test]
    fn unknown_schema_versions_are_refused() {
        let mut v: Value =
            serde_json::from_slice(&envelope("registration.update", json!({}))).unwrap();
        v["schema_version"] = json!(2);
        let err = Envelope::parse(&serde_json::to_vec(&v).unwrap(), None).unwrap_err();
        assert_eq!(err, Rejection::SchemaVersion(2));
    }

    #[test]
    fn a_member_may_not_register_a_departure() {
        let mut v: Value = serde_json::from_slice(&envelope(
            "registration.return",
            json!({"member_id": "m1", "returned_on": "2026-03-01", "permanent": true}),
        ))
        .unwrap();
        v["actor"] = json!({"member_id": "m1"});
        let err = Envelope::parse(&serde_json::to_vec(&v).unwrap(), None).unwrap_err();
        assert!(matches!(err, Rejection::Forbidden(_)), "{err}");
    }

    #[test]
    fn a_body_that_is_not_json_keeps_serdes_error() {
        use std::error::Error as _;
        let err = Envelope::parse(b"{\"event_id\": ", None).unwrap_err();
        let Rejection::NotJson(json) = &err else {
            panic!("{err:?}")
        };
        assert!(json.inner().is_eof(), "{json}");
        assert_eq!(
            err.to_string(),
            format!("The message is not JSON ({json}); send a UTF-8 JSON envelope.")
        );
        assert_eq!(err.source().unwrap().to_string(), json.to_string());
        assert_eq!(err, Envelope::parse(b"{\"event_id\": ", None).unwrap_err());
        assert_ne!(err, Envelope::parse(b"[", None).unwrap_err());
    }
}
