//! The `data` of each event type (DESIGN.md section 2), validated once where it enters.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::fields::{FieldError, Obj, join};
use crate::ids::{
    CertificateNo, ContactKind, EmployerType, MemberId, OrgId, OrgKind, Phone, Reason, RegionCode,
};

/// A person to reach: the responsible contact of an org (专人), a paired committee member
/// (一对一联), an inflow org's contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub phone: Phone,
}

impl Contact {
    fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        Ok(Self {
            name: o.text("name")?,
            phone: o.parse("phone", Phone::parse)?,
        })
    }
}

/// An org's group robot (`org.upserted`'s `chat`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub provider: String,
    pub webhook: String,
    pub secret: Option<String>,
}

/// A WGS-84 point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Geo {
    pub lon: f64,
    pub lat: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrgUpsert {
    pub id: OrgId,
    pub name: String,
    pub kind: OrgKind,
    pub parent_id: Option<OrgId>,
    pub region_code: RegionCode,
    pub contact: Contact,
    pub chat: Option<Chat>,
    pub geo: Option<Geo>,
}

const CHAT_PROVIDERS: &[&str] = crate::notify::ChatProvider::WORDS;

impl OrgUpsert {
    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        let contact_path = join(o.path(), "contact");
        let chat_path = join(o.path(), "chat");
        let geo_path = join(o.path(), "geo");
        let chat = match o.opt_obj("chat", &chat_path)? {
            None => None,
            Some(c) => {
                let provider = c.text("provider")?;
                if !CHAT_PROVIDERS.contains(&provider.as_str()) {
                    return Err(FieldError::new(
                        join(&chat_path, "provider"),
                        format!("{provider:?} is not one of {}", CHAT_PROVIDERS.join(", ")),
                    ));
                }
                let webhook = c.text("webhook")?;
                if !(webhook.starts_with("https://") || webhook.starts_with("http://")) {
                    return Err(FieldError::new(
                        join(&chat_path, "webhook"),
                        "must be the robot's full http(s) URL",
                    ));
                }
                Some(Chat {
                    provider,
                    webhook,
                    secret: c.opt_text("secret")?,
                })
            }
        };
        let geo = match o.opt_obj("geo", &geo_path)? {
            None => None,
            Some(g) => {
                let lon = g.opt_f64("lon")?.filter(|x| (-180.0..=180.0).contains(x));
                let lat = g.opt_f64("lat")?.filter(|x| (-85.05..=85.05).contains(x));
                match (lon, lat) {
                    (Some(lon), Some(lat)) => Some(Geo { lon, lat }),
                    _ => {
                        return Err(FieldError::new(
                            geo_path.clone(),
                            "needs lon (-180 to 180) and lat (-85 to 85) in WGS-84 degrees",
                        ));
                    }
                }
            }
        };
        Ok(Self {
            id: o.parse("id", OrgId::parse)?,
            name: o.text("name")?,
            kind: o.parse("kind", OrgKind::parse)?,
            parent_id: o.opt_parse("parent_id", OrgId::parse)?,
            region_code: o.parse("region_code", RegionCode::parse)?,
            contact: Contact::read(o.obj("contact", &contact_path)?)?,
            chat,
            geo,
        })
    }
}

/// One-to-one channels a person may be reached on, tried in order (DESIGN.md section 5): the
/// words of [`crate::notify::Channel`].
pub const PERSONAL_CHANNELS: &[&str] = crate::notify::Channel::WORDS;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberUpsert {
    pub id: MemberId,
    pub name: String,
    pub phone: Phone,
    pub home_org_id: OrgId,
    pub joined_party_on: NaiveDate,
    pub pair: Option<Contact>,
    pub channels: Vec<String>,
}

impl MemberUpsert {
    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        let pair_path = join(o.path(), "pair");
        let channels = match o.opt_array("channels")? {
            None => crate::notify::default_channels(),
            Some(list) => {
                let mut out = Vec::new();
                for (i, v) in list.iter().enumerate() {
                    let path = format!("{}[{i}]", join(o.path(), "channels"));
                    match v.as_str() {
                        Some(c) if PERSONAL_CHANNELS.contains(&c) => out.push(c.to_owned()),
                        _ => {
                            return Err(FieldError::new(
                                path,
                                format!("must be one of {}", PERSONAL_CHANNELS.join(", ")),
                            ));
                        }
                    }
                }
                if out.is_empty() {
                    return Err(FieldError::new(
                        join(o.path(), "channels"),
                        "is empty: leave it out for the default [\"sms\"]",
                    ));
                }
                out
            }
        };
        Ok(Self {
            id: o.parse("id", MemberId::parse)?,
            name: o.text("name")?,
            phone: o.parse("phone", Phone::parse)?,
            home_org_id: o.parse("home_org_id", OrgId::parse)?,
            joined_party_on: o.date("joined_party_on")?,
            pair: o
                .opt_obj("pair", &pair_path)?
                .map(Contact::read)
                .transpose()?,
            channels,
        })
    }
}

