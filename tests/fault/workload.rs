//! The registrations a fault case drives, as a county's org systems send them, and what they
//! must come to: each member's final ledger state, the certificates issued, and the SMS each
//! phone gets per template.
//!
//! A county department `c1` (522636) with a township and ten branches; a city department `gz`
//! (440106) with an inflow committee `gz-park` and a service station. Each member is
//! registered, leaves, and then, by kind: checks in and sends eight updates (60%); checks in,
//! sends five updates and comes home for a visit (15%); leaves for a year with an employer (no
//! certificate: the branch is asked to transfer), sends five updates and is transferred
//! (10%); leaves for three months, sends five updates and returns for good (15%). A member's
//! events are published in their order; different members' events interleave.

use std::collections::HashMap;

use serde_json::{Value, json};

pub const BRANCHES: usize = 10;
const INFLOW_ORG: &str = "gz-park";
const INFLOW_PHONE: &str = "13900009001";

/// What one member's ledger must show at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub member_id: String,
    pub status: &'static str,
    pub version: i64,
    pub certificate: bool,
    pub region_code: String,
    pub address: String,
}

pub struct Workload {
    /// The org tree, applied before anything else.
    pub orgs: Vec<Value>,
    /// Every member's events, interleaved across members, each member's in order.
    pub stream: Vec<Value>,
    pub members: Vec<Expected>,
    /// SMS per (phone, template name).
    pub sms: HashMap<(String, String), u32>,
}

#[derive(Clone, Copy)]
enum Kind {
    CheckedIn,
    HomeVisit,
    Transferred,
    Returned,
}

impl Kind {
    fn of(i: usize) -> Self {
        match i % 20 {
            0..12 => Self::CheckedIn,
            12..15 => Self::HomeVisit,
            15..17 => Self::Transferred,
            _ => Self::Returned,
        }
    }
}

fn event(kind: &str, actor: &str, at: &str, data: Value) -> Value {
    json!({
        "event_id": uuid::Uuid::new_v4(), "type": kind, "schema_version": 1,
        "occurred_at": format!("{at}+08:00"),
        "actor": {"org_id": actor, "user": "fault-suite"}, "data": data,
    })
}

fn org(id: &str, kind: &str, parent: Option<&str>, region: &str, phone: &str) -> Value {
    event(
        "org.upserted",
        parent.unwrap_or(id),
        "2026-01-01T09:00:00",
        json!({"id": id, "name": format!("{id}组织"), "kind": kind, "parent_id": parent,
               "region_code": region, "contact": {"name": format!("{id}联系人"), "phone": phone}}),
    )
}

pub fn branch(b: usize) -> String {
    format!("b{b:02}")
}

fn branch_phone(b: usize) -> String {
    format!("1390000{b:04}")
}

fn pair_phone(b: usize) -> String {
    format!("1370000{b:04}")
}

pub fn member_phone(i: usize) -> String {
    format!("138{i:08}")
}

fn orgs() -> Vec<Value> {
    let mut v = vec![
        org("c1", "department", None, "522636", "13900008001"),
        org("t1", "committee", Some("c1"), "522636100", "13900008002"),
        org("gz", "department", None, "440106", "13900008003"),
        org(
            INFLOW_ORG,
            "committee",
            Some("gz"),
            "440106001",
            INFLOW_PHONE,
        ),
    ];
    let mut station = org("gz-s1", "station", Some("gz"), "440106001", "13900008004");
    station["data"]["geo"] = json!({"lon": 113.36, "lat": 23.13});
    v.push(station);
    for b in 0..BRANCHES {
        v.push(org(
            &branch(b),
            "branch",
            Some("t1"),
            &format!("522636100{:03}", 201 + b),
            &branch_phone(b),
        ));
    }
    v
}

fn location(region: &str, address: &str) -> Value {
    json!({"region_code": region, "address": address, "employer": "某科技公司", "employer_type": "private"})
}

