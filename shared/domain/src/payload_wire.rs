//! The wire shapes of the events hongyan sends as an org or a member: the console (DESIGN.md
//! section 12) publishes section 2's events for branch secretaries and station clerks, the
//! member page a member's `registration.update`, and the notifier a member's SMS reply (a
//! `registration.update`, or a `contact.recorded` of kind `reply`). Each `to_wire` is the shape
//! its type's `read` takes back, and the tests read every one back.

use serde_json::{Value, json};

use crate::payloads::{
    ArrivalKey, ContactRecorded, Inbound, NewOrg, Outbound, Return, Subject, Transfer, Update,
};

impl Outbound {
    /// `registration.outbound`'s data; a full member is sent as `member`.
    pub fn to_wire(&self) -> Value {
        let mut destination = json!(self.destination);
        if let Some(org) = &self.inflow_org_id {
            destination["inflow_org_id"] = json!(org);
        }
        let mut d = json!({
            "left_on": self.left_on,
            "reason": self.reason,
            "expected_months": self.expected_months,
            "destination": destination,
        });
        match &self.subject {
            Subject::Known(id) => d["member_id"] = json!(id),
            Subject::Full(m) => d["member"] = json!(m),
        }
        if let Some(c) = &self.inflow_contact {
            d["inflow_contact"] = json!(c);
        }
        d
    }
}

impl Inbound {
    /// `registration.inbound`'s data, with every key the arrival carries.
    pub fn to_wire(&self) -> Value {
        let mut d = json!({"arrived_on": self.arrived_on, "location": self.location});
        for key in &self.keys {
            match key {
                ArrivalKey::Certificate(c) => d["certificate_no"] = json!(c),
                ArrivalKey::MemberId(m) => d["member_id"] = json!(m),
                ArrivalKey::Person {
                    name,
                    phone,
                    home_org_id,
                } => {
                    let mut m = json!({"name": name, "phone": phone});
                    if let Some(h) = home_org_id {
                        m["home_org_id"] = json!(h);
                    }
                    d["member"] = m;
                }
            }
        }
        d
    }
}

impl Update {
    /// The wire shape [`Update::read`] reads: only the fields that are sent (the member page
    /// and the notifier send it as the member, `outgoing::envelope`).
    pub fn to_wire(&self) -> Value {
        let mut d = json!({"member_id": self.member_id});
        if self.confirmed_unchanged {
            d["confirmed_unchanged"] = json!(true);
        }
        if let Some(loc) = &self.location {
            d["location"] = json!(loc);
        }
        if let Some(p) = &self.phone {
            d["phone"] = json!(p);
        }
        if let Some(c) = &self.inflow_contact {
            d["inflow_contact"] = json!(c);
        }
        if let Some(on) = self.reminders {
            d["reminders"] = json!(on);
        }
        d
    }
}

impl Return {
    pub fn to_wire(&self) -> Value {
        json!({"member_id": self.member_id, "returned_on": self.returned_on, "permanent": self.permanent})
    }
}

impl Transfer {
    pub fn to_wire(&self) -> Value {
        let mut d = json!({"member_id": self.member_id, "transferred_on": self.transferred_on});
        match &self.new_org {
            NewOrg::Known(id) => d["new_org_id"] = json!(id),
            NewOrg::Named(name) => d["new_org_name"] = json!(name),
        }
        d
    }
}

impl ContactRecorded {
    pub fn to_wire(&self) -> Value {
        let mut d =
            json!({"member_id": self.member_id, "kind": self.kind, "on": self.on, "by": self.by});
        if let Some(text) = &self.text {
            d["text"] = json!(text);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::fields::Obj;
    use crate::ids::{CertificateNo, MemberId, OrgId, Phone, RegionCode};
    use crate::payloads::{Contact, Location};
    use crate::{ContactKind, EmployerType, Reason};

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    fn place() -> Location {
        Location {
            region_code: RegionCode::parse("440106001").unwrap(),
            address: "天河路1号".into(),
            employer: None,
            employer_type: EmployerType::parse("other").unwrap(),
        }
    }

    fn back<T>(v: &Value, read: impl Fn(Obj<'_>) -> Result<T, crate::fields::FieldError>) -> T {
        read(Obj::new("data", v).unwrap()).unwrap()
    }

    #[test]
    fn every_console_event_reads_back_as_sent() {
        let member = MemberId::parse("m-1").unwrap();
        let out = Outbound {
            subject: Subject::Known(member.clone()),
            left_on: day(7),
            reason: Reason::parse("work").unwrap(),
            expected_months: 4,
            destination: place(),
            inflow_org_id: Some(OrgId::parse("st-1").unwrap()),
            inflow_contact: Some(Contact {
                name: "赵站长".into(),
                phone: Phone::parse("13900000006").unwrap(),
            }),
        };
        assert_eq!(back(&out.to_wire(), Outbound::read), out);
        let arrival = Inbound {
            keys: vec![
                ArrivalKey::Certificate(CertificateNo::parse("522636202600001").unwrap()),
                ArrivalKey::Person {
                    name: "王小明".into(),
                    phone: Phone::parse("13900000007").unwrap(),
                    home_org_id: None,
                },
            ],
            arrived_on: day(8),
            location: place(),
        };
        assert_eq!(back(&arrival.to_wire(), Inbound::read), arrival);
        let ret = Return {
            member_id: member.clone(),
            returned_on: day(9),
            permanent: true,
        };
        assert_eq!(back(&ret.to_wire(), Return::read), ret);
        for new_org in [
            NewOrg::Known(OrgId::parse("gz-1").unwrap()),
            NewOrg::Named("广州某公司党支部".into()),
        ] {
            let t = Transfer {
                member_id: member.clone(),
                transferred_on: day(10),
                new_org,
            };
            assert_eq!(back(&t.to_wire(), Transfer::read), t);
        }
        let c = ContactRecorded {
            member_id: member,
            kind: ContactKind::parse("talk").unwrap(),
            on: day(11),
            by: "李书记".into(),
            text: None,
        };
        assert_eq!(back(&c.to_wire(), ContactRecorded::read), c);
        let reply = ContactRecorded {
            kind: ContactKind::Reply,
            text: Some("我换工作了，在深圳".into()),
            by: "hongyan".into(),
            ..c
        };
        assert_eq!(back(&reply.to_wire(), ContactRecorded::read), reply);
    }
}