/// Where a member is: region, address, employer and its type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub region_code: RegionCode,
    pub address: String,
    pub employer: Option<String>,
    pub employer_type: EmployerType,
}

impl Location {
    fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        Ok(Self {
            region_code: o.parse("region_code", RegionCode::parse)?,
            address: o.text("address")?,
            employer: o.opt_text("employer")?,
            employer_type: o.parse("employer_type", EmployerType::parse)?,
        })
    }
}

/// Who the outbound event is about: an id already known, or a full member record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subject {
    Known(MemberId),
    Full(MemberUpsert),
}

impl Subject {
    pub fn member_id(&self) -> &MemberId {
        match self {
            Subject::Known(id) => id,
            Subject::Full(m) => &m.id,
        }
    }
}

/// Outbound registration (外出登记).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbound {
    pub subject: Subject,
    pub left_on: NaiveDate,
    pub reason: Reason,
    pub expected_months: u32,
    pub destination: Location,
    pub inflow_org_id: Option<OrgId>,
    pub inflow_contact: Option<Contact>,
}

impl Outbound {
    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        let member_path = join(o.path(), "member");
        let dest_path = join(o.path(), "destination");
        let contact_path = join(o.path(), "inflow_contact");
        let subject = match (o.opt_str("member_id")?, o.opt_obj("member", &member_path)?) {
            (Some(_), None) => Subject::Known(o.parse("member_id", MemberId::parse)?),
            (None, Some(m)) => Subject::Full(MemberUpsert::read(m)?),
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    join(o.path(), "member"),
                    "send either member_id or member, not both",
                ));
            }
            (None, None) => {
                return Err(FieldError::new(
                    join(o.path(), "member_id"),
                    "is missing: send member_id or a full member",
                ));
            }
        };
        let dest = o.obj("destination", &dest_path)?;
        let expected_months = o
            .opt_u32("expected_months")?
            .ok_or_else(|| FieldError::new(join(o.path(), "expected_months"), "is missing"))?;
        Ok(Self {
            subject,
            left_on: o.date("left_on")?,
            reason: o.parse("reason", Reason::parse)?,
            expected_months,
            destination: Location::read(dest)?,
            inflow_org_id: dest.opt_parse("inflow_org_id", OrgId::parse)?,
            inflow_contact: o
                .opt_obj("inflow_contact", &contact_path)?
                .map(Contact::read)
                .transpose()?,
        })
    }
}

/// How an arrival names the member it is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArrivalKey {
    MemberId(MemberId),
    Certificate(CertificateNo),
    Person {
        name: String,
        phone: Phone,
        home_org_id: Option<OrgId>,
    },
}

/// Inbound registration (报到) by the receiving org.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    /// Every key the arrival carries, tried in this order: certificate number, member id,
    /// then name and phone. Never empty.
    pub keys: Vec<ArrivalKey>,
    pub arrived_on: NaiveDate,
    pub location: Location,
}

impl Inbound {
    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        let member_path = join(o.path(), "member");
        let loc_path = join(o.path(), "location");
        let mut keys = Vec::new();
        if o.has("certificate_no") {
            keys.push(ArrivalKey::Certificate(
                o.parse("certificate_no", CertificateNo::parse)?,
            ));
        }
        if o.has("member_id") {
            keys.push(ArrivalKey::MemberId(o.parse("member_id", MemberId::parse)?));
        }
        if let Some(m) = o.opt_obj("member", &member_path)? {
            keys.push(ArrivalKey::Person {
                name: m.text("name")?,
                phone: m.parse("phone", Phone::parse)?,
                home_org_id: m.opt_parse("home_org_id", OrgId::parse)?,
            });
        }
        if keys.is_empty() {
            return Err(FieldError::new(
                join(o.path(), "member_id"),
                "is missing: send one of member_id, certificate_no or member {name, phone}",
            ));
        }
        Ok(Self {
            keys,
            arrived_on: o.date("arrived_on")?,
            location: Location::read(o.obj("location", &loc_path)?)?,
        })
    }
}

/// A refresh of an open record; an update that changes or confirms something counts as the
/// month's confirmation (一月一更新). `reminders` alone (a member's 退订 reply, the member page's
/// or a branch's "turn them back on") says nothing about where the member is, so it confirms
/// nothing ([`Update::confirms`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub member_id: MemberId,
    pub location: Option<Location>,
    pub phone: Option<Phone>,
    pub inflow_contact: Option<Contact>,
    pub confirmed_unchanged: bool,
    /// `false` stops the monthly reminder SMS to the member's phone, `true` resumes them
    /// (DESIGN.md section 5, "Replies").
    pub reminders: Option<bool>,
}

