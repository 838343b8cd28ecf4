//! What the console's forms share: the place picker (省, 市, 县 from the division table, one
//! level listed after the one above is chosen, without JavaScript), a field's problem beside it,
//! the check every POST passes, and sending an event as the signed-in person.

use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use hongyan_domain::envelope::Actor;
use hongyan_domain::ids::{EventId, OrgId};
use hongyan_domain::outgoing;
use hongyan_domain::regions::{self, Region};
use maud::{Markup, html};

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

/// Whether a form's POST passes: same origin and the session's token.
pub fn post_ok(state: &AppState, headers: &HeaderMap, session: &Session, token: &str) -> bool {
    super::post_ok(state, headers, session, token)
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
