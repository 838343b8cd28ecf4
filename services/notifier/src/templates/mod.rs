//! Message templates (消息模板): one TOML file per template under `config/templates/`, read and
//! checked once at start so a typo stops the notifier before it sends anything. The file
//! format is described in `config/templates/README.md`.

mod check;
mod text;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use hongyan_domain::notify::Template as Name;
use serde::Deserialize;

use crate::providers::wecom;
pub use text::{Text, TextError};

/// The monthly update reminder (一月一更新) to a member, with the link to the update page.
pub const MONTHLY_REMINDER: &str = Name::MonthlyReminder.as_str();
/// A study pack (学习资源包), the one broadcast: robot card, or SMS with a link.
pub const STUDY_PACK: &str = Name::StudyPack.as_str();
/// The political birthday (政治生日) greeting to a member.
pub const POLITICAL_BIRTHDAY: &str = Name::PoliticalBirthday.as_str();
/// The monthly review's summary to a branch contact: how many of its members are two months
/// or more unconfirmed, lost contact (失联), at risk of lapsing (the lapse warning, 党章第九条)
/// and newly asked to transfer, with the console's link (names never go by SMS or to a group).
pub const STALE_LIST_BRANCH: &str = Name::StaleListBranch.as_str();
/// The monthly review's summary to a county department: how many members are lost contact
/// (失联) and at risk of lapsing in its county.
pub const LOST_CONTACT_COUNTY: &str = Name::LostContactCounty.as_str();
/// The console's sign-in code (DESIGN.md section 12), sent by the api to the person signing in;
/// the one template sent in the SMS quiet hours.
pub const LOGIN_CODE: &str = Name::LoginCode.as_str();
/// Digests for org contacts (DESIGN.md section 5): the notices that events caused to one
/// contact within `notifier.digest_window_secs`, as one SMS with `count`, `names` and the
/// console's `url` (`crate::deliver`'s gathering step writes its params).
pub const ORG_DIGEST: &str = Name::OrgDigest.as_str();

/// Replies (上行短信, DESIGN.md section 5): the thanks for a "no change" reply, once a month.
pub const REPLY_THANKS: &str = Name::ReplyThanks.as_str();
/// Replies: any other text, one to one to the member's branch contact (name and text).
pub const REPLY_FORWARD: &str = Name::ReplyForward.as_str();
/// Replies: the branch contact is told a member stopped the reminder SMS (退订).
pub const REPLY_STOPPED: &str = Name::ReplyStopped.as_str();

/// Templates that must exist: every one hongyan sends (`hongyan_domain::notify::Template`).
pub const REQUIRED: &[&str] = Name::WORDS;

/// Every variable a template may use: the params the senders put in a request, plus
/// `recipient_name`, which [`crate::render::request_params`] adds from the recipient. A
/// sender that adds a param adds its name here, so a misspelt variable fails at start.
pub const KNOWN_PARAMS: &[&str] = &[
    // The registry (services/registry/src/apply.rs).
    "member_name",
    "member_phone",
    "certificate_no",
    "station_name",
    "station_phone",
    "branch_name",
    "branch_contact",
    "branch_phone",
    "home_branch",
    "address",
    "transfer_suggested",
    "destination",
    "receiving_org",
    "receiving_contact",
    "receiving_phone",
    "arrived_on",
    "returned_on",
    // Added from the request's recipient.
    "recipient_name",
    // The scheduler: reminders, warnings, greetings.
    "month",
    "months",
    "years",
    // The scheduler's jobs: lists of names (one-to-one only), periods, peaks, reports; the
    // org contacts' digests use `count`, `names` and `url` too.
    "count",
    "names",
    "quarter",
    "half_year",
    "peak_name",
    "peak_date",
    "org_name",
    "open",
    "departures",
    "arrivals",
    "returns",
    "transfers",
    "stale",
    "lost_contact",
    "lapse_risk",
    // The monthly review's lists: the org named and how many members are on its list.
    // Study packs; `url` is built by the caller from `api.public_url`.
    "title",
    "summary",
    "url",
    // The console's sign-in (DESIGN.md section 12): the 6-digit code and how long it works.
    "code",
    "minutes",
    // A member's SMS reply, forwarded to the branch contact (`reply_forward`).
    "text",
];

/// An SMS longer than this is refused. Both providers cap a template's content at 500
/// characters (their console rules; PROVIDERS.md does not say). One segment is 70 characters,
/// a long SMS is billed per 67, so the texts aim for 70 where they can.
pub const SMS_TEXT_LIMIT: usize = 500;
/// Characters in one SMS segment.
pub const SMS_SEGMENT_CHARS: usize = 70;
/// A robot's markdown: WeCom's limit, the smallest of the three robots (PROVIDERS.md).
pub const ROBOT_MARKDOWN_LIMIT: usize = wecom::MARKDOWN_LIMIT;
/// A card button's text when the template names none.
const DEFAULT_LINK_TEXT: &str = "查看详情";

