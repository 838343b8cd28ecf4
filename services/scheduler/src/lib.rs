//! The scheduler role (DESIGN.md section 4): the monthly review and reminders, study packs on
//! the activity day, the quarterly dispatch report, and the daily greetings, each firing once
//! across replicas and writing its work to the outbox.

pub mod dispatch;
pub mod firing;
pub mod jobs;
pub mod study;

use hongyan_adapters::Settings;
use tokio_util::sync::CancellationToken;

/// Runs the scheduler until `shutdown` fires.
pub async fn run(_settings: Settings, _shutdown: CancellationToken) -> anyhow::Result<()> {
    anyhow::bail!("The scheduler role is not built yet (issue 8); run registry and notifier only")
}
