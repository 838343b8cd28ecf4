//! `monthly_review` (DESIGN.md section 4): whole months unconfirmed for every open record, the
//! staleness ladder, lapse warnings and transfer suggestions. The decisions are the domain's
//! (`rules::monthly::review`); this file reads the facts in batches through the registry's
//! view `scheduler_review_records` (migration 0016) and queues messages. It writes no ledger
//! table: months unconfirmed and the ladder's flags are derived where they are read
//! (`rules::monthly::standing`), and a transfer suggestion reaches the registry as
//! `review.transfer_suggested`, which marks the record so the branch is asked once.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use hongyan_adapters::store::rows::OutboxRow;
use hongyan_adapters::store::writes;
use hongyan_domain::envelope::EventType;
use hongyan_domain::ids::{EventId, MemberId, OrgId, Phone};
use hongyan_domain::month::Month;
use hongyan_domain::notify::{NotificationRequest, Recipient, To};
use hongyan_domain::outgoing::keyed_envelope;
use hongyan_domain::payloads::TransferSuggested;
use hongyan_domain::rules::keys::{self, Subject};
use hongyan_domain::rules::monthly::{RecordFacts, ReviewPolicy, Rung, review};
use sqlx::PgConnection;
use sqlx::types::Json;
use tracing::{info, instrument};

mod messages;

use super::{BATCH, month_words, notification_row};
use crate::firing::Firing;
use messages::{lapse_warnings, list_row, transfer_suggestion};

/// Templates under `config/templates/`.
pub const LAPSE_WARNING: &str = "lapse_warning";
pub const STALE_LIST_BRANCH: &str = "stale_list_branch";
pub const LOST_CONTACT_COUNTY: &str = "lost_contact_county";
pub const TRANSFER_SUGGESTION: &str = "transfer_suggestion_branch";

/// One open record as `scheduler_review_records` gives it: what the review reads, its member
/// and the orgs that hear about it.
#[derive(sqlx::FromRow)]
struct Row {
    record_id: uuid::Uuid,
    member_id: String,
    member_name: String,
    home_org_id: String,
    confirmed_on: NaiveDate,
    transfer_suggested: bool,
    life_on: Option<NaiveDate>,
    at_place_since: Option<NaiveDate>,
    has_employer: bool,
    branch_name: String,
    branch_contact: Json<Option<Contact>>,
    county_id: Option<String>,
    county_name: Option<String>,
    county_contact: Option<Json<Option<Contact>>>,
}

#[derive(Clone, serde::Deserialize)]
struct Contact {
    name: String,
    phone: String,
}

/// An org that gets a list: who to tell and how many names are on it.
struct ListTo {
    name: String,
    contact: Option<Contact>,
    count: u32,
}

const SELECT: &str = "SELECT record_id, member_id, member_name, home_org_id, confirmed_on,
        transfer_suggested, life_on, at_place_since, has_employer, branch_name, branch_contact,
        county_id, county_name, county_contact
    FROM scheduler_review_records
    WHERE member_id > $1
    ORDER BY member_id LIMIT $2";

