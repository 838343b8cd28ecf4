//! `QuerySendDetails`: did Aliyun take an SMS whose answer never came? Signed like `SendSms`;
//! one phone and one send date (`yyyyMMdd`, Beijing) per question, paged; each row carries the
//! `OutId` we sent, which is our notification id (PROVIDERS.md, "Asking about a send that
//! timed out").

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

use super::AliyunSms;
use crate::providers::lookup::{Lookup, SentWithin};
use crate::providers::{SendContext, SmsMessage};

/// The largest page the API serves (1 to 50).
const PAGE_SIZE: u32 = 50;
/// Pages read per date at most: Aliyun's default per-number limit is 50 a day per signature
/// and template, so a phone with more rows than this in a day is not one of ours.
const MAX_PAGES: u32 = 10;

impl AliyunSms {
    /// Looks for `message` among the SMS sent to its phone on each Beijing date the window
    /// touches, by its `OutId`.
    pub async fn look_up(
        &self,
        message: &SmsMessage,
        within: SentWithin,
        ctx: &SendContext,
    ) -> Lookup {
        let mut asked = 0;
        for date in send_dates(within) {
            for page in 1..=MAX_PAGES {
                asked += 1;
                let nonce = format!("{}-{asked}", ctx.nonce);
                let mut params = self.common_params("QuerySendDetails", nonce, ctx);
                params.extend(query_params(message, date, page));
                let answer = match self.post(params, ctx.now).await {
                    Ok(answer) => answer,
                    Err(failure) => return Lookup::from_failure(failure),
                };
                if let Some(failure) = answer.http_failure() {
                    return Lookup::from_failure(failure);
                }
                match read_page(&answer.body, &message.notification_id, page) {
                    Page::Found => {
                        return Lookup::Found {
                            provider_message_id: None,
                        };
                    }
                    Page::More => {}
                    Page::End => break,
                    Page::Unanswered(lookup) => return lookup,
                }
            }
        }
        Lookup::NotFound
    }
}

/// The Beijing dates from the window's start to its end: the send date is the provider's,
/// and a send just before midnight may be recorded on the next day.
fn send_dates(within: SentWithin) -> Vec<NaiveDate> {
    let first = within.since.with_timezone(&hongyan_domain::TZ).date_naive();
    let last = within.until.with_timezone(&hongyan_domain::TZ).date_naive();
    // The API keeps 30 days; an uncertain send is hours old at most, so two dates will do.
    let mut dates = vec![first];
    if last != first {
        dates.push(last);
    }
    dates
}

fn query_params(
    message: &SmsMessage,
    date: NaiveDate,
    page: u32,
) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("PhoneNumber", message.phone.as_str().to_owned()),
        ("SendDate", date.format("%Y%m%d").to_string()),
        ("PageSize", PAGE_SIZE.to_string()),
        ("CurrentPage", page.to_string()),
    ])
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Reply {
    code: Option<String>,
    #[serde(default)]
    message: String,
    /// A number in the documentation, a string in some answers.
    #[serde(default)]
    total_count: Option<serde_json::Value>,
    #[serde(default, rename = "SmsSendDetailDTOs")]
    details: Details,
}

/// The rows are nested one level deeper than they look: `{"SmsSendDetailDTO": [...]}`.
#[derive(Default, Deserialize)]
struct Details {
    #[serde(default, rename = "SmsSendDetailDTO")]
    rows: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    #[serde(default)]
    out_id: Option<String>,
}

/// What one page said.
#[derive(Debug, PartialEq)]
enum Page {
    /// A row carries our `OutId`.
    Found,
    /// Not on this page, and the total says there are more.
    More,
    /// Not on this page, and none after it.
    End,
    /// An error code, an answer we cannot read, or a total the rows do not reach.
    Unanswered(Lookup),
}

