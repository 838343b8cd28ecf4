//! What the console's forms share: the place picker (省, 市, 县 from the division table, one
//! level listed after the one above is chosen, without JavaScript), a field's problem beside it,
//! the check every POST passes, and sending an event as the signed-in person.

use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use hongyan_domain::envelope::Actor;
use hongyan_domain::ids::{EventId, OrgId, RegionCode};
use hongyan_domain::outgoing;
use hongyan_domain::payloads::Location;
use hongyan_domain::regions::{self, Region};
use hongyan_domain::{EmployerType, words};
use maud::{Markup, html};
use std::collections::BTreeMap;

use super::session::Session;
use crate::problem::Problem;
use crate::state::AppState;

/// The three levels of a place as the form sends them.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Place {
    #[serde(default)]
    pub province: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub county: String,
}

impl Place {
    /// Drops a level that does not lie in the one above (the province was changed).
    pub fn consistent(mut self) -> Self {
        if self.province.is_empty()
            || !self
                .city
                .starts_with(&self.province[..2.min(self.province.len())])
        {
            self.city.clear();
        }
        if self.city.is_empty()
            || !self
                .county
                .starts_with(&self.city[..4.min(self.city.len())])
        {
            self.county.clear();
        }
        self
    }

    /// The chosen county's code, when it is one.
    pub fn county_code(&self) -> Option<&str> {
        let ok = regions::level(&self.county) == Some(regions::Level::County)
            && regions::name(&self.county).is_some();
        ok.then_some(self.county.as_str())
    }
}

fn region_select(id: &str, label: &str, options: &[Region], chosen: &str, empty: &str) -> Markup {
    html! {
        label for=(id) { (label) }
        select id=(id) name=(id) {
            option value="" { (empty) }
            @for r in options {
                option value=(r.code) selected[r.code == chosen] { (r.name) }
            }
        }
    }
}

/// 流入地: 省, 市, 县 and the button that lists the next level.
pub fn place_picker(p: &Place, problem: Option<&str>) -> Markup {
    let cities = if p.province.is_empty() {
        Vec::new()
    } else {
        regions::children(&p.province)
    };
    let counties = if p.city.is_empty() {
        Vec::new()
    } else {
        regions::children(&p.city)
    };
    html! {
        fieldset.place {
            legend { "流入地" }
            (region_select("province", "省", &regions::provinces(), &p.province, "请选择省份"))
            (region_select("city", "市", &cities, &p.city, "请先选省份"))
            (region_select("county", "县", &counties, &p.county, "请先选市"))
            @if let Some(e) = problem { p.error { (e) } }
            button.secondary type="submit" name="intent" value="pick" { "列出下一级" }
        }
    }
}

/// A form's problems, by field: each shown beside its field, in Chinese.
pub type Problems = BTreeMap<&'static str, String>;

/// Where a member is, as 外出登记, 报到登记 and 更新信息 ask it: 流入地 (省, 市, 县), 详细地址,
/// 工作单位 and 单位类型 (not needed without an employer: 无固定单位).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Whereabouts {
    #[serde(flatten)]
    pub place: Place,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub employer: String,
    #[serde(default)]
    pub employer_type: String,
}

impl Whereabouts {
    /// The fields as a stored location shows them (a form opened on a member's record).
    pub fn of(l: &Location) -> Self {
        let code = l.region_code.as_str();
        Self {
            place: Place {
                province: code[..2].to_owned(),
                city: code[..4].to_owned(),
                county: code[..6].to_owned(),
            },
            address: l.address.clone(),
            employer: l.employer.clone().unwrap_or_default(),
            // No employer and `other` is what 无固定单位 sends back: shown as that choice.
            employer_type: match (&l.employer, l.employer_type) {
                (None, EmployerType::Other) => String::new(),
                (_, t) => t.as_str().to_owned(),
            },
        }
    }

    /// The location, or each field's problem added to `bad`.
    pub fn check(&self, bad: &mut Problems) -> Option<Location> {
        let county = self
            .place
            .county_code()
            .and_then(|c| RegionCode::parse(c).ok());
        if county.is_none() {
            bad.insert(
                "place",
                "请依次选择省、市、县（每选一级后按“列出下一级”）。".into(),
            );
        }
        if self.address.trim().is_empty() {
            bad.insert("address", "请填写详细地址（街道、门牌或工地名称）。".into());
        }
        let employer = Some(self.employer.trim().to_owned()).filter(|e| !e.is_empty());
        let employer_type = if employer.is_none() && self.employer_type.is_empty() {
            Some(EmployerType::Other)
        } else {
            EmployerType::parse(&self.employer_type).ok()
        };
        if employer_type.is_none() {
            bad.insert("employer_type", "填了工作单位时，请选择单位类型。".into());
        }
        Some(Location {
            region_code: county?,
            address: self.address.trim().to_owned(),
            employer,
            employer_type: employer_type?,
        })
        .filter(|_| !bad.contains_key("address"))
    }

    /// The fields, each with its label and its problem.
    pub fn fields(&self, bad: &Problems) -> Markup {
        html! {
            (place_picker(&self.place, bad.get("place").map(String::as_str)))
            label for="address" { "详细地址" }
            input id="address" name="address" value=(self.address) maxlength="200";
            (problem(bad.get("address")))
            label for="employer" { "工作单位" }
            input id="employer" name="employer" value=(self.employer) maxlength="200" placeholder="没有固定单位可不填";
            label for="employer_type" { "单位类型" }
            select id="employer_type" name="employer_type" {
                option value="" { "无固定单位 / 请选择" }
                @for t in EmployerType::ALL {
                    option value=(t.as_str()) selected[self.employer_type == t.as_str()] { (words::employer_type(*t)) }
                }
            }
            (problem(bad.get("employer_type")))
        }
    }
}

