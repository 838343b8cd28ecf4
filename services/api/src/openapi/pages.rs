//! The HTML pages (and their assets) hongyan serves beside the JSON API, listed in
//! `/v1/openapi.json` with their content types (DESIGN.md section 7): the members' update page,
//! the study pages and the console (section 12). A test walks the router's source and fails on a
//! path served but not listed here.

use serde_json::{Map, Value, json};

/// A page: its path, what it is, and what each method does.
struct Page {
    path: &'static str,
    tag: &'static str,
    what: &'static str,
    get: Option<&'static str>,
    post: Option<&'static str>,
    /// The content type of a 200 (`text/html` for pages).
    content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";

const fn page(
    path: &'static str,
    tag: &'static str,
    what: &'static str,
    get: Option<&'static str>,
    post: Option<&'static str>,
) -> Page {
    Page {
        path,
        tag,
        what,
        get,
        post,
        content_type: HTML,
    }
}

const PAGES: &[Page] = &[
    page(
        "/m/{token}",
        "member pages",
        "The members' monthly update page, from the link in their reminder (a signed token bound to one member and month)",
        Some("The record, the one-tap confirmation and the edit form"),
        Some(
            "Confirm, edit, say 我已回乡（不再外出）, or turn the reminder SMS back on (form with the page's nonce)",
        ),
    ),
    page(
        "/s/{pack_id}",
        "member pages",
        "A study pack, read only (what a group robot's card links to; names nobody)",
        Some("The pack"),
        None,
    ),
    page(
        "/s/{pack_id}/{token}",
        "member pages",
        "A study pack from a member's own SMS link",
        Some("The pack with 我已学完"),
        Some("Mark the pack studied"),
    ),
    page(
        "/console",
        "console",
        "The console's address without its slash",
        Some("Redirects to /console/"),
        None,
    ),
    page(
        "/console/",
        "console",
        "工作台: the org's figures and to-do lists",
        Some("The page, or a redirect to sign in"),
        None,
    ),
    page(
        "/console/login",
        "console",
        "Sign-in by phone and SMS code",
        Some("The sign-in form"),
        Some("Sign in with the phone and the code"),
    ),
    page(
        "/console/login/code",
        "console",
        "获取验证码",
        None,
        Some("Send a sign-in code by SMS"),
    ),
    page(
        "/console/logout",
        "console",
        "退出",
        None,
        Some("End the session"),
    ),
    page(
        "/console/ledger",
        "console",
        "台账: the ledger with filters and search",
        Some("The ledger page"),
        None,
    ),
    page(
        "/console/members/{id}",
        "console",
        "A member's page: record, timeline, contacts, messages",
        Some("The member's page"),
        None,
    ),
    page(
        "/console/members/{id}/certificate",
        "console",
        "The printable 《流动党员活动证》",
        Some("The certificate"),
        None,
    ),
    page(
        "/console/members/{id}/update",
        "console",
        "更新信息: a member's place, work, phone and inflow contact",
        Some("The form, filled from the record"),
        Some("Send registration.update (or 本月确认无变化, or 恢复每月提醒短信)"),
    ),
    page(
        "/console/members/{id}/return",
        "console",
        "登记返乡: a visit home or home for good",
        Some("The form"),
        Some("Send registration.return"),
    ),
    page(
        "/console/members/{id}/transfer",
        "console",
        "登记转出: the relationship was transferred",
        Some("The form"),
        Some("Send registration.transfer"),
    ),
    page(
        "/console/members/{id}/contact",
        "console",
        "记录联系: a talk, family visit, meeting at home or phone call",
        Some("The form"),
        Some("Send contact.recorded"),
    ),
    page(
        "/console/outbound",
        "console",
        "外出登记",
        Some("The departure form"),
        Some("Register a departure"),
    ),
    page(
        "/console/todo/{list}",
        "console",
        "A 工作台 to-do list (本月未确认, 失联, 组织生活预警, 应转尽转, 待谈心, 待家访) by org or member",
        Some("The list (?org= narrows to an org under the viewer)"),
        None,
    ),
    page(
        "/console/distribution",
        "console",
        "分布: where the subtree's open records are, by province and city",
        Some("The tiles, bars and tables"),
        None,
    ),
    page(
        "/console/dispatch",
        "console",
        "调度: the dispatch reports by quarter (departments)",
        Some("The reports"),
        None,
    ),
    page(
        "/console/dispatch/{id}",
        "console",
        "A dispatch report with its charts, branches and spot check",
        Some("The report page"),
        None,
    ),
    Page {
        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ..page(
            "/console/dispatch/{id}/file/{format}",
            "console",
            "A dispatch report as XLSX (format xlsx) or CSV with a BOM (format csv), Chinese headers",
            Some("The file"),
            None,
        )
    },
    page(
        "/console/dispatch/{id}/spot-check",
        "console",
        "A spot check's result (抽查)",
        None,
        Some("Record the result for one member"),
    ),
    page(
        "/console/study",
        "console",
        "学习: the study packs and their completion (departments)",
        Some("The packs"),
        None,
    ),
    page(
        "/console/study/new",
        "console",
        "Compose a study pack",
        Some("The form"),
        Some("Publish the pack (study.published)"),
    ),
    page(
        "/console/study/{id}",
        "console",
        "A study pack with completion per org",
        Some("The pack"),
        None,
    ),
    page(
        "/console/messages",
        "console",
        "消息: the subtree's notifications, failed ones first on request",
        Some("The list"),
        None,
    ),
    page(
        "/console/messages/{id}/replay",
        "console",
        "重发: a failed notification sent again (departments)",
        None,
        Some("Replay it once"),
    ),
    page(
        "/console/users",
        "console",
        "用户: the console users of the subtree (departments)",
        Some("The users"),
        Some("Create a user"),
    ),
    page(
        "/console/users/{id}/revoke",
        "console",
        "Revoke a console user",
        None,
        Some("Revoke"),
    ),
    page(
        "/console/inbound",
        "console",
        "报到登记: find the member by 活动证编号 or 手机号码 and check them in",
        Some("The form, or an arrival's result (?event=)"),
        Some(
            "Find (查找), list the next level of the place, or send registration.inbound (确认报到)",
        ),
    ),
    Page {
        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ..page(
            "/console/ledger.xlsx",
            "console",
            "导出Excel",
            Some("The ledger as XLSX"),
            None,
        )
    },
    Page {
        content_type: "text/csv; charset=utf-8",
        ..page(
            "/console/ledger.csv",
            "console",
            "导出CSV",
            Some("The ledger as CSV"),
            None,
        )
    },
    Page {
        content_type: "text/css; charset=utf-8",
        ..page(
            "/console/assets/console.css",
            "console",
            "The console's stylesheet, embedded in the binary",
            Some("The stylesheet"),
            None,
        )
    },
];

/// Adds every page to the document's paths.
pub fn add(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for p in PAGES {
        let mut item = Map::new();
        if let Some(summary) = p.get {
            item.insert("get".into(), operation(p, summary, false));
        }
        if let Some(summary) = p.post {
            item.insert("post".into(), operation(p, summary, true));
        }
        paths.insert(p.path.into(), Value::Object(item));
    }
}

fn operation(p: &Page, summary: &str, post: bool) -> Value {
    let body = |content_type: &str, what: &str| {
        let mut content = Map::new();
        content.insert(content_type.into(), json!({"schema": {"type": "string"}}));
        json!({"description": what, "content": content})
    };
    // A refusal is a page, or (the router's own: an unknown path, a body too large, a timeout)
    // a problem.
    let html = |what: &str| {
        let mut r = body(HTML, what);
        r["content"]["application/problem+json"] =
            json!({"schema": {"$ref": "#/components/schemas/ProblemBody"}});
        r
    };
    let params: Vec<Value> = p
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let id: String = p
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let method = if post { "post" } else { "get" };
    let mut op = json!({
        "operationId": format!("{method}_page{id}"),
        "tags": [p.tag],
        "summary": summary,
        "description": p.what,
        "parameters": params,
        "responses": {
            "200": body(p.content_type, summary),
            "303": {"description": "See another page (sign in first, or the result of a form)"},
            "400": html("A request that does not parse"),
            "403": html("A link that does not open the page, a form without its token, or from another origin"),
            "404": html("Not found, or outside the signed-in org's scope"),
            "413": html("Body over api.body_limit_bytes"),
            "422": html("A form with a field to fix, shown beside the field"),
            "405": html("A method the path does not take (see Allow)"),
            "429": html("Too many sign-in codes or entries; wait"),
            "503": html("A server is away; try again"),
        },
    });
    if post {
        op["requestBody"] = json!({"content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "additionalProperties": {"type": "string"}}}}});
    }
    op
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every `.route("…")` in the crate's source, with the files it is in.
    fn served() -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (at, _) in text.match_indices(".route(") {
                    let rest = text[at + ".route(".len()..].trim_start();
                    if let Some(lit) = rest.strip_prefix("\"/") {
                        let route = format!("/{}", lit.split('"').next().unwrap());
                        out.push((route, path.display().to_string()));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_path_served_is_in_the_openapi_document() {
        let doc = super::super::document();
        let served = served();
        assert!(served.len() > 20, "{served:?}");
        let missing: Vec<_> = served
            .iter()
            .filter(|(route, _)| doc["paths"][route.as_str()].is_null())
            .collect();
        assert!(
            missing.is_empty(),
            "served but not in /v1/openapi.json (add pages to openapi/pages.rs, API routes to ApiDoc): {missing:?}"
        );
    }
}
