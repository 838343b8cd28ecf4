//! Matching an arrival (报到) to a member: the keys an inbound registration carries are tried
//! in order (certificate number, member id, name and phone), and the first that names one
//! member wins, so a mistyped certificate number falls back to the others (DESIGN.md
//! section 3). The ledger's side of it, who holds which certificate and phone, comes in
//! through [`Known`]; the rule reads nothing else.

use crate::envelope::Rejection;
use crate::ids::{CertificateNo, MemberId, OrgId, Phone};
use crate::ledger::Member;
use crate::payloads::ArrivalKey;

/// What the ledger knows that an arrival's keys are matched against.
pub trait Known {
    /// The member whose open record carries this certificate number.
    fn by_certificate(&self, no: &CertificateNo) -> Option<&MemberId>;
    /// Whether the member is known.
    fn is_member(&self, id: &MemberId) -> bool;
    /// Every known member with this phone.
    fn with_phone(&self, phone: &Phone) -> Vec<&Member>;
}

/// Whom an arrival's keys name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    Member(MemberId),
    /// No key matched and the arrival named no person to keep on the unmatched list: parked.
    Unknown(Rejection),
    /// No key matched; the person goes on the unmatched list (待匹配).
    Nobody {
        name: String,
        phone: Phone,
    },
}

/// Why an event naming an unknown member is refused.
pub fn unknown_member(id: &MemberId) -> Rejection {
    Rejection::Unknown(format!(
        "Member {id} is not known; send their member.upserted first (or a full member in the outbound), then replay this event."
    ))
}

/// Tries `keys` in order: the first that names one member wins. When none does, a person to
/// list beats an unknown-id refusal (the arrival is kept, not parked); otherwise the first
/// key's refusal stands.
pub fn match_arrival(keys: &[ArrivalKey], known: &impl Known) -> Match {
    let mut first_miss = None;
    for key in keys {
        let miss = match key {
            ArrivalKey::Certificate(c) => match known.by_certificate(c) {
                Some(m) => return Match::Member(m.clone()),
                None => Match::Unknown(Rejection::Unknown(format!(
                    "Certificate {c} matches no open flow record; check the number, or send member_id or member {{name, phone}} instead."
                ))),
            },
            ArrivalKey::MemberId(id) if known.is_member(id) => return Match::Member(id.clone()),
            ArrivalKey::MemberId(id) => Match::Unknown(unknown_member(id)),
            ArrivalKey::Person {
                name,
                phone,
                home_org_id,
            } => match by_person(name, home_org_id.as_ref(), known.with_phone(phone)) {
                Some(id) => return Match::Member(id),
                None => Match::Nobody {
                    name: name.clone(),
                    phone: phone.clone(),
                },
            },
        };
        if first_miss.is_none() || matches!(miss, Match::Nobody { .. }) {
            first_miss = Some(miss);
        }
    }
    first_miss.expect("an arrival carries at least one key")
}

/// The one member among those with the arrival's phone: alone, or, if several share it, the
/// one with this name or home org.
pub fn by_person(name: &str, home: Option<&OrgId>, mut found: Vec<&Member>) -> Option<MemberId> {
    if found.len() > 1 {
        found.retain(|m| m.name == name || home == Some(&m.home_org_id));
    }
    match found.as_slice() {
        [one] => Some(one.id.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Default)]
    struct Ledger {
        members: Vec<Member>,
        certificates: HashMap<CertificateNo, MemberId>,
    }

    impl Known for Ledger {
        fn by_certificate(&self, no: &CertificateNo) -> Option<&MemberId> {
            self.certificates.get(no)
        }
        fn is_member(&self, id: &MemberId) -> bool {
            self.members.iter().any(|m| &m.id == id)
        }
        fn with_phone(&self, phone: &Phone) -> Vec<&Member> {
            self.members.iter().filter(|m| &m.phone == phone).collect()
        }
    }

    fn member(id: &str, name: &str, phone: &str, home: &str) -> Member {
        Member {
            id: MemberId::parse(id).unwrap(),
            name: name.into(),
            phone: Phone::parse(phone).unwrap(),
            home_org_id: OrgId::parse(home).unwrap(),
            joined_party_on: chrono::NaiveDate::from_ymd_opt(2010, 7, 1).unwrap(),
            pair: None,
            channels: vec!["sms".into()],
        }
    }

    fn ledger() -> Ledger {
        let mut l = Ledger {
            members: vec![
                member("m1", "张三", "13911110001", "b1"),
                member("m2", "李四", "13911110002", "b1"),
                member("m3", "王五", "13911110002", "b2"),
            ],
            ..Ledger::default()
        };
        l.certificates
            .insert(cert("522636202600001"), MemberId::parse("m1").unwrap());
        l
    }

    fn cert(s: &str) -> CertificateNo {
        CertificateNo::parse(s).unwrap()
    }

    fn id(s: &str) -> MemberId {
        MemberId::parse(s).unwrap()
    }

    fn person(name: &str, phone: &str, home: Option<&str>) -> ArrivalKey {
        ArrivalKey::Person {
            name: name.into(),
            phone: Phone::parse(phone).unwrap(),
            home_org_id: home.map(|h| OrgId::parse(h).unwrap()),
        }
    }

    #[test]
    fn the_certificate_wins_then_the_member_id_then_the_person() {
        let l = ledger();
        let keys = [
            ArrivalKey::Certificate(cert("522636202600001")),
            ArrivalKey::MemberId(id("m2")),
        ];
        assert_eq!(match_arrival(&keys, &l), Match::Member(id("m1")));
        let mistyped = [
            ArrivalKey::Certificate(cert("522636202600009")),
            ArrivalKey::MemberId(id("m2")),
        ];
        assert_eq!(match_arrival(&mistyped, &l), Match::Member(id("m2")));
        let by_phone = [
            ArrivalKey::MemberId(id("m9")),
            person("张三", "13911110001", None),
        ];
        assert_eq!(match_arrival(&by_phone, &l), Match::Member(id("m1")));
    }

    #[test]
    fn a_shared_phone_is_told_apart_by_name_or_home_org_or_matches_nobody() {
        let l = ledger();
        let by_name = [person("王五", "13911110002", None)];
        assert_eq!(match_arrival(&by_name, &l), Match::Member(id("m3")));
        let by_home = [person("李小四", "13911110002", Some("b1"))];
        assert_eq!(match_arrival(&by_home, &l), Match::Member(id("m2")));
        let neither = [person("赵六", "13911110002", None)];
        assert_eq!(
            match_arrival(&neither, &l),
            Match::Nobody {
                name: "赵六".into(),
                phone: Phone::parse("13911110002").unwrap()
            }
        );
    }

    #[test]
    fn a_person_to_list_beats_an_unknown_id_and_otherwise_the_first_refusal_stands() {
        let l = ledger();
        let listed = [
            ArrivalKey::Certificate(cert("522636202600009")),
            person("赵六", "13900000000", None),
        ];
        assert!(matches!(match_arrival(&listed, &l), Match::Nobody { .. }));
        let refused = [
            ArrivalKey::Certificate(cert("522636202600009")),
            ArrivalKey::MemberId(id("m9")),
        ];
        let Match::Unknown(why) = match_arrival(&refused, &l) else {
            panic!("refused")
        };
        assert!(
            why.to_string().starts_with("Certificate 522636202600009"),
            "{why}"
        );
    }
}
