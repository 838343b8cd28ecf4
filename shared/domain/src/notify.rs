//! What the ledger and the scheduler ask the notifier to send. They write these to the outbox
//! in the same transaction as the change; the notifier renders and delivers them (DESIGN.md
//! section 5). A request is for one person (always on a one-to-one channel) or, for a
//! broadcast, for one organization's members as a group.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{EventId, MemberId, OrgId, Phone};
use crate::payloads::Contact;

/// The routing key notification requests are published with.
pub const ROUTING_KEY: &str = "notification.requested";

word_enum!(
    /// A person's one-to-one channels (DESIGN.md section 5), tried in the order a recipient
    /// lists them. A member names theirs in `member.upserted`; a group robot is never one.
    Channel {
        /// SMS through the configured provider.
        Sms => "sms",
        /// The member's signed webhook integration.
        Webhook => "webhook",
        /// Print and record (development, and the SMS channel when no provider is set).
        Console => "console",
    }
);

impl Channel {
    /// A person's channel when their record names none.
    pub const DEFAULT: Channel = Channel::Sms;
}

/// A person's channels when nothing names them: SMS alone ([`Channel::DEFAULT`]). A
/// recipient's channels travel as words (`Recipient::channels`); the notifier parses them.
pub fn default_channels() -> Vec<String> {
    vec![Channel::DEFAULT.as_str().to_owned()]
}

word_enum!(
    /// The group robots an org's `chat.provider` may name (DESIGN.md section 5): they carry
    /// broadcasts only.
    ChatProvider {
        WeCom => "wecom",
        DingTalk => "dingtalk",
        Feishu => "feishu",
    }
);

word_enum!(
    /// Every message template hongyan sends: one TOML file each under `config/templates/`,
    /// which the notifier checks at start, so a template named here and missing there stops
    /// it before it sends anything.
    Template {
        OutboundMember => "outbound_member",
        OutboundInflow => "outbound_inflow",
        OutboundBranch => "outbound_branch",
        CheckedInBranch => "checked_in_branch",
        UnreportedBranch => "unreported_departure_branch",
        HomeVisitPair => "home_visit_pair",
        StudyPack => "study_pack",
        MonthlyReminder => "monthly_reminder",
        StaleListBranch => "stale_list_branch",
        LostContactCounty => "lost_contact_county",
        QuarterlyTalk => "quarterly_talk",
        QuarterlyTalkFollowup => "quarterly_talk_followup",
        FamilyVisit => "family_visit",
        PoliticalBirthday => "political_birthday",
        ReturnPeak => "return_peak",
        DispatchReport => "dispatch_report",
        DispatchSummary => "dispatch_summary",
        LoginCode => "login_code",
        OrgDigest => "org_digest",
        ReplyThanks => "reply_thanks",
        ReplyForward => "reply_forward",
        ReplyStopped => "reply_stopped",
    }
);

/// Why a person is being told something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The member themselves.
    Member,
    /// An org's responsible contact (专人).
    OrgContact,
    /// The committee member paired with a member (一对一联).
    Pair,
}

/// Why a notification's key cannot be stored and looked up; each says what to do instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "The key is empty; give each notification a deterministic key, e.g. template:event:person."
    )]
    Empty,
    #[error(
        "The key is {bytes} bytes, more than {MAX_KEY_BYTES}; build it from ids (template:event:person), not from text."
    )]
    TooLong { bytes: usize },
    #[error("The key holds a control character; build it from ids (template:event:person).")]
    ControlCharacter,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub role: Role,
    pub name: String,
    pub phone: Phone,
    /// One-to-one channels, tried in order.
    pub channels: Vec<String>,
    pub member_id: Option<MemberId>,
    pub org_id: Option<OrgId>,
}

impl Recipient {
    pub fn org_contact(org: &OrgId, c: &Contact) -> Self {
        Self {
            role: Role::OrgContact,
            name: c.name.clone(),
            phone: c.phone.clone(),
            channels: default_channels(),
            member_id: None,
            org_id: Some(org.clone()),
        }
    }
}

/// Who a notification is for. On the wire it is one field of the request: `"recipient": {..}`
/// or `"org": "<org id>"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum To {
    /// One person, on their own one-to-one channels.
    Recipient(Recipient),
    /// A broadcast to an organization's members as a group: its group robot (`org.upserted`'s
    /// `chat`), else each of its flowing members by SMS. Broadcast templates only.
    Org(OrgId),
}

