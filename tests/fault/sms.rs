//! An Aliyun SMS gateway (dysmsapi 2017-05-25, PROVIDERS.md "Aliyun SMS") that counts every SMS
//! it takes, per phone and template and per `OutId` (our notification id), and can be told to
//! misbehave: answer 5xx, answer the per-number rate-limit code, or take the SMS and answer
//! only after the client gave up. It checks the access key, the v1 signature (recomputed here
//! from the decoded parameters, independently of the notifier's code) and nonce reuse, and
//! answers `QuerySendDetails` from what it took, so a client may ask before sending again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::Response;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha1::Sha1;
use tokio::sync::watch;

pub const KEY_ID: &str = "fault-key-id";
pub const SECRET: &str = "fault-key-secret";

/// How the gateway answers a well-signed `SendSms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Takes the SMS and answers OK at once.
    Well,
    /// HTTP 503 with `isp.SYSTEM_ERROR`; nothing is sent.
    ServerError,
    /// `isv.BUSINESS_LIMIT_CONTROL` (the per-number limit); nothing is sent.
    RateLimited,
    /// Takes the SMS (it reaches the phone) and answers OK only after this long.
    Late(Duration),
}

/// One SMS the gateway took.
#[derive(Clone, Debug)]
struct Taken {
    phone: String,
    template: String,
    out_id: String,
    at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct Book {
    taken: Vec<Taken>,
    nonces: HashSet<String>,
    refused: u64,
    bad_signatures: u64,
    queries: u64,
}

struct Shared {
    mode: Mutex<Mode>,
    book: Mutex<Book>,
    /// The number of SMS taken, for a test to await.
    count: watch::Sender<usize>,
}

/// A running gateway.
pub struct Gateway {
    pub base_url: String,
    shared: Arc<Shared>,
}

impl Gateway {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Well),
            book: Mutex::default(),
            count: watch::channel(0).0,
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base_url, shared }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// SMS taken so far (repeats included).
    pub fn taken(&self) -> usize {
        *self.shared.count.borrow()
    }

    /// Waits until the gateway took at least `n` SMS.
    pub async fn wait_taken(&self, n: usize) {
        let mut rx = self.shared.count.subscribe();
        let _ = rx.wait_for(|c| *c >= n).await;
    }

    /// SMS taken per (phone, template).
    pub fn per_phone_and_template(&self) -> HashMap<(String, String), u32> {
        let mut out = HashMap::new();
        for t in &self.shared.book.lock().unwrap().taken {
            *out.entry((t.phone.clone(), t.template.clone()))
                .or_default() += 1;
        }
        out
    }

    /// SMS taken more than once for the same notification (`OutId`), counted beyond the first.
    pub fn repeated(&self) -> usize {
        let mut per: HashMap<&str, usize> = HashMap::new();
        let book = self.shared.book.lock().unwrap();
        for t in &book.taken {
            *per.entry(t.out_id.as_str()).or_default() += 1;
        }
        per.values().map(|n| n - 1).sum()
    }

    /// (requests refused by the scripted mode, requests with a bad signature, queries asked).
    pub fn refusals(&self) -> (u64, u64, u64) {
        let b = self.shared.book.lock().unwrap();
        (b.refused, b.bad_signatures, b.queries)
    }
}

/// A request, with its parameters in the query (GET) or a form body (POST), as the gateway
/// takes either.
async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let params = if method == Method::GET {
        form(uri.query().unwrap_or_default().as_bytes())
    } else {
        form(&body)
    };
    if let Err(rejection) = check(&shared, method.as_str(), &params) {
        return rejection;
    }
    match params.get("Action").map(String::as_str) {
        Some("SendSms") => send(&shared, &params).await,
        Some("QuerySendDetails") => query(&shared, &params),
        _ => error(400, "InvalidAction.NotFound", "Specified api is not found."),
    }
}

async fn send(shared: &Shared, params: &BTreeMap<String, String>) -> Response {
    let mode = *shared.mode.lock().unwrap();
    match mode {
        Mode::ServerError => {
            shared.book.lock().unwrap().refused += 1;
            return error(503, "isp.SYSTEM_ERROR", "System error.");
        }
        Mode::RateLimited => {
            shared.book.lock().unwrap().refused += 1;
            return json(
                200,
                json!({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1",
                       "RequestId": uuid::Uuid::new_v4().to_string().to_uppercase()}),
            );
        }
        Mode::Well | Mode::Late(_) => {}
    }
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let taken = Taken {
        phone: get("PhoneNumbers"),
        template: get("TemplateCode"),
        out_id: get("OutId"),
        at: chrono::Utc::now(),
    };
    {
        let mut book = shared.book.lock().unwrap();
        book.taken.push(taken);
        shared.count.send_replace(book.taken.len());
    }
    if let Mode::Late(after) = mode {
        tokio::time::sleep(after).await;
    }
    json(
        200,
        json!({"Code": "OK", "Message": "OK", "BizId": format!("{}^0", uuid::Uuid::new_v4().simple()),
               "RequestId": uuid::Uuid::new_v4().to_string().to_uppercase()}),
    )
}

