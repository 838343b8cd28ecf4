//! Events as the outside world sends them. A small county: department `c1` (522636), township
//! `t1`, branches `b1` and `b2`; a city department `gz` (440106) with a park committee and a
//! service station.

use serde_json::{Value, json};

pub fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An envelope from `actor` at `at` (Shanghai time, `2026-03-01T09:00:00`).
pub fn event(kind: &str, actor: &str, at: &str, data: Value) -> Value {
    json!({
        "event_id": id(),
        "type": kind,
        "schema_version": 1,
        "occurred_at": format!("{at}+08:00"),
        "actor": {"org_id": actor, "user": "test"},
        "data": data,
    })
}

pub fn org(id: &str, kind: &str, parent: Option<&str>, region: &str, phone: &str) -> Value {
    let actor = parent.unwrap_or(id);
    event(
        "org.upserted",
        actor,
        "2026-01-01T09:00:00",
        json!({"id": id, "name": format!("{id}组织"), "kind": kind, "parent_id": parent, "region_code": region,
               "contact": {"name": format!("{id}联系人"), "phone": phone}}),
    )
}

pub fn station(id: &str, parent: &str, region: &str, lon: f64, lat: f64) -> Value {
    let mut e = org(id, "station", Some(parent), region, "13900000009");
    e["data"]["geo"] = json!({"lon": lon, "lat": lat});
    e
}

pub fn member(id: &str, home: &str, phone: &str) -> Value {
    event(
        "member.upserted",
        home,
        "2026-01-02T09:00:00",
        json!({"id": id, "name": format!("党员{id}"), "phone": phone, "home_org_id": home, "joined_party_on": "2010-07-01",
               "pair": {"name": "结对委员", "phone": "13900000008"}}),
    )
}

/// The county and city of the module docs, as events in order.
pub fn county() -> Vec<Value> {
    vec![
        org("c1", "department", None, "522636", "13900000001"),
        org("t1", "committee", Some("c1"), "522636100", "13900000002"),
        org("b1", "branch", Some("t1"), "522636100201", "13900000003"),
        org("b2", "branch", Some("t1"), "522636100202", "13900000004"),
        org("gz", "department", None, "440106", "13900000005"),
        org(
            "gz-park",
            "committee",
            Some("gz"),
            "440106001",
            "13900000006",
        ),
        station("gz-s1", "gz", "440106001", 113.36, 23.13),
        station("gz-s2", "gz", "440106002", 113.40, 23.18),
    ]
}

pub fn outbound(member: &str, home: &str, at: &str, months: u32, employer: Option<&str>) -> Value {
    event(
        "registration.outbound",
        home,
        at,
        json!({"member_id": member, "left_on": &at[..10], "reason": "work", "expected_months": months,
               "destination": {"region_code": "440106001", "address": "天河路1号", "employer": employer,
                               "employer_type": "private", "inflow_org_id": "gz-park"}}),
    )
}

/// Member `m1` of branch b1 with `phone`, and their registration of 10 February 2026: away
/// for four months to 440106001 (天河路1号), working for `employer`.
pub fn m1_away(phone: &str, employer: Option<&str>) -> [Value; 2] {
    [
        member("m1", "b1", phone),
        outbound("m1", "b1", "2026-02-10T09:00:00", 4, employer),
    ]
}

pub fn inbound(actor: &str, at: &str, key: Value) -> Value {
    let mut data = json!({"arrived_on": &at[..10],
        "location": {"region_code": "440106002", "address": "科韵路8号", "employer": "某科技公司", "employer_type": "private"}});
    for (k, v) in key.as_object().unwrap() {
        data[k] = v.clone();
    }
    event("registration.inbound", actor, at, data)
}

pub fn update(member: &str, actor: &str, at: &str, data: Value) -> Value {
    let mut d = data;
    d["member_id"] = json!(member);
    event("registration.update", actor, at, d)
}

pub fn evt_id(e: &Value) -> String {
    e["event_id"].as_str().unwrap().to_owned()
}
