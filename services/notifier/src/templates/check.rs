//! The rules a template file must keep, checked once at start: its name, its texts' variables,
//! the SMS parameters and length, the robot card, and its defaults and labels.

use std::collections::{BTreeMap, BTreeSet};

use chrono::TimeDelta;
use serde::Deserialize;

use super::*;

/// A template from its parsed file, every rule checked.
pub(super) fn checked(name: &str, raw: RawFile) -> Result<Template, Invalid> {
    if raw.useful_for_hours == 0 {
        return Err(Invalid::new("useful_for_hours", "must be at least 1"));
    }
    let sms = sms_text(raw.sms)?;
    let robot = robot_card(raw.kind, raw.robot)?;
    check_defaults_and_labels(&raw.defaults, &raw.labels, &sms, robot.as_ref())?;
    Ok(Template {
        name: name.to_owned(),
        kind: raw.kind,
        held_in_quiet_hours: raw.quiet_hours,
        summary: raw.summary,
        useful_for: TimeDelta::hours(raw.useful_for_hours.into()),
        sms,
        robot,
        defaults: raw.defaults,
        labels: raw.labels,
    })
}

/// A field of a template file that breaks a rule, and the rule, as a sentence to put after
/// the field's name.
pub(super) struct Invalid {
    pub(super) field: String,
    pub(super) reason: String,
}

impl Invalid {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The template's name is its file's name, and must be usable as one.
pub(super) fn check_name(name: &str) -> Result<(), Invalid> {
    if name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Ok(());
    }
    Err(Invalid::new(
        "(file name)",
        "must be lower-case letters, digits and `_`, as the template name",
    ))
}

/// One text field, parsed, using only known variables.
fn text(field: &str, source: &str) -> Result<Text, Invalid> {
    let text = Text::parse(source).map_err(|e| Invalid::new(field, e.to_string()))?;
    if let Some(unknown) = text.vars().find(|v| !KNOWN_PARAMS.contains(v)) {
        return Err(Invalid::new(field, unknown_variable(unknown)));
    }
    Ok(text)
}

/// The SMS text every template has (personal content goes by SMS, and a broadcast goes by SMS
/// to members whose branch has no group robot).
fn sms_text(raw: Option<RawSms>) -> Result<SmsText, Invalid> {
    let Some(raw) = raw else {
        return Err(Invalid::new(
            "sms",
            "is missing: every template needs an SMS text (personal content goes by SMS, \
             and a broadcast goes by SMS to members whose branch has no group robot)",
        ));
    };
    let sms = SmsText {
        text: text("sms.text", &raw.text)?,
        param_names: raw.template_param_names,
    };
    check_sms(&sms).map_err(|(field, reason)| Invalid::new(field, reason))?;
    Ok(sms)
}

/// The robot card: a broadcast needs one, a personal template may not have one.
fn robot_card(kind: Kind, raw: Option<RawRobot>) -> Result<Option<RobotCard>, Invalid> {
    match (kind, raw) {
        (Kind::Personal, Some(_)) => Err(Invalid::new(
            "robot",
            "is not allowed in a personal template: group robots carry broadcasts only \
             (DESIGN.md section 5, Privacy)",
        )),
        (Kind::Broadcast, None) => Err(Invalid::new(
            "robot",
            "is missing: a broadcast needs a card for group robots",
        )),
        (Kind::Personal, None) => Ok(None),
        (Kind::Broadcast, Some(r)) => broadcast_card(r).map(Some),
    }
}

/// A broadcast's card, its markdown within the robots' limit.
fn broadcast_card(r: RawRobot) -> Result<RobotCard, Invalid> {
    let markdown = text("robot.markdown", &r.markdown)?;
    let bytes = markdown.literal_only().len();
    if bytes > ROBOT_MARKDOWN_LIMIT {
        return Err(Invalid::new(
            "robot.markdown",
            format!(
                "is {bytes} bytes before any value, over the robots' limit of \
                 {ROBOT_MARKDOWN_LIMIT}"
            ),
        ));
    }
    Ok(RobotCard {
        title: text("robot.title", &r.title)?,
        markdown,
        summary: r.summary.map(|s| text("robot.summary", &s)).transpose()?,
        link: r.link.map(|s| text("robot.link", &s)).transpose()?,
        link_text: r.link_text.unwrap_or_else(|| DEFAULT_LINK_TEXT.into()),
    })
}

