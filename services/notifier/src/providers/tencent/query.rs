//! `PullSmsSendStatusByPhoneNumber`: did Tencent take an SMS whose answer never came? The
//! status rows of one phone over a time window; a row names our notification in
//! `SessionContext` where the account has that enabled, and otherwise comes back with it empty,
//! so the phone and the minute of the send decide (PROVIDERS.md, "Asking about a send that
//! timed out").

use chrono::{DateTime, Duration, DurationRound as _, Utc};
use serde::Deserialize;
use serde_json::json;

use super::TencentSms;
use crate::providers::lookup::{Lookup, SentWithin};
use crate::providers::{SendContext, SmsMessage};

/// The most rows one answer holds; `Offset` is documented as fixed at 0, so there is no next
/// page.
const LIMIT: usize = 100;

impl TencentSms {
    /// Looks for `message` among the phone's status rows from the minute of the send to now.
    pub async fn look_up(
        &self,
        message: &SmsMessage,
        within: SentWithin,
        ctx: &SendContext,
    ) -> Lookup {
        let phone = format!("+86{}", message.phone.as_str());
        let begin = window_start(within, ctx.now);
        let body = json!({
            "PhoneNumber": phone,
            "SmsSdkAppId": self.settings.sdk_app_id,
            "BeginTime": begin.timestamp(),
            "EndTime": within.until.max(begin).timestamp(),
            "Offset": 0,
            "Limit": LIMIT,
        });
        let answer = match self
            .post("PullSmsSendStatusByPhoneNumber", &body, ctx.now)
            .await
        {
            Ok(answer) => answer,
            Err(failure) => return Lookup::from_failure(failure),
        };
        if let Some(failure) = answer.http_failure() {
            return Lookup::from_failure(failure);
        }
        find(&answer.body, &message.notification_id, &phone, begin)
    }
}

/// The start of the minute the (earliest) uncertain send was made in, no further back than
/// the API allows (7 days).
fn window_start(within: SentWithin, now: DateTime<Utc>) -> DateTime<Utc> {
    let minute = within
        .since
        .duration_trunc(Duration::minutes(1))
        .unwrap_or(within.since);
    minute.max(now - Duration::days(7) + Duration::minutes(1))
}

#[derive(Deserialize)]
struct Reply {
    #[serde(rename = "Response")]
    response: Response,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Response {
    error: Option<super::ApiError>,
    pull_sms_send_status_set: Option<Vec<Row>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    #[serde(default)]
    serial_no: Option<String>,
    #[serde(default)]
    phone_number: String,
    /// Unix seconds.
    #[serde(default)]
    user_receive_time: Option<i64>,
    #[serde(default)]
    session_context: Option<String>,
}

/// Finds our SMS among the rows: by `SessionContext` when a row carries one; a row without
/// one is ours if it is for this phone and from the minute of the send on.
fn find(body: &[u8], id: &str, phone: &str, begin: DateTime<Utc>) -> Lookup {
    let rows = match serde_json::from_slice::<Reply>(body) {
        Ok(Reply {
            response: Response {
                error: Some(error), ..
            },
        }) => return Lookup::unanswered(error.code, error.message),
        Ok(Reply {
            response:
                Response {
                    pull_sms_send_status_set: Some(rows),
                    ..
                },
        }) => rows,
        Ok(_) => {
            let reason = "PullSmsSendStatusByPhoneNumber answered without PullSmsSendStatusSet";
            return Lookup::unanswered("bad_answer", reason);
        }
        Err(e) => {
            let reason =
                format!("PullSmsSendStatusByPhoneNumber answered something unreadable: {e}");
            return Lookup::unanswered("bad_answer", reason);
        }
    };
    let context = |r: &Row| r.session_context.clone().unwrap_or_default();
    let by_context = rows.iter().find(|r| context(r) == id);
    let by_phone_and_minute = || {
        rows.iter().find(|r| {
            context(r).is_empty()
                && r.phone_number == phone
                && r.user_receive_time.is_some_and(|t| t >= begin.timestamp())
        })
    };
    match by_context.or_else(by_phone_and_minute) {
        Some(row) => Lookup::Found {
            provider_message_id: row.serial_no.clone(),
        },
        // A full answer may have left our row out, and there is no next page to read.
        None if rows.len() >= LIMIT => {
            let reason = format!(
                "PullSmsSendStatusByPhoneNumber listed {LIMIT} rows, the most it lists, without ours"
            );
            Lookup::unanswered("incomplete_answer", reason)
        }
        None => Lookup::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    const ID: &str = "0190b2c4-0000-7000-8000-000000000001";
    const PHONE: &str = "+8613911110001";

    fn begin() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
    }

    fn answer(rows: &[(&str, &str, i64)]) -> Vec<u8> {
        let rows: Vec<serde_json::Value> = rows
            .iter()
            .enumerate()
            .map(|(i, (phone, context, at))| {
                json!({"Description": "DELIVRD", "CountryCode": "86",
                "SubscriberNumber": phone.trim_start_matches("+86"), "ReportStatus": "SUCCESS",
                "PhoneNumber": phone, "SerialNo": format!("2106:{i}"), "UserReceiveTime": at,
                "SessionContext": context})
            })
            .collect();
        json!({"Response": {"PullSmsSendStatusSet": rows, "RequestId": "r"}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_row_naming_us_in_session_context_is_found() {
        let t = begin().timestamp() + 5;
        let body = answer(&[(PHONE, "another-id", t), (PHONE, ID, t)]);
        assert_eq!(
            find(&body, ID, PHONE, begin()),
            Lookup::Found {
                provider_message_id: Some("2106:1".into())
            }
        );
        // Rows naming other notifications are theirs, not ours.
        let body = answer(&[(PHONE, "another-id", t)]);
        assert_eq!(find(&body, ID, PHONE, begin()), Lookup::NotFound);
    }

    #[test]
    fn without_session_context_the_phone_and_the_minute_decide() {
        let t = begin().timestamp();
        let body = answer(&[(PHONE, "", t - 1), ("+8613911110002", "", t + 3)]);
        assert_eq!(find(&body, ID, PHONE, begin()), Lookup::NotFound);
        let body = answer(&[(PHONE, "", t + 3)]);
        assert!(matches!(
            find(&body, ID, PHONE, begin()),
            Lookup::Found { .. }
        ));
    }

    #[test]
    fn errors_unreadable_and_full_answers_are_no_answer() {
        let limited = br#"{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"slow down"},"RequestId":"r"}}"#;
        assert_eq!(
            find(limited, ID, PHONE, begin()),
            Lookup::unanswered("RequestLimitExceeded", "slow down")
        );
        assert!(matches!(
            find(b"{}", ID, PHONE, begin()),
            Lookup::Unanswered { .. }
        ));
        let t = begin().timestamp() + 1;
        let full: Vec<(&str, &str, i64)> = vec![(PHONE, "x", t); LIMIT];
        assert!(matches!(
            find(&answer(&full), ID, PHONE, begin()),
            Lookup::Unanswered { .. }
        ));
    }

    #[test]
    fn the_window_starts_at_the_minute_of_the_send_and_at_most_seven_days_back() {
        let sent = begin() + Duration::seconds(42);
        let within = SentWithin {
            since: sent,
            until: sent + Duration::seconds(150),
        };
        assert_eq!(window_start(within, within.until), begin());
        let long_ago = begin() + Duration::days(30);
        assert!(window_start(within, long_ago) > long_ago - Duration::days(7));
    }
}
