//! The first stage of a delivery, before anything is sent: is it still useful, which channel,
//! quiet hours, the robot or the members of a broadcast, and the rendering. Each step either
//! lets the notification go on or says how it settles now ([`Settle`]); one function per
//! channel ends in [`Prepared`]. Nothing here records anything: a [`Settle`] is recorded by
//! the settle stage ([`super::settle::before_send`]).

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hongyan_adapters::ratelimit::Limit;
use hongyan_domain::ids::{OrgId, mask_phones};
use hongyan_domain::notify::{NotificationRequest, Recipient, To};

use super::Ready;
use crate::Notifier;
use crate::providers::{Provider, SentWithin};
use crate::render::{Target, render, request_params};
use crate::route::{self, Audience, Channel, Robot};
use crate::store::{AudienceOrg, Due};
use crate::templates::Template;

/// A channel and a provider, as attempts and announcements name them (`-` for none yet).
pub(super) type Via = (&'static str, &'static str);

/// Neither a channel nor a provider was reached.
const NOWHERE: Via = ("-", "-");

/// What preparing decided for one notification.
// Lives only from a channel's function to `prepare`, which unwraps it: boxing the ready
// message would cost an allocation per send for nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Prepared<'a> {
    /// Rendered: it waits only for its rate limits.
    Ready(Ready<'a>),
    /// Nothing goes out for it this round; this is what becomes of it.
    Settle(Settle<'a>),
}

/// How a notification settles before anything is sent.
pub(super) enum Settle<'a> {
    /// Failed for good, on `via`.
    Fail { via: Via, reason: String },
    /// This channel cannot carry it: the next one in the plan, or failure.
    FallBack {
        plan: Vec<Channel>,
        via: Via,
        why: String,
    },
    /// Held by the quiet hours until `at` (DESIGN.md section 4); not an attempt.
    QuietUntil(DateTime<Utc>),
    /// A worker died holding it, maybe mid-send (at `since` or later): an SMS may have gone
    /// out, and sending it again could reach the person twice. It waits until `at` for its
    /// receipt, then the provider is asked.
    AwaitReceipt {
        at: DateTime<Utc>,
        since: DateTime<Utc>,
    },
    /// Its broadcast org is not in the ledger yet: it looks again at `at`.
    LookAgain { org: &'a OrgId, at: DateTime<Utc> },
    /// A broadcast to an org without a robot (or whose robot failed for good): one
    /// notification per flowing member.
    FanOut(&'a OrgId),
}

impl Settle<'_> {
    fn fail(via: Via, reason: impl Into<String>) -> Self {
        Self::Fail {
            via,
            reason: reason.into(),
        }
    }
}

/// Decides what becomes of one notification before anything is sent: settled already (failed,
/// waiting, fallen back, fanned out), or rendered and [`Ready`].
#[tracing::instrument(skip_all, fields(notification_id = %d.id, key = %mask_phones(&d.request.key), attempt = d.attempt))]
pub(super) fn prepare<'a>(
    n: &'a Notifier,
    d: &'a Due,
    orgs: &HashMap<String, AudienceOrg>,
    now: DateTime<Utc>,
) -> Prepared<'a> {
    match checked(n, d, orgs, now) {
        Ok(job) => on_its_channel(job, now),
        Err(settle) => Prepared::Settle(settle),
    }
}

/// A notification past the checks: still useful, with its template and a plan that has a
/// channel left to try.
struct Job<'a> {
    n: &'a Notifier,
    d: &'a Due,
    template: &'a Template,
    plan: Vec<Channel>,
}

impl<'a> Job<'a> {
    fn channel(&self) -> &Channel {
        &self.plan[self.d.channel_index]
    }

    /// Renders it for `target`; a rendering that fails moves to the next channel.
    fn render(
        self,
        provider: Cow<'a, Provider>,
        target: Target<'_>,
        limits: Vec<(String, Limit)>,
    ) -> Prepared<'a> {
        match render(self.template, &request_params(&self.d.request), target) {
            Ok(rendered) => Prepared::Ready(Ready {
                d: self.d,
                plan: self.plan,
                provider,
                message: rendered.message,
                limits,
                ask: None,
            }),
            Err(e) => Prepared::Settle(Settle::FallBack {
                via: (self.channel().name(), provider.name()),
                plan: self.plan,
                why: e.to_string(),
            }),
        }
    }

    /// This channel cannot work (not configured, a robot that cannot be built).
    fn fall_back(self, why: impl Into<String>) -> Prepared<'a> {
        Prepared::Settle(Settle::FallBack {
            via: (self.channel().name(), "-"),
            plan: self.plan,
            why: why.into(),
        })
    }
}