#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
pub async fn run(conn: &mut PgConnection, firing: &Firing<'_>) -> anyhow::Result<u64> {
    let mut pass = Pass::new(firing);
    let mut after = String::new();
    loop {
        // Everything goes on the firing's connection, in the transaction that holds its fire
        // key: the review locks nothing (it writes no record), so one transaction over the
        // whole run keeps nobody waiting, and a firing that fails leaves nothing behind. Run
        // again, it queues the same messages and events with the same ids.
        let batch: Vec<Row> = sqlx::query_as(SELECT)
            .bind(&after)
            .bind(BATCH)
            .fetch_all(&mut *conn)
            .await?;
        let Some(last) = batch.last() else { break };
        after = last.member_id.clone();
        let out = pass.review(&batch);
        writes::outbox(conn, &out).await?;
        firing.progress().await;
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    let lists = pass.lists(&firing.settings.api.public_url);
    writes::outbox(conn, &lists).await?;
    pass.written += lists.len() as u64;
    info!(
        month = %pass.month,
        suggested = pass.suggested,
        branch_lists = pass.branch_lists.len(),
        county_lists = pass.county_lists.len(),
        messages = pass.written,
        "Monthly review done."
    );
    Ok(pass.written)
}

/// One firing's review: what it reviews against, and what it has counted so far.
struct Pass {
    policy: ReviewPolicy,
    today: NaiveDate,
    month: Month,
    caused_by: EventId,
    due: DateTime<Utc>,
    branch_lists: BTreeMap<String, ListTo>,
    county_lists: BTreeMap<String, ListTo>,
    /// Transfer suggestions sent to the registry, and rows queued.
    suggested: u64,
    written: u64,
}

impl Pass {
    fn new(firing: &Firing<'_>) -> Self {
        let today = firing.due.with_timezone(&hongyan_domain::TZ).date_naive();
        Self {
            policy: firing.settings.policy.review(),
            today,
            month: Month::of_date(today),
            caused_by: keys::firing_id(firing.schedule, firing.due),
            due: firing.due,
            branch_lists: BTreeMap::new(),
            county_lists: BTreeMap::new(),
            suggested: 0,
            written: 0,
        }
    }

    /// Reviews one batch: the members' messages, the suggestions for the registry, and the
    /// names counted for the lists.
    fn review(&mut self, batch: &[Row]) -> Vec<OutboxRow> {
        let (month, caused_by, due) = (self.month, self.caused_by, self.due);
        let mut out = Vec::new();
        for row in batch {
            let r = review(&row.facts(), self.today, &self.policy);
            self.count_for_lists(row, r.months_unconfirmed, r.rung);
            if let Some(months) = r.lapse_warning {
                out.extend(lapse_warnings(row, months, month, caused_by, due));
            }
            if let Some(months) = r.suggest_transfer {
                out.extend(transfer_suggestion(row, months, month, caused_by, due));
                out.extend(suggestion_event(row, months, caused_by, due));
                self.suggested += 1;
            }
        }
        self.written += out.len() as u64;
        out
    }

    /// Counts the record on its branch's list, and on its county's when contact is lost.
    fn count_for_lists(&mut self, row: &Row, months_unconfirmed: u32, rung: Rung) {
        if self.policy.ladder.on_branch_list(months_unconfirmed) {
            count(
                &mut self.branch_lists,
                &row.home_org_id,
                &row.branch_name,
                &row.branch_contact.0,
            );
        }
        if rung == Rung::LostContact
            && let (Some(id), Some(name)) = (&row.county_id, &row.county_name)
        {
            let contact = row.county_contact.as_ref().and_then(|c| c.0.clone());
            count(&mut self.county_lists, id, name, &contact);
        }
    }

    /// The branch and county lists counted over the whole run, one message per org.
    fn lists(&self, public_url: &str) -> Vec<OutboxRow> {
        let (month, caused_by, due) = (self.month, self.caused_by, self.due);
        let base = public_url.trim_end_matches('/');
        // The console's ledger, narrowed to the list (DESIGN.md section 12: a link to a
        // contact opens a console page, after sign-in when needed, never an API path).
        let branch_url = format!(
            "{base}/console/ledger?months={}",
            self.policy.ladder.branch_list_after
        );
        let county_url = format!("{base}/console/ledger?flag=%E5%A4%B1%E8%81%94");
        let branch = self
            .branch_lists
            .iter()
            .map(|(org, to)| (STALE_LIST_BRANCH, org, to, &branch_url));
        let county = self
            .county_lists
            .iter()
            .map(|(org, to)| (LOST_CONTACT_COUNTY, org, to, &county_url));
        branch
            .chain(county)
            .flat_map(|(template, org, to, url)| {
                list_row(template, org, to, month, url, caused_by, due)
            })
            .collect()
    }
}

impl Row {
    fn facts(&self) -> RecordFacts {
        RecordFacts {
            last_confirmed_on: self.confirmed_on,
            transfer_suggested: self.transfer_suggested,
            last_life: self.life_on,
            at_place_since: self.at_place_since,
            has_employer: self.has_employer,
        }
    }
}

fn count(lists: &mut BTreeMap<String, ListTo>, id: &str, name: &str, contact: &Option<Contact>) {
    lists
        .entry(id.to_owned())
        .or_insert_with(|| ListTo {
            name: name.to_owned(),
            contact: contact.clone(),
            count: 0,
        })
        .count += 1;
}

/// `review.transfer_suggested` for the registry, which marks the record (the registry alone
/// writes it). Keyed by the firing and the record: a rerun of the firing queues the same event
/// id, which the registry drops as a duplicate.
fn suggestion_event(
    row: &Row,
    months: u32,
    caused_by: EventId,
    due: DateTime<Utc>,
) -> Option<OutboxRow> {
    let member_id = MemberId::parse(&row.member_id).ok()?;
    let kind = EventType::TransferSuggested.as_str();
    let id = EventId(keys::id_of(&format!(
        "{kind}:{caused_by}:{}",
        row.record_id
    )));
    let event = TransferSuggested {
        member_id,
        record_id: row.record_id,
        months,
    };
    Some(OutboxRow {
        routing_key: kind.into(),
        message_id: id.to_string(),
        payload: keyed_envelope(kind, id, due, event.to_wire()),
        park: None,
    })
}