/// A field's problem, beside it.
pub fn problem(text: Option<&String>) -> Markup {
    html! { @if let Some(t) = text { p.error { (t) } } }
}

/// A date typed into a form: `2026-12-07` (what a date field sends) or `2026年12月7日`.
pub fn date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    ["%Y-%m-%d", "%Y年%m月%d日", "%Y/%m/%d", "%Y.%m.%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
}

/// A console form as posted: it carries the session's form token.
pub trait Posted: serde::de::DeserializeOwned + Default + Send {
    fn form_token(&self) -> &str;
}

/// `Posted` for forms whose token is their `form_token` field.
macro_rules! posted_with_token {
    ($($form:ty),* $(,)?) => {
        $(impl $crate::console::forms::Posted for $form {
            fn form_token(&self) -> &str {
                &self.form_token
            }
        })*
    };
}
pub(crate) use posted_with_token;

/// The first steps of every form POST: the person is signed in (else the sign-in page), and
/// the POST is the console's own, same origin and the session's token (else 403, nothing
/// done). A body that is not the form reads as an empty one, which the token check refuses.
pub async fn accept_post<T: Posted>(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    form: Result<axum::Form<T>, axum::extract::rejection::FormRejection>,
) -> Result<(Session, T), axum::response::Response> {
    let session = super::signed_in(state, headers, uri).await?;
    let posted = form.map(|axum::Form(p)| p).unwrap_or_default();
    if !super::post_ok(state, headers, &session, posted.form_token()) {
        return Err(super::forbidden_post(Some(&session)));
    }
    Ok((session, posted))
}

/// Sends `data` as event `kind` from the signed-in person's org, through the same checks as
/// `POST /v1/events`. Returns the event id.
pub async fn send(
    state: &AppState,
    session: &Session,
    kind: &str,
    data: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<String, Problem> {
    let org_id = OrgId::parse(&session.user.org_id)
        .map_err(|e| Problem::invalid("actor.org_id", e.to_string()))?;
    let actor = Actor::Org {
        org_id,
        user: Some(session.user.id.clone()),
    };
    let body = outgoing::envelope(kind, EventId::new_v7(), now, &actor, data);
    crate::events::accept(state, &session.user.org_id, body.into_bytes()).await
}

/// A refusal from the event checks, in the console's words with the check's own sentence.
pub fn refused_words(p: &Problem) -> String {
    format!(
        "没有登记：系统检查未通过（{}）。请核对后重新提交；如仍不行，请联系上级组织部门。",
        p.detail()
    )
}

/// What became of an event a form sent, as the registry's history tells it.
pub enum Outcome {
    /// Not applied yet (or refused by the registry: it never reaches the history).
    Waiting,
    /// Applied: the member it was about (none for an arrival on the unmatched list), their
    /// name, and whether their record is flagged as an unreported departure.
    Applied {
        kind: String,
        member: Option<String>,
        name: String,
        flagged: bool,
    },
    /// Kept in the member's history without changing the ledger: it happened before what the
    /// ledger already holds.
    Kept,
}

/// How many times (2 s apart) a result page looks before it says the answer is late.
const LOOKS: u32 = 15;

impl Outcome {
    /// Whether the page should look again.
    pub fn still_waiting(&self, look: u32) -> bool {
        matches!(self, Outcome::Waiting) && look < LOOKS
    }
}

/// An event's history line: type, member, applied, the member's name, flagged unreported.
type HistoryLine = (String, Option<String>, bool, Option<String>, bool);

/// Reads what became of `event`.
pub async fn outcome(state: &AppState, event: &str) -> Result<Outcome, sqlx::Error> {
    let Ok(id) = uuid::Uuid::parse_str(event) else {
        return Ok(Outcome::Waiting);
    };
    let row: Option<HistoryLine> = sqlx::query_as(
        "SELECT o.event_type, o.member_id, o.applied, m.name,
                coalesce(r.flags ? 'unreported_departure', false)
         FROM console_event_outcomes o
         LEFT JOIN console_members m ON m.id = o.member_id
         LEFT JOIN api_ledger_records r ON r.member_id = o.member_id
         WHERE o.event_id = $1 LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    Ok(match row {
        None => Outcome::Waiting,
        Some((_, _, false, _, _)) => Outcome::Kept,
        Some((kind, member, true, name, flagged)) => Outcome::Applied {
            kind,
            name: name.or_else(|| member.clone()).unwrap_or_default(),
            member,
            flagged,
        },
    })
}

/// The result box of a form's page: waiting (the page reloads itself), late, kept, or what
/// `applied` says of an applied event.
pub fn outcome_box(o: &Outcome, look: u32, applied: impl Fn(&Outcome) -> Markup) -> Markup {
    match o {
        Outcome::Waiting if look < LOOKS => html! {
            div.card.pending id="result" role="status" { p { "正在登记，请稍候，页面会自动刷新……" } }
        },
        Outcome::Waiting => html! {
            div.card.refusal id="result" role="status" {
                p { "还没有处理结果。可能系统正忙，也可能登记没有通过系统检查而被退回。请稍后到台账核对；如一直没有变化，请联系上级组织部门。" }
            }
        },
        Outcome::Kept => html! {
            div.card.refusal id="result" role="status" {
                p { "已记入经历，但没有改变台账：台账里已有这名党员更晚的登记。请核对台账中的记录。" }
            }
        },
        Outcome::Applied { .. } => {
            html! { div.card.result id="result" role="status" { (applied(o)) } }
        }
    }
}
