//! The servers under the roles fail: Redis killed and started empty.

use std::time::Instant;

use crate::check::verify;
use crate::world::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_and_started_empty_mid_stream_loses_and_repeats_nothing() -> anyhow::Result<()>
{
    let mut w = World::start("redis_killed_started_empty", &[]).await?;
    w.publish_part(0.0, 1.0).await?;
    w.wait_share_applied(0.3).await?;
    w.servers.redis.kill();
    w.servers.redis.start().await?;
    let recovery = w.recovery(Instant::now()).await?;
    w.settle().await?;
    verify(&w, recovery).await
}
