//! Tencent Cloud SMS (腾讯云短信), `SendSms` of API 3.0 version 2021-01-11, PROVIDERS.md
//! "Tencent Cloud SMS"; `PullSmsSendStatusByPhoneNumber` after a send that went unanswered.

mod query;
mod receipt;
mod reply;
mod sign;

use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use serde::Deserialize;
use serde_json::json;

pub use receipt::{RECEIPT_ANSWER, parse_receipts};
pub use reply::{REPLY_ANSWER, parse_replies};
pub use sign::{CONTENT_TYPE, authorization};

use super::transport::{self, Answer};
use super::{
    ProviderError, Secret, SendContext, SendOutcome, SettingsProblem, SmsMessage, parse_url,
};

/// The provider's public endpoint.
pub const DEFAULT_BASE_URL: &str = "https://sms.tencentcloudapi.com";

/// `notifier.sms.tencent.*` (DESIGN.md section 10); secrets come from the environment.
#[derive(Clone, Debug, Deserialize)]
pub struct TencentSettings {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    pub secret_id: String,
    pub secret_key: Secret,
    /// `SmsSdkAppId`, the SMS application the templates belong to.
    pub sdk_app_id: String,
    pub sign_name: String,
    /// `X-TC-Region`, required by the API (e.g. `ap-guangzhou`).
    pub region: String,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

#[derive(Clone, Debug)]
pub struct TencentSms {
    url: reqwest::Url,
    /// The `Host` header, signed and sent: host, plus the port when it is not the default.
    host: String,
    settings: TencentSettings,
    client: reqwest::Client,
}

impl TencentSms {
    pub fn new(settings: TencentSettings, client: reqwest::Client) -> Result<Self, ProviderError> {
        let base = parse_url("tencent", &Secret::new(settings.base_url.clone()))?;
        let url = base.join("/").expect("the root of a parsed URL");
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => {
                return Err(ProviderError::Settings {
                    provider: "tencent",
                    problem: SettingsProblem::NoHost,
                });
            }
        };
        Ok(Self {
            url,
            host,
            settings,
            client,
        })
    }

    /// Sends one SMS. The body is serialized once and those exact bytes are hashed and sent.
    pub async fn send(
        &self,
        message: &SmsMessage,
        ctx: &SendContext,
    ) -> Result<SendOutcome, ProviderError> {
        let params: Vec<&str> = message.params.iter().map(|(_, v)| v.as_str()).collect();
        let body = json!({
            "PhoneNumberSet": [format!("+86{}", message.phone.as_str())],
            "SmsSdkAppId": self.settings.sdk_app_id,
            "SignName": self.settings.sign_name,
            "TemplateId": message.template,
            "TemplateParamSet": params,
            "SessionContext": message.notification_id,
        });
        Ok(match self.post("SendSms", &body, ctx.now).await {
            Ok(answer) => outcome(&answer, ctx.now),
            Err(failure) => failure,
        })
    }

    /// Posts `body` as the API 3.0 action `action`, signed (TC3-HMAC-SHA256). The body is
    /// serialized once and those exact bytes are hashed and sent.
    async fn post(
        &self,
        action: &'static str,
        body: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Answer, SendOutcome> {
        let body = serde_json::to_vec(body).expect("a JSON value serializes");
        let timestamp = now.timestamp();
        let secret = self.settings.secret_key.expose();
        let auth = authorization(
            &self.settings.secret_id,
            secret,
            &self.host,
            timestamp,
            &body,
        );
        let request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::HOST, &self.host)
            .header("X-TC-Action", action)
            .header("X-TC-Version", "2021-01-11")
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.settings.region)
            .header(reqwest::header::AUTHORIZATION, auth)
            .body(body);
        transport::exchange(request, now).await
    }
}

