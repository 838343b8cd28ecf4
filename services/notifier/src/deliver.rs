//! The delivery loop. A round claims what is due and takes each notification through three
//! steps: *prepare* (still useful? which channel? quiet hours? render it), one *rate-limit*
//! call to Redis for the whole round, then *send* what the limits allow, many at once.
//! Waiting is never a sleep: a notification that must wait (quiet hours, a rate limit, a retry
//! delay) is put back with the time it may go, and a later round takes it up then.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hongyan_adapters::ratelimit::{Decision, Limit};
use hongyan_domain::ids::OrgId;
use hongyan_domain::notify::{NotificationRequest, To};
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::Notifier;
use crate::announce::{self, End};
use crate::providers::{Message, Provider, SendContext, SendOutcome};
use crate::render::{Target, render, request_params};
use crate::route::{self, Audience, Channel};
use crate::store::{self, Attempt, AudienceOrg, Due, Next, Settlements};

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

/// A rendered send waiting only for its rate limits.
struct Ready<'a> {
    d: &'a Due,
    plan: Vec<Channel>,
    provider: Cow<'a, Provider>,
    message: Message,
    limits: Vec<(String, Limit)>,
}

/// Claims what is due, prepares each, asks Redis once for the round's rate limits, and sends
/// what they allow, `notifier.concurrency` at a time. The outcomes are returned to be written.
async fn send_round(n: &Notifier) -> anyhow::Result<(usize, Settlements)> {
    use futures::StreamExt;
    let now = n.clock.now();
    let claim_until = now + chrono::Duration::seconds(n.settings.notifier.claim_secs as i64);
    let due = store::claim(&n.pool, now, claim_until, n.settings.notifier.batch_size).await?;
    let out = Settlements::default();
    let groups: Vec<&str> = due
        .iter()
        .filter_map(|d| match &d.request.to {
            To::Org(org) => Some(org.as_str()),
            To::Recipient(_) => None,
        })
        .collect();
    let orgs = store::audience_orgs(&n.pool, &groups).await?;
    let mut ready = Vec::with_capacity(due.len());
    for d in &due {
        match prepare(n, &out, d, &orgs, now).await {
            Ok(Some(r)) => ready.push(r),
            Ok(None) => {}
            // Nothing is recorded for it: its claim runs out and a later round takes it.
            Err(e) => {
                tracing::warn!(notification = %d.id, error = format!("{e:#}"), "Could not prepare a notification; it will be tried again.");
            }
        }
    }
    let wants: Vec<Vec<(&str, Limit)>> = ready
        .iter()
        .map(|r| r.limits.iter().map(|(k, l)| (k.as_str(), *l)).collect())
        .collect();
    let wants: Vec<&[(&str, Limit)]> = wants.iter().map(Vec::as_slice).collect();
    let decisions = match n.limiter.acquire_each(&wants, now.timestamp_millis()).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, waiting = ready.len(), "Could not reach Redis for the rate limits; these sends wait for their claims to run out.");
            return Ok((due.len(), out));
        }
    };
    let mut go = Vec::with_capacity(ready.len());
    for (r, decision) in ready.into_iter().zip(decisions) {
        match decision {
            Decision::Allowed => go.push(r),
            Decision::Wait { until_ms } => {
                let at = DateTime::from_timestamp_millis(until_ms).unwrap_or(now);
                wait_until(&out, r.d, at);
            }
        }
    }
    let settlements = &out;
    futures::stream::iter(go)
        .for_each_concurrent(n.settings.notifier.concurrency, |r| {
            send(n, settlements, r, now)
        })
        .await;
    Ok((due.len(), out))
}

