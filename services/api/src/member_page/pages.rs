//! The page's HTML: Chinese, server-rendered, inline CSS, no external assets, usable at 360 px.

use hongyan_domain::ids::EmployerType;
use hongyan_domain::regions::{self, Region};
use hongyan_domain::words::employer_type as employer_type_word;
use maud::{Markup, PreEscaped, html};

use super::form::{Posted, Problems};
use super::visit::{Refusal, Visit};
use crate::page::{BranchContact, refusal_page as shared_refusal, shell};

/// This page's rules, after the shared ones of `crate::page`.
const CSS: &str = "
h1{font-size:22px;color:#b71c1c;margin:8px 0 16px}
h2{font-size:19px;margin:24px 0 8px}
dl{margin:0}dt{color:#777;font-size:15px;margin-top:8px}dd{margin:0;font-size:18px;word-break:break-all}
button,.btn{display:block;width:100%;min-height:56px;border:0;border-radius:10px;font-size:20px;font-weight:600;padding:12px;cursor:pointer}
.confirm{background:#c62828;color:#fff}
.save{background:#fff;color:#c62828;border:2px solid #c62828;margin-top:16px}
.pick{background:#eee;color:#333;min-height:48px;font-size:17px;margin-top:8px}
.choices{display:flex;gap:8px;margin:12px 0 8px}
.home{background:#fff;color:#555;border:1px solid #bbb;min-height:48px;font-size:17px;margin-bottom:16px}
.other{flex:1;text-align:center;text-decoration:none;background:#fff;color:#c62828;border:2px solid #c62828;min-height:48px;font-size:18px}
.done{border-left:5px solid #2e7d32}
a[href^=tel]{color:#c62828;font-weight:600}
label{display:block;margin-top:14px;font-size:16px;color:#444}
select,input{display:block;width:100%;min-height:48px;font-size:18px;padding:8px 10px;border:1px solid #bbb;border-radius:8px;background:#fff;margin-top:4px}
.err{color:#b71c1c;font-size:15px;margin:4px 0 0}
";

fn page(title: &str, body: Markup) -> String {
    shell(title, CSS, body)
}

/// The one-tap confirmation first (above the fold on a small phone), the other answers, the
/// record, the branch's phone to call, and the edit form. Once the month is confirmed the page
/// says so and the member may still change the answer.
pub fn record_page(v: &Visit, nonce: &str, draft: &Posted, problems: &Problems) -> String {
    let rec = &v.record;
    let employer = rec.location.employer.as_deref().unwrap_or("无固定单位");
    page(
        "流动党员信息确认",
        html! {
            h1 { "流动党员每月信息确认" }
            p.note { (v.member.name) "同志，您好！请核对下面的登记信息（" (month_words(v.link.month)) "）。" }
            @if v.confirmed {
                div.card.done id="confirmed" {
                    p { "您" (month_words(v.link.month)) "的信息已确认，谢谢！" }
                    p.note { "如情况又有变化，可以在下面修改。" }
                }
            } @else {
                form method="post" {
                    input type="hidden" name="nonce" value=(nonce);
                    button.confirm type="submit" name="intent" value="confirm" id="confirm" { "没有变化，确认" }
                }
            }
            div.choices {
                a.btn.other href="#edit" { "换了工作" }
                a.btn.other href="#edit" { "换了地方" }
            }
            form method="post" {
                input type="hidden" name="nonce" value=(nonce);
                button.home type="submit" name="intent" value="home" { "我已回乡（不再外出）" }
            }
            div.card {
                dl {
                    dt { "流入地" } dd { (regions::place_name(rec.location.region_code.as_str())) }
                    dt { "详细地址" } dd { (rec.location.address) }
                    dt { "工作单位" } dd { (employer) }
                    @if rec.location.employer.is_some() {
                        dt { "单位类型" } dd { (employer_type_word(rec.location.employer_type)) }
                    }
                    dt { "手机号码" } dd { (rec.phone.masked()) }
                    dt { "所在支部" } dd { (v.branch_name) }
                }
                @if let Some(b) = &v.branch { (b.line()) }
            }
            @if rec.reminders_stopped {
                h2 id="reminders" { "每月提醒短信" }
                form.card method="post" {
                    input type="hidden" name="nonce" value=(nonce);
                    p.note { "您回复过退订，每月更新提醒短信已停发。需要时可以恢复。" }
                    button.save type="submit" name="intent" value="reminders_on" id="reminders_on" { "恢复每月提醒短信" }
                }
            }
            h2 id="edit" { "信息有变化？请修改" }
            (edit_form(nonce, draft, problems))
        },
    )
}

/// After the member turned the monthly reminder SMS back on.
pub fn reminders_on(name: &str) -> String {
    page(
        "已恢复提醒",
        html! {
            h1 { "已恢复每月提醒短信" }
            div.card {
                p { (name) "同志，从下次起，每月的更新提醒会照常发到您的手机。" }
                p.note { "本月信息还没有确认的，请回到链接页面确认或修改，也可以直接回复提醒短信“1”。" }
            }
        },
    )
}

fn edit_form(nonce: &str, d: &Posted, p: &Problems) -> Markup {
    let cities = if d.province.is_empty() {
        Vec::new()
    } else {
        regions::children(&d.province)
    };
    let counties = if d.city.is_empty() {
        Vec::new()
    } else {
        regions::children(&d.city)
    };
    html! {
        form.card method="post" action="#edit" {
            input type="hidden" name="nonce" value=(nonce);
            p.note { "先选省、市、县（区），再填详细地址。" }
            label for="province" { "省（自治区、直辖市）" }
            (region_select("province", &regions::provinces(), &d.province, "请选择省份"))
            label for="city" { "市（地区、州）" }
            (region_select("city", &cities, &d.city, "请先选省份"))
            label for="county" { "县（市、区）" }
            (region_select("county", &counties, &d.county, "请先选市"))
            @if let Some(e) = p.region { p.err { (e) } }
            noscript { button.pick type="submit" name="intent" value="pick" { "选好了，列出下一级" } }
            label for="address" { "详细地址（街道、门牌）" }
            input id="address" name="address" value=(d.address) maxlength="200" autocomplete="street-address";
            @if let Some(e) = p.address { p.err { (e) } }
            label for="employer" { "工作单位（没有可不填）" }
            input id="employer" name="employer" value=(d.employer) maxlength="200";
            label for="employer_type" { "单位类型（有工作单位时选择）" }
            select id="employer_type" name="employer_type" {
                option value="" { "无固定单位" }
                @for t in EmployerType::ALL {
                    option value=(t.as_str()) selected[d.employer_type == t.as_str()] { (employer_type_word(*t)) }
                }
            }
            @if let Some(e) = p.employer_type { p.err { (e) } }
            label for="phone" { "新手机号码（不变请留空）" }
            input id="phone" name="phone" value=(d.phone) type="tel" inputmode="numeric" maxlength="14" autocomplete="tel";
            @if let Some(e) = p.phone { p.err { (e) } }
            input type="hidden" name="picked" value="" id="picked";
            button.save type="submit" name="intent" value="save" id="save" { "提交修改" }
        }
        // A chosen level lists the next one: the form goes back to the server (which keeps
        // every field typed so far) with intent=pick.
        script { (PreEscaped("document.querySelectorAll('select.region').forEach(function(s){s.addEventListener('change',function(){document.getElementById('picked').value='1';s.form.submit();});});")) }
    }
}

fn region_select(name: &str, options: &[Region], chosen: &str, empty: &str) -> Markup {
    html! {
        select.region id=(name) name=(name) {
            option value="" { (empty) }
            @for r in options {
                option value=(r.code) selected[r.code == chosen] { (r.name) }
            }
        }
    }
}

/// `2026年3月`.
fn month_words(m: hongyan_domain::month::Month) -> String {
    format!("{}年{}月", m.year(), m.month())
}

/// After a confirmation or an edit was sent on.
pub fn thanks(name: &str, changed: bool) -> String {
    page(
        "已收到",
        html! {
            h1 { "谢谢，已收到" }
            div.card {
                p { (name) "同志，" @if changed { "您修改的信息已提交，支部台账将随即更新。" } @else { "您已确认本月信息没有变化。" } }
                p.note { "本月无需再次确认，下月会再提醒您。如又有变化，可以再打开短信里的链接修改。" }
            }
        },
    )
}

/// After 我已回乡（不再外出）: the branch was told and registers the return.
pub fn told_home(v: &Visit) -> String {
    page(
        "已告诉支部",
        html! {
            h1 { "已告诉支部" }
            div.card {
                p { (v.member.name) "同志，您已回乡、不再外出的情况已转告" (v.branch_name) "。支部核实后会办理返乡登记，之后不再给您发每月确认提醒。" }
                @if let Some(b) = &v.branch { (b.line()) }
            }
        },
    )
}

/// A link that does not open the page, with what to do.
pub fn refusal(r: &Refusal) -> String {
    let (title, text, branch): (&str, String, Option<&BranchContact>) = match r {
        Refusal::Tampered => (
            "链接无法使用",
            "这个链接不完整或已被改动，无法打开。请使用提醒短信或消息里的完整链接；如仍无法打开，请联系您所在的党支部。".to_owned(),
            None,
        ),
        Refusal::Expired { branch } => (
            "链接已过期",
            "这个链接已超过有效期。请联系您所在的党支部，更新您的信息或索取新的链接。".to_owned(),
            branch.as_ref(),
        ),
        Refusal::NoRecord { branch } => (
            "没有找到外出登记",
            "台账中没有您正在进行的外出登记（可能已返回或组织关系已转出）。如有疑问，请联系您所在的党支部。".to_owned(),
            branch.as_ref(),
        ),
    };
    refusal_page(title, &text, branch)
}

/// The form could not be accepted as sent (nonce missing, wrong or stale).
pub fn stale_form() -> String {
    refusal_page(
        "请重新打开页面",
        "这次提交没有通过安全校验（页面已过时，或不是从本页面提交的），信息没有保存。请重新打开提醒中的链接，再确认或修改一次。",
        None,
    )
}

/// Something on our side failed; nothing internal is shown.
pub fn try_later() -> String {
    refusal_page(
        "暂时无法处理",
        "系统暂时繁忙，您的信息还没有提交。请过几分钟再打开链接试一次；如一直不行，请联系您所在的党支部。",
        None,
    )
}

fn refusal_page(title: &str, text: &str, branch: Option<&BranchContact>) -> String {
    shared_refusal(title, text, branch, CSS)
}