/// Who a template's content is about, which decides where it may go (DESIGN.md section 5,
/// "Privacy").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// About one person: only that person's one-to-one channels, never a group robot.
    Personal,
    /// The same for everyone in an audience (a study pack): group robots, or SMS to members.
    Broadcast,
}

/// A template, checked.
#[derive(Clone, Debug)]
pub struct Template {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// Held by the SMS quiet hours (all but `login_code`, which a person waits for).
    pub(crate) held_in_quiet_hours: bool,
    /// An org contact's summary of a firing (the review's lists, the dispatch report, the
    /// talk and visit lists): limited by its own daily budget per phone, so the member-level
    /// messages to the same phone that day never hold it back to the next.
    pub(crate) summary: bool,
    pub(crate) useful_for: TimeDelta,
    pub(crate) sms: SmsText,
    pub(crate) robot: Option<RobotCard>,
    /// Values used when a param is present but empty.
    pub(crate) defaults: BTreeMap<String, String>,
    /// Per param, raw value to the text shown (`"true"` to a sentence).
    pub(crate) labels: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Clone, Debug)]
pub(crate) struct SmsText {
    pub(crate) text: Text,
    pub(crate) param_names: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct RobotCard {
    pub(crate) title: Text,
    pub(crate) markdown: Text,
    pub(crate) summary: Option<Text>,
    pub(crate) link: Option<Text>,
    pub(crate) link_text: String,
}

impl Template {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// How long after its creation a notification is still worth sending (PROVIDERS.md,
    /// "Retry schedules worth knowing": a late reminder helps, a late study push does not).
    pub fn useful_for(&self) -> TimeDelta {
        self.useful_for
    }

    /// The moment after which a notification created at `created` fails instead of sending.
    pub fn useful_until(&self, created: DateTime<Utc>) -> DateTime<Utc> {
        created + self.useful_for
    }

    /// The provider template's parameter names, in the order registered with the provider.
    pub fn sms_param_names(&self) -> &[String] {
        &self.sms.param_names
    }

    /// Whether the template can go to a group robot (only broadcasts can).
    pub fn has_robot(&self) -> bool {
        self.robot.is_some()
    }

    /// Parses and checks one template file's contents. `file` names it in errors.
    pub fn parse(name: &str, file: &str, source: &str) -> Result<Self, TemplateError> {
        let invalid = |check::Invalid { field, reason }: check::Invalid| TemplateError::Invalid {
            file: file.to_owned(),
            field,
            reason,
        };
        check::check_name(name).map_err(invalid)?;
        let raw: check::RawFile = toml::from_str(source).map_err(|error| TemplateError::Toml {
            file: file.to_owned(),
            error,
        })?;
        check::checked(name, raw).map_err(invalid)
    }
}

/// Every template, by name.
#[derive(Clone, Debug, Default)]
pub struct Templates {
    by_name: BTreeMap<String, Template>,
}

impl Templates {
    /// Reads every `*.toml` in `dir` (other files, such as a README, are skipped), checks each
    /// one and that all [`REQUIRED`] templates are there. The only I/O of this module.
    pub fn load(dir: &Path) -> Result<Self, TemplateError> {
        let shown = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|source| TemplateError::Read {
            file: shown.clone(),
            source,
        })?;
        let mut templates = Self::default();
        for entry in entries {
            let path = entry
                .map_err(|source| TemplateError::Read {
                    file: shown.clone(),
                    source,
                })?
                .path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let file = path.display().to_string();
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let source = std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                file: file.clone(),
                source,
            })?;
            templates.insert(Template::parse(name, &file, &source)?);
        }
        let missing: Vec<&str> = REQUIRED
            .iter()
            .copied()
            .filter(|n| templates.get(n).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(TemplateError::Missing {
                dir: shown,
                names: missing.join(", "),
            });
        }
        Ok(templates)
    }

    /// Adds or replaces one template (for tests and for callers that hold the text).
    pub fn insert(&mut self, template: Template) {
        self.by_name.insert(template.name.clone(), template);
    }

    pub fn get(&self, name: &str) -> Option<&Template> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        self.by_name.values()
    }
}

/// A template directory or file that cannot be used; each names the file and, when it is the
/// content, the field.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("Cannot read {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The parser's message names the line and the key, so it is the message's own end
    /// rather than a source (which `{:#}` would print a second time).
    #[error("{file} is not a valid template file: {error}")]
    Toml {
        file: String,
        error: toml::de::Error,
    },
    #[error("{file}: `{field}` {reason}.")]
    Invalid {
        file: String,
        field: String,
        reason: String,
    },
    #[error("{dir} lacks templates the notifier sends: {names}.")]
    Missing { dir: String, names: String },
}

#[cfg(test)]
mod tests;
