//! The request bodies of `POST /v1/events` and `POST /v1/study-packs` as JSON Schema: the
//! envelope of DESIGN.md section 2 with one variant per event type an org may send (`oneOf` on
//! `type`), and each type's `data` (docs/events.md says the same in words). The schemas are
//! never stricter than the domain's `read` (`hongyan_domain::payloads`, `study`): every body the
//! API takes fits them, and what the ledger must check (known ids, rights) is left to it, so a
//! schema-valid body may still be refused with 422. A field the domain takes as absent when it
//! is `null` accepts `null`.

use serde_json::{Map, Value, json};

/// Schema name → schema, added to `components.schemas`.
pub fn schemas() -> Map<String, Value> {
    let mut s = Map::new();
    fields(&mut s);
    org_and_member(&mut s);
    registrations(&mut s);
    study(&mut s);
    let variants: Vec<Value> = EVENT_DATA
        .iter()
        .map(|(kind, data)| envelope(kind, r(data)))
        .collect();
    s.insert("EventEnvelope".into(), json!({"oneOf": variants,
        "description": "DESIGN.md section 2's envelope, one variant per event type; see docs/events.md"}));
    s
}

/// A reference to a schema of `components.schemas`.
fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// `schema` or `null` (the domain takes a `null` field as absent).
fn opt(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

/// The field types the events share: ids, phones, region codes, dates, contacts, locations.
fn fields(s: &mut Map<String, Value>) {
    s.insert("Id".into(), json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "description": "1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'"}));
    s.insert("Phone".into(), json!({"type": "string", "description": "A mainland mobile: 1[3-9] and 9 more digits, +86 allowed"}));
    s.insert("RegionCode".into(), json!({"type": "string", "pattern": "^[0-9]{6}([0-9]{3}){0,2}$", "description": "A statistical division code of 6, 9 or 12 digits"}));
    s.insert(
        "Date".into(),
        json!({"type": "string", "description": "YYYY-MM-DD"}),
    );
    s.insert(
        "Text".into(),
        json!({"type": "string", "description": "Not empty once trimmed"}),
    );
    s.insert(
        "Contact".into(),
        json!({"type": "object", "required": ["name", "phone"],
        "properties": {"name": r("Text"), "phone": r("Phone")}}),
    );
    s.insert("Location".into(), json!({"type": "object", "required": ["region_code", "address", "employer_type"],
        "properties": {"region_code": r("RegionCode"), "address": r("Text"), "employer": opt(json!({"type": "string"})),
            "employer_type": {"type": "string", "enum": ["government", "institution", "state_owned", "private", "self_employed", "community", "village", "other"]}}}));
}

