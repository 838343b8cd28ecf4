//! The study page's HTML, in the look of the member page: Chinese, server-rendered, inline CSS,
//! no external assets (a pack's images and media open as links, never load into the page),
//! usable at 360 px with large tap targets. maud escapes every text and attribute.

use chrono::NaiveDate;
use hongyan_domain::study::{Item, ItemKind};
use maud::{Markup, html};

use super::visit::{Pack, Refusal, Visit};
use crate::page::{BranchContact, shell};

/// This page's rules, after the shared ones of `crate::page`.
const CSS: &str = "
h1{font-size:22px;color:#b71c1c;margin:8px 0 12px}
h2{font-size:19px;margin:0 0 6px}
.kind{display:inline-block;font-size:14px;color:#b71c1c;border:1px solid #e4b4b4;border-radius:6px;padding:0 8px;margin-bottom:6px}
.card p{margin:6px 0;word-break:break-word}
a.open{display:block;min-height:52px;line-height:28px;margin-top:8px;padding:12px;border-radius:10px;background:#fff;color:#c62828;border:2px solid #c62828;font-size:18px;font-weight:600;text-align:center;text-decoration:none}
.host{color:#777;font-size:14px;margin:4px 0 0;text-align:center;word-break:break-all}
button{display:block;width:100%;min-height:56px;border:0;border-radius:10px;font-size:20px;font-weight:600;padding:12px;cursor:pointer;background:#c62828;color:#fff}
.done{border-left:5px solid #2e7d32}
.summary{font-size:17px;margin:0 0 16px;color:#444}
";

fn page(title: &str, body: Markup) -> String {
    shell(title, CSS, body)
}

/// The member's page: the pack, then "我已学完" (or when it was recorded).
pub fn study_page(v: &Visit, nonce: &str) -> String {
    page(
        &v.pack.title,
        html! {
            (pack_body(&v.pack, Some(&v.member_name)))
            @match v.completed_on {
                Some(on) => (completed(on)),
                None => form method="post" {
                    input type="hidden" name="nonce" value=(nonce);
                    button type="submit" id="done" { "我已学完" }
                    p.note { "学完后点一下，支部就能看到您已参加本期学习。" }
                },
            }
        },
    )
}

/// The pack's page from a group card: the pack alone, for reading.
pub fn pack_page(pack: &Pack) -> String {
    page(
        &pack.title,
        html! {
            (pack_body(pack, None))
            p.note { "收到短信学习链接的同志，请在短信链接打开的页面点“我已学完”登记。" }
        },
    )
}

/// The title, a greeting when the reader is known, the summary and the items.
fn pack_body(pack: &Pack, member_name: Option<&str>) -> Markup {
    html! {
        h1 { (pack.title) }
        @if let Some(name) = member_name {
            p.note { (name) "同志，您好！这是本期学习资源包（一月一课一片一实践），请抽时间学习。" }
        }
        p.summary { (pack.summary) }
        @for item in &pack.items { (item_card(item)) }
    }
}

/// One item: a text in full; an image, voice, video or link as a large link out.
fn item_card(item: &Item) -> Markup {
    let (kind, action) = words(item.kind);
    html! {
        div.card {
            span.kind { (kind) }
            @if let Some(t) = &item.title { h2 { (t) } }
            @if let Some(text) = &item.text {
                div.text { @for para in text.lines().filter(|l| !l.trim().is_empty()) { p { (para) } } }
            }
            @if let Some(url) = item.url.as_deref().filter(|u| is_web(u)) {
                a.open href=(url) rel="noopener noreferrer" { (action) " ›" }
                p.host { (host(url)) }
            }
        }
    }
}

/// The item kind's word and the link's action.
fn words(kind: ItemKind) -> (&'static str, &'static str) {
    match kind {
        ItemKind::Text => ("文字", "打开原文"),
        ItemKind::Image => ("图片", "查看图片"),
        ItemKind::Voice => ("音频", "收听音频"),
        ItemKind::Video => ("视频", "观看视频"),
        ItemKind::Link => ("链接", "打开链接"),
    }
}

/// Only web links become links (intake checks this too; a row written otherwise stays inert).
fn is_web(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// Where a link goes, shown under it: `v.example` of `https://v.example/1`.
fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

fn completed(on: NaiveDate) -> Markup {
    html! {
        div.card.done id="completed" {
            p { "您已于" (date_words(on)) "学完本期内容，支部已记录。谢谢！" }
        }
    }
}

/// `2026年3月9日`.
fn date_words(d: NaiveDate) -> String {
    d.format("%Y年%-m月%-d日").to_string()
}

/// After "我已学完" was sent on.
pub fn thanks(name: &str, title: &str) -> String {
    page(
        "已记录",
        html! {
            h1 { "谢谢，已记录" }
            div.card.done {
                p id="thanks" { (name) "同志，您已学完“" (title) "”，支部将看到您的学习记录。" }
                p.note { "可随时再次打开短信里的链接复习。" }
            }
        },
    )
}

/// A link that does not open the page, with what to do.
pub fn refusal(r: &Refusal) -> String {
    let (title, text) = match r {
        Refusal::Tampered => (
            "链接无法使用",
            "这个学习链接不完整或已被改动，无法打开。请使用短信里的完整链接；如仍无法打开，请联系您所在的党支部。",
        ),
        Refusal::Expired { .. } => (
            "链接已过期",
            "这个学习链接已超过有效期。请联系您所在的党支部，索取本期学习资料或新的链接。",
        ),
        Refusal::UnknownPack => (
            "没有找到这期学习资料",
            "这期学习资源包不存在或已撤下。请核对链接是否完整，或联系您所在的党支部。",
        ),
        Refusal::UnknownMember => (
            "没有找到您的登记信息",
            "台账中没有找到这个链接对应的党员信息，无法登记学习。请联系您所在的党支部。",
        ),
    };
    let branch = match r {
        Refusal::Expired { branch } => branch.as_ref(),
        _ => None,
    };
    refusal_page(title, text, branch)
}

/// The form could not be accepted as sent (nonce missing, wrong or stale).
pub fn stale_form() -> String {
    refusal_page(
        "请重新打开页面",
        "这次提交没有通过安全校验（页面已过时，或不是从本页面提交的），学习情况没有登记。请重新打开短信里的链接，再点一次“我已学完”。",
        None,
    )
}

/// Something on our side failed; nothing internal is shown.
pub fn try_later() -> String {
    refusal_page(
        "暂时无法处理",
        "系统暂时繁忙，这次没有处理成功。请过几分钟再打开链接试一次；如一直不行，请联系您所在的党支部。",
        None,
    )
}

fn refusal_page(title: &str, text: &str, branch: Option<&BranchContact>) -> String {
    crate::page::refusal_page(title, text, branch, CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_dates_read_as_people_expect() {
        assert_eq!(host("https://v.example/1?a=b"), "v.example");
        assert_eq!(host("http://a.b"), "a.b");
        assert_eq!(
            date_words(NaiveDate::from_ymd_opt(2026, 3, 9).unwrap()),
            "2026年3月9日"
        );
    }

    #[test]
    fn items_are_escaped_and_only_web_links_are_links() {
        let pack = Pack {
            title: "<script>x</script>".into(),
            summary: "a & b".into(),
            items: vec![
                Item {
                    kind: ItemKind::Text,
                    title: None,
                    text: Some("第一段\n\n<b>第二段</b>".into()),
                    url: None,
                },
                Item {
                    kind: ItemKind::Link,
                    title: Some("\"引号\"".into()),
                    text: None,
                    url: Some("javascript:alert(1)".into()),
                },
                Item {
                    kind: ItemKind::Video,
                    title: None,
                    text: None,
                    url: Some("https://v.example/1?a=1&b=\"2\"".into()),
                },
            ],
        };
        let html = pack_page(&pack);
        assert!(!html.contains("<script>x") && html.contains("&lt;script&gt;x"));
        assert!(
            html.contains("<p>第一段</p><p>&lt;b&gt;第二段&lt;/b&gt;</p>"),
            "{html}"
        );
        assert!(!html.contains("javascript:"), "{html}");
        assert!(
            html.contains("href=\"https://v.example/1?a=1&amp;b=&quot;2&quot;\""),
            "{html}"
        );
        assert!(html.contains("观看视频"));
    }
}