/// The checks before any channel: the template exists, the notification is still worth
/// sending, its audience is known, and its plan has a channel left.
fn checked<'a>(
    n: &'a Notifier,
    d: &'a Due,
    orgs: &HashMap<String, AudienceOrg>,
    now: DateTime<Utc>,
) -> Result<Job<'a>, Settle<'a>> {
    let template = still_useful(n, d, now)?;
    let audience = audience(n, d, orgs, now)?;
    let plan =
        route::plan(template.kind(), audience).map_err(|e| Settle::fail(NOWHERE, e.to_string()))?;
    if plan.get(d.channel_index).is_none() {
        return Err(Settle::fail(
            NOWHERE,
            "Every channel of the recipient failed.",
        ));
    }
    Ok(Job {
        n,
        d,
        template,
        plan,
    })
}

/// Its template, if it still exists and the notification is still worth sending.
fn still_useful<'a>(
    n: &'a Notifier,
    d: &Due,
    now: DateTime<Utc>,
) -> Result<&'a Template, Settle<'a>> {
    let req = &d.request;
    let Some(template) = n.templates.get(&req.template) else {
        let why = format!(
            "Template {0} no longer exists; restore config/templates/{0}.toml, then replay.",
            req.template
        );
        return Err(Settle::fail(NOWHERE, why));
    };
    if now > d.useful_until {
        let why = format!(
            "No longer worth sending: {} is useful until {}.",
            req.template, d.useful_until
        );
        return Err(Settle::fail(NOWHERE, why));
    }
    Ok(template)
}

/// Who it is for: a person, or a broadcast org the ledger holds.
fn audience<'a: 'o, 'o>(
    n: &Notifier,
    d: &'a Due,
    orgs: &'o HashMap<String, AudienceOrg>,
    now: DateTime<Utc>,
) -> Result<Audience<'o>, Settle<'a>> {
    match &d.request.to {
        To::Recipient(person) => Ok(Audience::Person(person)),
        To::Org(org) => match orgs.get(org.as_str()) {
            Some(o) => Ok(Audience::Group {
                org_chat: o.chat.as_ref(),
            }),
            None => Err(org_not_in_ledger_yet(n, d, org, now)),
        },
    }
}

/// A broadcast whose org the ledger does not hold yet: its `org.upserted` may still be on its
/// way through the registry (another producer, a retry tier), so it looks again after each of
/// `notifier.unknown_org_looks_secs`, like the registry's unknown ids (DESIGN.md section 2),
/// and fails with what to do only after the last.
fn org_not_in_ledger_yet<'a>(
    n: &Notifier,
    d: &Due,
    org: &'a OrgId,
    now: DateTime<Utc>,
) -> Settle<'a> {
    let looks = &n.settings.notifier.unknown_org_looks_secs;
    // Each claim counts one: the first look is attempt 1.
    match looks.get(d.attempt as usize - 1) {
        Some(secs) => Settle::LookAgain {
            org,
            at: now + chrono::Duration::seconds(*secs as i64),
        },
        None => Settle::fail(
            NOWHERE,
            format!(
                "Org {org} is not in the ledger (looked {} times); send its org.upserted, then replay this notification.",
                d.attempt
            ),
        ),
    }
}

/// Takes the notification on to the channel its plan is at.
fn on_its_channel<'a>(job: Job<'a>, now: DateTime<Utc>) -> Prepared<'a> {
    let d = job.d;
    match (job.channel().clone(), &d.request.to) {
        (Channel::Members, To::Org(org)) => Prepared::Settle(Settle::FanOut(org)),
        (Channel::Robot(robot), To::Org(_)) => robot_channel(job, &robot),
        (Channel::Sms, To::Recipient(person)) => sms_channel(job, person, now),
        (Channel::Webhook, To::Recipient(_)) => webhook_channel(job),
        (Channel::Console, To::Recipient(person)) => console_channel(job, person),
        // `route::plan` never mixes them; refuse rather than trust it.
        (channel, _) => Prepared::Settle(misplanned(&d.request, &channel)),
    }
}

/// The broadcast org's group robot, limited per robot.
fn robot_channel<'a>(job: Job<'a>, robot: &Robot) -> Prepared<'a> {
    let channels = &job.n.channels;
    match channels.robot(robot) {
        Ok(provider) => {
            let limits = channels.robot_limits(robot);
            job.render(Cow::Owned(provider), Target::Robot(robot.kind), limits)
        }
        Err(e) => job.fall_back(e.to_string()),
    }
}