/// Decides what becomes of one notification before anything is sent: settled already (failed,
/// waiting, fallen back, fanned out), or rendered and [`Ready`].
async fn prepare<'a>(
    n: &'a Notifier,
    out: &Settlements,
    d: &'a Due,
    orgs: &HashMap<String, AudienceOrg>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Ready<'a>>> {
    let req = &d.request;
    let Some(template) = n.templates.get(&req.template) else {
        let why = format!(
            "Template {0} no longer exists; restore config/templates/{0}.toml, then replay.",
            req.template
        );
        fail(n, out, d, None, ("-", "-"), why);
        return Ok(None);
    };
    if now > d.useful_until {
        let why = format!(
            "No longer worth sending: {} is useful until {}.",
            req.template, d.useful_until
        );
        fail(n, out, d, None, ("-", "-"), why);
        return Ok(None);
    }
    let audience = match &req.to {
        To::Recipient(person) => Audience::Person(person),
        To::Org(org) => match orgs.get(org.as_str()) {
            Some(o) => Audience::Group {
                org_chat: o.chat.as_ref(),
            },
            None => {
                let why = format!(
                    "Org {org} is not in the ledger; send its org.upserted, then replay this notification."
                );
                fail(n, out, d, None, ("-", "-"), why);
                return Ok(None);
            }
        },
    };
    let plan = match route::plan(template.kind(), audience) {
        Ok(p) => p,
        Err(e) => {
            fail(n, out, d, None, ("-", "-"), e.to_string());
            return Ok(None);
        }
    };
    let Some(channel) = plan.get(d.channel_index) else {
        let why = "Every channel of the recipient failed.".to_owned();
        fail(n, out, d, None, ("-", "-"), why);
        return Ok(None);
    };
    let id = d.id.to_string();
    let (provider, target, limits): (Cow<'a, Provider>, Target<'_>, Vec<(String, Limit)>) = match (
        channel, &req.to,
    ) {
        (Channel::Members, To::Org(org)) => {
            fan_out(n, out, d, org, now).await?;
            return Ok(None);
        }
        (Channel::Robot(robot), To::Org(_)) => match n.channels.robot(robot) {
            Ok(p) => (
                Cow::Owned(p),
                Target::Robot(robot.kind),
                n.channels.robot_limits(robot),
            ),
            Err(e) => {
                let why = e.to_string();
                fall_back(n, out, d, &plan, None, (channel.name(), "-"), &why);
                return Ok(None);
            }
        },
        (Channel::Sms, To::Recipient(person)) => {
            // A worker died holding this one, maybe mid-send: an SMS may have gone out, and
            // sending it again could reach the person twice. Its receipt says; wait for it.
            if d.abandoned && !matches!(n.channels.sms, Provider::Console(_)) {
                let at =
                    now + chrono::Duration::seconds(n.settings.notifier.receipt_wait_secs as i64);
                tracing::info!(notification = %d.id, "A worker stopped mid-send; waiting for the receipt before sending again.");
                out.settle(d, None, &Next::AwaitReceipt { at }, None);
                return Ok(None);
            }
            // Quiet hours hold SMS until morning (DESIGN.md section 4).
            if let Some(at) = n.quiet.release_at(now) {
                wait_until(out, d, at);
                return Ok(None);
            }
            let limits = vec![
                (
                    format!("sms:{}", n.channels.sms.name()),
                    Limit::per_second(n.settings.notifier.limits.sms_per_second),
                ),
                (
                    format!("phone:{}", person.phone.as_str()),
                    Limit::per_day(n.settings.notifier.limits.phone_per_day),
                ),
            ];
            let target = match &n.channels.sms {
                Provider::Console(_) => Target::Console {
                    notification_id: &id,
                    phone: &person.phone,
                },
                _ => Target::Sms {
                    notification_id: &id,
                    phone: &person.phone,
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
            (Cow::Borrowed(&n.channels.sms), target, limits)
        }
        (Channel::Webhook, To::Recipient(_)) => match &n.channels.webhook {
            Some(w) => (
                Cow::Borrowed(w),
                Target::Webhook { request: req },
                Vec::new(),
            ),
            None => {
                let why = "No generic webhook is configured (notifier.webhook.url).";
                fall_back(n, out, d, &plan, None, ("webhook", "-"), why);
                return Ok(None);
            }
        },
        (Channel::Console, To::Recipient(person)) => (
            Cow::Borrowed(&n.console),
            Target::Console {
                notification_id: &id,
                phone: &person.phone,
            },
            Vec::new(),
        ),
        // `route::plan` never mixes them; refuse rather than trust it.
        (channel, _) => {
            let why = format!(
                "The plan put {} on a channel meant for {}.",
                req.to_masked(),
                if channel.is_one_to_one() {
                    "one person"
                } else {
                    "a group"
                }
            );
            fail(n, out, d, None, (channel.name(), "-"), why);
            return Ok(None);
        }
    };
    match render(template, &request_params(req), target) {
        Ok(rendered) => Ok(Some(Ready {
            d,
            plan,
            provider,
            message: rendered.message,
            limits,
        })),
        Err(e) => {
            let why = e.to_string();
            fall_back(
                n,
                out,
                d,
                &plan,
                None,
                (channel.name(), provider.name()),
                &why,
            );
            Ok(None)
        }
    }
}

/// A broadcast to an org without a robot (or whose robot failed for good): one notification
/// per flowing member, on their own one-to-one channels, keyed under the broadcast's key so a
/// second fan-out adds nobody twice. The broadcast itself is then done.
async fn fan_out(
    n: &Notifier,
    out: &Settlements,
    d: &Due,
    org: &OrgId,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let members = store::audience_members(&n.pool, org.as_str()).await?;
    let requests: Vec<_> = members
        .into_iter()
        .map(|(id, person)| {
            let mut params = d.request.params.clone();
            params.insert("member_name".into(), person.name.clone());
            let req = NotificationRequest {
                key: format!("{}:member:{id}", d.request.key),
                template: d.request.template.clone(),
                to: To::Recipient(person),
                params,
                caused_by: d.request.caused_by,
            };
            (req, now, d.useful_until)
        })
        .collect();
    let mut conn = n.pool.acquire().await?;
    let added = store::insert(&mut conn, &requests).await?;
    tracing::info!(notification = %d.id, org = %org, members = requests.len(), new = added, "Broadcast fanned out to the members, one by one.");
    let attempt = Attempt {
        channel: "members",
        provider: "fanout",
        provider_message_id: None,
        status: "delivered",
        error_code: None,
        error: None,
        latency_ms: 0,
    };
    let next = Next::Delivered {
        provider: "fanout".into(),
        provider_message_id: None,
    };
    let row = announce::delivered(end(d, ("members", "fanout"), now));
    out.settle(d, Some(attempt), &next, Some(row));
    Ok(())
}

/// Sends one [`Ready`] notification and settles what its provider answered.
async fn send(n: &Notifier, out: &Settlements, r: Ready<'_>, now: DateTime<Utc>) {
    let Ready {
        d,
        plan,
        provider,
        message,
        ..
    } = r;
    let channel = plan[d.channel_index].name();
    let via = (channel, provider.name());
    let started = Instant::now();
    let ctx = SendContext {
        now,
        nonce: uuid::Uuid::new_v4().to_string(),
    };
    let outcome = provider.send(&message, &ctx).await;
    let latency_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    let attempt = |status: &'static str| Attempt {
        channel,
        provider: provider.name(),
        provider_message_id: None,
        status,
        error_code: None,
        error: None,
        latency_ms,
    };
    match outcome {
        Ok(SendOutcome::Delivered {
            provider_message_id,
        }) => {
            let a = Attempt {
                provider_message_id: provider_message_id.as_deref(),
                ..attempt("delivered")
            };
            let row = announce::delivered(end(d, via, now));
            let next = Next::Delivered {
                provider: provider.name().into(),
                provider_message_id: provider_message_id.clone(),
            };
            out.settle(d, Some(a), &next, Some(row));
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
                ..attempt("retry")
            };
            let delays = &n.settings.notifier.retry_delays_secs;
            let Some(delay) = delays.get(d.attempt as usize - 1) else {
                let why = format!("Gave up after {} attempts: {code} {reason}", d.attempt);
                return fail(n, out, d, Some(a), via, why);
            };
            let wait = Duration::from_secs(*delay).max(not_before.unwrap_or_default());
            let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
            if at > d.useful_until {
                let why = format!("Not useful by the next try ({code} {reason})");
                return fail(n, out, d, Some(a), via, why);
            }
            try_again_at(out, d, a, at);
        }
        Ok(SendOutcome::Permanent { code, reason }) => {
            let a = Attempt {
                error_code: Some(&code),
                error: Some(&reason),
                ..attempt("permanent")
            };
            fall_back(n, out, d, &plan, Some(a), via, &format!("{code} {reason}"));
        }
        Ok(SendOutcome::PauseChannel { code, reason }) => {
            tracing::error!(provider = provider.name(), code = %code, reason = %reason, "Provider refuses every message; pausing it. Check its quota, balance or credentials.");
            let a = Attempt {
                error_code: Some(&code),
                error: Some(&reason),
                ..attempt("paused")
            };
            let at = now + chrono::Duration::seconds(n.settings.notifier.pause_secs as i64);
            try_again_at(out, d, a, at);
        }
        Err(e) => fall_back(n, out, d, &plan, None, via, &e.to_string()),
    }
}

