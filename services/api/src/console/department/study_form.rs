//! 学习 → 编写学习资源包 (DESIGN.md sections 2 and 12): a department composes a study pack
//! (学习资源包): 标题, 简介, up to four items (文字, 链接, 图片, 视频), 学习对象 picked from its
//! org tree, and 发送时间 (the next 党员活动日, or a day and time). The form's own checks say
//! what is wrong in Chinese beside the field; the pack then goes through the same checks as
//! `POST /v1/study-packs` (`crate::study::publish`) as the signed-in person.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone};
use hongyan_domain::ids::OrgId;
use hongyan_domain::study::{Audience, Item, ItemKind, StudyPublished};
use maud::{Markup, html};
use std::collections::BTreeMap;

use super::for_departments;
use super::people::subtree_orgs;
use crate::console::forms::{self, problem};
use crate::console::session::Session;
use crate::console::{encode_component, forbidden_post, frame, page, post_ok, signed_in};
use crate::state::AppState;

/// Item slots on the form.
const SLOTS: usize = 4;

/// The kinds a console item may be, with their words.
const KINDS: [(&str, &str); 4] = [
    ("text", "文字"),
    ("link", "链接"),
    ("image", "图片"),
    ("video", "视频"),
];

/// The form as posted: its fields by name (checkboxes come as repeated names, which a struct
/// cannot hold).
#[derive(Default)]
struct Posted(Vec<(String, String)>);

impl Posted {
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Problems = BTreeMap<String, String>;

/// `GET /console/study/new`.
pub async fn show(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    if let Some(no) = for_departments(&session) {
        return no;
    }
    let fresh = Posted(vec![("when".into(), "activity_day".into())]);
    render(&state, &session, &fresh, &Problems::new(), StatusCode::OK).await
}

async fn render(
    state: &AppState,
    s: &Session,
    p: &Posted,
    bad: &Problems,
    status: StatusCode,
) -> Response {
    match subtree_orgs(state, &s.user.org_id).await {
        Ok(orgs) => page(status, frame("学习", Some(s), form(s, p, &orgs, bad))),
        Err(e) => crate::console::store_failed(&e),
    }
}

/// `POST /console/study/new`: checks the form, then publishes the pack.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let p = Posted(form.map(|Form(f)| f).unwrap_or_default());
    if !post_ok(&state, &headers, &session, p.get("form_token")) {
        return forbidden_post(Some(&session));
    }
    if let Some(no) = for_departments(&session) {
        return no;
    }
    let orgs = match subtree_orgs(&state, &session.user.org_id).await {
        Ok(o) => o,
        Err(e) => return crate::console::store_failed(&e),
    };
    let now = state.clock.now();
    let pack = match check(&p, &orgs, now) {
        Ok(pack) => pack,
        Err(bad) => {
            let code = StatusCode::UNPROCESSABLE_ENTITY;
            return render(&state, &session, &p, &bad, code).await;
        }
    };
    let org = &session.user.org_id;
    match crate::study::publish(&state, org, &session.user.id, &pack.to_wire()).await {
        Ok(done) => {
            let to = format!(
                "/console/study/{}?event={}",
                encode_component(&done.pack_id),
                done.event_id
            );
            Redirect::to(&to).into_response()
        }
        Err(refused) => {
            let mut bad = Problems::new();
            bad.insert("audience".into(), forms::refused_words(&refused));
            let code = StatusCode::UNPROCESSABLE_ENTITY;
            render(&state, &session, &p, &bad, code).await
        }
    }
}

/// A new pack's id: the day and a random part, in the ids' alphabet.
fn new_pack_id(now: DateTime<chrono::Utc>) -> String {
    let day = now.with_timezone(&hongyan_domain::TZ).format("%Y%m%d");
    let tail = uuid::Uuid::new_v4().simple().to_string();
    format!("pack-{day}-{}", &tail[..8])
}

