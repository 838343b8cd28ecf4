//! The API role (DESIGN.md section 7): events in, the live directory, ledger exports, dispatch
//! reports, study packs, and the members' update page.

pub mod ledger;
pub mod member_page;
pub mod state;

use hongyan_adapters::Settings;
use tokio_util::sync::CancellationToken;

/// Serves the API until `shutdown` fires.
pub async fn run(_settings: Settings, _shutdown: CancellationToken) -> anyhow::Result<()> {
    anyhow::bail!("The API role is not built yet (issue 9); run registry and notifier only")
}
