//! What every handler shares.

use std::sync::Arc;

use hongyan_adapters::Settings;
use hongyan_adapters::amqp::publisher::Publisher;
use hongyan_adapters::directory::Directory;
use hongyan_domain::clock::Clock;
use sqlx::PgPool;

/// The API's shared state, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub pool: PgPool,
    pub directory: Directory,
    /// A confirm-mode channel on `hongyan.events`.
    pub publisher: Publisher,
    pub clock: Arc<dyn Clock>,
    /// The console's figures kept for `api.console_figures_secs`.
    pub figures: crate::console::figures::Figures,
}