/// The longest idempotency key, in bytes: room for a broadcast's key plus a member's id after
/// fan-out, far below what PostgreSQL's unique index can hold.
pub const MAX_KEY_BYTES: usize = 512;

/// One notification to send once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRequest {
    /// Deterministic idempotency key: a second request with the same key sends nothing.
    pub key: String,
    /// A template name under `config/templates/`.
    pub template: String,
    #[serde(flatten)]
    pub to: To,
    /// Values for the template's variables.
    pub params: BTreeMap<String, String>,
    /// The event that caused it.
    pub caused_by: EventId,
}

impl NotificationRequest {
    pub fn new(
        template: &str,
        recipient: Recipient,
        caused_by: EventId,
        params: &[(&str, String)],
    ) -> Self {
        let who = recipient
            .member_id
            .as_ref()
            .map(|m| format!("member:{m}"))
            .or_else(|| recipient.org_id.as_ref().map(|o| format!("org:{o}")))
            .unwrap_or_else(|| format!("phone:{}", recipient.phone.masked()));
        Self {
            key: format!("{template}:{caused_by}:{who}"),
            template: template.to_owned(),
            to: To::Recipient(recipient),
            params: owned(params),
            caused_by,
        }
    }

    /// A broadcast of `template` to `org`'s members as a group, keyed by what is broadcast
    /// (e.g. a study pack's id), so the same pack reaches an org once.
    pub fn broadcast(
        template: &str,
        org: OrgId,
        about: &str,
        caused_by: EventId,
        params: &[(&str, String)],
    ) -> Self {
        Self {
            key: format!("{template}:{about}:group:{org}"),
            template: template.to_owned(),
            to: To::Org(org),
            params: owned(params),
            caused_by,
        }
    }

    /// Whether its key can be stored and looked up: 1 to [`MAX_KEY_BYTES`] bytes, no control
    /// characters. Says what is wrong and what to do.
    pub fn check_key(&self) -> Result<(), KeyError> {
        let key = &self.key;
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong { bytes: key.len() });
        }
        if key.chars().any(char::is_control) {
            return Err(KeyError::ControlCharacter);
        }
        Ok(())
    }

    /// The person it is for, unless it is a broadcast to a group.
    pub fn person(&self) -> Option<&Recipient> {
        match &self.to {
            To::Recipient(r) => Some(r),
            To::Org(_) => None,
        }
    }

    /// Who it is for, safe to log and publish: the person's masked phone, or the org.
    pub fn to_masked(&self) -> String {
        match &self.to {
            To::Recipient(r) => r.phone.masked(),
            To::Org(org) => format!("org:{org}"),
        }
    }
}