/// The items filled in, or what is wrong with each.
fn items(p: &Posted, bad: &mut Problems) -> Vec<Item> {
    let mut out = Vec::new();
    for i in 1..=SLOTS {
        let kind = p.get(&format!("item{i}_kind"));
        let title = p.get(&format!("item{i}_title")).trim();
        let body = p.get(&format!("item{i}_body")).trim();
        let field = format!("item{i}");
        let kind = match kind {
            "" if body.is_empty() && title.is_empty() => continue,
            "" => {
                bad.insert(
                    field,
                    "请选择这一项的类型（文字、链接、图片或视频）。".into(),
                );
                continue;
            }
            "text" => ItemKind::Text,
            "link" => ItemKind::Link,
            "image" => ItemKind::Image,
            "video" => ItemKind::Video,
            _ => {
                bad.insert(field, "请选择这一项的类型。".into());
                continue;
            }
        };
        if body.is_empty() {
            bad.insert(field, "请填写这一项的文字或网址。".into());
            continue;
        }
        let is_url = body.starts_with("https://") || body.starts_with("http://");
        if kind != ItemKind::Text && !is_url {
            bad.insert(
                field,
                "链接、图片和视频请填写完整网址，以 https:// 或 http:// 开头。".into(),
            );
            continue;
        }
        let title = (!title.is_empty()).then(|| title.to_owned());
        out.push(match kind {
            ItemKind::Text => Item {
                kind,
                title,
                text: Some(body.to_owned()),
                url: None,
            },
            _ => Item {
                kind,
                title,
                text: None,
                url: Some(body.to_owned()),
            },
        });
    }
    out
}

/// 发送时间: none for the next activity day, else the day and time in Asia/Shanghai, which
/// must be to come.
fn send_at(
    p: &Posted,
    now: DateTime<chrono::Utc>,
    bad: &mut Problems,
) -> Option<DateTime<FixedOffset>> {
    if p.get("when") != "at" {
        return None;
    }
    let day = forms::date(p.get("send_day"));
    let time = NaiveTime::parse_from_str(p.get("send_time").trim(), "%H:%M").ok();
    let (Some(day), Some(time)) = (day, time) else {
        bad.insert(
            "when".into(),
            "请填写发送日期（如 2026-12-09）和时间（如 09:00），或选择下一个党员活动日。".into(),
        );
        return None;
    };
    let at = local(day, time);
    if at.is_none_or(|at| at <= now) {
        bad.insert("when".into(), "发送时间已经过去，请选择以后的时间。".into());
        return None;
    }
    at
}

/// A day and time in Asia/Shanghai (`+08:00`).
fn local(day: NaiveDate, time: NaiveTime) -> Option<DateTime<FixedOffset>> {
    hongyan_domain::TZ
        .from_local_datetime(&day.and_time(time))
        .single()
        .map(|d| d.fixed_offset())
}

/// The form's own checks, in Chinese, field by field; the pack when all pass.
fn check(
    p: &Posted,
    orgs: &[(String, String, usize)],
    now: DateTime<chrono::Utc>,
) -> Result<StudyPublished, Problems> {
    let mut bad = Problems::new();
    let title = p.get("title").trim();
    if title.is_empty() {
        bad.insert("title".into(), "请填写标题。".into());
    }
    let summary = p.get("summary").trim();
    if summary.is_empty() {
        bad.insert("summary".into(), "请用一两句话写明学习内容。".into());
    }
    let items = items(p, &mut bad);
    if items.is_empty() && !bad.keys().any(|k| k.starts_with("item")) {
        bad.insert("item1".into(), "请至少填写一项学习内容。".into());
    }
    let audience: Vec<OrgId> = p
        .all("audience")
        .filter(|a| orgs.iter().any(|(id, ..)| id == a))
        .filter_map(|a| OrgId::parse(a).ok())
        .collect();
    if audience.is_empty() {
        bad.insert(
            "audience".into(),
            "请选择学习对象：本组织或下级组织（选中一个组织即包括它下面的所有支部）。".into(),
        );
    }
    let send_at = send_at(p, now, &mut bad);
    if !bad.is_empty() {
        return Err(bad);
    }
    let pack_id = OrgId::parse(&new_pack_id(now)).map_err(|e| {
        let mut b = Problems::new();
        b.insert("title".into(), e.to_string());
        b
    })?;
    Ok(StudyPublished {
        pack_id,
        title: title.to_owned(),
        summary: summary.to_owned(),
        items,
        audience: Audience {
            org_ids: audience,
            region_codes: Vec::new(),
        },
        send_at,
    })
}

