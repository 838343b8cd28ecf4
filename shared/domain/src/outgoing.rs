//! What hongyan sends, in the one envelope of DESIGN.md section 2. Every event a role publishes
//! is built here: [`envelope`] is the only constructor of an envelope, and each event hongyan
//! itself announces is a type with `to_wire()` beside its `read()` (the wire shape is the one
//! `read` takes back; a test reads every `to_wire` back). The events org systems send are in
//! `payloads` and `study`, each with its `read` (and a `to_wire` where hongyan sends it too:
//! the member page's `registration.update`, the study page's `study.completed`).
//!
//! | routing key | type | sent by |
//! |---|---|---|
//! | `ledger.changed` | [`LedgerChanged`] | registry |
//! | `notification.requested` | `notify::NotificationRequest` (its serde shape is its wire shape) | registry, scheduler |
//! | `dispatch.report_ready` | [`ReportReady`] | scheduler |
//! | `review.transfer_suggested` | `payloads::TransferSuggested` | scheduler, to the registry |
//! | `registration.update` | `payloads::Update` | API (member page); notifier (an SMS reply "1" or 退订) |
//! | `contact.recorded` (kind `reply`) | `payloads::ContactRecorded` | notifier (any other SMS reply) |
//! | `study.completed` | `study::StudyCompleted` | API (study page) |
//! | `study.published` | the org's `data` as sent | API (`POST /v1/study-packs`) |
//! | `notification.delivered`, `.failed` | the notifier's `Announced` | notifier |

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::dispatch::Quarter;
use crate::envelope::{Actor, HONGYAN, SCHEMA_VERSION};
use crate::fields::{FieldError, Obj, join};
use crate::ids::{CertificateNo, EventId, MemberId, OrgId, RegionCode};
use crate::ledger::{FlowRecord, Status};

/// The actor as the wire spells it.
#[derive(Serialize)]
#[serde(untagged)]
enum ActorWire<'a> {
    Org {
        org_id: &'a OrgId,
        user: &'a Option<String>,
    },
    Member {
        member_id: &'a MemberId,
    },
    System {
        system: &'a str,
    },
}

impl<'a> From<&'a Actor> for ActorWire<'a> {
    fn from(a: &'a Actor) -> Self {
        match a {
            Actor::Org { org_id, user } => ActorWire::Org { org_id, user },
            Actor::Member { member_id } => ActorWire::Member { member_id },
            Actor::Operator { name } => ActorWire::System { system: name },
            Actor::Hongyan => ActorWire::System { system: HONGYAN },
        }
    }
}

/// The envelope of DESIGN.md section 2 around `data`, as JSON text: the one place an envelope
/// is built. `occurred_at` is written in China time. Serialized straight from `data` (no
/// intermediate JSON tree: the notifier writes one per notification).
pub fn envelope(
    kind: &str,
    event_id: EventId,
    occurred_at: DateTime<Utc>,
    actor: &Actor,
    data: impl Serialize,
) -> String {
    #[derive(Serialize)]
    struct Envelope<'a, T> {
        event_id: EventId,
        #[serde(rename = "type")]
        kind: &'a str,
        schema_version: u32,
        occurred_at: String,
        actor: ActorWire<'a>,
        data: T,
    }
    let env = Envelope {
        event_id,
        kind,
        schema_version: SCHEMA_VERSION,
        occurred_at: occurred_at.with_timezone(&crate::TZ).to_rfc3339(),
        actor: actor.into(),
        data,
    };
    serde_json::to_string(&env).expect("an envelope of serializable data serializes")
}

/// An event hongyan itself publishes, from `{"system": "hongyan"}`, with a new event id.
/// Returns the id and the envelope.
pub fn system_envelope(kind: &str, now: DateTime<Utc>, data: impl Serialize) -> (String, String) {
    let event_id = EventId::new_v7();
    (
        event_id.to_string(),
        envelope(kind, event_id, now, &Actor::Hongyan, data),
    )
}

/// The same with a given `event_id`: what the scheduler sends, whose ids are deterministic
/// (rule, subject, period) so that a repeat is dropped as a duplicate.
pub fn keyed_envelope(
    kind: &str,
    event_id: EventId,
    now: DateTime<Utc>,
    data: impl Serialize,
) -> String {
    envelope(kind, event_id, now, &Actor::Hongyan, data)
}

/// `ledger.changed`: a record changed, with its new version and the event that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerChanged {
    pub member_id: MemberId,
    pub home_org_id: OrgId,
    pub status: Status,
    pub region_code: RegionCode,
    pub version: i64,
    pub certificate_no: Option<CertificateNo>,
    pub flags: Vec<String>,
    pub caused_by: EventId,
}

impl LedgerChanged {
    pub const KIND: &'static str = "ledger.changed";

    pub fn of(rec: &FlowRecord, caused_by: EventId) -> Self {
        Self {
            member_id: rec.member_id.clone(),
            home_org_id: rec.home_org_id.clone(),
            status: rec.status,
            region_code: rec.location.region_code.clone(),
            version: rec.version,
            certificate_no: rec.certificate_no.clone(),
            flags: rec.flags.clone(),
            caused_by,
        }
    }

    pub fn to_wire(&self) -> Value {
        json!({
            "member_id": self.member_id,
            "home_org_id": self.home_org_id,
            "status": self.status,
            "region_code": self.region_code,
            "version": self.version,
            "certificate_no": self.certificate_no,
            "flags": self.flags,
            "caused_by": self.caused_by,
        })
    }

    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        let status = o.str("status")?;
        let flags = o
            .opt_array("flags")?
            .map(|a| {
                a.iter()
                    .map(|f| f.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .unwrap_or(Some(Vec::new()))
            .ok_or_else(|| FieldError::new(join(o.path(), "flags"), "must be texts"))?;
        Ok(Self {
            member_id: o.parse("member_id", MemberId::parse)?,
            home_org_id: o.parse("home_org_id", OrgId::parse)?,
            status: Status::parse(status).ok_or_else(|| {
                FieldError::new(join(o.path(), "status"), "is not a record status")
            })?,
            region_code: o.parse("region_code", RegionCode::parse)?,
            version: o
                .get("version")
                .and_then(Value::as_i64)
                .ok_or_else(|| FieldError::new(join(o.path(), "version"), "must be a number"))?,
            certificate_no: o.opt_parse("certificate_no", CertificateNo::parse)?,
            flags,
            caused_by: o.parse("caused_by", EventId::parse)?,
        })
    }
}

/// `dispatch.report_ready`: a department's quarterly report is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportReady {
    pub report_id: uuid::Uuid,
    pub org_id: String,
    pub quarter: Quarter,
}

impl ReportReady {
    pub const KIND: &'static str = "dispatch.report_ready";

    pub fn to_wire(&self) -> Value {
        json!({
            "report_id": self.report_id,
            "org_id": self.org_id,
            "quarter": self.quarter.to_string(),
        })
    }

    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        let report_id = uuid::Uuid::parse_str(o.str("report_id")?).map_err(|_| {
            FieldError::new(join(o.path(), "report_id"), "must be the report's UUID")
        })?;
        let quarter = Quarter::parse(o.str("quarter")?)
            .ok_or_else(|| FieldError::new(join(o.path(), "quarter"), "must be written YYYYQn"))?;
        Ok(Self {
            report_id,
            org_id: o.text("org_id")?,
            quarter,
        })
    }
}

#[cfg(test)]
mod tests;