fn owned(params: &[(&str, String)]) -> BTreeMap<String, String> {
    params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Template names the registry uses (the [`Template`]s' words); the notifier's templates carry
/// the text.
pub mod templates {
    use super::Template;

    /// To the member who left: certificate number, the station to check in with, the branch contact.
    pub const OUTBOUND_MEMBER: &str = Template::OutboundMember.as_str();
    /// To the destination inflow org's contact: a member is on the way.
    pub const OUTBOUND_INFLOW: &str = Template::OutboundInflow.as_str();
    /// To the home branch contact: departure registered (and, for long absences, 应转尽转).
    pub const OUTBOUND_BRANCH: &str = Template::OutboundBranch.as_str();
    /// To the home branch contact: who received the member (情况反馈).
    pub const CHECKED_IN_BRANCH: &str = Template::CheckedInBranch.as_str();
    /// To the home branch contact: a member checked in elsewhere without registering a departure.
    pub const UNREPORTED_BRANCH: &str = Template::UnreportedBranch.as_str();
    /// To the paired committee member: a member is home for a visit (凡回乡必见面).
    pub const HOME_VISIT_PAIR: &str = Template::HomeVisitPair.as_str();
    /// A broadcast: a study pack, as a card for robots and a short text with a link by SMS.
    pub const STUDY_PACK: &str = Template::StudyPack.as_str();
}

/// Template names the scheduler's jobs use (DESIGN.md section 4; the [`Template`]s' words).
pub mod job_templates {
    use super::Template;

    /// To a paired committee member (or, for unpaired members, the branch contact): the members
    /// with no talk yet this quarter (一季度一谈心), in the quarter's first week.
    pub const QUARTERLY_TALK: &str = Template::QuarterlyTalk.as_str();
    /// The same, two weeks before the quarter ends.
    pub const QUARTERLY_TALK_FOLLOWUP: &str = Template::QuarterlyTalkFollowup.as_str();
    /// To a branch contact: members whose family had no visit in the half year (每半年家访).
    pub const FAMILY_VISIT: &str = Template::FamilyVisit.as_str();
    /// To a member: the political birthday greeting (政治生日).
    pub const POLITICAL_BIRTHDAY: &str = Template::PoliticalBirthday.as_str();
    /// To a branch contact: a return peak is coming; plan training and home meetings.
    pub const RETURN_PEAK: &str = Template::ReturnPeak.as_str();
    /// To a department's contact: its dispatch report is ready, with the link.
    pub const DISPATCH_REPORT: &str = Template::DispatchReport.as_str();
    /// A broadcast to a department's own group robot: the report's counts, no names.
    pub const DISPATCH_SUMMARY: &str = Template::DispatchSummary.as_str();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_per_template_event_and_person() {
        let c = Contact {
            name: "张三".into(),
            phone: Phone::parse("13900001111").unwrap(),
        };
        let org = OrgId::parse("b1").unwrap();
        let ev = EventId::parse("7d0c8a8e-5a1e-4f7e-9b8e-0c7a1e2b3c4d").unwrap();
        let a = NotificationRequest::new(
            templates::CHECKED_IN_BRANCH,
            Recipient::org_contact(&org, &c),
            ev,
            &[],
        );
        let b = NotificationRequest::new(
            templates::CHECKED_IN_BRANCH,
            Recipient::org_contact(&org, &c),
            ev,
            &[],
        );
        assert_eq!(a.key, b.key);
        assert_eq!(
            a.key,
            "checked_in_branch:7d0c8a8e-5a1e-4f7e-9b8e-0c7a1e2b3c4d:org:b1"
        );
    }

    #[test]
    fn keys_that_cannot_be_stored_are_refused_with_what_to_do() {
        let ev = EventId::parse("7d0c8a8e-5a1e-4f7e-9b8e-0c7a1e2b3c4d").unwrap();
        let org = OrgId::parse("b1").unwrap();
        let mut r = NotificationRequest::broadcast(templates::STUDY_PACK, org, "p", ev, &[]);
        assert_eq!(r.check_key(), Ok(()));
        r.key = String::new();
        assert_eq!(r.check_key(), Err(KeyError::Empty));
        assert!(r.check_key().unwrap_err().to_string().contains("empty"));
        r.key = "k\0".into();
        assert_eq!(r.check_key(), Err(KeyError::ControlCharacter));
        assert!(
            r.check_key()
                .unwrap_err()
                .to_string()
                .contains("control character")
        );
        r.key = "键".repeat(170);
        assert_eq!(r.check_key(), Ok(()), "510 bytes fit");
        r.key.push_str("abc");
        assert_eq!(r.check_key(), Err(KeyError::TooLong { bytes: 513 }));
        assert!(r.check_key().unwrap_err().to_string().contains("513 bytes"));
        // A long key of control characters is refused for its length first.
        r.key = "\0".repeat(600);
        assert_eq!(r.check_key(), Err(KeyError::TooLong { bytes: 600 }));
    }

    #[test]
    fn a_request_names_a_person_or_an_org_on_the_wire() {
        let ev = EventId::parse("7d0c8a8e-5a1e-4f7e-9b8e-0c7a1e2b3c4d").unwrap();
        let org = OrgId::parse("b1").unwrap();
        let b = NotificationRequest::broadcast(
            templates::STUDY_PACK,
            org.clone(),
            "pack-7",
            ev,
            &[("title", "党章".into())],
        );
        let wire = serde_json::to_value(&b).unwrap();
        assert_eq!(wire["org"], "b1");
        assert!(wire.get("recipient").is_none());
        assert_eq!(b.key, "study_pack:pack-7:group:b1");
        assert_eq!(
            serde_json::from_value::<NotificationRequest>(wire).unwrap(),
            b
        );
        assert_eq!(b.person(), None);
        assert_eq!(b.to_masked(), "org:b1");

        let c = Contact {
            name: "张三".into(),
            phone: Phone::parse("13900001111").unwrap(),
        };
        let p = NotificationRequest::new(
            templates::CHECKED_IN_BRANCH,
            Recipient::org_contact(&org, &c),
            ev,
            &[],
        );
        let wire = serde_json::to_value(&p).unwrap();
        assert_eq!(wire["recipient"]["phone"], "13900001111");
        assert_eq!(
            serde_json::from_value::<NotificationRequest>(wire).unwrap(),
            p
        );
        assert_eq!(p.to_masked(), "139****1111");
    }
}