fn item_slot(p: &Posted, i: usize, bad: &Problems) -> Markup {
    let kind = p.get(&format!("item{i}_kind"));
    html! {
        fieldset.item {
            legend { "内容" (i) }
            label for={ "item" (i) "_kind" } { "内容" (i) "的类型" }
            select id={ "item" (i) "_kind" } name={ "item" (i) "_kind" } {
                option value="" { "不填" }
                @for (code, word) in KINDS { option value=(code) selected[kind == code] { (word) } }
            }
            label for={ "item" (i) "_title" } { "内容" (i) "的标题" }
            input id={ "item" (i) "_title" } name={ "item" (i) "_title" } maxlength="100" value=(p.get(&format!("item{i}_title")));
            label for={ "item" (i) "_body" } { "内容" (i) "的文字或网址" }
            textarea id={ "item" (i) "_body" } name={ "item" (i) "_body" } rows="3" maxlength="2000" { (p.get(&format!("item{i}_body"))) }
            (problem(bad.get(&format!("item{i}"))))
        }
    }
}

fn form(s: &Session, p: &Posted, orgs: &[(String, String, usize)], bad: &Problems) -> Markup {
    let chosen: Vec<&str> = p.all("audience").collect();
    let at = p.get("when") == "at";
    html! {
        h1 { "编写学习资源包" }
        form.card method="post" action="/console/study/new" {
            input type="hidden" name="form_token" value=(s.form_token);
            label for="title" { "标题" }
            input id="title" name="title" maxlength="100" value=(p.get("title"));
            (problem(bad.get("title")))
            label for="summary" { "简介" }
            textarea id="summary" name="summary" rows="2" maxlength="300" { (p.get("summary")) }
            (problem(bad.get("summary")))
            p.note { "每一项选择类型，再填写文字（文字类）或完整网址（链接、图片、视频）。不用的项留空。" }
            div.slots { @for i in 1..=SLOTS { (item_slot(p, i, bad)) } }
            fieldset.audience {
                legend { "学习对象" }
                p.note { "选中一个组织，即包括它下面的所有组织。" }
                @for (id, name, depth) in orgs {
                    div class={ "check depth" ((*depth).min(4)) } {
                        input type="checkbox" id={ "a-" (id) } name="audience" value=(id) checked[chosen.contains(&id.as_str())];
                        label for={ "a-" (id) } { (name) }
                    }
                }
                (problem(bad.get("audience")))
            }
            fieldset.when {
                legend { "发送时间" }
                div.check {
                    input type="radio" id="when-day" name="when" value="activity_day" checked[!at];
                    label for="when-day" { "下一个党员活动日（每月9日）" }
                }
                div.check {
                    input type="radio" id="when-at" name="when" value="at" checked[at];
                    label for="when-at" { "指定时间" }
                }
                label for="send_day" { "发送日期" }
                input id="send_day" name="send_day" type="text" inputmode="numeric" placeholder="如 2026-12-09" value=(p.get("send_day"));
                label for="send_time" { "发送时刻" }
                input id="send_time" name="send_time" type="text" inputmode="numeric" placeholder="如 09:00" value=(p.get("send_time"));
                (problem(bad.get("when")))
            }
            button.primary type="submit" { "发布" }
        }
    }
}
