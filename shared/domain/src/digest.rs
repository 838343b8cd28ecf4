//! Digests for org contacts (DESIGN.md section 5): what events tell an org's contact
//! (departures, arrivals, unreported departures) is gathered per contact, so a branch that
//! registers 100 departures in an afternoon texts its secretary a few times, not 100.
//!
//! The rule, per contact (org and phone): a notice with no SMS of this kind sent (or due) to
//! its contact within the window goes at once, as itself: a lone departure is told as fully and
//! as soon as before. Notices that come within the window wait for one digest, sent one window
//! after the last SMS, so a contact gets at most one SMS per window.

use chrono::{DateTime, Duration, Utc};

use crate::ids::{OrgId, Phone};
use crate::notify::{NotificationRequest, Role, templates};

/// The templates whose notices are gathered: what events tell an org's contact. Members' own
/// messages, study broadcasts and the scheduler's lists are not among them.
pub const GATHERED: &[&str] = &[
    templates::OUTBOUND_BRANCH,
    templates::CHECKED_IN_BRANCH,
    templates::UNREPORTED_BRANCH,
    templates::OUTBOUND_INFLOW,
];

/// How many names a digest shows before "等N人".
pub const NAMES_SHOWN: usize = 3;

/// The contact a notice is gathered for: an org contact's org and phone, when its template is
/// one of [`GATHERED`]. `None` for everything else, members' own messages above all.
pub fn contact_of(req: &NotificationRequest) -> Option<(&OrgId, &Phone)> {
    let person = req.person()?;
    if person.role != Role::OrgContact || !GATHERED.contains(&req.template.as_str()) {
        return None;
    }
    Some((person.org_id.as_ref()?, &person.phone))
}

/// Where one contact's window stands when notices for it are ready to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window<D> {
    /// When its last SMS of this kind went, or when its digest is due.
    pub last_sms_at: Option<DateTime<Utc>>,
    /// The digest still gathering, if any.
    pub open: Option<D>,
}

/// What becomes of the notices ready for one contact in a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gathering<D> {
    /// Nothing went to the contact within the window and no digest is open: the first goes
    /// now, as itself; the rest, if any, start a digest due at `rest_at` (one window later).
    FirstAlone { rest_at: Option<DateTime<Utc>> },
    /// A digest is gathering: they all join it.
    JoinOpen(D),
    /// An SMS went (or is due) within the window and no digest is open: they start one, due
    /// one window after that SMS.
    StartDigest { at: DateTime<Utc> },
}

/// Decides where `count` notices ready at `now` for one contact go (see the module's rule).
pub fn gather<D>(
    window: Window<D>,
    now: DateTime<Utc>,
    every: Duration,
    count: usize,
) -> Gathering<D> {
    if let Some(open) = window.open {
        return Gathering::JoinOpen(open);
    }
    match window.last_sms_at.map(|last| last + every) {
        Some(next) if next > now => Gathering::StartDigest { at: next },
        _ => Gathering::FirstAlone {
            rest_at: (count > 1).then(|| now + every),
        },
    }
}

/// The names a digest shows: each once, in the order they came, the first [`NAMES_SHOWN`]
/// joined by "、", then "等N人" when there are more.
pub fn names_line<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut distinct: Vec<&str> = Vec::new();
    for name in names {
        let name = name.trim();
        if !name.is_empty() && !distinct.contains(&name) {
            distinct.push(name);
        }
    }
    let shown = distinct
        .iter()
        .take(NAMES_SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join("、");
    if distinct.len() > NAMES_SHOWN {
        format!("{shown}等{}人", distinct.len())
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::ids::{EventId, MemberId};
    use crate::notify::Recipient;
    use crate::payloads::Contact;

    fn at(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap() + Duration::minutes(min)
    }

    const TEN: Duration = Duration::minutes(10);

    #[test]
    fn a_notice_with_nothing_sent_in_the_window_goes_alone_and_the_rest_wait_one_window() {
        let quiet: Window<u8> = Window {
            last_sms_at: None,
            open: None,
        };
        assert_eq!(
            gather(quiet, at(0), TEN, 1),
            Gathering::FirstAlone { rest_at: None }
        );
        assert_eq!(
            gather(quiet, at(0), TEN, 5),
            Gathering::FirstAlone {
                rest_at: Some(at(10))
            }
        );
        let long_ago = Window {
            last_sms_at: Some(at(-10)),
            ..quiet
        };
        assert_eq!(
            gather(long_ago, at(0), TEN, 1),
            Gathering::FirstAlone { rest_at: None },
            "a window that has just ended is over"
        );
    }

    #[test]
    fn within_the_window_notices_join_the_open_digest_or_start_one_a_window_after_the_last_sms() {
        let recent: Window<u8> = Window {
            last_sms_at: Some(at(-3)),
            open: None,
        };
        assert_eq!(
            gather(recent, at(0), TEN, 1),
            Gathering::StartDigest { at: at(7) }
        );
        let open = Window {
            open: Some(7u8),
            ..recent
        };
        assert_eq!(gather(open, at(0), TEN, 9), Gathering::JoinOpen(7));
        let overdue = Window {
            last_sms_at: Some(at(-30)),
            open: Some(7u8),
        };
        assert_eq!(
            gather(overdue, at(0), TEN, 1),
            Gathering::JoinOpen(7),
            "a digest not yet claimed still takes notices"
        );
    }

    #[test]
    fn names_are_shown_once_each_then_counted() {
        assert_eq!(names_line(["张三"]), "张三");
        assert_eq!(names_line(["张三", "李四", "张三"]), "张三、李四");
        assert_eq!(
            names_line(["张三", "李四", "王五", "赵六", "李四", " "]),
            "张三、李四、王五等4人"
        );
    }

    #[test]
    fn only_org_contacts_notices_of_the_gathered_templates_are_gathered() {
        let org = OrgId::parse("b1").unwrap();
        let contact = Contact {
            name: "李书记".into(),
            phone: Phone::parse("13911110009").unwrap(),
        };
        let ev = EventId::parse("7d0c8a8e-5a1e-4f7e-9b8e-0c7a1e2b3c4d").unwrap();
        let to_branch = NotificationRequest::new(
            templates::OUTBOUND_BRANCH,
            Recipient::org_contact(&org, &contact),
            ev,
            &[],
        );
        assert_eq!(contact_of(&to_branch), Some((&org, &contact.phone)));
        let member = Recipient {
            role: Role::Member,
            member_id: Some(MemberId::parse("m1").unwrap()),
            org_id: None,
            ..Recipient::org_contact(&org, &contact)
        };
        let to_member =
            NotificationRequest::new(templates::OUTBOUND_MEMBER, member.clone(), ev, &[]);
        assert_eq!(contact_of(&to_member), None);
        let member_on_a_branch_template =
            NotificationRequest::new(templates::OUTBOUND_BRANCH, member, ev, &[]);
        assert_eq!(contact_of(&member_on_a_branch_template), None);
        let pair = NotificationRequest::new(
            templates::HOME_VISIT_PAIR,
            Recipient::org_contact(&org, &contact),
            ev,
            &[],
        );
        assert_eq!(contact_of(&pair), None);
    }
}
