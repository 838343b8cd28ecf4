//! The monthly review's messages: the branch's and the county's summaries of the firing, each
//! one-to-one to the org's contact (never to a group), with counts and a link, no names.

use super::*;

/// An org contact as a one-to-one recipient, or `None` when the org has no reachable contact.
fn org_recipient(org: &str, contact: Option<&Contact>) -> Option<Recipient> {
    let c = contact?;
    let phone = Phone::parse(&c.phone).ok()?;
    let org = OrgId::parse(org).ok()?;
    Some(Recipient::org_contact(
        &org,
        &hongyan_domain::payloads::Contact {
            name: c.name.clone(),
            phone,
        },
    ))
}

fn personal(
    template: &str,
    key: String,
    to: Recipient,
    params: &[(&str, String)],
    caused_by: EventId,
    due: DateTime<Utc>,
) -> OutboxRow {
    let req = NotificationRequest {
        key,
        template: template.into(),
        to: To::Recipient(to),
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        caused_by,
    };
    notification_row(&req, due)
}

/// A list names members, so it goes to the org's contact one to one, as counts and `url`, the
/// lists in the console (DESIGN.md section 4, "Who gets lists"); one per org and month, and
/// none when every count is naught.
pub(super) fn list_row(
    template: &str,
    org: &str,
    to: &ListTo,
    month: Month,
    url: &str,
    caused_by: EventId,
    due: DateTime<Utc>,
) -> Option<OutboxRow> {
    let c = to.counts;
    if c.stale + c.lost_contact + c.lapse_risk + c.transfer_suggested == 0 {
        return None;
    }
    let recipient = org_recipient(org, to.contact.as_ref())?;
    let org_id = OrgId::parse(org).ok()?;
    let key = keys::message_key(template, &month.to_string(), Subject::Org(&org_id));
    let mut params = vec![
        ("org_name", to.name.clone()),
        ("month", month_words(month)),
        ("lost_contact", c.lost_contact.to_string()),
        ("lapse_risk", c.lapse_risk.to_string()),
        ("url", url.to_owned()),
    ];
    if template == STALE_LIST_BRANCH {
        params.push(("count", c.stale.to_string()));
        params.push(("transfer_suggested", c.transfer_suggested.to_string()));
    }
    Some(personal(template, key, recipient, &params, caused_by, due))
}