/// `[defaults]` and `[labels]` name variables some text uses, and a default is not empty.
fn check_defaults_and_labels(
    defaults: &BTreeMap<String, String>,
    labels: &BTreeMap<String, BTreeMap<String, String>>,
    sms: &SmsText,
    robot: Option<&RobotCard>,
) -> Result<(), Invalid> {
    let mut used: BTreeSet<&str> = sms.text.vars().collect();
    if let Some(r) = robot {
        used.extend(r.title.vars().chain(r.markdown.vars()));
        used.extend(r.summary.iter().chain(&r.link).flat_map(Text::vars));
    }
    for (table, names) in [
        ("defaults", defaults.keys().collect::<Vec<_>>()),
        ("labels", labels.keys().collect()),
    ] {
        if let Some(param) = names.into_iter().find(|p| !used.contains(p.as_str())) {
            return Err(Invalid::new(
                format!("{table}.{param}"),
                "is for a variable no text of this template uses",
            ));
        }
    }
    match defaults.iter().find(|(_, value)| value.trim().is_empty()) {
        Some((param, _)) => Err(Invalid::new(
            format!("defaults.{param}"),
            "is empty: a default replaces an empty value",
        )),
        None => Ok(()),
    }
}

/// The SMS text's own rules: its provider parameters are exactly its variables, and it fits.
fn check_sms(sms: &SmsText) -> Result<(), (&'static str, String)> {
    let field = "sms.template_param_names";
    let in_text: BTreeSet<&str> = sms.text.vars().collect();
    let mut listed = BTreeSet::new();
    for name in &sms.param_names {
        if !listed.insert(name.as_str()) {
            return Err((field, format!("lists `{name}` twice")));
        }
        if !in_text.contains(name.as_str()) {
            return Err((
                field,
                format!("lists `{name}`, which sms.text does not use"),
            ));
        }
    }
    if let Some(missing) = in_text.iter().find(|v| !listed.contains(*v)) {
        return Err((
            field,
            format!(
                "misses `{missing}`, which sms.text uses: list every variable in the order registered with the provider"
            ),
        ));
    }
    let chars = sms.text.literal_only().chars().count();
    if chars > SMS_TEXT_LIMIT {
        return Err((
            "sms.text",
            format!(
                "is {chars} characters before any value, over the SMS limit of {SMS_TEXT_LIMIT}"
            ),
        ));
    }
    Ok(())
}

fn unknown_variable(name: &str) -> String {
    format!(
        "uses the unknown variable `{{{name}}}`; known: {} (add new ones to templates::KNOWN_PARAMS)",
        KNOWN_PARAMS.join(", ")
    )
}

fn held_in_quiet_hours() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    kind: Kind,
    useful_for_hours: u32,
    /// `false` for a message a person is waiting for now (a sign-in code): sent in the quiet
    /// hours too. Everything else is held (DESIGN.md section 4).
    #[serde(default = "held_in_quiet_hours")]
    quiet_hours: bool,
    /// `true` for an org contact's summary of a firing (counts and a console link): it has
    /// its own daily budget per phone (`notifier.limits.summaries_per_phone_per_day`).
    #[serde(default)]
    summary: bool,
    /// For people reading the file; not used.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    defaults: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, BTreeMap<String, String>>,
    sms: Option<RawSms>,
    robot: Option<RawRobot>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSms {
    text: String,
    template_param_names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRobot {
    title: String,
    markdown: String,
    summary: Option<String>,
    link: Option<String>,
    link_text: Option<String>,
}
