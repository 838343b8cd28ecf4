//! What comes in misbehaves: the SMS gateway answering 5xx, then rate-limit codes, then late
//! (after the send timeout), then well; and a flood of malformed events among the good ones.

use std::time::{Duration, Instant};

use crate::check::verify;
use crate::producer::{self, raw};
use crate::sms::Mode;
use crate::workload::malformed;
use crate::world::World;

/// How long the gateway keeps each bad answer up.
const PHASE: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_answering_5xx_then_rate_limits_then_late_sends_every_sms_once()
-> anyhow::Result<()> {
    let mut w = World::start("gateway_5xx_limit_late", &[]).await?;
    w.publish_part(0.0, 1.0).await?;
    w.gateway.wait_taken(w.work.sms_total() / 10).await;
    // Later than the roles' send timeout (3 s, `roles::base_env`): the SMS goes out, the
    // notifier does not hear so.
    for mode in [
        Mode::ServerError,
        Mode::RateLimited,
        Mode::Late(Duration::from_secs(4)),
    ] {
        w.gateway.set_mode(mode);
        tokio::time::sleep(PHASE).await;
    }
    w.gateway.set_mode(Mode::Well);
    let recovery = w.recovery(Instant::now()).await?;
    w.settle().await?;
    let (refused, bad_signatures, queries) = w.gateway.refusals();
    w.note = format!(" refused={refused} bad_signatures={bad_signatures} queries={queries}");
    verify(&w, recovery).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_malformed_events_is_parked_with_reasons_and_the_good_ones_applied()
-> anyhow::Result<()> {
    let mut w = World::start("malformed_flood", &[]).await?;
    // One bad event after every ten good ones.
    let mut msgs = Vec::new();
    for (i, e) in w.work.stream.iter().enumerate() {
        msgs.push(producer::outgoing(e));
        if i % 10 == 9 {
            let (key, body) = malformed(w.malformed);
            msgs.push(raw(&key, body));
            w.malformed += 1;
        }
    }
    w.producer.send(&msgs).await?;
    w.settle().await?;
    w.wait_parked(w.malformed).await?;
    verify(&w, Default::default()).await
}
