//! The delivery loop: claim what is due, then for each notification: still useful? quiet
//! hours? rate limit? render, send, record the attempt, decide what next. Waiting is never a
//! sleep: a notification that must wait (quiet hours, a rate limit, a retry delay) is put back
//! with the time it may go, and the loop takes it up then.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hongyan_adapters::ratelimit::{Decision, Limit};
use hongyan_adapters::store::rows::OutboxRow;
use hongyan_domain::envelope::system_envelope;
use serde_json::json;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::Notifier;
use crate::providers::{Provider, SendContext, SendOutcome};
use crate::render::{Target, render, request_params};
use crate::route::{self, Audience, Channel};
use crate::store::{self, Attempt, Due, Next, Settlements};

/// Runs rounds until shutdown: woken by intake, by `NOTIFY hongyan_deliveries`, or by a poll
/// (which is also what picks up notifications whose time has come). While one round's outcomes
/// are written, the next round is already claimed and sent: the rows being written are still
/// claimed, so no round can take them twice.
pub async fn run(n: &Notifier, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(&n.pool).await?;
    listener.listen("hongyan_deliveries").await?;
    let poll = Duration::from_millis(n.settings.outbox.poll_interval_ms);
    let mut writing: Option<tokio::task::JoinHandle<sqlx::Result<usize>>> = None;
    loop {
        let (claimed, settled) = send_round(n).await?;
        if let Some(previous) = writing.take() {
            previous.await??;
        }
        let pool = n.pool.clone();
        writing = Some(tokio::spawn(async move { settled.write(&pool).await }));
        if claimed as i64 >= n.settings.notifier.batch_size {
            continue;
        }
        if let Some(last) = writing.take() {
            last.await??;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            note = listener.recv() => { note?; }
            _ = n.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// One round: claims what is due, sends it, and records the outcomes. Returns how many were
/// claimed. Tests drive time by setting the clock and calling this.
pub async fn round(n: &Notifier) -> anyhow::Result<usize> {
    let (claimed, settled) = send_round(n).await?;
    // If this write fails, every claim of the round runs out and is taken again; a sent SMS
    // among them then waits for its receipt rather than going out twice.
    settled.write(&n.pool).await?;
    Ok(claimed)
}

/// Claims what is due and sends it, `notifier.concurrency` at a time; the outcomes are
/// returned to be written.
async fn send_round(n: &Notifier) -> anyhow::Result<(usize, Settlements)> {
    use futures::StreamExt;
    let now = n.clock.now();
    let claim_until = now + chrono::Duration::seconds(n.settings.notifier.claim_secs as i64);
    let due = store::claim(&n.pool, now, claim_until, n.settings.notifier.batch_size).await?;
    let count = due.len();
    let settlements = Settlements::default();
    let out = &settlements;
    futures::stream::iter(due)
        .for_each_concurrent(n.settings.notifier.concurrency, |d| async move {
            if let Err(e) = deliver(n, out, &d).await {
                // Nothing is recorded for it: its claim runs out and a later round takes it.
                tracing::warn!(notification = %d.id, error = format!("{e:#}"), "Could not deliver; it will be tried again.");
            }
        })
        .await;
    Ok((count, settlements))
}

/// `notification.delivered` or `notification.failed`, with the recipient masked.
fn announce(
    kind: &str,
    d: &Due,
    channel: &str,
    provider: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> OutboxRow {
    let (message_id, payload) = system_envelope(
        kind,
        now,
        json!({
            "notification_id": d.id,
            "key": d.request.key,
            "channel": channel,
            "provider": provider,
            "recipient": d.request.recipient.phone.masked(),
            "template": d.request.template,
            "attempts": d.attempt,
            "error": error,
            "caused_by": d.request.caused_by,
        }),
    );
    OutboxRow {
        routing_key: kind.into(),
        message_id,
        payload,
    }
}

async fn fail(
    n: &Notifier,
    out: &Settlements,
    d: &Due,
    attempt: Option<Attempt<'_>>,
    channel: &str,
    provider: &str,
    reason: String,
) -> anyhow::Result<()> {
    tracing::warn!(notification = %d.id, template = %d.request.template, reason = %reason, "Notification failed.");
    let row = announce(
        "notification.failed",
        d,
        channel,
        provider,
        Some(&reason),
        n.clock.now(),
    );
    out.settle(d, attempt, &Next::Failed { reason }, Some(row))
        .await?;
    Ok(())
}

/// Puts a notification back to wait, without counting an attempt.
async fn wait_until(out: &Settlements, d: &Due, at: DateTime<Utc>) -> anyhow::Result<()> {
    out.settle(
        d,
        None,
        &Next::Again {
            at,
            channel_index: d.channel_index,
            not_an_attempt: true,
        },
        None,
    )
    .await?;
    Ok(())
}

async fn deliver(n: &Notifier, out: &Settlements, d: &Due) -> anyhow::Result<()> {
    let now = n.clock.now();
    let req = &d.request;
    let Some(template) = n.templates.get(&req.template) else {
        return fail(
            n,
            out,
            d,
            None,
            "-",
            "-",
            format!("Template {} no longer exists.", req.template),
        )
        .await;
    };
    if now > d.useful_until {
        return fail(
            n,
            out,
            d,
            None,
            "-",
            "-",
            format!(
                "No longer worth sending: {} is useful until {}.",
                req.template, d.useful_until
            ),
        )
        .await;
    }
    let plan = match route::plan(template.kind(), Audience::Person(&req.recipient)) {
        Ok(p) => p,
        Err(e) => return fail(n, out, d, None, "-", "-", e.to_string()).await,
    };
    let Some(channel) = plan.get(d.channel_index) else {
        return fail(
            n,
            out,
            d,
            None,
            "-",
            "-",
            "Every channel of the recipient failed.".into(),
        )
        .await;
    };
    // A worker died holding this one, maybe mid-send: an SMS may have gone out, and sending it
    // again could reach the person twice. Its receipt says; wait for it before trying again.
    let real_sms =
        matches!(channel, Channel::Sms) && !matches!(n.channels.sms, Provider::Console(_));
    if d.abandoned && real_sms {
        let at = now + chrono::Duration::seconds(n.settings.notifier.receipt_wait_secs as i64);
        tracing::info!(notification = %d.id, "A worker stopped mid-send; waiting for the receipt before sending again.");
        out.settle(d, None, &Next::AwaitReceipt { at }, None)
            .await?;
        return Ok(());
    }
    let id = d.id.to_string();
    let phone = &req.recipient.phone;
    let (provider, target, limits): (&Provider, Target<'_>, Vec<(String, Limit)>) = match channel {
        Channel::Sms => {
            // Quiet hours hold SMS until morning (DESIGN.md section 4).
            if let Some(at) = n.quiet.release_at(now) {
                return wait_until(out, d, at).await;
            }
            let limits = vec![
                (
                    format!("sms:{}", n.channels.sms.name()),
                    Limit::per_second(n.settings.notifier.limits.sms_per_second),
                ),
                (
                    format!("phone:{}", phone.as_str()),
                    Limit::per_day(n.settings.notifier.limits.phone_per_day),
                ),
            ];
            let target = match &n.channels.sms {
                Provider::Console(_) => Target::Console {
                    notification_id: &id,
                    phone,
                },
                _ => Target::Sms {
                    notification_id: &id,
                    phone,
                    template_code: n
                        .settings
                        .notifier
                        .sms
                        .templates
                        .get(&req.template)
                        .map(String::as_str)
                        .unwrap_or(""),
                },
            };
            (&n.channels.sms, target, limits)
        }
        Channel::Webhook => match &n.channels.webhook {
            Some(w) => (w, Target::Webhook { request: req }, Vec::new()),
            None => {
                return fall_back(
                    n,
                    out,
                    d,
                    &plan,
                    None,
                    ("webhook", "-"),
                    "No generic webhook is configured (notifier.webhook.url).",
                )
                .await;
            }
        },
        Channel::Console => (
            &n.console,
            Target::Console {
                notification_id: &id,
                phone,
            },
            Vec::new(),
        ),
        Channel::Robot(_) | Channel::Members => {
            return fail(
                n,
                out,
                d,
                None,
                channel.name(),
                "-",
                "A person's notification planned a group channel.".into(),
            )
            .await;
        }
    };
    let wants: Vec<(&str, Limit)> = limits.iter().map(|(k, l)| (k.as_str(), *l)).collect();
    if let Decision::Wait { until_ms } = n
        .limiter
        .acquire_all(&wants, now.timestamp_millis())
        .await?
    {
        let at = DateTime::from_timestamp_millis(until_ms).unwrap_or(now);
        return wait_until(out, d, at).await;
    }
    let rendered = match render(template, &request_params(req), target) {
        Ok(r) => r,
        Err(e) => {
            return fall_back(
                n,
                out,
                d,
                &plan,
                None,
                (channel.name(), provider.name()),
                &e.to_string(),
            )
            .await;
        }
    };
    let started = Instant::now();
    let outcome = provider
        .send(
            &rendered.message,
            &SendContext {
                now,
                nonce: uuid::Uuid::new_v4().to_string(),
            },
        )
        .await;
    let latency_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    let attempt = |status: &'static str, code: Option<&'static str>| Attempt {
        channel: channel.name(),
        provider: provider.name(),
        provider_message_id: None,
        status,
        error_code: code,
        error: None,
        latency_ms,
    };
    match outcome {
        Ok(SendOutcome::Delivered {
            provider_message_id,
        }) => {
            let a = Attempt {
                provider_message_id: provider_message_id.as_deref(),
                ..attempt("delivered", None)
            };
            let row = announce(
                "notification.delivered",
                d,
                channel.name(),
                provider.name(),
                None,
                now,
            );
            let next = Next::Delivered {
                provider: provider.name().into(),
                provider_message_id: provider_message_id.clone(),
            };
            out.settle(d, Some(a), &next, Some(row)).await?;
        }
        Ok(SendOutcome::Retry {
            code,
            reason,
            not_before,
            ..
        }) => {
            let a = Attempt {
                error_code: Some(&code),
                error: Some(&reason),
                ..attempt("retry", None)
            };
            let delays = &n.settings.notifier.retry_delays_secs;
            let Some(delay) = delays.get(d.attempt as usize - 1) else {
                let why = format!("Gave up after {} attempts: {code} {reason}", d.attempt);
                return fail(n, out, d, Some(a), channel.name(), provider.name(), why).await;
            };
            let wait = Duration::from_secs(*delay).max(not_before.unwrap_or_default());
            let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
            if at > d.useful_until {
                let why = format!("Not useful by the next try ({code} {reason})");
                return fail(n, out, d, Some(a), channel.name(), provider.name(), why).await;
            }
            try_again_at(out, d, a, at).await?;
        }
        Ok(SendOutcome::Permanent { code, reason }) => {
            let a = Attempt {
                error_code: Some(&code),
                error: Some(&reason),
                ..attempt("permanent", None)
            };
            fall_back(
                n,
                out,
                d,
                &plan,
                Some(a),
                (channel.name(), provider.name()),
                &format!("{code} {reason}"),
            )
            .await?;
        }
        Ok(SendOutcome::PauseChannel { code, reason }) => {
            tracing::error!(provider = provider.name(), code = %code, reason = %reason, "Provider refuses every message; pausing it. Check its quota, balance or credentials.");
            let a = Attempt {
                error_code: Some(&code),
                error: Some(&reason),
                ..attempt("paused", None)
            };
            let at = now + chrono::Duration::seconds(n.settings.notifier.pause_secs as i64);
            try_again_at(out, d, a, at).await?;
        }
        Err(e) => {
            fall_back(
                n,
                out,
                d,
                &plan,
                None,
                (channel.name(), provider.name()),
                &e.to_string(),
            )
            .await?
        }
    }
    Ok(())
}

/// A failed attempt on this channel, to be tried again on it at `at`.
async fn try_again_at(
    out: &Settlements,
    d: &Due,
    a: Attempt<'_>,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let again = Next::Again {
        at,
        channel_index: d.channel_index,
        not_an_attempt: false,
    };
    out.settle(d, Some(a), &again, None).await?;
    Ok(())
}

/// A permanent failure on this channel: the next one in the plan, or failure when none is left.
async fn fall_back(
    n: &Notifier,
    out: &Settlements,
    d: &Due,
    plan: &[Channel],
    a: Option<Attempt<'_>>,
    (channel, provider): (&str, &str),
    why: &str,
) -> anyhow::Result<()> {
    match route::next_channel(plan, d.channel_index) {
        Some((index, next)) => {
            tracing::info!(notification = %d.id, from = channel, to = next.name(), reason = why, "Falling back to the next channel.");
            let again = Next::Again {
                at: n.clock.now(),
                channel_index: index,
                not_an_attempt: false,
            };
            out.settle(d, a, &again, None).await?;
            Ok(())
        }
        None => {
            fail(
                n,
                out,
                d,
                a,
                channel,
                provider,
                format!("Failed for good on {channel}: {why}"),
            )
            .await
        }
    }
}
