//! Digests for org contacts (DESIGN.md section 5): the delivery loop's gathering step. Notices
//! that events cause to an org's contact ([`digest::GATHERED`]) are gathered per contact (org
//! and phone): one goes as itself when nothing went to that contact within the window
//! (`notifier.digest_window_secs`); those that come within it wait for one `org_digest` SMS
//! with the count, the names and the console's link. The digest is a notification like any
//! other, so the quiet hours, the rate limits, retries and the questions about unanswered
//! sends apply to it; the notices it gathered settle with it (`store::digest`).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use hongyan_adapters::metrics;
use hongyan_domain::digest;
use hongyan_domain::ids::OrgId;
use hongyan_domain::notify::Recipient;
use uuid::Uuid;

use super::Ready;
use super::settle::wait_until;
use crate::Notifier;
use crate::route::Channel;
use crate::store::digest::{ContactNotices, Windows};
use crate::store::{self, Due, Settlements};
use crate::templates::ORG_DIGEST;

/// When the gathering or the closing cannot be written, the notices wait this long and are
/// claimed again: nothing is sent that was not gathered as it should be.
const AGAIN_SECS: i64 = 10;

/// What the gathering step makes of one ready notification.
enum Gather<'a> {
    /// Not an org contact's notice of an event, or its fate is decided already (it went
    /// alone before and waits for a rate limit or an answer): it goes on as it is.
    GoesOn,
    /// An org contact's notice on its SMS channel: its contact's window decides.
    ForContact {
        org: &'a OrgId,
        recipient: &'a Recipient,
    },
}

fn gather_of<'a>(r: &Ready<'a>) -> Gather<'a> {
    let d = r.d;
    let on_sms = matches!(r.plan.get(d.channel_index), Some(Channel::Sms));
    if d.digest_id.is_some() || r.ask.is_some() || !on_sms {
        return Gather::GoesOn;
    }
    match (digest::contact_of(&d.request), d.request.person()) {
        (Some((org, _)), Some(recipient)) => Gather::ForContact { org, recipient },
        _ => Gather::GoesOn,
    }
}

/// The gathering step: returns what goes on to be sent now. The notices gathered into a
/// digest leave the round; they settle when their digest does.
pub(super) async fn gather<'a>(
    n: &Notifier,
    out: &Settlements,
    ready: Vec<Ready<'a>>,
    now: DateTime<Utc>,
) -> Vec<Ready<'a>> {
    // A window of 0 turns gathering off: every notice goes as itself, as before digests.
    if n.settings.notifier.digest_window_secs == 0 {
        return ready;
    }
    let mut go = Vec::with_capacity(ready.len());
    let mut contacts: Vec<ContactNotices<'a>> = Vec::new();
    let mut waiting = Vec::new();
    for r in ready {
        match gather_of(&r) {
            Gather::GoesOn => go.push(r),
            Gather::ForContact { org, recipient } => {
                let same =
                    |c: &ContactNotices<'_>| c.org == org && c.recipient.phone == recipient.phone;
                match contacts.iter_mut().find(|c| same(c)) {
                    Some(c) => c.ids.push(r.d.id),
                    None => contacts.push(ContactNotices {
                        org,
                        recipient,
                        ids: vec![r.d.id],
                        caused_by: r.d.request.caused_by,
                    }),
                }
                waiting.push(r);
            }
        }
    }
    if contacts.is_empty() {
        return go;
    }
    let windows = Windows {
        every: chrono::Duration::seconds(n.settings.notifier.digest_window_secs as i64),
        useful_for: n
            .templates
            .get(ORG_DIGEST)
            .map_or(chrono::Duration::hours(72), |t| t.useful_for()),
    };
    let gathered = match store::digest::gather(&n.pool, &contacts, now, windows).await {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!(error = %e, waiting = waiting.len(), "Could not gather org contacts' notices into digests; they wait and are gathered again.");
            for r in &waiting {
                wait_until(out, r.d, now + chrono::Duration::seconds(AGAIN_SECS));
            }
            return go;
        }
    };
    let alone: HashSet<Uuid> = gathered.iter().filter_map(|g| g.alone).collect();
    let into_digests = waiting.len() - alone.len();
    metrics::digest("alone", alone.len() as u64);
    metrics::digest("gathered", into_digests as u64);
    tracing::debug!(
        alone = alone.len(),
        gathered = into_digests,
        "Org contacts' notices gathered."
    );
    go.extend(waiting.into_iter().filter(|r| alone.contains(&r.d.id)));
    go
}

/// Closes the digests this round claimed, so that each renders what it gathered (no notice
/// joins it any more). If that cannot be written, they wait a little and are claimed again.
pub(super) async fn close_claimed(
    n: &Notifier,
    out: &Settlements,
    due: Vec<Due>,
    now: DateTime<Utc>,
) -> Vec<Due> {
    let is_digest = |d: &Due| d.request.template == ORG_DIGEST;
    let ids: Vec<Uuid> = due.iter().filter(|d| is_digest(d)).map(|d| d.id).collect();
    if ids.is_empty() {
        return due;
    }
    let url = console_ledger(&n.settings.api.public_url);
    match store::digest::close(&n.pool, &ids, |names| params(names, &url)).await {
        Ok(mut params) => {
            metrics::digest("digest", ids.len() as u64);
            due.into_iter()
                .map(|mut d| {
                    if let Some(p) = params.remove(&d.id) {
                        d.request.params = p;
                    }
                    d
                })
                .collect()
        }
        Err(e) => {
            tracing::warn!(error = %e, digests = ids.len(), "Could not close the claimed digests; they wait and are claimed again.");
            let again = now + chrono::Duration::seconds(AGAIN_SECS);
            due.into_iter()
                .filter(|d| {
                    if is_digest(d) {
                        wait_until(out, d, again);
                    }
                    !is_digest(d)
                })
                .collect()
        }
    }
}

/// A digest's params: how many notices, whose names, and the console's ledger.
fn params(names: &[String], url: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("count".to_owned(), names.len().to_string()),
        (
            "names".to_owned(),
            digest::names_line(names.iter().map(String::as_str)),
        ),
        ("url".to_owned(), url.to_owned()),
    ])
}

/// The console's ledger (DESIGN.md section 12): the contact signs in and sees their own org's.
fn console_ledger(public_url: &str) -> String {
    format!("{}/console/ledger", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_says_how_many_whose_names_and_where_to_look() {
        let names: Vec<String> = ["张三", "李四", "王五", "赵六"].map(String::from).into();
        let p = params(&names, &console_ledger("http://127.0.0.1:8080/"));
        assert_eq!(p["count"], "4");
        assert_eq!(p["names"], "张三、李四、王五等4人");
        assert_eq!(p["url"], "http://127.0.0.1:8080/console/ledger");
    }
}
