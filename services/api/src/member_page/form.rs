//! The page's forms: reading what the member sent, and the nonce that makes a POST CSRF-safe
//! (how it does so: `crate::page::nonce`).

use hongyan_domain::ids::{EmployerType, Phone, RegionCode};
use hongyan_domain::payloads::Location;
use hongyan_domain::regions;
use serde::Deserialize;

use crate::page::nonce::FormNonce;

/// The form's nonce: its cookie, and an HMAC purpose of its own.
pub const NONCE: FormNonce = FormNonce {
    cookie: "hy_member_form",
    purpose: b"member-form|",
};

/// Everything a POST may carry. All optional: a missing field is a validation message.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Posted {
    #[serde(default)]
    pub nonce: String,
    /// `confirm` (no change), `pick` (a picker level chosen; re-render), `save` (the edit),
    /// `reminders_on` (the monthly reminder SMS back on after a 退订 reply).
    #[serde(default)]
    pub intent: String,
    /// Set to `1` by the page's script when a picker level changed.
    #[serde(default)]
    pub picked: String,
    #[serde(default)]
    pub province: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub county: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub employer: String,
    #[serde(default)]
    pub employer_type: String,
    #[serde(default)]
    pub phone: String,
}

/// What the member asked for.
pub enum Intent {
    Confirm,
    /// 我已回乡（不再外出）: told to the branch, which registers the return.
    Home,
    RemindersOn,
    Pick,
    Save,
    Unknown,
}

impl Posted {
    pub fn intent(&self) -> Intent {
        if self.picked == "1" {
            return Intent::Pick;
        }
        match self.intent.as_str() {
            "confirm" => Intent::Confirm,
            "home" => Intent::Home,
            "reminders_on" => Intent::RemindersOn,
            "pick" => Intent::Pick,
            "save" => Intent::Save,
            _ => Intent::Unknown,
        }
    }

    /// Drops picker levels that do not lie in the level above (the province was changed).
    pub fn consistent_picker(mut self) -> Self {
        if !self.city.starts_with(&self.province) || self.province.is_empty() {
            self.city.clear();
        }
        if !self.county.starts_with(&self.city) || self.city.is_empty() {
            self.county.clear();
        }
        self
    }
}

/// A checked edit: the new location, and the phone when it changes.
pub struct Edit {
    pub location: Location,
    pub phone: Option<Phone>,
}

/// What was wrong with a field, in Chinese, to show beside it.
#[derive(Clone, Debug, Default)]
pub struct Problems {
    pub region: Option<&'static str>,
    pub address: Option<&'static str>,
    pub employer_type: Option<&'static str>,
    pub phone: Option<&'static str>,
}

impl Problems {
    pub fn any(&self) -> bool {
        self.region.is_some()
            || self.address.is_some()
            || self.employer_type.is_some()
            || self.phone.is_some()
    }
}

/// Checks an edit. `current` is the record's region: when the chosen county is its county, the
/// finer township or village code already held is kept.
pub fn validate(p: &Posted, current: &RegionCode) -> Result<Edit, Problems> {
    let mut problems = Problems::default();
    let region = if regions::level(&p.county) == Some(regions::Level::County)
        && regions::name(&p.county).is_some()
        && p.county.starts_with(&p.city)
        && p.city.starts_with(&p.province)
    {
        let code = if current.county() == p.county {
            current.clone()
        } else {
            RegionCode::parse(&p.county)
                .ok()
                .unwrap_or_else(|| current.clone())
        };
        Some(code)
    } else {
        problems.region = Some("请依次选择省、市、县（区）");
        None
    };
    let address = p.address.trim();
    if address.is_empty() {
        problems.address = Some("请填写详细地址");
    } else if address.chars().count() > 200 {
        problems.address = Some("详细地址请不超过200字");
    }
    // Without an employer (无固定单位) the type is `other`; with one it must be chosen.
    let employer_type = match (p.employer.trim().is_empty(), p.employer_type.as_str()) {
        (true, "") => Some(EmployerType::Other),
        (_, t) => EmployerType::parse(t).ok(),
    };
    if employer_type.is_none() {
        problems.employer_type = Some("填了工作单位，请选择单位类型");
    }
    let phone = match p.phone.trim() {
        "" => Ok(None),
        s => Phone::parse(s).map(Some),
    };
    if phone.is_err() {
        problems.phone = Some("手机号码应为11位，以13至19开头；不变请留空");
    }
    if problems.any() {
        return Err(problems);
    }
    let employer = p.employer.trim();
    Ok(Edit {
        location: Location {
            region_code: region.expect("checked above"),
            address: address.to_owned(),
            employer: (!employer.is_empty()).then(|| employer.chars().take(200).collect()),
            employer_type: employer_type.expect("checked above"),
        },
        phone: phone.expect("checked above"),
    })
}
