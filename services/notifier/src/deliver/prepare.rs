//! Before anything is sent: is it still useful, which channel, quiet hours, the robot or the
//! members of a broadcast, and the rendering.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use hongyan_adapters::ratelimit::Limit;
use hongyan_domain::ids::OrgId;
use hongyan_domain::notify::{NotificationRequest, To};

use super::Ready;
use super::outcome::{end, fail, fall_back, wait_until};
use crate::Notifier;
use crate::announce;
use crate::providers::Provider;
use crate::render::{Target, render, request_params};
use crate::route::{self, Audience, Channel};
use crate::store::{self, Attempt, AttemptStatus, AudienceOrg, Due, Next, Settlements};

/// Decides what becomes of one notification before anything is sent: settled already (failed,
/// waiting, fallen back, fanned out), or rendered and [`Ready`].
pub(super) async fn prepare<'a>(
    n: &'a Notifier,
    out: &Settlements,
    d: &'a Due,
    orgs: &HashMap<String, AudienceOrg>,
    held: &AtomicUsize,
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
                org_not_in_ledger_yet(n, out, d, org, now);
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
                out.settle(
                    d,
                    None,
                    &Next::AwaitReceipt {
                        at,
                        attempted: false,
                    },
                    None,
                );
                return Ok(None);
            }
            // Quiet hours hold SMS until morning (DESIGN.md section 4).
            if let Some(at) = n.quiet.release_at(now) {
                held.fetch_add(1, Ordering::Relaxed);
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

/// A broadcast whose org the ledger does not hold yet: its `org.upserted` may still be on its
/// way through the registry (another producer, a retry tier), so it looks again after each of
/// `notifier.unknown_org_looks_secs`, like the registry's unknown ids (DESIGN.md section 2),
/// and fails with what to do only after the last.
fn org_not_in_ledger_yet(
    n: &Notifier,
    out: &Settlements,
    d: &Due,
    org: &OrgId,
    now: DateTime<Utc>,
) {
    let looks = &n.settings.notifier.unknown_org_looks_secs;
    // Each claim counts one: the first look is attempt 1.
    match looks.get(d.attempt as usize - 1) {
        Some(secs) => {
            let at = now + chrono::Duration::seconds(*secs as i64);
            tracing::debug!(notification_id = %d.id, org = %org, look_again_at = %at, "Broadcast org not in the ledger yet; looking again later.");
            let again = Next::Again {
                at,
                channel_index: d.channel_index,
                not_an_attempt: false,
            };
            out.settle(d, None, &again, None);
        }
        None => {
            let why = format!(
                "Org {org} is not in the ledger (looked {} times); send its org.upserted, then replay this notification.",
                d.attempt
            );
            fail(n, out, d, None, ("-", "-"), why);
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
        status: AttemptStatus::Delivered,
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
