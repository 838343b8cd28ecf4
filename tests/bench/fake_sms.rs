//! The benchmark's SMS gateway.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// A stand-in for Aliyun's SendSms that accepts everything at once. Unlike the test fakes it
/// checks no signature: it measures the notifier's side (signing, HTTP, recording), and a
/// check here would only add the fake's own cost to the figures.
pub struct FakeSms {
    pub base_url: String,
    pub answered: Arc<AtomicU64>,
    pub stop: CancellationToken,
}

impl FakeSms {
    pub async fn start() -> anyhow::Result<Self> {
        let answered = Arc::new(AtomicU64::new(0));
        let router = axum::Router::new()
            .fallback(answer)
            .with_state(answered.clone());
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

/// Aliyun's success answer (PROVIDERS.md, "Aliyun SMS"). The body is taken, not ignored, so
/// the connection stays reusable.
async fn answer(
    State(answered): State<Arc<AtomicU64>>,
    _body: Bytes,
) -> axum::Json<serde_json::Value> {
    let n = answered.fetch_add(1, Ordering::Relaxed);
    axum::Json(json!({
        "Code": "OK", "Message": "OK", "BizId": format!("{n:012}^0"),
        "RequestId": uuid::Uuid::new_v4().to_string().to_uppercase(),
    }))
}