/// The provider's dates (`SendDate`, the rows' times) are Beijing time (UTC+8, no DST).
fn beijing(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::FixedOffset> {
    at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
}

/// `QuerySendDetails`: the SMS taken for one phone on one (Beijing) day, with our `OutId` on
/// each row.
fn query(shared: &Shared, params: &BTreeMap<String, String>) -> Response {
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let (phone, date) = (get("PhoneNumber"), get("SendDate"));
    let page_size: usize = get("PageSize").parse().unwrap_or(10).clamp(1, 50);
    let page: usize = get("CurrentPage").parse().unwrap_or(1).max(1);
    let mut book = shared.book.lock().unwrap();
    book.queries += 1;
    let rows: Vec<Value> = book
        .taken
        .iter()
        .filter(|t| t.phone == phone && beijing(t.at).format("%Y%m%d").to_string() == date)
        .map(|t| {
            let at = beijing(t.at).format("%Y-%m-%d %H:%M:%S").to_string();
            json!({"PhoneNum": t.phone, "SendStatus": 3, "ErrCode": "DELIVERED",
                   "TemplateCode": t.template, "Content": "", "SendDate": at, "ReceiveDate": at,
                   "OutId": t.out_id})
        })
        .collect();
    let total = rows.len();
    let page_rows: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .collect();
    json(
        200,
        json!({"Code": "OK", "Message": "OK", "TotalCount": total.to_string(),
               "RequestId": uuid::Uuid::new_v4().to_string().to_uppercase(),
               "SmsSendDetailDTOs": {"SmsSendDetailDTO": page_rows}}),
    )
}

/// The gateway's own checks: key, signature (v1, over the decoded parameters) and nonce.
#[allow(clippy::result_large_err)]
fn check(shared: &Shared, method: &str, params: &BTreeMap<String, String>) -> Result<(), Response> {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    if get("AccessKeyId") != KEY_ID {
        return Err(error(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    }
    let joined = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("{method}&{}&{}", encode("/"), encode(&joined));
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{SECRET}&").as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let mut book = shared.book.lock().unwrap();
    if get("Signature") != expected {
        book.bad_signatures += 1;
        return Err(error(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.",
        ));
    }
    if !book.nonces.insert(get("SignatureNonce").to_owned()) {
        return Err(error(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    Ok(())
}

/// The RPC parameters of a form body, decoded as the gateway decodes them.
fn form(body: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(body);
    let url = reqwest::Url::parse(&format!("http://gateway/?{text}")).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// RFC 3986: unreserved bytes stay, every other byte is `%XX` in upper case.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn error(status: u16, code: &str, message: &str) -> Response {
    json(
        status,
        json!({"RequestId": uuid::Uuid::new_v4().to_string().to_uppercase(),
               "HostId": "dysmsapi.aliyuncs.com", "Code": code, "Message": message}),
    )
}

fn json(status: u16, value: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(value.to_string().into())
        .unwrap()
}

/// The gateway itself: a signed SendSms is counted, and a signed QuerySendDetails (GET, as
/// clients often send it) finds it by phone and Beijing date, with our OutId on the row.
#[tokio::test]
async fn the_gateway_counts_a_send_and_finds_it_by_query_send_details() {
    use hongyan_notifier::providers::aliyun::{canonical_query, signature};
    let gw = Gateway::start().await;
    let now = chrono::Utc::now();
    let signed = |method: &str, action: &str, extra: &[(&'static str, String)]| {
        let mut p: BTreeMap<&str, String> = BTreeMap::from([
            ("Action", action.to_owned()),
            ("Version", "2017-05-25".to_owned()),
            ("Format", "JSON".to_owned()),
            ("AccessKeyId", KEY_ID.to_owned()),
            ("SignatureMethod", "HMAC-SHA1".to_owned()),
            ("SignatureVersion", "1.0".to_owned()),
            ("SignatureNonce", uuid::Uuid::new_v4().to_string()),
            ("Timestamp", now.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ]);
        p.extend(extra.iter().cloned());
        let sig = signature(method, &p, SECRET);
        p.insert("Signature", sig);
        canonical_query(&p)
    };
    let http = reqwest::Client::new();
    let send = signed(
        "POST",
        "SendSms",
        &[
            ("PhoneNumbers", "13800000001".into()),
            ("TemplateCode", "SMS_900001".into()),
            ("OutId", "n-1".into()),
        ],
    );
    let sent: Value = http
        .post(&gw.base_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(send)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent["Code"], "OK");
    let day = beijing(now).format("%Y%m%d").to_string();
    let query = signed(
        "GET",
        "QuerySendDetails",
        &[
            ("PhoneNumber", "13800000001".into()),
            ("SendDate", day),
            ("PageSize", "10".into()),
            ("CurrentPage", "1".into()),
        ],
    );
    let found: Value = http
        .get(format!("{}/?{query}", gw.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["TotalCount"], "1", "{found}");
    let row = &found["SmsSendDetailDTOs"]["SmsSendDetailDTO"][0];
    assert_eq!(
        (row["OutId"].as_str(), row["SendStatus"].as_i64()),
        (Some("n-1"), Some(3))
    );
    assert_eq!(gw.taken(), 1);
    assert_eq!(gw.refusals(), (0, 0, 1));
}
