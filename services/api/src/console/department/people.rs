//! 用户 (DESIGN.md section 12, departments): the console users of every org in the
//! department's subtree; 添加用户 creates one (组织, 姓名, 手机号码), 停用 revokes one and ends
//! their sessions. The same store functions as `hongyan users` (`console::users`); the one
//! who acted is recorded as `created_by`.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use hongyan_domain::Phone;
use maud::{Markup, html};

use super::for_departments;
use crate::console::forms::problem;
use crate::console::session::Session;
use crate::console::users::{self, User, UserError};
use crate::console::{forbidden_post, frame, page, post_ok, refusal, signed_in};
use crate::state::AppState;

#[derive(serde::Deserialize, Default)]
pub struct Posted {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
}

/// A field's problem, by field name.
type Problems = std::collections::BTreeMap<&'static str, String>;

/// The orgs of the subtree, in the tree's order, indented by depth: (id, name, depth).
pub async fn subtree_orgs(
    state: &AppState,
    root: &str,
) -> Result<Vec<(String, String, usize)>, sqlx::Error> {
    let rows: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT id, name, cardinality(path) FROM orgs WHERE path @> ARRAY[$1::text] ORDER BY path",
    )
    .bind(root)
    .fetch_all(&state.pool)
    .await?;
    let top = rows.first().map_or(0, |r| r.2);
    Ok(rows
        .into_iter()
        .map(|(id, name, depth)| (id, name, (depth - top).max(0) as usize))
        .collect())
}

/// `GET /console/users`.
pub async fn show(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    if let Some(no) = for_departments(&session) {
        return no;
    }
    render(
        &state,
        &session,
        &Posted::default(),
        &Problems::new(),
        None,
        StatusCode::OK,
    )
    .await
}

async fn render(
    state: &AppState,
    session: &Session,
    p: &Posted,
    bad: &Problems,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    let org = &session.user.org_id;
    match tokio::try_join!(
        users::in_subtree(&state.pool, org),
        subtree_orgs(state, org)
    ) {
        Ok((people, orgs)) => page(
            status,
            frame(
                "用户",
                Some(session),
                body(session, &people, &orgs, p, bad, done),
            ),
        ),
        Err(e) => crate::console::store_failed(&e),
    }
}

