//! Delivery receipts posted by the SMS providers (PROVIDERS.md): each updates its
//! notification, matched by our id or the provider's message id; one saying the message never
//! arrived fails it, announced and parked. Answered in the provider's
//! own format; a body that is not a receipt list is refused with 400 and a reason.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio_util::sync::CancellationToken;

use crate::Notifier;
use crate::providers::{ReceiptError, SmsReceipt, aliyun, tencent};
use crate::store;

pub fn router(n: Arc<Notifier>) -> Router {
    Router::new()
        .route(
            "/v1/receipts/aliyun",
            post(|State(n): State<Arc<Notifier>>, body: Bytes| async move {
                take(
                    &n,
                    "aliyun",
                    aliyun::parse_receipts(&body),
                    aliyun::RECEIPT_ANSWER,
                )
                .await
            }),
        )
        .route(
            "/v1/receipts/tencent",
            post(|State(n): State<Arc<Notifier>>, body: Bytes| async move {
                take(
                    &n,
                    "tencent",
                    tencent::parse_receipts(&body),
                    tencent::RECEIPT_ANSWER,
                )
                .await
            }),
        )
        .with_state(n)
}

async fn take(
    n: &Notifier,
    provider: &str,
    parsed: Result<Vec<SmsReceipt>, ReceiptError>,
    answer: &'static str,
) -> Response {
    let receipts = match parsed {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("{e}; post the provider's receipt array."),
            )
                .into_response();
        }
    };
    let queue = n.names.notifier();
    for r in &receipts {
        match store::receipt(&n.pool, provider, r, &queue, n.clock.now()).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(provider, message_id = %r.provider_message_id, "A receipt matched no notification.")
            }
            Err(e) => {
                // The provider posts again when it does not get its answer.
                tracing::warn!(provider, error = %e, "Could not record a receipt.");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Receipts cannot be recorded right now; post them again.",
                )
                    .into_response();
            }
        }
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        answer,
    )
        .into_response()
}

/// Serves receipts on `notifier.receipts_listen` until shutdown.
pub async fn serve(n: Arc<Notifier>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let addr = n.settings.notifier.receipts_listen.clone();
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
        anyhow::anyhow!("Could not listen for receipts on {addr} ({e}); free the port or change notifier.receipts_listen")
    })?;
    tracing::info!(listen = %addr, "Receipts endpoint ready.");
    axum::serve(listener, router(n))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
