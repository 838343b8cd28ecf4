//! 更新信息: the member's place, work, phone and inflow contact as they are now.

use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;

use super::super::forms::Whereabouts;
use super::super::forms::{self, Problems, problem};
use super::super::session::Session;
use super::{Action, Seen, member_id};
use hongyan_domain::ids::Phone;
use hongyan_domain::payloads::Update;

forms::posted_with_token!(UpdateForm);

/// 更新信息: the member's place, work, phone and inflow contact as they are now; or
/// 本月确认无变化.
#[derive(Deserialize, Default)]
pub struct UpdateForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    intent: String,
    #[serde(flatten)]
    at: Whereabouts,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_phone: String,
}

impl Action for UpdateForm {
    const TITLE: &'static str = "更新信息";
    const KIND: &'static str = "registration.update";
    const HOME_ONLY: bool = false;

    fn opened(m: &Seen, _: &Session, _: NaiveDate) -> Self {
        let r = m.record.as_ref();
        Self {
            at: r.map(|r| Whereabouts::of(&r.location)).unwrap_or_default(),
            phone: match (m.sees_phone, r) {
                (true, Some(r)) => r.phone.as_str().to_owned(),
                _ => String::new(),
            },
            contact_name: r
                .and_then(|r| r.inflow_contact.as_ref())
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            contact_phone: r
                .and_then(|r| r.inflow_contact.as_ref())
                .map(|c| c.phone.as_str().to_owned())
                .unwrap_or_default(),
            ..Self::default()
        }
    }
    fn tidy(&mut self) {
        self.at.place = std::mem::take(&mut self.at.place).consistent();
    }
    fn picking(&self) -> bool {
        self.intent == "pick"
    }

    fn check(&self, m: &Seen, _: NaiveDate) -> Result<serde_json::Value, Problems> {
        let mut bad = Problems::new();
        let member_id = member_id(m)?;
        let Some(r) = m.record.as_ref() else {
            return Err(Problems::from([("event", "没有外出记录。".to_owned())]));
        };
        if self.intent == "confirm" || self.intent == "resume" {
            // 本月确认无变化; or 恢复每月提醒短信 for a member who answered 退订 (it confirms
            // nothing).
            let resume = self.intent == "resume";
            let u = Update {
                member_id,
                location: None,
                phone: None,
                inflow_contact: None,
                confirmed_unchanged: !resume,
                reminders: resume.then_some(true),
            };
            return Ok(u.to_wire());
        }
        // The same county keeps the township or village code the record already holds.
        let location = self.at.check(&mut bad).map(|mut l| {
            if l.region_code.county() == r.location.region_code.county() {
                l.region_code = r.location.region_code.clone();
            }
            l
        });
        // The phone field is shown to the home side only; blank keeps the number.
        let phone = match self.phone.trim() {
            "" => None,
            typed => match Phone::parse_typed(typed) {
                Ok(p) => Some(p),
                Err(_) => {
                    bad.insert("phone", "请填写11位手机号码（如 138 0013 8000）。".into());
                    None
                }
            },
        };
        let contact = contact(&self.contact_name, &self.contact_phone, &mut bad);
        if !bad.is_empty() {
            return Err(bad);
        }
        let u = Update {
            member_id,
            location: location.filter(|l| *l != r.location),
            phone: phone.filter(|p| *p != r.phone),
            inflow_contact: contact.filter(|c| Some(c) != r.inflow_contact.as_ref()),
            confirmed_unchanged: false,
            reminders: None,
        };
        if u.location.is_none() && u.phone.is_none() && u.inflow_contact.is_none() {
            return Err(Problems::from([(
                "event",
                "没有改动。如情况没有变化，请按“本月确认无变化”。".to_owned(),
            )]));
        }
        Ok(u.to_wire())
    }

    fn fields(&self, m: &Seen, bad: &Problems) -> Markup {
        html! {
            (self.at.fields(bad))
            @if m.sees_phone {
                label for="phone" { "手机号码" }
                input id="phone" name="phone" type="tel" inputmode="tel" value=(self.phone) maxlength="20";
                (problem(bad.get("phone")))
            }
            fieldset {
                legend { "流入地联系人（可不填）" }
                label for="contact_name" { "联系人姓名" }
                input id="contact_name" name="contact_name" value=(self.contact_name) maxlength="40";
                label for="contact_phone" { "联系人电话" }
                input id="contact_phone" name="contact_phone" type="tel" inputmode="tel" value=(self.contact_phone) maxlength="20";
                (problem(bad.get("contact")))
            }
            button.primary type="submit" name="intent" value="save" { "保存更新" }
            @if m.record.as_ref().is_some_and(|r| r.reminders_stopped) {
                p.note { "本人已回复退订，目前不发每月提醒短信。如本人同意，可以恢复：" }
                button.secondary type="submit" name="intent" value="resume" { "恢复每月提醒短信" }
            }
            button.secondary type="submit" name="intent" value="confirm" { "本月确认无变化" }
        }
    }
}

/// The inflow contact typed, when both parts are (blank leaves it as it is).
fn contact(
    name: &str,
    phone: &str,
    bad: &mut Problems,
) -> Option<hongyan_domain::payloads::Contact> {
    let (name, phone) = (name.trim(), phone.trim());
    if name.is_empty() && phone.is_empty() {
        return None;
    }
    match (name.is_empty(), Phone::parse_typed(phone)) {
        (false, Ok(phone)) => Some(hongyan_domain::payloads::Contact {
            name: name.to_owned(),
            phone,
        }),
        _ => {
            bad.insert(
                "contact",
                "流入地联系人请同时填写姓名和11位手机号码，或都不填。".into(),
            );
            None
        }
    }
}