/// One member's events, built step by step, and the SMS each step causes.
struct Life<'a> {
    i: usize,
    id: String,
    b: usize,
    home: String,
    kind: Kind,
    events: Vec<Value>,
    sms: &'a mut HashMap<(String, String), u32>,
}

impl Life<'_> {
    fn push(&mut self, kind: &str, actor: &str, at: &str, data: Value) {
        self.events.push(event(kind, actor, at, data));
    }

    fn sms(&mut self, phone: String, template: &str) {
        *self.sms.entry((phone, template.to_owned())).or_default() += 1;
    }

    fn registered(&mut self) {
        let (i, b) = (self.i, self.b);
        let data = json!({"id": self.id, "name": format!("党员{i}"), "phone": member_phone(i),
            "home_org_id": self.home, "joined_party_on": "2010-07-01",
            "pair": {"name": "结对委员", "phone": pair_phone(b)}});
        let home = self.home.clone();
        self.push("member.upserted", &home, "2026-01-02T09:00:00", data);
    }

    /// The departure: the member, the branch and (when named) the inflow org are told.
    fn leaves(&mut self) {
        let (months, employer) = match self.kind {
            Kind::Transferred => (12, Some("某制造厂")),
            Kind::Returned => (3, None),
            _ => (4, Some("某科技公司")),
        };
        let inflow = matches!(self.kind, Kind::HomeVisit).then_some(INFLOW_ORG);
        let data = json!({"member_id": self.id, "left_on": "2026-03-01", "reason": "work",
            "expected_months": months,
            "destination": {"region_code": "440106001", "address": "天河路1号", "employer": employer,
                            "employer_type": "private", "inflow_org_id": inflow}});
        let home = self.home.clone();
        self.push("registration.outbound", &home, "2026-03-01T09:00:00", data);
        self.sms(member_phone(self.i), "outbound_member");
        self.sms(branch_phone(self.b), "outbound_branch");
        if inflow.is_some() {
            self.sms(INFLOW_PHONE.into(), "outbound_inflow");
        }
    }

    /// The check-in with the inflow org: the branch is told.
    fn arrives(&mut self) {
        let data = json!({"member_id": self.id, "arrived_on": "2026-03-03",
            "location": location("440106002", "科韵路8号")});
        self.push(
            "registration.inbound",
            INFLOW_ORG,
            "2026-03-03T09:00:00",
            data,
        );
        self.sms(branch_phone(self.b), "checked_in_branch");
    }

    /// Updates, every other one a move: returns the last address.
    fn updates(&mut self, n: usize) -> String {
        let mut address = String::new();
        for k in 0..n {
            let at = format!("2026-03-10T{:02}:00:00", 9 + k);
            let data = if k % 2 == 0 {
                address = format!("科韵路{}号", 10 + k);
                json!({"member_id": self.id, "location": location("440106002", &address)})
            } else {
                json!({"member_id": self.id, "confirmed_unchanged": true})
            };
            let home = self.home.clone();
            self.push("registration.update", &home, &at, data);
        }
        address
    }

    /// How the time away ends (or not): the status it leaves.
    fn ends(&mut self) -> &'static str {
        let (home, id) = (self.home.clone(), self.id.clone());
        let back = |permanent| json!({"member_id": id, "returned_on": "2026-04-01", "permanent": permanent});
        match self.kind {
            Kind::CheckedIn => "checked_in",
            Kind::HomeVisit => {
                self.push(
                    "registration.return",
                    &home,
                    "2026-04-01T09:00:00",
                    back(false),
                );
                self.sms(pair_phone(self.b), "home_visit_pair");
                "home_visit"
            }
            Kind::Returned => {
                self.push(
                    "registration.return",
                    &home,
                    "2026-04-01T09:00:00",
                    back(true),
                );
                "returned"
            }
            Kind::Transferred => {
                let data = json!({"member_id": self.id, "transferred_on": "2026-04-02",
                                  "new_org_name": "外省某党组织"});
                self.push("registration.transfer", &home, "2026-04-02T09:00:00", data);
                "transferred"
            }
        }
    }
}