#[derive(Deserialize)]
struct Reply {
    #[serde(rename = "Response")]
    response: Response,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Response {
    error: Option<ApiError>,
    #[serde(default)]
    send_status_set: Vec<SendStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiError {
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendStatus {
    #[serde(default)]
    serial_no: String,
    code: String,
    #[serde(default)]
    message: String,
}

/// A request-level `Response.Error` wins; otherwise every `SendStatusSet` entry must be `Ok`
/// (a 200 with an error per number is the common way a send fails).
fn outcome(answer: &Answer, now: DateTime<Utc>) -> SendOutcome {
    if let Some(failure) = answer.http_failure() {
        return failure;
    }
    let Ok(Reply { response }) = serde_json::from_slice::<Reply>(&answer.body) else {
        return answer.unreadable();
    };
    if let Some(error) = response.error {
        return classify(&error.code, &error.message, now);
    }
    if let Some(failed) = response.send_status_set.iter().find(|s| s.code != "Ok") {
        return classify(&failed.code, &failed.message, now);
    }
    match response.send_status_set.first() {
        Some(sent) => SendOutcome::delivered(Some(sent.serial_no.clone())),
        None => answer.unreadable(),
    }
}

/// Classifies a Tencent code (PROVIDERS.md, "Tencent Cloud SMS"). `now` places the daily
/// limit's retry at the next Beijing midnight. The balance code is the API's name for
/// "insufficient balance", which PROVIDERS.md describes without naming.
pub fn classify(code: &str, message: &str, now: DateTime<Utc>) -> SendOutcome {
    let limit = code.strip_prefix("LimitExceeded.").unwrap_or_default();
    match (code, limit) {
        ("Ok", _) => SendOutcome::delivered(None),
        (_, "PhoneNumberThirtySecondLimit") => {
            SendOutcome::retry(code, message).not_before(secs(30))
        }
        (_, "PhoneNumberOneHourLimit") => SendOutcome::retry(code, message).not_before(secs(3600)),
        // The frequency policy's window is not in the answer; thirty seconds is its shortest.
        (_, "DeliveryFrequencyLimit" | "PhoneNumberDeliveryFrequencyLimit") => {
            SendOutcome::retry(code, message).not_before(secs(30))
        }
        (_, "PhoneNumberDailyLimit") => {
            SendOutcome::retry(code, message).not_before(Some(until_tomorrow(now)))
        }
        ("InternalError.Timeout" | "InternalError.OtherError", _) => {
            SendOutcome::retry_uncertain(code, message)
        }
        ("RequestLimitExceeded", _) => SendOutcome::retry(code, message),
        (
            "InvalidParameterValue.IncorrectPhoneNumber"
            | "FailedOperation.PhoneNumberInBlacklist"
            | "FailedOperation.TemplateIncorrectOrUnapproved"
            | "FailedOperation.SignatureIncorrectOrUnapproved",
            _,
        ) => SendOutcome::permanent(code, message),
        ("FailedOperation.InsufficientBalanceInSmsPackage", _) => SendOutcome::pause(code, message),
        _ if code.starts_with("AuthFailure.") || code.starts_with("UnauthorizedOperation.") => {
            SendOutcome::pause(code, message)
        }
        _ => SendOutcome::permanent(code, message),
    }
}

fn secs(n: u64) -> Option<Duration> {
    Some(Duration::from_secs(n))
}

/// Time left until the next midnight in Beijing, where the provider counts its days.
fn until_tomorrow(now: DateTime<Utc>) -> Duration {
    let tz = hongyan_domain::TZ;
    let tomorrow = now
        .with_timezone(&tz)
        .date_naive()
        .succ_opt()
        .expect("not the end of time");
    let midnight = tz
        .from_local_datetime(&tomorrow.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .earliest()
        .expect("Asia/Shanghai has no gaps at midnight");
    (midnight.with_timezone(&Utc) - now)
        .to_std()
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        // 16:00 in Beijing.
        Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
    }

    #[test]
    fn every_documented_code_is_classified() {
        let c = |code| classify(code, "", now());
        assert!(c("Ok").is_delivered());
        let thirty = c("LimitExceeded.PhoneNumberThirtySecondLimit");
        assert_eq!(thirty.retry_after(), secs(30));
        assert_eq!(
            c("LimitExceeded.PhoneNumberOneHourLimit").retry_after(),
            secs(3600)
        );
        assert_eq!(
            c("LimitExceeded.DeliveryFrequencyLimit").retry_after(),
            secs(30)
        );
        // Eight hours to midnight in Beijing.
        assert_eq!(
            c("LimitExceeded.PhoneNumberDailyLimit").retry_after(),
            secs(8 * 3600)
        );
        for code in [
            "InternalError.Timeout",
            "InternalError.OtherError",
            "RequestLimitExceeded",
        ] {
            assert!(c(code).is_retry(), "{code}");
        }
        for code in [
            "InvalidParameterValue.IncorrectPhoneNumber",
            "FailedOperation.PhoneNumberInBlacklist",
            "FailedOperation.TemplateIncorrectOrUnapproved",
            "FailedOperation.SignatureIncorrectOrUnapproved",
            "FailedOperation.SomethingNew",
        ] {
            assert!(c(code).is_permanent(), "{code}");
        }
        for code in [
            "AuthFailure.SignatureFailure",
            "AuthFailure.SecretIdNotFound",
            "AuthFailure.SignatureExpire",
            "UnauthorizedOperation.SmsSdkAppIdVerifyFail",
            "FailedOperation.InsufficientBalanceInSmsPackage",
        ] {
            assert!(c(code).is_pause(), "{code}");
        }
    }
}
