//! 记录联系: a talk, a family visit, a meeting at home or a phone call.

use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;

use super::super::forms::{self, Problems, problem};
use super::super::session::Session;
use super::{Action, Seen, member_id};
use super::{date_field, day};
use hongyan_domain::ContactKind;
use hongyan_domain::payloads::ContactRecorded;

forms::posted_with_token!(ContactForm);

/// 记录联系: a talk, a family visit, a meeting at home or a phone call with the member.
#[derive(Deserialize, Default)]
pub struct ContactForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    on: String,
    #[serde(default)]
    by: String,
    #[serde(default)]
    text: String,
}

/// The kinds a branch records, with their words.
const CONTACT_KINDS: [(&str, &str); 4] = [
    ("talk", "谈心谈话"),
    ("family_visit", "家访"),
    ("home_meeting", "回乡见面"),
    ("phone", "电话联系"),
];

impl Action for ContactForm {
    const TITLE: &'static str = "记录联系";
    const KIND: &'static str = "contact.recorded";
    const HOME_ONLY: bool = true;

    fn opened(_: &Seen, s: &Session, today: NaiveDate) -> Self {
        Self {
            on: today.to_string(),
            by: s.user.name.clone(),
            ..Self::default()
        }
    }

    fn check(&self, m: &Seen, today: NaiveDate) -> Result<serde_json::Value, Problems> {
        let mut bad = Problems::new();
        let member_id = member_id(m)?;
        let kind = ContactKind::parse(&self.kind).ok();
        if kind.is_none() {
            bad.insert("kind", "请选择联系方式。".into());
        }
        let on = day(&self.on, "on", "联系日期", today, &mut bad);
        if self.by.trim().is_empty() {
            bad.insert("by", "请填写谁联系的（姓名）。".into());
        }
        if !bad.is_empty() {
            return Err(bad);
        }
        let c = ContactRecorded {
            member_id,
            kind: kind.expect("checked"),
            on: on.expect("checked"),
            by: self.by.trim().to_owned(),
            text: Some(self.text.trim().chars().take(300).collect::<String>())
                .filter(|t| !t.is_empty()),
        };
        Ok(c.to_wire())
    }

    fn fields(&self, _: &Seen, bad: &Problems) -> Markup {
        html! {
            label for="kind" { "联系方式" }
            select id="kind" name="kind" {
                option value="" { "请选择" }
                @for (value, word) in CONTACT_KINDS {
                    option value=(value) selected[self.kind == value] { (word) }
                }
            }
            (problem(bad.get("kind")))
            (date_field("on", "联系日期", &self.on, bad))
            label for="by" { "联系人" }
            input id="by" name="by" value=(self.by) maxlength="40";
            (problem(bad.get("by")))
            label for="text" { "情况记录（可不填）" }
            textarea id="text" name="text" rows="3" maxlength="300" { (self.text) }
            button.primary type="submit" { "记录联系" }
        }
    }
}