/// One member's events in order, and what they come to.
fn member_events(i: usize, sms: &mut HashMap<(String, String), u32>) -> (Vec<Value>, Expected) {
    let b = i % BRANCHES;
    let mut life = Life {
        i,
        id: format!("f{i:05}"),
        b,
        home: branch(b),
        kind: Kind::of(i),
        events: Vec::new(),
        sms,
    };
    life.registered();
    life.leaves();
    if matches!(life.kind, Kind::CheckedIn | Kind::HomeVisit) {
        life.arrives();
    }
    let address = life.updates(if matches!(life.kind, Kind::CheckedIn) {
        8
    } else {
        5
    });
    let status = life.ends();
    let expected = Expected {
        member_id: life.id.clone(),
        status,
        // Every registration event after member.upserted is one change to the ledger.
        version: life.events.len() as i64 - 1,
        certificate: !matches!(life.kind, Kind::Transferred),
        region_code: "440106002".into(),
        address,
    };
    (life.events, expected)
}

impl Workload {
    pub fn new(members: usize) -> Self {
        let mut sms = HashMap::new();
        let mut per_member = Vec::with_capacity(members);
        let mut expected = Vec::with_capacity(members);
        for i in 0..members {
            let (ev, ex) = member_events(i, &mut sms);
            per_member.push(ev);
            expected.push(ex);
        }
        let longest = per_member.iter().map(Vec::len).max().unwrap_or(0);
        let mut stream = Vec::new();
        for round in 0..longest {
            for ev in &per_member {
                if let Some(e) = ev.get(round) {
                    stream.push(e.clone());
                }
            }
        }
        Self {
            orgs: orgs(),
            stream,
            members: expected,
            sms,
        }
    }

    pub fn events(&self) -> usize {
        self.orgs.len() + self.stream.len()
    }

    pub fn sms_total(&self) -> usize {
        self.sms.values().map(|n| *n as usize).sum()
    }

    pub fn certificates(&self) -> usize {
        self.members.iter().filter(|m| m.certificate).count()
    }
}

/// A malformed event (a routing key and a body), each carrying the marker `flood-<n>` so a
/// parked one can be told apart: not JSON, a missing field, a bad phone, a bad region code,
/// an actor without the right, an unknown member.
pub fn malformed(n: usize) -> (String, Vec<u8>) {
    let marker = format!("flood-{n}");
    let bad = |kind: &str, actor: &str, data: Value| {
        let mut e = event(kind, actor, "2026-03-05T09:00:00", data);
        e["actor"]["user"] = json!(marker);
        (kind.to_owned(), serde_json::to_vec(&e).unwrap())
    };
    let member = format!("f{:05}", n % 20);
    match n % 6 {
        0 => (
            "registration.update".into(),
            format!("{{\"event_id\": \"{marker}\", \"type\": \"registration.update\", \"data\": ")
                .into_bytes(),
        ),
        1 => bad(
            "registration.outbound",
            "b00",
            json!({"member_id": member, "reason": "work", "expected_months": 3}),
        ),
        2 => bad(
            "member.upserted",
            "b00",
            json!({"id": format!("x{n}"), "name": "无效", "phone": "12345", "home_org_id": "b00",
                   "joined_party_on": "2010-07-01"}),
        ),
        3 => bad(
            "registration.update",
            "b00",
            json!({"member_id": member, "location": location("12", "无效地址")}),
        ),
        4 => bad(
            "org.upserted",
            "b03",
            json!({"id": format!("rogue{n}"), "name": "越权组织", "kind": "branch", "parent_id": "c1",
                   "region_code": "522636100299", "contact": {"name": "某人", "phone": "13900000000"}}),
        ),
        _ => bad(
            "registration.update",
            "b00",
            json!({"member_id": format!("nobody{n}"), "confirmed_unchanged": true}),
        ),
    }
}
