//! Deterministic keys (DESIGN.md section 4): every message a schedule causes is keyed by its
//! rule, the member or org (or person) it concerns, and its period, so a firing run twice, by
//! the scheduler or by hand, sends nothing twice. Message ids are UUID v5 of the key.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids::{EventId, MemberId, OrgId, Phone};

/// The namespace of hongyan's scheduled ids (a fixed random UUID; never change it, or reruns
/// would send again).
const NAMESPACE: Uuid = Uuid::from_u128(0x5b0e_6c1e_9a47_4f0c_8d2e_71a3_c4f9_0d62);

/// Who a message concerns.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    Member(&'a MemberId),
    Org(&'a OrgId),
    /// A person known only by phone (a paired committee member): keyed by a digest, so the key
    /// stored with the notification holds no phone number.
    Person(&'a Phone),
}

/// `rule:period:member:ID`, `rule:period:org:ID` or `rule:period:person:DIGEST`.
pub fn message_key(rule: &str, period: &str, about: Subject<'_>) -> String {
    match about {
        Subject::Member(m) => format!("{rule}:{period}:member:{m}"),
        Subject::Org(o) => format!("{rule}:{period}:org:{o}"),
        Subject::Person(p) => {
            let digest = Uuid::new_v5(&NAMESPACE, format!("person:{p}").as_bytes());
            format!("{rule}:{period}:person:{}", digest.simple())
        }
    }
}

/// The UUID of anything with a deterministic key: the envelope's `event_id` (and so the AMQP
/// message id, which the notifier's intake drops on a repeat).
pub fn id_of(key: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, key.as_bytes())
}

/// The id of one firing of a schedule: what its messages and ledger changes are `caused_by`.
pub fn firing_id(schedule: &str, due: DateTime<Utc>) -> EventId {
    EventId(id_of(&format!("firing:{schedule}:{}", due.timestamp())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_rule_period_and_subject_and_ids_follow_them() {
        let m = MemberId::parse("m1").unwrap();
        let k = message_key("monthly_reminder", "2026-12", Subject::Member(&m));
        assert_eq!(k, "monthly_reminder:2026-12:member:m1");
        assert_eq!(id_of(&k), id_of("monthly_reminder:2026-12:member:m1"));
        assert_ne!(id_of(&k), id_of("monthly_second_nudge:2026-12:member:m1"));
        let o = OrgId::parse("b1").unwrap();
        assert_eq!(
            message_key("stale_list", "2026-12", Subject::Org(&o)),
            "stale_list:2026-12:org:b1"
        );
        let p = Phone::parse("13900001111").unwrap();
        let pk = message_key("quarterly_talk", "2026Q4", Subject::Person(&p));
        assert!(pk.starts_with("quarterly_talk:2026Q4:person:"), "{pk}");
        assert!(!pk.contains("13900001111"), "{pk}");
        let due = DateTime::parse_from_rfc3339("2026-12-01T01:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            firing_id("monthly_review", due),
            firing_id("monthly_review", due)
        );
        assert_ne!(
            firing_id("monthly_review", due),
            firing_id("monthly_reminder", due)
        );
    }
}
