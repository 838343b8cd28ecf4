//! The servers under the roles fail: the broker stopped for 10 s, PostgreSQL restarted, Redis
//! killed and started empty.

use std::time::{Duration, Instant};

use crate::check::verify;
use crate::producer;
use crate::world::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_broker_stopped_for_10_s_mid_stream_loses_and_repeats_nothing() -> anyhow::Result<()> {
    let mut w = World::start("broker_stopped_10s", &[]).await?;
    w.publish_part(0.0, 0.4).await?;
    w.wait_share_applied(0.2).await?;
    // The rest of the stream is being published as the broker goes down: what it did not
    // confirm, and what comes while it is away, the producer publishes again until it does.
    let rest: Vec<_> = {
        let n = w.work.stream.len();
        w.work.stream[n * 4 / 10..]
            .iter()
            .map(producer::outgoing)
            .collect()
    };
    let World {
        producer, servers, ..
    } = &mut w;
    let away = async {
        servers.rabbit.stop().await?;
        tokio::time::sleep(Duration::from_secs(10)).await;
        servers.rabbit.start().await?;
        anyhow::Ok(Instant::now())
    };
    let (sent, back) = tokio::join!(producer.send(&rest), away);
    sent?;
    let recovery = w.recovery(back?).await?;
    w.settle().await?;
    verify(&w, recovery).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_restarted_mid_stream_loses_and_repeats_nothing() -> anyhow::Result<()> {
    let mut w = World::start("postgresql_restarted", &[]).await?;
    w.publish_part(0.0, 1.0).await?;
    w.wait_share_applied(0.3).await?;
    w.servers.pg.restart()?;
    let recovery = w.recovery(Instant::now()).await?;
    w.settle().await?;
    verify(&w, recovery).await
}

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