/// Reads page `page` (counting from 1, `PAGE_SIZE` rows each) and looks for `out_id` in it.
fn read_page(body: &[u8], out_id: &str, page: u32) -> Page {
    let reply = match serde_json::from_slice::<Reply>(body) {
        Ok(reply) => reply,
        Err(e) => {
            let reason = format!("QuerySendDetails answered something unreadable: {e}");
            return Page::Unanswered(Lookup::unanswered("bad_answer", reason));
        }
    };
    match reply.code.as_deref() {
        Some("OK") => {}
        Some(code) => return Page::Unanswered(Lookup::unanswered(code, reply.message)),
        None => {
            let reason = "QuerySendDetails answered without a Code";
            return Page::Unanswered(Lookup::unanswered("bad_answer", reason));
        }
    }
    let rows = &reply.details.rows;
    if rows.iter().any(|r| r.out_id.as_deref() == Some(out_id)) {
        return Page::Found;
    }
    let total = match reply.total_count.as_ref().map(count) {
        Some(Some(total)) => total,
        None => rows.len() as u64,
        Some(None) => {
            let reason = format!(
                "QuerySendDetails answered TotalCount {:?}",
                reply.total_count
            );
            return Page::Unanswered(Lookup::unanswered("bad_answer", reason));
        }
    };
    let read = u64::from(page - 1) * u64::from(PAGE_SIZE) + rows.len() as u64;
    if read >= total {
        Page::End
    } else if rows.is_empty() {
        // The total promises rows the page does not hold (seen in answers with an empty
        // list): the provider has not said it has no such SMS.
        let reason = format!("QuerySendDetails counts {total} SMS but page {page} lists none");
        Page::Unanswered(Lookup::unanswered("incomplete_answer", reason))
    } else {
        Page::More
    }
}

/// `TotalCount` as a number or as a string of digits.
fn count(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0190b2c4-0000-7000-8000-000000000001";

    fn page(total: &str, out_ids: &[&str]) -> Vec<u8> {
        let rows: Vec<serde_json::Value> = out_ids
            .iter()
            .map(|o| serde_json::json!({"PhoneNum": "13911110001", "SendStatus": 3, "ErrCode": "DELIVERED",
                "TemplateCode": "SMS_100001", "Content": "【红岩】…", "SendDate": "2026-03-02 10:00:00",
                "ReceiveDate": "2026-03-02 10:00:05", "OutId": o}))
            .collect();
        let body = format!(
            r#"{{"Code":"OK","Message":"OK","RequestId":"R","TotalCount":{total},"SmsSendDetailDTOs":{{"SmsSendDetailDTO":{}}}}}"#,
            serde_json::Value::Array(rows)
        );
        body.into_bytes()
    }

    #[test]
    fn a_row_with_our_out_id_is_found_whatever_the_total_looks_like() {
        assert_eq!(read_page(&page("2", &["other", ID]), ID, 1), Page::Found);
        assert_eq!(read_page(&page(r#""2""#, &[ID]), ID, 1), Page::Found);
    }

    #[test]
    fn pages_end_when_the_total_is_read_and_an_empty_page_short_of_it_is_no_answer() {
        assert_eq!(read_page(&page("1", &["other"]), ID, 1), Page::End);
        assert_eq!(read_page(&page(r#""0""#, &[]), ID, 1), Page::End);
        assert_eq!(read_page(&page("51", &["other"; 50]), ID, 1), Page::More);
        assert_eq!(read_page(&page("51", &["other"]), ID, 2), Page::End);
        assert!(matches!(
            read_page(&page("2", &[]), ID, 1),
            Page::Unanswered(Lookup::Unanswered { code, .. }) if code == "incomplete_answer"
        ));
    }

    #[test]
    fn an_error_code_or_an_unreadable_answer_is_no_answer() {
        let limited =
            br#"{"Code":"isv.BUSINESS_LIMIT_CONTROL","Message":"limited","RequestId":"R"}"#;
        assert!(matches!(
            read_page(limited, ID, 1),
            Page::Unanswered(Lookup::Unanswered { code, .. }) if code == "isv.BUSINESS_LIMIT_CONTROL"
        ));
        assert!(matches!(read_page(b"<html>", ID, 1), Page::Unanswered(_)));
        assert!(matches!(
            read_page(&page(r#""many""#, &["other"]), ID, 1),
            Page::Unanswered(_)
        ));
    }
}