/// `POST /console/users`: 添加用户.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    form: Result<Form<Posted>, FormRejection>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let p = form.map(|Form(p)| p).unwrap_or_default();
    if !post_ok(&state, &headers, &session, &p.form_token) {
        return forbidden_post(Some(&session));
    }
    if let Some(no) = for_departments(&session) {
        return no;
    }
    let mut bad = Problems::new();
    let orgs = match subtree_orgs(&state, &session.user.org_id).await {
        Ok(o) => o,
        Err(e) => return crate::console::store_failed(&e),
    };
    if !orgs.iter().any(|(id, ..)| *id == p.org) {
        bad.insert("org", "请选择本组织或下级组织。".into());
    }
    if p.name.trim().is_empty() {
        bad.insert("name", "请填写姓名。".into());
    }
    let phone = Phone::parse_typed(&p.phone).ok();
    if phone.is_none() {
        bad.insert(
            "phone",
            "请填写11位手机号码，如 138 0013 8000（用这个号码接收登录验证码）。".into(),
        );
    }
    let (Some(phone), true) = (phone, bad.is_empty()) else {
        let code = StatusCode::UNPROCESSABLE_ENTITY;
        return render(&state, &session, &p, &bad, None, code).await;
    };
    let now = state.clock.now();
    match users::create(&state.pool, &p.org, &p.name, &phone, &session.user.id, now).await {
        Ok(u) => {
            let done = format!(
                "已添加{}（{}），可用{}登录。",
                u.name,
                u.org_name,
                u.phone.masked()
            );
            render(
                &state,
                &session,
                &Posted::default(),
                &Problems::new(),
                Some(&done),
                StatusCode::OK,
            )
            .await
        }
        Err(UserError::PhoneTaken(..)) => {
            bad.insert(
                "phone",
                "这个手机号码已经是另一位用户的登录号码：请先停用那位用户，或换一个号码。".into(),
            );
            let code = StatusCode::UNPROCESSABLE_ENTITY;
            render(&state, &session, &p, &bad, None, code).await
        }
        Err(UserError::Store(e)) => crate::console::store_failed(&e),
        Err(e) => {
            bad.insert("org", format!("没有添加：{e}"));
            let code = StatusCode::UNPROCESSABLE_ENTITY;
            render(&state, &session, &p, &bad, None, code).await
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct TokenOnly {
    #[serde(default)]
    form_token: String,
}

/// `POST /console/users/{id}/revoke`: 停用, for a user of the subtree other than oneself.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    form: Result<Form<TokenOnly>, FormRejection>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let token = form.map(|Form(t)| t.form_token).unwrap_or_default();
    if !post_ok(&state, &headers, &session, &token) {
        return forbidden_post(Some(&session));
    }
    if let Some(no) = for_departments(&session) {
        return no;
    }
    let people = match users::in_subtree(&state.pool, &session.user.org_id).await {
        Ok(p) => p,
        Err(e) => return crate::console::store_failed(&e),
    };
    let theirs = people.iter().any(|u| u.id == id && u.revoked_at.is_none());
    if !theirs || id == session.user.id {
        return refusal(
            StatusCode::NOT_FOUND,
            "没有停用",
            "找不到这位用户（或已停用，或不在本组织及下级组织），也不能停用自己。请回到用户页面核对。",
            Some(&session),
        );
    }
    match users::revoke(&state.pool, &id, state.clock.now()).await {
        Ok(()) => Redirect::to("/console/users").into_response(),
        Err(UserError::Store(e)) => crate::console::store_failed(&e),
        Err(e) => refusal(
            StatusCode::NOT_FOUND,
            "没有停用",
            &e.to_string(),
            Some(&session),
        ),
    }
}

fn body(
    s: &Session,
    people: &[User],
    orgs: &[(String, String, usize)],
    p: &Posted,
    bad: &Problems,
    done: Option<&str>,
) -> Markup {
    html! {
        h1 { "用户" }
        @if let Some(d) = done { div.card.notice role="status" { p { (d) } } }
        section.card {
            h2 { "本组织及下级组织的用户" }
            div.scroll {
                table.cards {
                    thead { tr {
                        th scope="col" { "姓名" } th scope="col" { "组织" } th scope="col" { "手机号码" }
                        th scope="col" { "添加日期" } th scope="col" { "状态" } th scope="col" { "操作" }
                    } }
                    tbody {
                        @for u in people {
                            tr {
                                td data-label="姓名" { (u.name) } td data-label="组织" { (u.org_name) }
                                td data-label="手机号码" { (u.phone.masked()) }
                                td data-label="添加日期" { (u.created_at.with_timezone(&hongyan_domain::TZ).format("%Y-%m-%d")) }
                                td data-label="状态" { @if u.revoked_at.is_some() { "已停用" } @else { "可登录" } }
                                td {
                                    @if u.revoked_at.is_none() && u.id != s.user.id {
                                        form.inline method="post" action={ "/console/users/" (u.id) "/revoke" } {
                                            input type="hidden" name="form_token" value=(s.form_token);
                                            button.secondary type="submit" aria-label={ "停用" (u.name) } { "停用" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.card method="post" action="/console/users" {
            h2 { "添加用户" }
            input type="hidden" name="form_token" value=(s.form_token);
            label for="org" { "组织" }
            select id="org" name="org" {
                option value="" { "请选择" }
                @for (id, name, _) in orgs {
                    option value=(id) selected[*id == p.org] { (name) }
                }
            }
            (problem(bad.get("org")))
            label for="name" { "姓名" }
            input id="name" name="name" value=(p.name) maxlength="50";
            (problem(bad.get("name")))
            label for="phone" { "手机号码" }
            input id="phone" name="phone" type="tel" inputmode="numeric" value=(p.phone) placeholder="登录时接收验证码的手机";
            (problem(bad.get("phone")))
            button.primary type="submit" { "添加用户" }
        }
    }
}