/// An SMS to one person: unless a worker died mid-send or the quiet hours hold it, rendered
/// for the configured provider and limited per provider and per phone. If an earlier send may
/// have gone out unanswered, the provider is asked first ([`Ready::ask`]).
fn sms_channel<'a>(job: Job<'a>, person: &Recipient, now: DateTime<Utc>) -> Prepared<'a> {
    let n = job.n;
    // A console send never goes unanswered: there is nothing to wait for or to ask.
    let can_ask = !matches!(n.channels.sms, Provider::Console(_));
    if let Some(claimed_at) = job.d.abandoned.filter(|_| can_ask) {
        let at = now + chrono::Duration::seconds(n.settings.notifier.receipt_wait_secs as i64);
        let since = job
            .d
            .uncertain_since
            .map_or(claimed_at, |s| s.min(claimed_at));
        return Prepared::Settle(Settle::AwaitReceipt { at, since });
    }
    if job.template.held_in_quiet_hours
        && let Some(at) = n.quiet.release_at(now)
    {
        return Prepared::Settle(Settle::QuietUntil(at));
    }
    let id = job.d.id.to_string();
    let target = match &n.channels.sms {
        Provider::Console(_) => Target::Console {
            notification_id: &id,
            phone: &person.phone,
        },
        _ => Target::Sms {
            notification_id: &id,
            phone: &person.phone,
            template_code: sms_template_code(n, &job.d.request),
        },
    };
    let limits = sms_limits(n, person, job.template.summary);
    let ask = job
        .d
        .uncertain_since
        .filter(|_| can_ask)
        .map(|since| SentWithin { since, until: now });
    match job.render(Cow::Borrowed(&n.channels.sms), target, limits) {
        Prepared::Ready(ready) => Prepared::Ready(Ready { ask, ..ready }),
        settle => settle,
    }
}

/// The provider's template code for this request's template (`notifier.sms.templates`); an
/// empty one is refused by the rendering, which names the setting.
fn sms_template_code<'a>(n: &'a Notifier, req: &NotificationRequest) -> &'a str {
    n.settings
        .notifier
        .sms
        .templates
        .get(&req.template)
        .map(String::as_str)
        .unwrap_or("")
}

/// Per SMS provider and per phone per day (DESIGN.md section 5, "Rate limits"). A summary to
/// an org's contact counts against the phone's own budget of summaries, not the one its
/// member-level messages share: a county contact who gets forty notices about members in a
/// day still gets the county's summary that day. The two budgets together stay within the
/// provider's per-number limit (Aliyun: 50 a day).
fn sms_limits(n: &Notifier, person: &Recipient, summary: bool) -> Vec<(String, Limit)> {
    let limits = &n.settings.notifier.limits;
    let per_phone = if summary {
        (
            format!("phone-summaries:{}", person.phone.as_str()),
            Limit::per_day(limits.summaries_per_phone_per_day),
        )
    } else {
        (
            format!("phone:{}", person.phone.as_str()),
            Limit::per_day(limits.phone_per_day),
        )
    };
    vec![
        (
            format!("sms:{}", n.channels.sms.name()),
            Limit::per_second(limits.sms_per_second),
        ),
        per_phone,
    ]
}

/// The generic signed webhook, if one is configured.
fn webhook_channel(job: Job<'_>) -> Prepared<'_> {
    let n = job.n;
    match &n.channels.webhook {
        Some(w) => {
            let target = Target::Webhook {
                request: &job.d.request,
            };
            job.render(Cow::Borrowed(w), target, Vec::new())
        }
        None => job.fall_back("No generic webhook is configured (notifier.webhook.url)."),
    }
}

/// The console: printed and recorded.
fn console_channel<'a>(job: Job<'a>, person: &Recipient) -> Prepared<'a> {
    let n = job.n;
    let id = job.d.id.to_string();
    let target = Target::Console {
        notification_id: &id,
        phone: &person.phone,
    };
    job.render(Cow::Borrowed(&n.console), target, Vec::new())
}

/// A plan that put a person on a group's channel, or a group on a person's.
fn misplanned<'a>(req: &NotificationRequest, channel: &Channel) -> Settle<'a> {
    let meant_for = if channel.is_one_to_one() {
        "one person"
    } else {
        "a group"
    };
    let why = format!(
        "The plan put {} on a channel meant for {meant_for}.",
        req.to_masked()
    );
    Settle::fail((channel.name(), "-"), why)
}
