//! The benchmark's SMS gateway.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// A stand-in for Aliyun's SendSms that accepts everything at once, and answers
/// `QuerySendDetails` from what it took (a send the notifier timed out on is asked about, not
/// sent again). Unlike the test fakes it checks no signature: it measures the notifier's side
/// (signing, HTTP, recording), and a check here would only add the fake's own cost to the
/// figures.
pub struct FakeSms {
    pub base_url: String,
    pub answered: Arc<AtomicU64>,
    pub stop: CancellationToken,
}

impl FakeSms {
    pub async fn start() -> anyhow::Result<Self> {
        let answered = Arc::new(AtomicU64::new(0));
        let gateway = Arc::new(Gateway {
            answered: answered.clone(),
            taken: Mutex::default(),
        });
        let router = axum::Router::new().fallback(answer).with_state(gateway);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await
        });
        Ok(Self {
            base_url,
            answered,
            stop,
        })
    }
}

struct Gateway {
    answered: Arc<AtomicU64>,
    /// The `OutId`s taken, by phone.
    taken: Mutex<HashMap<String, Vec<String>>>,
}

/// Aliyun's success answer (PROVIDERS.md, "Aliyun SMS"), or, to a `QuerySendDetails`, the rows
/// of the SMS taken for that phone (the date is not checked: a run lasts minutes). The body
/// is taken, not ignored, so the connection stays reusable.
async fn answer(State(gateway): State<Arc<Gateway>>, body: Bytes) -> axum::Json<serde_json::Value> {
    let form = String::from_utf8_lossy(&body);
    let params: HashMap<String, String> = reqwest::Url::parse(&format!("http://fake/?{form}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    if get("Action") == "QuerySendDetails" {
        let taken = gateway.taken.lock().unwrap();
        let rows: Vec<serde_json::Value> = taken
            .get(&get("PhoneNumber"))
            .into_iter()
            .flatten()
            .map(|out_id| json!({"PhoneNum": get("PhoneNumber"), "SendStatus": 1, "OutId": out_id}))
            .collect();
        return axum::Json(json!({
            "Code": "OK", "Message": "OK", "RequestId": uuid::Uuid::new_v4().to_string().to_uppercase(),
            "TotalCount": rows.len(), "SmsSendDetailDTOs": {"SmsSendDetailDTO": rows},
        }));
    }
    gateway
        .taken
        .lock()
        .unwrap()
        .entry(get("PhoneNumbers"))
        .or_default()
        .push(get("OutId"));
    let n = gateway.answered.fetch_add(1, Ordering::Relaxed);
    axum::Json(json!({
        "Code": "OK", "Message": "OK", "BizId": format!("{n:012}^0"),
        "RequestId": uuid::Uuid::new_v4().to_string().to_uppercase(),
    }))
}
