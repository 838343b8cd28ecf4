//! Deferred events that wait in memory for what they name (issue 7). An event deferred because
//! it names an org, member, open record, certificate or study pack that is not there yet (a
//! producer really sent the child first) is kept here, keyed by what it names, and looked at
//! again right after a batch commits that creates or changes one of those, instead of only
//! when its retry-tier copy comes back.
//!
//! This is a shortcut, never the only copy: the retry-tier copy is still published and the
//! delivery acknowledged after it is confirmed, as without this module. A process that dies
//! loses what waits here and nothing else; the tier copy comes back and is looked at as usual.
//! When the early look applied the event, its tier copy finds it applied (a duplicate, by its
//! event id). An early look that refuses the event for another reason changes nothing: the
//! tier copy decides, and parks it if it must.

use std::collections::{HashMap, HashSet};

use hongyan_domain::Envelope;
use hongyan_domain::envelope::EventData;
use hongyan_domain::payloads::{ArrivalKey, NewOrg, Subject};
use uuid::Uuid;

/// Events held at most; past this a deferred event waits for its retry tier only.
const HELD_LIMIT: usize = 10_000;

/// Something an event names and a batch can create.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Org(String),
    /// A member, their member row or their records.
    Member(String),
    Certificate(String),
    Pack(String),
}

/// Every id `ev` names that a batch may create.
pub fn named(ev: &Envelope) -> Vec<Key> {
    let mut keys = Vec::new();
    let org = |id: &hongyan_domain::ids::OrgId| Key::Org(id.as_str().to_owned());
    keys.extend(ev.actor.org_id().map(org));
    keys.extend(
        ev.data
            .member_id()
            .map(|m| Key::Member(m.as_str().to_owned())),
    );
    match &ev.data {
        EventData::OrgUpserted(o) => keys.extend(o.parent_id.iter().map(org)),
        EventData::MemberUpserted(m) => keys.push(org(&m.home_org_id)),
        EventData::Outbound(o) => {
            if let Subject::Full(m) = &o.subject {
                keys.push(org(&m.home_org_id));
            }
            keys.extend(o.inflow_org_id.iter().map(org));
        }
        EventData::Inbound(i) => {
            for key in &i.keys {
                match key {
                    ArrivalKey::Certificate(c) => {
                        keys.push(Key::Certificate(c.as_str().to_owned()))
                    }
                    ArrivalKey::MemberId(m) => keys.push(Key::Member(m.as_str().to_owned())),
                    ArrivalKey::Person { home_org_id, .. } => {
                        keys.extend(home_org_id.iter().map(org));
                    }
                }
            }
        }
        EventData::Transfer(t) => {
            if let NewOrg::Known(id) = &t.new_org {
                keys.push(org(id));
            }
        }
        EventData::StudyPublished(p) => keys.extend(p.audience.org_ids.iter().map(org)),
        EventData::StudyCompleted(c) => keys.push(Key::Pack(c.pack_id.as_str().to_owned())),
        EventData::Update(_)
        | EventData::Return(_)
        | EventData::ContactRecorded(_)
        | EventData::TransferSuggested(_) => {}
    }
    keys
}

struct Held {
    /// Order of holding, which is the order the events were taken in.
    seq: u64,
    envelope: Envelope,
    keys: Vec<Key>,
}

/// The deferred events of one consumer session, by event id and by what they name.
#[derive(Default)]
pub struct Waiting {
    held: HashMap<Uuid, Held>,
    by_key: HashMap<Key, HashSet<Uuid>>,
    next_seq: u64,
}

impl Waiting {
    /// Holds a deferred event until a batch creates something it names.
    pub fn hold(&mut self, envelope: Envelope) {
        let id = envelope.event_id.0;
        self.forget(id);
        if self.held.len() >= HELD_LIMIT {
            return;
        }
        let keys = named(&envelope);
        for k in &keys {
            self.by_key.entry(k.clone()).or_default().insert(id);
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        self.held.insert(
            id,
            Held {
                seq,
                envelope,
                keys,
            },
        );
    }

    /// Drops what is held for event `id` (a delivery of it was just looked at).
    pub fn forget(&mut self, id: Uuid) -> Option<Envelope> {
        let held = self.held.remove(&id)?;
        for k in &held.keys {
            if let Some(ids) = self.by_key.get_mut(k) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_key.remove(k);
                }
            }
        }
        Some(held.envelope)
    }

    /// Takes out every event that names one of `created`, in the order they were held.
    pub fn wake(&mut self, created: &[Key]) -> Vec<Envelope> {
        if self.held.is_empty() {
            return Vec::new();
        }
        let mut ids: Vec<(u64, Uuid)> = created
            .iter()
            .filter_map(|k| self.by_key.get(k))
            .flatten()
            .filter_map(|id| self.held.get(id).map(|h| (h.seq, *id)))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .filter_map(|(_, id)| self.forget(id))
            .collect()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An org's event as the domain's one constructor writes it.
    fn envelope(kind: &str, data: serde_json::Value) -> Envelope {
        use chrono::TimeZone;
        let actor = hongyan_domain::envelope::Actor::Org {
            org_id: hongyan_domain::ids::OrgId::parse("b1").unwrap(),
            user: None,
        };
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
        let id = hongyan_domain::ids::EventId(Uuid::new_v4());
        let body = hongyan_domain::outgoing::envelope(kind, id, at, &actor, data);
        Envelope::parse(body.as_bytes(), Some(kind)).unwrap()
    }

    fn departure(member: &str) -> Envelope {
        envelope(
            "registration.outbound",
            json!({"member_id": member, "left_on": "2026-03-01", "reason": "work", "expected_months": 4,
                   "destination": {"region_code": "440106001", "address": "天河路1号", "employer": null,
                                   "employer_type": "private"}}),
        )
    }

    #[test]
    fn a_held_event_wakes_when_a_batch_creates_what_it_names_in_the_order_held() {
        let mut w = Waiting::default();
        let (first, second, other) = (departure("m1"), departure("m1"), departure("m2"));
        w.hold(first.clone());
        w.hold(other.clone());
        w.hold(second.clone());
        assert!(w.wake(&[Key::Member("m9".into())]).is_empty());
        let woken = w.wake(&[Key::Member("m1".into()), Key::Member("m1".into())]);
        assert_eq!(woken, vec![first, second]);
        assert_eq!(w.len(), 1);
        assert_eq!(w.wake(&[Key::Org("b1".into())]), vec![other]);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn a_delivery_looked_at_again_replaces_what_was_held() {
        let mut w = Waiting::default();
        let ev = departure("m1");
        w.hold(ev.clone());
        w.hold(ev.clone());
        assert_eq!(w.len(), 1);
        assert_eq!(w.forget(ev.event_id.0), Some(ev));
        assert!(w.wake(&[Key::Member("m1".into())]).is_empty());
    }
}
