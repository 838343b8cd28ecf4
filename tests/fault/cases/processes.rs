//! The roles themselves end: `kill -9` of the registry mid-batch and of the notifier mid-send,
//! and SIGTERM of both under load (drained, and gone within the shutdown deadline).

use std::time::{Duration, Instant};

use crate::check::verify;
use crate::world::World;

/// `shutdown.deadline_secs` as the roles get it (`roles::base_env`).
const DEADLINE: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_the_registry_mid_batch_loses_and_repeats_nothing() -> anyhow::Result<()> {
    let mut w = World::start("registry_kill_9", &[]).await?;
    w.publish_part(0.0, 1.0).await?;
    w.wait_share_applied(0.3).await?;
    w.registry.kill9().await;
    w.restart("registry")?;
    let recovery = w.recovery(Instant::now()).await?;
    w.settle().await?;
    verify(&w, recovery).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_the_notifier_mid_send_sends_every_sms_once() -> anyhow::Result<()> {
    let mut w = World::start("notifier_kill_9", &[]).await?;
    w.publish_part(0.0, 1.0).await?;
    w.gateway.wait_taken(w.work.sms_total() / 4).await;
    w.notifier.kill9().await;
    w.restart("notifier")?;
    let recovery = w.recovery(Instant::now()).await?;
    w.settle().await?;
    verify(&w, recovery).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_drains_and_exits_within_the_deadline() -> anyhow::Result<()> {
    let mut w = World::start("sigterm_under_load", &[]).await?;
    w.publish_part(0.0, 1.0).await?;
    w.wait_share_applied(0.3).await?;
    w.gateway.wait_taken(w.work.sms_total() / 10).await;
    let patience = DEADLINE + Duration::from_secs(10);
    let (registry, notifier) = tokio::join!(
        w.registry.terminate(patience),
        w.notifier.terminate(patience)
    );
    let (registry, notifier) = (registry?, notifier?);
    w.note = format!(
        " stop_s(registry={:.1}, notifier={:.1})",
        registry.1.as_secs_f64(),
        notifier.1.as_secs_f64()
    );
    for (name, (status, took)) in [("registry", registry), ("notifier", notifier)] {
        anyhow::ensure!(
            status.success() && took <= DEADLINE,
            "the {name} answered SIGTERM with {status} after {took:?} (deadline {DEADLINE:?})"
        );
    }
    w.restart("registry")?;
    w.restart("notifier")?;
    let recovery = w.recovery(Instant::now()).await?;
    w.settle().await?;
    verify(&w, recovery).await
}
