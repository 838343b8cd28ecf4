//! Delivery receipts posted by the SMS providers (PROVIDERS.md): each updates its
//! notification, matched by our id or the provider's message id; one saying the message never
//! arrived fails it, announced and parked. Answered in the provider's
//! own format; a body that is not a receipt list is refused with 400 and a reason.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use secrecy::{ExposeSecret as _, SecretString};
use tokio_util::sync::CancellationToken;

use crate::Notifier;
use crate::providers::{ReceiptError, SmsReceipt, aliyun, tencent};
use crate::store;

/// The receipt routes, `/v1/receipts/{token}/aliyun` and `/v1/receipts/{token}/tencent`, and
/// beside them the members' replies, `/v1/replies/{token}/aliyun|tencent` ([`crate::replies`]).
/// Neither provider signs its receipts (DESIGN.md section 5), so the URL carries a secret
/// segment: a wrong token answers 404 exactly like a path that does not exist, so the token
/// cannot be probed.
pub fn router(n: Arc<Notifier>, token: SecretString) -> Router {
    let state = Receipts {
        n,
        token: Arc::new(token),
    };
    Router::new()
        .route("/v1/receipts/{token}/{provider}", post(receive))
        .route(
            "/v1/replies/{token}/{provider}",
            post(crate::replies::receive),
        )
        .with_state(state)
}

/// One provider's receipt list; a wrong token or an unknown provider answers 404.
async fn receive(
    State(s): State<Receipts>,
    Path((token, provider)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if !s.allows(&token) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match provider.as_str() {
        "aliyun" => {
            let receipts = aliyun::parse_receipts(&body);
            take(&s.n, "aliyun", receipts, aliyun::RECEIPT_ANSWER).await
        }
        "tencent" => {
            let receipts = tencent::parse_receipts(&body);
            take(&s.n, "tencent", receipts, tencent::RECEIPT_ANSWER).await
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// What the receipt and reply routes share: the notifier, and the secret path segment.
#[derive(Clone)]
pub(crate) struct Receipts {
    pub(crate) n: Arc<Notifier>,
    token: Arc<SecretString>,
}

impl Receipts {
    /// Compares in constant time, so the answer's timing says nothing about the token.
    pub(crate) fn allows(&self, given: &str) -> bool {
        let want = self.token.expose_secret().as_bytes();
        let given = given.as_bytes();
        want.len() == given.len()
            && want
                .iter()
                .zip(given)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// The receipts token if the endpoint can be served: at least 16 characters, each one that
/// needs no escaping in a URL path.
pub fn checked_token(token: Option<&SecretString>) -> anyhow::Result<Option<SecretString>> {
    let Some(token) = token else {
        return Ok(None);
    };
    let t = token.expose_secret();
    let url_safe = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    if t.len() < 16 || !t.chars().all(url_safe) {
        anyhow::bail!(
            "HONGYAN__NOTIFIER__RECEIPTS_TOKEN must be at least 16 characters of A-Z, a-z, 0-9, -, ., _ or ~ (it is a URL path segment); make one with `openssl rand -hex 16`"
        );
    }
    Ok(Some(token.clone()))
}

/// Records one provider's receipt list and answers the provider.
#[tracing::instrument(skip_all, fields(provider = %provider))]
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

/// Serves receipts on `notifier.receipts_listen` until shutdown; needs
/// `notifier.receipts_token` (see [`crate::run_notifier`], which does not start it without).
pub async fn serve(n: Arc<Notifier>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let addr = n.settings.notifier.receipts_listen.clone();
    let Some(token) = checked_token(n.settings.notifier.receipts_token.as_ref())? else {
        anyhow::bail!(
            "The receipts endpoint needs HONGYAN__NOTIFIER__RECEIPTS_TOKEN; set it, or leave notifier.receipts_listen empty"
        );
    };
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
        anyhow::anyhow!("Could not listen for receipts on {addr} ({e}); free the port or change notifier.receipts_listen")
    })?;
    tracing::info!(listen = %addr, "Receipts endpoint ready at /v1/receipts/{{token}}/aliyun|tencent, replies at /v1/replies/{{token}}/aliyun|tencent.");
    axum::serve(listener, router(n, token))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
