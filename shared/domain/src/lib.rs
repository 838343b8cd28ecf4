//! The pure core of hongyan: identifiers, the event contract, the ledger rules, rights and the
//! notifications they call for. Nothing here does I/O; every rule is a function over data and a
//! clock, so it can be tested without a server.

pub mod clock;
pub mod digest;
pub mod dispatch;
pub mod envelope;
pub mod event_type;
pub mod fields;
#[macro_use]
pub mod ids;
pub mod ledger;
pub mod link;
pub mod month;
pub mod notify;
pub mod outgoing;
mod payload_wire;
pub mod payloads;
pub mod regions;
pub mod replies;
pub mod rights;
pub mod rules;
pub mod schedule;
pub mod station;
pub mod study;
pub mod words;

pub use envelope::{Actor, Envelope, EventType, Rejection};
pub use ids::{
    CertificateNo, ContactKind, EmployerType, EventId, MemberId, OrgId, OrgKind, Phone, Reason,
    RegionCode,
};
pub use ledger::{FlowRecord, Status};

/// The time zone every rule is counted in (DESIGN.md section 4).
pub const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;
