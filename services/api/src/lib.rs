//! The API role (DESIGN.md section 7): events in, the live directory, ledger exports, dispatch
//! reports, study packs, and the members' update page.

mod auth;
pub mod console;
mod directory;
mod events;
mod health;
mod layers;
pub mod ledger;
mod limit;
pub mod member_page;
pub mod openapi;
mod orgs;
mod page;
pub mod problem;
pub mod report_files;
mod reports;
pub mod scope;
pub mod state;
mod study;
mod study_page;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use hongyan_adapters::amqp::publisher::Publisher;
use hongyan_adapters::amqp::{self, Names, topology};
use hongyan_adapters::directory::Directory;
use hongyan_adapters::supervise::wait_for;
use hongyan_adapters::{Settings, store};
use hongyan_domain::clock::SystemClock;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Serves the API on `api.listen` until `shutdown` fires.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    hongyan_adapters::metrics::install();
    let Some(conn) = wait_for("RabbitMQ", &shutdown, || {
        amqp::connect(&settings.amqp, "api")
    })
    .await
    else {
        return Ok(());
    };
    let names = Names::new(&settings.amqp.prefix);
    let ch = conn
        .create_channel()
        .await
        .context("Could not open a RabbitMQ channel")?;
    // The whole topology, as every role declares it (DESIGN.md section 8): an event accepted
    // here has the registry's queue to go to even before any registry has started.
    topology::declare_all(&ch, &names, &settings.amqp)
        .await
        .context("Could not declare the exchanges and queues")?;
    let publisher = Publisher::open(&conn)
        .await
        .context("Could not open the API's publishing channel")?;
    let Some(directory) =
        wait_for("Redis", &shutdown, || Directory::connect(&settings.redis)).await
    else {
        return Ok(());
    };
    let pool = store::pool(&settings.database)?;
    let listener = TcpListener::bind(&settings.api.listen).await.with_context(|| {
        format!(
            "Could not listen on api.listen {}: is another process using it? Set HONGYAN__API__LISTEN to a free address",
            settings.api.listen
        )
    })?;
    let state = AppState {
        settings: Arc::new(settings),
        pool: pool.clone(),
        directory,
        publisher,
        clock: Arc::new(SystemClock),
        figures: Default::default(),
    };
    serve(state, listener, shutdown).await?;
    pool.close().await;
    let _ = conn.close(200, "shutdown".into()).await;
    Ok(())
}

/// Serves `state` on `listener` until `shutdown` fires; in-flight requests finish first.
/// Tests call this on a listener bound to `127.0.0.1:0`.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(listen = %addr, "API listening.");
    // The peer's address reaches the console's per-address sign-in limits.
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("The HTTP server failed")?;
    tracing::info!("API stopped.");
    Ok(())
}

/// Every route of DESIGN.md section 7's paths table.
pub fn router(state: AppState) -> Router {
    // The recorder must exist before the first request is counted.
    hongyan_adapters::metrics::install();
    let api = &state.settings.api;
    let gate = Arc::new(auth::Gate::new(state.pool.clone(), api.requests_per_minute));
    let timeout = Duration::from_secs(api.request_timeout_secs.max(1));
    let body_limit = api.body_limit_bytes;
    let v1 = Router::new()
        .route("/v1/events", post(events::post_event))
        .route("/v1/members/{id}/location", get(directory::location))
        .route("/v1/regions/{code}/members", get(directory::in_region))
        .route("/v1/stations/nearest", get(directory::nearest))
        .route("/v1/orgs/{id}/ledger", get(orgs::ledger))
        .route("/v1/orgs/{id}/unmatched", get(orgs::unmatched))
        .route("/v1/reports", get(reports::list))
        .route("/v1/reports/{id}", get(reports::fetch))
        .route(
            "/v1/study-packs",
            post(study::publish_pack).get(study::list),
        )
        .route("/v1/study-packs/{id}/completion", get(study::completion))
        .route_layer(from_fn(layers::known_query))
        .route_layer(from_fn_with_state(gate, auth::require_key));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .merge(v1)
        .merge(member_page::routes())
        .merge(study_page::routes())
        .merge(console::routes())
        .fallback(not_found)
        .layer(from_fn(layers::method_not_allowed))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(timeout, layers::timeout))
        .route_layer(from_fn(layers::observe))
        .with_state(state)
}

async fn not_found() -> problem::Problem {
    problem::Problem::new(
        axum::http::StatusCode::NOT_FOUND,
        "No such path: see /v1/openapi.json for the API's paths.",
    )
}
