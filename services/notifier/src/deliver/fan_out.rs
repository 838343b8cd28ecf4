//! A broadcast to an org without a robot (or whose robot failed for good) goes to each of the
//! org's flowing members on their own one-to-one channels (DESIGN.md section 5, "Routing").

use chrono::{DateTime, Utc};
use hongyan_domain::ids::{MemberId, OrgId};
use hongyan_domain::notify::{NotificationRequest, Recipient, To};

use crate::Notifier;
use crate::store::{self, Due};

/// A request ready to store: the request, when it may first go, until when it is worth sending.
type Row = (NotificationRequest, DateTime<Utc>, DateTime<Utc>);

/// One notification per flowing member, keyed under the broadcast's key so a second fan-out
/// adds nobody twice. The broadcast itself is then settled as done
/// ([`super::settle::before_send`]).
pub(super) async fn fan_out(
    n: &Notifier,
    d: &Due,
    org: &OrgId,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let members = store::audience_members(&n.pool, org.as_str()).await?;
    let requests: Vec<Row> = members
        .into_iter()
        .map(|(id, person)| (one_member(d, &id, person), now, d.useful_until))
        .collect();
    let mut conn = n.pool.acquire().await?;
    let added = store::insert(&mut conn, &requests).await?;
    tracing::info!(notification = %d.id, org = %org, members = requests.len(), new = added, "Broadcast fanned out to the members, one by one.");
    Ok(())
}

/// The broadcast's request for one member, with their name as `member_name`.
fn one_member(d: &Due, id: &MemberId, person: Recipient) -> NotificationRequest {
    let mut params = d.request.params.clone();
    params.insert("member_name".into(), person.name.clone());
    NotificationRequest {
        key: format!("{}:member:{id}", d.request.key),
        template: d.request.template.clone(),
        to: To::Recipient(person),
        params,
        caused_by: d.request.caused_by,
    }
}
