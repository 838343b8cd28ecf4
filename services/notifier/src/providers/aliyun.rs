//! Aliyun SMS (阿里云短信), `SendSms` of dysmsapi 2017-05-25 with the RPC signature v1,
//! PROVIDERS.md "Aliyun SMS"; `QuerySendDetails` after a send that went unanswered.

mod query;
mod receipt;
mod reply;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use serde::Deserialize;
use sha1::Sha1;

pub use receipt::{RECEIPT_ANSWER, parse_receipts};
pub use reply::{REPLY_ANSWER, parse_replies};

use super::transport::{self, Answer};
use super::{ProviderError, Secret, SendContext, SendOutcome, SmsMessage, parse_url};

/// The provider's public endpoint.
pub const DEFAULT_BASE_URL: &str = "https://dysmsapi.aliyuncs.com";
/// The per-number window is at least a minute; later windows are refused again cheaply.
const NUMBER_WINDOW: Duration = Duration::from_secs(60);
/// `Timestamp`: UTC, `yyyy-MM-ddTHH:mm:ssZ`.
const TIMESTAMP: &str = "%Y-%m-%dT%H:%M:%SZ";

/// `notifier.sms.aliyun.*` (DESIGN.md section 10); secrets come from the environment.
#[derive(Clone, Debug, Deserialize)]
pub struct AliyunSettings {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    pub access_key_id: String,
    pub access_key_secret: Secret,
    /// The approved signature (签名) shown in brackets before every message.
    pub sign_name: String,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

#[derive(Clone, Debug)]
pub struct AliyunSms {
    url: reqwest::Url,
    settings: AliyunSettings,
    client: reqwest::Client,
}

impl AliyunSms {
    pub fn new(settings: AliyunSettings, client: reqwest::Client) -> Result<Self, ProviderError> {
        let base = parse_url("aliyun", &Secret::new(settings.base_url.clone()))?;
        let url = base.join("/").expect("the root of a parsed URL");
        Ok(Self {
            url,
            settings,
            client,
        })
    }

    /// Sends one SMS as a signed form POST. The caller has deduplicated already: a repeat
    /// here is a second SMS on the member's phone.
    pub async fn send(
        &self,
        message: &SmsMessage,
        ctx: &SendContext,
    ) -> Result<SendOutcome, ProviderError> {
        let params = self.send_params(message, ctx);
        Ok(match self.post(params, ctx.now).await {
            Ok(answer) => outcome(&answer),
            Err(failure) => failure,
        })
    }

    /// Signs the RPC parameters and posts them as a form; a failure before the answer is
    /// complete is already the outcome.
    async fn post(
        &self,
        mut params: BTreeMap<&'static str, String>,
        now: DateTime<Utc>,
    ) -> Result<Answer, SendOutcome> {
        let signature = signature("POST", &params, self.settings.access_key_secret.expose());
        params.insert("Signature", signature);
        let request = self
            .client
            .post(self.url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(canonical_query(&params));
        transport::exchange(request, now).await
    }

    /// The parameters every action shares: the action, the version, the key and the
    /// signature's method, nonce and time (PROVIDERS.md, "Aliyun SMS").
    fn common_params(
        &self,
        action: &'static str,
        nonce: String,
        ctx: &SendContext,
    ) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("Action", action.to_owned()),
            ("Version", "2017-05-25".to_owned()),
            ("Format", "JSON".to_owned()),
            ("RegionId", "cn-hangzhou".to_owned()),
            ("AccessKeyId", self.settings.access_key_id.clone()),
            ("SignatureMethod", "HMAC-SHA1".to_owned()),
            ("SignatureVersion", "1.0".to_owned()),
            ("SignatureNonce", nonce),
            ("Timestamp", ctx.now.format(TIMESTAMP).to_string()),
        ])
    }

    /// Every `SendSms` parameter but `Signature`, sorted by name as the signature needs them.
    fn send_params(
        &self,
        message: &SmsMessage,
        ctx: &SendContext,
    ) -> BTreeMap<&'static str, String> {
        let template_param: serde_json::Map<String, serde_json::Value> = message
            .params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let mut params = self.common_params("SendSms", ctx.nonce.clone(), ctx);
        params.extend([
            ("PhoneNumbers", message.phone.as_str().to_owned()),
            ("SignName", self.settings.sign_name.clone()),
            ("TemplateCode", message.template.clone()),
            ("OutId", message.notification_id.clone()),
        ]);
        if !template_param.is_empty() {
            let json = serde_json::Value::Object(template_param).to_string();
            params.insert("TemplateParam", json);
        }
        params
    }
}

/// Percent-encodes as the signature requires (RFC 3986, upper-case hex).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    percent_encode_into(&mut out, value);
    out
}

/// RFC 3986 unreserved characters (`A-Z a-z 0-9 - _ . ~`) stay; every other byte of the UTF-8,
/// `*` and space included, becomes upper-case `%XX` (PROVIDERS.md: space is `%20`, `*` is
/// `%2A`). Written straight into `out`: a send encodes its whole query twice.
fn percent_encode_into(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
    let mut rest = value;
    // Runs of unreserved characters are copied whole; a send's query is mostly such runs.
    while let Some(at) = rest.bytes().position(|b| !unreserved(b)) {
        out.push_str(&rest[..at]);
        // The encoded character: one byte for ASCII, up to four for the UTF-8 of others.
        let width = rest[at..].chars().next().map_or(1, char::len_utf8);
        for &b in &rest.as_bytes()[at..at + width] {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        rest = &rest[at + width..];
    }
    out.push_str(rest);
}

/// `k=v&...` over the sorted parameters, names and values encoded. Also the form body, since
/// `%20` decodes to a space in a form as well.
pub fn canonical_query(params: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(params.values().map(|v| v.len() * 3 + 24).sum());
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode_into(&mut out, k);
        out.push('=');
        percent_encode_into(&mut out, v);
    }
    out
}