/// `org.upserted` and `member.upserted`.
fn org_and_member(s: &mut Map<String, Value>) {
    s.insert("OrgUpserted".into(), json!({"type": "object", "required": ["id", "name", "kind", "region_code", "contact"],
        "properties": {"id": r("Id"), "name": r("Text"),
            "kind": {"type": "string", "enum": ["department", "committee", "branch", "flow_branch", "station"]},
            "parent_id": opt(r("Id")), "region_code": r("RegionCode"), "contact": r("Contact"),
            "chat": opt(json!({"type": "object", "required": ["provider", "webhook"], "properties": {
                "provider": {"type": "string", "enum": ["wecom", "dingtalk", "feishu"]},
                "webhook": {"type": "string", "description": "The robot's full http(s) URL"},
                "secret": opt(json!({"type": "string"}))}})),
            "geo": opt(json!({"type": "object", "required": ["lon", "lat"], "properties": {
                "lon": {"type": "number", "minimum": -180, "maximum": 180},
                "lat": {"type": "number", "minimum": -85.05, "maximum": 85.05}}}))}}));
    s.insert("MemberUpserted".into(), json!({"type": "object", "required": ["id", "name", "phone", "home_org_id", "joined_party_on"],
        "properties": {"id": r("Id"), "name": r("Text"), "phone": r("Phone"), "home_org_id": r("Id"),
            "joined_party_on": r("Date"), "pair": opt(r("Contact")),
            "channels": opt(json!({"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["sms", "webhook", "console"]}}))}}));
}

/// The registrations and contacts of section 2.
fn registrations(s: &mut Map<String, Value>) {
    s.insert("Outbound".into(), json!({"type": "object", "required": ["left_on", "reason", "expected_months", "destination"],
        "description": "member_id, or a full member as in member.upserted",
        "properties": {"member_id": opt(r("Id")), "member": opt(r("MemberUpserted")), "left_on": r("Date"),
            "reason": {"type": "string", "enum": ["work", "business", "study", "other"]},
            "expected_months": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64},
            "destination": {"allOf": [r("Location"), {"type": "object", "properties": {"inflow_org_id": opt(r("Id"))}}]},
            "inflow_contact": opt(r("Contact"))}}));
    s.insert(
        "Inbound".into(),
        json!({"type": "object", "required": ["arrived_on", "location"],
        "description": "one of member_id, certificate_no, or member {name, phone, home_org_id?}",
        "properties": {"member_id": opt(r("Id")), "certificate_no": opt(json!({"type": "string"})),
            "member": opt(json!({"type": "object", "required": ["name", "phone"], "properties": {
                "name": r("Text"), "phone": r("Phone"), "home_org_id": opt(r("Id"))}})),
            "arrived_on": r("Date"), "location": r("Location")}}),
    );
    s.insert("Update".into(), json!({"type": "object", "required": ["member_id"],
        "description": "any of location, phone, inflow_contact, reminders (false stops the monthly reminder SMS, true resumes them); or confirmed_unchanged: true",
        "properties": {"member_id": r("Id"), "location": opt(r("Location")), "phone": opt(r("Phone")),
            "inflow_contact": opt(r("Contact")), "confirmed_unchanged": opt(json!({"type": "boolean"})),
            "reminders": opt(json!({"type": "boolean"}))}}));
    s.insert("Return".into(), json!({"type": "object", "required": ["member_id", "returned_on", "permanent"],
        "properties": {"member_id": r("Id"), "returned_on": r("Date"), "permanent": {"type": "boolean"}}}));
    s.insert("Transfer".into(), json!({"type": "object", "required": ["member_id", "transferred_on"],
        "description": "new_org_id or new_org_name",
        "properties": {"member_id": r("Id"), "transferred_on": r("Date"), "new_org_id": opt(r("Id")),
            "new_org_name": opt(json!({"type": "string"}))}}));
    s.insert("ContactRecorded".into(), json!({"type": "object", "required": ["member_id", "kind", "on", "by"],
        "properties": {"member_id": r("Id"),
            "kind": {"type": "string", "enum": ["talk", "family_visit", "home_meeting", "phone", "reply"]},
            "on": r("Date"), "by": r("Text"), "text": opt(json!({"type": "string"}))}}));
}

/// `study.published` (the body of `POST /v1/study-packs` too) and `study.completed`.
fn study(s: &mut Map<String, Value>) {
    s.insert("StudyPack".into(), json!({"type": "object", "required": ["pack_id", "title", "summary", "items", "audience"],
        "properties": {"pack_id": r("Id"), "title": r("Text"), "summary": r("Text"),
            "items": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["kind"], "properties": {
                "kind": {"type": "string", "enum": ["text", "image", "voice", "video", "link"]},
                "title": opt(json!({"type": "string"})), "text": opt(json!({"type": "string"})),
                "url": opt(json!({"type": "string"}))}}},
            "audience": {"type": "object", "description": "org_ids (each its subtree) and/or region_codes",
                "properties": {"org_ids": opt(json!({"type": "array", "items": r("Id")})),
                               "region_codes": opt(json!({"type": "array", "items": r("RegionCode")}))}},
            "send_at": opt(json!({"type": "string", "description": "RFC 3339, e.g. 2026-12-09T09:00:00+08:00"}))}}));
    s.insert(
        "StudyCompleted".into(),
        json!({"type": "object", "required": ["member_id", "pack_id", "on"],
        "properties": {"member_id": r("Id"), "pack_id": r("Id"), "on": r("Date")}}),
    );
}

/// The event types an org sends through `POST /v1/events`, with their `data` schemas.
/// (`review.transfer_suggested` is hongyan's own and refused here.)
const EVENT_DATA: &[(&str, &str)] = &[
    ("org.upserted", "OrgUpserted"),
    ("member.upserted", "MemberUpserted"),
    ("registration.outbound", "Outbound"),
    ("registration.inbound", "Inbound"),
    ("registration.update", "Update"),
    ("registration.return", "Return"),
    ("registration.transfer", "Transfer"),
    ("contact.recorded", "ContactRecorded"),
    ("study.published", "StudyPack"),
    ("study.completed", "StudyCompleted"),
];

fn envelope(kind: &str, data: Value) -> Value {
    json!({"type": "object", "title": kind,
        "required": ["event_id", "type", "schema_version", "occurred_at", "actor", "data"],
        "properties": {
            "event_id": {"type": "string", "format": "uuid", "description": "The idempotency key"},
            "type": {"type": "string", "enum": [kind]},
            "schema_version": {"type": "integer", "enum": [hongyan_domain::envelope::SCHEMA_VERSION]},
            "occurred_at": {"type": "string", "description": "RFC 3339 with an offset, e.g. 2026-03-01T09:15:00+08:00"},
            "actor": {"type": "object", "required": ["org_id"], "description": "The caller's own org",
                      "properties": {"org_id": {"$ref": "#/components/schemas/Id"},
                                     "user": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
            "data": data}})
}

/// Points the two bodies at their schemas.
pub fn add(doc: &mut Value) {
    let schemas = schemas();
    if let Some(components) = doc["components"]["schemas"].as_object_mut() {
        components.extend(schemas);
    }
    for (path, schema) in [
        ("/v1/events", "EventEnvelope"),
        ("/v1/study-packs", "StudyPack"),
    ] {
        let body = &mut doc["paths"][path]["post"]["requestBody"]["content"]["application/json"];
        body["schema"] = json!({"$ref": format!("#/components/schemas/{schema}")});
    }
}

#[cfg(test)]
mod tests {
    use hongyan_domain::envelope::EventType;

    use super::*;

    #[test]
    fn every_type_an_org_may_send_has_a_variant() {
        for t in EventType::ALL.iter().filter(|t| !t.is_hongyans()) {
            assert!(
                EVENT_DATA.iter().any(|(k, _)| *k == t.as_str()),
                "{} has no schema",
                t.as_str()
            );
        }
        let s = schemas();
        for (_, data) in EVENT_DATA {
            assert!(s.contains_key(*data), "{data}");
        }
    }
}
