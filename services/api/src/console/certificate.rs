//! 打印活动证: the printable 《流动党员活动证》 (DESIGN.md section 12): name, home branch,
//! number, left on, destination, the branch contact and phone, laid out for paper by the
//! stylesheet's print rules.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use hongyan_domain::regions;
use maud::html;

use super::{frame, page, refusal, signed_in};
use crate::state::AppState;

/// `GET /console/members/{id}/certificate`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let found = match super::member::for_certificate(&state, &session.user.org_id, &id).await {
        Ok(f) => f,
        Err(e) => return super::store_failed(&e),
    };
    let Some((name, branch, r)) = found else {
        let text = "这名党员没有外出记录，或不在本组织可以查看的范围内。";
        return refusal(StatusCode::NOT_FOUND, "找不到活动证", text, Some(&session));
    };
    let Some(no) = &r.certificate_no else {
        let text = "这名党员没有发放活动证（外出超过6个月且有固定单位的，建议办理组织关系转接）。";
        return refusal(StatusCode::NOT_FOUND, "没有活动证", text, Some(&session));
    };
    let contact: Option<(Option<String>, Option<String>)> =
        match sqlx::query_as("SELECT contact->>'name', contact->>'phone' FROM orgs WHERE id = $1")
            .bind(r.home_org_id.as_str())
            .fetch_optional(&state.pool)
            .await
        {
            Ok(c) => c,
            Err(e) => return super::store_failed(&e),
        };
    let (contact_name, contact_phone) = contact.unwrap_or_default();
    let left_on = r
        .left_on
        .map(|d| d.format("%Y年%-m月%-d日").to_string())
        .unwrap_or_default();
    let back = format!("/console/members/{}", super::encode_component(&id));
    let body = html! {
        p.noprint { a.button href=(back) { "返回" } " 用浏览器的“打印”即可打印本页。" }
        div.certificate {
            h1 { "流动党员活动证" }
            dl.record {
                dt { "编号" } dd { (no.as_str()) }
                dt { "姓名" } dd { (name) }
                dt { "所在党支部" } dd { (branch) }
                dt { "外出日期" } dd { (left_on) }
                dt { "流入地" } dd { (regions::place_name(r.location.region_code.as_str())) " " (r.location.address) }
                dt { "支部联系人" } dd { (contact_name.unwrap_or_default()) }
                dt { "联系电话" } dd { (contact_phone.unwrap_or_default()) }
            }
            p.note { "请持本证到流入地党组织或流动党员服务站报到，参加组织生活。" }
        }
    };
    page(StatusCode::OK, frame("活动证", Some(&session), body))
}
