//! The monthly review's messages: lapse warnings and transfer suggestions about one member, and
//! the branch and county lists, each one-to-one to the org's contact (never to a group).

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

/// 党章 art. 9: the branch secretary and the county department, one message each.
pub(super) fn lapse_warnings(
    row: &Row,
    months: u32,
    month: Month,
    caused_by: EventId,
    due: DateTime<Utc>,
) -> Vec<OutboxRow> {
    let Ok(member) = MemberId::parse(&row.member_id) else {
        return vec![];
    };
    let key = keys::message_key(LAPSE_WARNING, &month.to_string(), Subject::Member(&member));
    let params = [
        ("branch_name", row.branch_name.clone()),
        ("member_name", row.member_name.clone()),
        ("months", months.to_string()),
    ];
    let mut out = Vec::new();
    if let Some(to) = org_recipient(&row.home_org_id, row.branch_contact.0.as_ref()) {
        out.push(personal(
            LAPSE_WARNING,
            format!("{key}:to:branch"),
            to,
            &params,
            caused_by,
            due,
        ));
    }
    let county_contact = row.county_contact.as_ref().and_then(|c| c.0.as_ref());
    if let Some(to) = row
        .county_id
        .as_deref()
        .and_then(|id| org_recipient(id, county_contact))
    {
        out.push(personal(
            LAPSE_WARNING,
            format!("{key}:to:county"),
            to,
            &params,
            caused_by,
            due,
        ));
    }
    out
}

/// 应转尽转: the branch is asked once to transfer the relationship.
pub(super) fn transfer_suggestion(
    row: &Row,
    months: u32,
    month: Month,
    caused_by: EventId,
    due: DateTime<Utc>,
) -> Option<OutboxRow> {
    let member = MemberId::parse(&row.member_id).ok()?;
    let to = org_recipient(&row.home_org_id, row.branch_contact.0.as_ref())?;
    let key = keys::message_key(
        TRANSFER_SUGGESTION,
        &month.to_string(),
        Subject::Member(&member),
    );
    Some(personal(
        TRANSFER_SUGGESTION,
        key,
        to,
        &[
            ("member_name", row.member_name.clone()),
            ("months", months.to_string()),
        ],
        caused_by,
        due,
    ))
}

/// A list names members, so it goes to the org's contact one to one, as a count and `url`, the
/// list in the console (DESIGN.md section 4, "Who gets lists").
pub(super) fn list_row(
    template: &str,
    org: &str,
    to: &ListTo,
    month: Month,
    url: &str,
    caused_by: EventId,
    due: DateTime<Utc>,
) -> Option<OutboxRow> {
    let recipient = org_recipient(org, to.contact.as_ref())?;
    let org_id = OrgId::parse(org).ok()?;
    let key = keys::message_key(template, &month.to_string(), Subject::Org(&org_id));
    Some(personal(
        template,
        key,
        recipient,
        &[
            ("org_name", to.name.clone()),
            ("count", to.count.to_string()),
            ("month", month_words(month)),
            ("url", url.to_owned()),
        ],
        caused_by,
        due,
    ))
}