/// `base64(HMAC-SHA1(key = secret + "&", METHOD + "&" + enc("/") + "&" + enc(joined)))`.
pub fn signature(method: &str, params: &BTreeMap<&str, String>, secret: &str) -> String {
    let joined = canonical_query(params);
    let mut to_sign = String::with_capacity(method.len() + 6 + joined.len() * 2);
    to_sign.push_str(method);
    to_sign.push_str("&%2F&");
    percent_encode_into(&mut to_sign, &joined);
    let key = format!("{secret}&");
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Reply {
    code: Option<String>,
    #[serde(default)]
    message: String,
    biz_id: Option<String>,
}

/// Errors about the request itself (a bad signature, an unknown key) come with HTTP 4xx and
/// the same JSON shape, so the body is read whatever the status below 500.
fn outcome(answer: &Answer) -> SendOutcome {
    if let Some(failure) = answer.http_failure() {
        return failure;
    }
    match serde_json::from_slice::<Reply>(&answer.body) {
        Ok(Reply {
            code: Some(code),
            message,
            biz_id,
        }) => match classify(&code, &message) {
            SendOutcome::Delivered { .. } => SendOutcome::delivered(biz_id),
            other => other,
        },
        _ => answer.unreadable(),
    }
}

/// Classifies an Aliyun `Code` (PROVIDERS.md, "Aliyun SMS"). The authentication codes at the
/// end are not in PROVIDERS.md but are what the gateway answers for a wrong key or secret;
/// like Tencent's `AuthFailure.*` they pause the channel, since no message can pass.
pub fn classify(code: &str, message: &str) -> SendOutcome {
    match code {
        "OK" => SendOutcome::delivered(None),
        "isv.BUSINESS_LIMIT_CONTROL" => {
            SendOutcome::retry(code, message).not_before(Some(NUMBER_WINDOW))
        }
        "isv.DAY_LIMIT_CONTROL" | "isv.MONTH_LIMIT_CONTROL" | "isv.AMOUNT_NOT_ENOUGH" => {
            SendOutcome::pause(code, message)
        }
        "isp.SYSTEM_ERROR" => SendOutcome::retry_uncertain(code, message),
        "isv.MOBILE_NUMBER_ILLEGAL"
        | "isv.SMS_TEMPLATE_ILLEGAL"
        | "isv.SMS_SIGNATURE_ILLEGAL"
        | "isv.INVALID_PARAMETERS"
        | "isv.INVALID_JSON_PARAM"
        | "isv.TEMPLATE_MISSING_PARAMETERS" => SendOutcome::permanent(code, message),
        "SignatureDoesNotMatch"
        | "InvalidAccessKeyId.NotFound"
        | "InvalidAccessKeyId.Inactive"
        | "InvalidTimeStamp.Expired" => SendOutcome::pause(code, message),
        "SignatureNonceUsed" => SendOutcome::retry(code, message),
        _ => SendOutcome::permanent(code, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_follows_rfc_3986() {
        assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(percent_encode("a b*c/d+e=f&g"), "a%20b%2Ac%2Fd%2Be%3Df%26g");
        assert_eq!(percent_encode("红"), "%E7%BA%A2");
        assert_eq!(
            percent_encode("a红b 😀~%"),
            "a%E7%BA%A2b%20%F0%9F%98%80~%25",
            "runs, multi-byte characters and a trailing encoded byte"
        );
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn signature_matches_an_independent_computation() {
        let params = BTreeMap::from([
            ("AccessKeyId", "testid".to_owned()),
            ("Action", "SendSms".to_owned()),
            ("PhoneNumbers", "13812345678".to_owned()),
            ("SignName", "红岩".to_owned()),
            ("SignatureNonce", "nonce-1".to_owned()),
            ("TemplateParam", r#"{"name":"张三 *~"}"#.to_owned()),
            ("Timestamp", "2026-03-01T08:00:00Z".to_owned()),
        ]);
        // Computed with Python's hmac/urllib.parse.quote(safe="-_.~") from PROVIDERS.md.
        let expected = "25SBvbRWc3BZuCxn+YUt83h/eJQ=";
        assert_eq!(signature("POST", &params, "testsecret"), expected);
    }

    #[test]
    fn every_documented_code_is_classified() {
        assert!(classify("OK", "OK").is_delivered());
        let limited = classify("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控");
        assert_eq!(limited.retry_after(), Some(NUMBER_WINDOW));
        for code in [
            "isv.DAY_LIMIT_CONTROL",
            "isv.MONTH_LIMIT_CONTROL",
            "isv.AMOUNT_NOT_ENOUGH",
        ] {
            assert!(classify(code, "").is_pause(), "{code}");
        }
        let system = classify("isp.SYSTEM_ERROR", "");
        assert!(matches!(
            system,
            SendOutcome::Retry {
                maybe_delivered: true,
                ..
            }
        ));
        for code in [
            "isv.MOBILE_NUMBER_ILLEGAL",
            "isv.SMS_TEMPLATE_ILLEGAL",
            "isv.SMS_SIGNATURE_ILLEGAL",
            "isv.INVALID_PARAMETERS",
            "isv.INVALID_JSON_PARAM",
            "isv.TEMPLATE_MISSING_PARAMETERS",
            "isv.SOMETHING_NEW",
        ] {
            assert!(classify(code, "").is_permanent(), "{code}");
        }
        for code in ["SignatureDoesNotMatch", "InvalidAccessKeyId.NotFound"] {
            assert!(classify(code, "").is_pause(), "{code}");
        }
        assert!(classify("SignatureNonceUsed", "").is_retry());
    }
}