impl Update {
    /// Whether the update tells where the member is (a change, or "no change"): the month's
    /// confirmation. A `reminders` switch alone does not.
    pub fn confirms(&self) -> bool {
        self.confirmed_unchanged
            || self.location.is_some()
            || self.phone.is_some()
            || self.inflow_contact.is_some()
    }

    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        let loc_path = join(o.path(), "location");
        let contact_path = join(o.path(), "inflow_contact");
        let u = Self {
            member_id: o.parse("member_id", MemberId::parse)?,
            location: o
                .opt_obj("location", &loc_path)?
                .map(Location::read)
                .transpose()?,
            phone: o.opt_parse("phone", Phone::parse)?,
            inflow_contact: o
                .opt_obj("inflow_contact", &contact_path)?
                .map(Contact::read)
                .transpose()?,
            confirmed_unchanged: o.opt_bool("confirmed_unchanged")?.unwrap_or(false),
            reminders: o.opt_bool("reminders")?,
        };
        let changes = u.location.is_some() || u.phone.is_some() || u.inflow_contact.is_some();
        if (changes && u.confirmed_unchanged) || (!u.confirms() && u.reminders.is_none()) {
            return Err(FieldError::new(
                join(o.path(), "confirmed_unchanged"),
                "send any of location, phone, inflow_contact, or confirmed_unchanged: true without them (reminders: true|false may come with either, or alone)",
            ));
        }
        Ok(u)
    }
}

/// Return home: for good, or a visit (e.g. Spring Festival).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return {
    pub member_id: MemberId,
    pub returned_on: NaiveDate,
    pub permanent: bool,
}

impl Return {
    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        Ok(Self {
            member_id: o.parse("member_id", MemberId::parse)?,
            returned_on: o.date("returned_on")?,
            permanent: o.bool("permanent")?,
        })
    }
}

/// The new organization a relationship was transferred to (组织关系转接).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NewOrg {
    Known(OrgId),
    Named(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub member_id: MemberId,
    pub transferred_on: NaiveDate,
    pub new_org: NewOrg,
}

impl Transfer {
    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        let new_org = match o.opt_parse("new_org_id", OrgId::parse)? {
            Some(id) => NewOrg::Known(id),
            None => NewOrg::Named(o.opt_text("new_org_name")?.ok_or_else(|| {
                FieldError::new(
                    join(o.path(), "new_org_id"),
                    "is missing: send new_org_id or new_org_name",
                )
            })?),
        };
        Ok(Self {
            member_id: o.parse("member_id", MemberId::parse)?,
            transferred_on: o.date("transferred_on")?,
            new_org,
        })
    }
}

/// A contact with a member: a talk, a family visit, a meeting at home, a call, or a reply the
/// member sent by SMS (`reply`, recorded by hongyan itself with the reply's `text`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecorded {
    pub member_id: MemberId,
    pub kind: ContactKind,
    pub on: NaiveDate,
    pub by: String,
    pub text: Option<String>,
}

impl ContactRecorded {
    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        Ok(Self {
            member_id: o.parse("member_id", MemberId::parse)?,
            kind: o.parse("kind", ContactKind::parse)?,
            on: o.date("on")?,
            by: o.text("by")?,
            text: o.opt_text("text")?,
        })
    }
}

/// `review.transfer_suggested`: the scheduler's monthly review asked the branch to transfer
/// the relationship (应转尽转), and the registry marks the record so it is asked once. Only
/// hongyan sends it (actor `{"system": "hongyan"}`); org systems may not publish its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferSuggested {
    pub member_id: MemberId,
    /// The open record the review read: a record opened since is not marked.
    pub record_id: uuid::Uuid,
    /// Whole months at one place when the branch was asked.
    pub months: u32,
}

impl TransferSuggested {
    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        let record_id = uuid::Uuid::parse_str(o.str("record_id")?).map_err(|_| {
            FieldError::new(
                join(o.path(), "record_id"),
                "must be the UUID of the flow record the review read",
            )
        })?;
        Ok(Self {
            member_id: o.parse("member_id", MemberId::parse)?,
            record_id,
            months: o
                .opt_u32("months")?
                .ok_or_else(|| FieldError::new(join(o.path(), "months"), "is missing"))?,
        })
    }

    /// The wire shape [`TransferSuggested::read`] reads.
    pub fn to_wire(&self) -> serde_json::Value {
        serde_json::json!({
            "member_id": self.member_id,
            "record_id": self.record_id,
            "months": self.months,
        })
    }
}
