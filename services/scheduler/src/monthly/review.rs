//! `monthly_review` (DESIGN.md section 4): whole months unconfirmed for every open record, the
//! staleness ladder, lapse warnings and transfer suggestions. The decisions are the domain's
//! (`rules::monthly::review`); this file reads the facts in batches through the registry's
//! view `scheduler_review_records` (migration 0016) and queues messages. It writes no ledger
//! table: months unconfirmed and the ladder's flags are derived where they are read
//! (`rules::monthly::standing`), and a transfer suggestion reaches the registry as
//! `review.transfer_suggested`, which marks the record so the branch is asked once.
//!
//! What a contact hears of one firing is one SMS (DESIGN.md section 4, "Who gets lists"): the
//! branch contact how many of its members are on each list (two months unconfirmed, 失联,
//! lapse warning, newly asked to transfer), the county department's contact how many of its
//! county's are lost or at risk of lapsing, each with the console's 工作台 link where the lists
//! are. Never one SMS per member: forty members lost in a county used to send its contact
//! forty-one, and the per-phone daily cap then pushed the county's own list to the next day.

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
use messages::list_row;

/// Templates under `config/templates/`: the branch contact's summary of the firing, and the
/// county department contact's.
pub const STALE_LIST_BRANCH: &str = "stale_list_branch";
pub const LOST_CONTACT_COUNTY: &str = "lost_contact_county";

/// One open record as `scheduler_review_records` gives it: what the review reads, its member
/// and the orgs that hear about it.
#[derive(sqlx::FromRow)]
struct Row {
    record_id: uuid::Uuid,
    member_id: String,
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

/// An org that gets the firing's summary: who to tell, and how many of its members are on
/// each list.
struct ListTo {
    name: String,
    contact: Option<Contact>,
    counts: Counts,
}

/// How many members are on each list of an org's summary.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    /// `branch_list_after` whole months or more unconfirmed (the branch's list).
    stale: u32,
    /// 失联: `lost_contact_after` months or more.
    lost_contact: u32,
    /// The lapse warning (党章 art. 9).
    lapse_risk: u32,
    /// Asked by this firing to transfer the relationship (应转尽转).
    transfer_suggested: u32,
}

/// Which count a record adds to.
#[derive(Clone, Copy)]
enum On {
    Stale,
    LostContact,
    LapseRisk,
    TransferSuggested,
}

const SELECT: &str = "SELECT record_id, member_id, home_org_id, confirmed_on,
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

    /// Reviews one batch: the suggestions for the registry, and the members counted on the
    /// lists (their messages are the summaries sent once the whole run is counted).
    fn review(&mut self, batch: &[Row]) -> Vec<OutboxRow> {
        let (caused_by, due) = (self.caused_by, self.due);
        let mut out = Vec::new();
        for row in batch {
            let r = review(&row.facts(), self.today, &self.policy);
            if self.policy.ladder.on_branch_list(r.months_unconfirmed) {
                self.count(row, On::Stale, false);
            }
            if r.rung == Rung::LostContact {
                self.count(row, On::LostContact, true);
            }
            if r.lapse_warning.is_some() {
                self.count(row, On::LapseRisk, true);
            }
            if let Some(months) = r.suggest_transfer {
                out.extend(suggestion_event(row, months, caused_by, due));
                self.count(row, On::TransferSuggested, false);
                self.suggested += 1;
            }
        }
        self.written += out.len() as u64;
        out
    }

    /// Counts the record on its branch's summary, and on its county's when `county` says the
    /// county department hears of it too.
    fn count(&mut self, row: &Row, on: On, county: bool) {
        let contact = &row.branch_contact.0;
        add(
            &mut self.branch_lists,
            &row.home_org_id,
            &row.branch_name,
            contact,
            on,
        );
        if county && let (Some(id), Some(name)) = (&row.county_id, &row.county_name) {
            let contact = row.county_contact.as_ref().and_then(|c| c.0.clone());
            add(&mut self.county_lists, id, name, &contact, on);
        }
    }

    /// One summary per org contact over the whole run, linking to the console's 工作台 (a
    /// link to a contact opens a console page, after sign-in when needed, never an API path).
    fn lists(&self, public_url: &str) -> Vec<OutboxRow> {
        let (month, caused_by, due) = (self.month, self.caused_by, self.due);
        let url = format!("{}/console/", public_url.trim_end_matches('/'));
        let branch = self
            .branch_lists
            .iter()
            .map(|(org, to)| (STALE_LIST_BRANCH, org, to));
        let county = self
            .county_lists
            .iter()
            .map(|(org, to)| (LOST_CONTACT_COUNTY, org, to));
        branch
            .chain(county)
            .flat_map(|(template, org, to)| {
                list_row(template, org, to, month, &url, caused_by, due)
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

fn add(
    lists: &mut BTreeMap<String, ListTo>,
    id: &str,
    name: &str,
    contact: &Option<Contact>,
    on: On,
) {
    let to = lists.entry(id.to_owned()).or_insert_with(|| ListTo {
        name: name.to_owned(),
        contact: contact.clone(),
        counts: Counts::default(),
    });
    let c = &mut to.counts;
    match on {
        On::Stale => c.stale += 1,
        On::LostContact => c.lost_contact += 1,
        On::LapseRisk => c.lapse_risk += 1,
        On::TransferSuggested => c.transfer_suggested += 1,
    }
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
