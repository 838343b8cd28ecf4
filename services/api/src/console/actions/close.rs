//! 登记返乡 and 登记转出: the two actions that end (or pause) a member's time away.

use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;

use super::super::forms::{self, Problems, problem};
use super::super::session::Session;
use super::{Action, Seen, member_id};
use super::{date_field, day};
use hongyan_domain::payloads::{NewOrg, Return, Transfer};

forms::posted_with_token!(ReturnForm, TransferForm);

/// 登记返乡: home for good, or a visit (回乡探亲).
#[derive(Deserialize, Default)]
pub struct ReturnForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    returned_on: String,
    #[serde(default)]
    kind: String,
}

impl Action for ReturnForm {
    const TITLE: &'static str = "登记返乡";
    const KIND: &'static str = "registration.return";
    const HOME_ONLY: bool = true;

    fn opened(_: &Seen, _: &Session, today: NaiveDate) -> Self {
        Self {
            returned_on: today.to_string(),
            ..Self::default()
        }
    }

    fn check(&self, m: &Seen, today: NaiveDate) -> Result<serde_json::Value, Problems> {
        let mut bad = Problems::new();
        let member_id = member_id(m)?;
        let on = day(
            &self.returned_on,
            "returned_on",
            "返乡日期",
            today,
            &mut bad,
        );
        let permanent = match self.kind.as_str() {
            "permanent" => Some(true),
            "visit" => Some(false),
            _ => {
                bad.insert("kind", "请选择是回乡探亲，还是返乡不再外出。".into());
                None
            }
        };
        if !bad.is_empty() {
            return Err(bad);
        }
        let r = Return {
            member_id,
            returned_on: on.expect("checked"),
            permanent: permanent.expect("checked"),
        };
        Ok(r.to_wire())
    }

    fn fields(&self, _: &Seen, bad: &Problems) -> Markup {
        html! {
            (date_field("returned_on", "返乡日期", &self.returned_on, bad))
            fieldset {
                legend { "返乡类型" }
                div.choice {
                    input type="radio" id="kind_visit" name="kind" value="visit" checked[self.kind == "visit"];
                    label for="kind_visit" { "回乡探亲（还会外出）" }
                }
                div.choice {
                    input type="radio" id="kind_permanent" name="kind" value="permanent" checked[self.kind == "permanent"];
                    label for="kind_permanent" { "返乡（不再外出）" }
                }
                (problem(bad.get("kind")))
            }
            p.note { "回乡探亲时，系统会提醒结对的支委与其见面（凡回乡必见面）；返乡不再外出则关闭外出记录。" }
            button.primary type="submit" { "登记返乡" }
        }
    }
}

/// 登记转出: the relationship was transferred (组织关系转接 done); the record closes.
#[derive(Deserialize, Default)]
pub struct TransferForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    transferred_on: String,
    #[serde(default)]
    new_org_name: String,
}

impl Action for TransferForm {
    const TITLE: &'static str = "登记转出";
    const KIND: &'static str = "registration.transfer";
    const HOME_ONLY: bool = true;

    fn opened(_: &Seen, _: &Session, today: NaiveDate) -> Self {
        Self {
            transferred_on: today.to_string(),
            ..Self::default()
        }
    }

    fn check(&self, m: &Seen, today: NaiveDate) -> Result<serde_json::Value, Problems> {
        let mut bad = Problems::new();
        let member_id = member_id(m)?;
        let on = day(
            &self.transferred_on,
            "transferred_on",
            "转出日期",
            today,
            &mut bad,
        );
        let name = self.new_org_name.trim();
        if name.is_empty() {
            bad.insert(
                "new_org_name",
                "请填写转入的党组织全称，如“广州市天河区某公司党支部”。".into(),
            );
        }
        if !bad.is_empty() {
            return Err(bad);
        }
        let t = Transfer {
            member_id,
            transferred_on: on.expect("checked"),
            new_org: NewOrg::Named(name.to_owned()),
        };
        Ok(t.to_wire())
    }

    fn fields(&self, _: &Seen, bad: &Problems) -> Markup {
        html! {
            (date_field("transferred_on", "转出日期", &self.transferred_on, bad))
            label for="new_org_name" { "转入党组织" }
            input id="new_org_name" name="new_org_name" value=(self.new_org_name) maxlength="100";
            (problem(bad.get("new_org_name")))
            p.note { "组织关系转接办结后再登记；登记后外出记录关闭。" }
            button.primary type="submit" { "登记转出" }
        }
    }
}
