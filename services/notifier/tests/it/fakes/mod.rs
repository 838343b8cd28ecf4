//! Provider fakes: one small axum server per provider on 127.0.0.1:0 that checks each request
//! the way the provider does (recomputing the signature from the request, independently of
//! the adapter's code), answers in the provider's own format, records what it received, and
//! can be scripted to answer an error code or never to answer.

pub mod aliyun;
pub mod dingtalk;
pub mod feishu;
pub mod tencent;
pub mod webhook;
pub mod wecom;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};

/// How the fake answers a request whose signature is good.
#[derive(Clone, Debug, Default)]
pub enum Script {
    #[default]
    Succeed,
    /// Answer with this provider code (a number for robots, a name for SMS, an HTTP status for
    /// the webhook).
    Fail(String),
    /// Record the request (an SMS gateway takes the SMS) and never answer, so the client's
    /// timeout fires.
    Hang,
    /// Record the request (an SMS gateway takes the SMS) and answer after this long: later
    /// than the client's timeout, a gateway that took it but answered too late.
    Late(std::time::Duration),
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Whether the provider's checks (key, signature, timestamp) passed.
    pub signature_ok: bool,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    /// Query parameters, form-decoded as the provider's server decodes them.
    pub fn query(&self, name: &str) -> Option<String> {
        let url = reqwest::Url::parse(&format!("http://fake{}", self.uri)).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What makes a fake one provider rather than another.
// A rejection is the provider's whole response, built at most once per request: its size is
// no cost worth boxing for.
#[allow(clippy::result_large_err)]
pub trait Behaviour: Send + Sync + 'static {
    /// The provider's own checks; the rejection it would answer when one fails.
    fn check(&self, request: &Seen, now: DateTime<Utc>) -> Result<(), Response>;
    /// The answer to a request that passed the checks. An SMS gateway records here what it
    /// took, before a `Hang` or a `Late` script holds the answer back.
    fn answer(&self, script: &Script, request: &Seen) -> Response;
    /// Whether the request asks about earlier sends (Aliyun `QuerySendDetails`, Tencent
    /// `PullSmsSendStatusByPhoneNumber`) rather than sending: it follows the query script.
    fn is_query(&self, _request: &Seen) -> bool {
        false
    }
}

struct Shared {
    behaviour: Box<dyn Behaviour>,
    script: Mutex<Script>,
    /// How queries about earlier sends are answered (`Succeed`: from what was taken).
    query_script: Mutex<Script>,
    seen: Mutex<Vec<Seen>>,
    /// The provider's clock, for its timestamp-window checks.
    now: DateTime<Utc>,
}

/// A running fake.
pub struct Fake {
    pub base_url: String,
    shared: Arc<Shared>,
}

impl Fake {
    /// Starts the fake, whose clock reads `now`.
    pub async fn start(behaviour: impl Behaviour, now: DateTime<Utc>) -> Self {
        let shared = Arc::new(Shared {
            behaviour: Box::new(behaviour),
            script: Mutex::default(),
            query_script: Mutex::default(),
            seen: Mutex::default(),
            now,
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { base_url, shared }
    }

    pub fn script(&self, script: Script) {
        *self.shared.script.lock().unwrap() = script;
    }

    /// How queries about earlier sends are answered from now on.
    pub fn script_queries(&self, script: Script) {
        *self.shared.query_script.lock().unwrap() = script;
    }

    /// Every request received, sends and queries alike.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The send requests received (an SMS gateway's queries left out).
    pub fn sends(&self) -> Vec<Seen> {
        let behaviour = &self.shared.behaviour;
        self.seen()
            .into_iter()
            .filter(|s| !behaviour.is_query(s))
            .collect()
    }

    /// The queries about earlier sends received.
    pub fn queries(&self) -> Vec<Seen> {
        let behaviour = &self.shared.behaviour;
        self.seen()
            .into_iter()
            .filter(|s| behaviour.is_query(s))
            .collect()
    }

    /// The single request received; fails the test if there were more or none.
    pub fn only(&self) -> Seen {
        let seen = self.seen();
        assert_eq!(seen.len(), 1, "expected exactly one request");
        seen.into_iter().next().unwrap()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut seen = Seen {
        method,
        uri,
        headers,
        body: body.to_vec(),
        signature_ok: false,
    };
    let checked = shared.behaviour.check(&seen, shared.now);
    seen.signature_ok = checked.is_ok();
    shared.seen.lock().unwrap().push(seen.clone());
    let script = if shared.behaviour.is_query(&seen) {
        shared.query_script.lock().unwrap().clone()
    } else {
        shared.script.lock().unwrap().clone()
    };
    let response = match checked {
        Err(rejection) => rejection,
        Ok(()) => shared.behaviour.answer(&script, &seen),
    };
    match script {
        Script::Hang => std::future::pending::<()>().await,
        Script::Late(after) => tokio::time::sleep(after).await,
        Script::Succeed | Script::Fail(_) => {}
    }
    response
}

/// A JSON response with the given status.
pub fn json(status: u16, value: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(value.to_string().into())
        .unwrap()
}