/// The end of `d` for the announcements.
fn end<'a>(d: &'a Due, (channel, provider): (&'a str, &'a str), now: DateTime<Utc>) -> End<'a> {
    End {
        id: d.id,
        request: &d.request,
        attempts: d.attempt,
        channel,
        provider,
        now,
    }
}

/// Fails a notification for good: `notification.failed`, and the request itself parked in
/// `hongyan.parked` with the reason, so an operator sees it and `parked replay` sends it again
/// from its first channel once the cause is fixed.
fn fail(
    n: &Notifier,
    out: &Settlements,
    d: &Due,
    attempt: Option<Attempt<'_>>,
    via: (&str, &str),
    reason: String,
) {
    tracing::warn!(notification = %d.id, template = %d.request.template, to = %d.request.to_masked(), reason = %reason, "Notification failed.");
    let rows = announce::failed(end(d, via, n.clock.now()), &reason, &n.names.notifier());
    out.settle(d, attempt, &Next::Failed { reason }, rows);
}

/// Puts a notification back to wait, without counting an attempt.
fn wait_until(out: &Settlements, d: &Due, at: DateTime<Utc>) {
    let again = Next::Again {
        at,
        channel_index: d.channel_index,
        not_an_attempt: true,
    };
    out.settle(d, None, &again, None);
}

/// A failed attempt on this channel, to be tried again on it at `at`.
fn try_again_at(out: &Settlements, d: &Due, a: Attempt<'_>, at: DateTime<Utc>) {
    let again = Next::Again {
        at,
        channel_index: d.channel_index,
        not_an_attempt: false,
    };
    out.settle(d, Some(a), &again, None);
}

/// A permanent failure on this channel: the next one in the plan, or failure when none is left.
fn fall_back(
    n: &Notifier,
    out: &Settlements,
    d: &Due,
    plan: &[Channel],
    a: Option<Attempt<'_>>,
    (channel, provider): (&str, &str),
    why: &str,
) {
    match route::next_channel(plan, d.channel_index) {
        Some((index, next)) => {
            tracing::info!(notification = %d.id, from = channel, to = next.name(), reason = why, "Falling back to the next channel.");
            let again = Next::Again {
                at: n.clock.now(),
                channel_index: index,
                not_an_attempt: false,
            };
            out.settle(d, a, &again, None);
        }
        None => {
            let why = format!("Failed for good on {channel}: {why}");
            fail(n, out, d, a, (channel, provider), why);
        }
    }
}
