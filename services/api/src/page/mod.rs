//! What the members' update page (`/m/...`) and the study pack's page (`/s/...`) share: the
//! HTML shell and its base CSS, the refusal card, the form nonce with its `SameSite=Strict`
//! cookie, the `no-store` response, and publishing a member's event. Each page keeps its own
//! wording, routes and rules.

pub mod nonce;
pub mod publish;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The rules both pages use: a phone-sized column, white cards, the notes and the refusal's
/// red edge. Each page adds its own headings, buttons and fields after these.
const BASE_CSS: &str = "
*{box-sizing:border-box}
body{margin:0;font:17px/1.6 -apple-system,'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;background:#f6f2ee;color:#222}
main{max-width:480px;margin:0 auto;padding:16px}
.card{background:#fff;border-radius:10px;padding:14px 16px;margin-bottom:16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.note{color:#666;font-size:15px}
.refusal{border-left:5px solid #c62828}
";

/// A whole page: Chinese, inline CSS (the base, then `css`), no external assets, no referrer.
pub fn shell(title: &str, css: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) }
                style { (PreEscaped(BASE_CSS)) (PreEscaped(css)) }
            }
            body { main { (body) } }
        }
    }
    .into_string()
}

/// The home branch's responsible person (专人), named on the member's pages. The phone is the
/// branch's duty phone, not a private number: shown whole, as a link a phone can call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchContact {
    pub branch_name: String,
    pub contact_name: String,
    pub phone: String,
}

impl BranchContact {
    /// `联系人：张书记，电话 …` with the whole number as a tap-to-call link.
    pub fn line(&self) -> Markup {
        html! {
            p { "联系人：" (self.contact_name) "，电话 " a id="contact-phone" href={ "tel:" (self.phone) } { (self.phone) } }
        }
    }
}

/// A page that says why the link or form was not accepted and, when the member can be
/// trusted, whom to call.
pub fn refusal_page(title: &str, text: &str, branch: Option<&BranchContact>, css: &str) -> String {
    shell(
        title,
        css,
        html! {
            h1 { (title) }
            div.card.refusal {
                p id="refusal" { (text) }
                @if let Some(b) = branch {
                    p { "所在支部：" (b.branch_name) }
                    (b.line())
                }
            }
        },
    )
}

/// What a token leads to: the page's visit, or its refusal.
pub enum Access<V, R> {
    Open(Box<V>),
    Refused(R),
}

/// An HTML response the browser must not keep: a page shows a member's own record.
pub fn html_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, Html(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
