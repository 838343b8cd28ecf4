//! `monthly_review` (DESIGN.md section 4): whole months unconfirmed for every open record, the
//! staleness ladder, lapse warnings and transfer suggestions. The decisions are the domain's
//! (`rules::monthly::review`); this file reads the facts in batches, writes the changes through
//! the ledger (the row, a history line, `ledger.changed`) and queues the messages.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use hongyan_adapters::store::rows::{HistoryRow, OutboxRow};
use hongyan_adapters::store::writes;
use hongyan_domain::envelope::keyed_envelope;
use hongyan_domain::ids::{EventId, MemberId, OrgId, Phone};
use hongyan_domain::month::Month;
use hongyan_domain::notify::{NotificationRequest, Recipient, To};
use hongyan_domain::rules::keys::{self, Subject};
use hongyan_domain::rules::monthly::{Ladder, RecordFacts, ReviewPolicy, Rung, review};
use serde_json::json;
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

/// One open record with what the review reads, its member and the orgs that hear about it.
#[derive(sqlx::FromRow)]
struct Row {
    id: uuid::Uuid,
    member_id: String,
    member_name: String,
    home_org_id: String,
    status: String,
    region_code: String,
    certificate_no: Option<String>,
    version: i64,
    confirmed_on: NaiveDate,
    months_unconfirmed: i32,
    flags: Json<Vec<String>>,
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

const SELECT: &str = "SELECT r.id, r.member_id, COALESCE(m.doc->>'name', r.member_id) AS member_name,
        r.home_org_id, r.status, r.region_code, r.certificate_no, r.version,
        COALESCE(r.last_confirmed_on, (r.doc->>'left_on')::date, (r.doc->>'arrived_on')::date,
                 r.opened_at::date) AS confirmed_on,
        r.months_unconfirmed, COALESCE(r.doc->'flags', '[]'::jsonb) AS flags,
        COALESCE((r.doc->>'transfer_suggested')::bool, false) AS transfer_suggested,
        GREATEST((r.doc->'contacts'->>'talk')::date, (r.doc->'contacts'->>'family_visit')::date,
                 (r.doc->'contacts'->>'home_meeting')::date, (r.doc->'contacts'->>'phone')::date,
                 (SELECT max(s.completed_on) FROM study_completions s WHERE s.member_id = r.member_id)) AS life_on,
        COALESCE((r.doc->>'arrived_on')::date, (r.doc->>'left_on')::date) AS at_place_since,
        COALESCE(r.doc->'location'->>'employer', '') <> '' AS has_employer,
        b.name AS branch_name, b.contact AS branch_contact,
        d.id AS county_id, d.name AS county_name, d.contact AS county_contact
    FROM flow_records r
    JOIN members m ON m.id = r.member_id
    JOIN orgs b ON b.id = r.home_org_id
    LEFT JOIN LATERAL (
        SELECT o.id, o.name, o.contact FROM orgs o
        WHERE o.id = ANY(b.path) AND o.kind = 'department'
          AND length(o.region_code) = 6 AND right(o.region_code, 2) <> '00'
        ORDER BY cardinality(o.path) DESC LIMIT 1) d ON true
    WHERE r.is_open AND r.member_id > $1
    ORDER BY r.member_id LIMIT $2
    FOR UPDATE OF r";

#[instrument(skip_all, fields(schedule = firing.schedule, due = %firing.due))]
pub async fn run(conn: &mut PgConnection, firing: &Firing<'_>) -> anyhow::Result<u64> {
    let mut pass = Pass::new(firing);
    let mut after = String::new();
    loop {
        // Locked per batch, not per firing. The firing's own transaction (`conn`) holds the
        // fire key and nothing else, so another replica still waits on the key and then finds
        // it taken. Each batch is locked (FOR UPDATE OF r), reviewed, written (rows, history,
        // ledger.changed, the members' messages) and committed in a short transaction of its
        // own: a confirmation the registry applies meanwhile finds the record's version moved
        // and applies again on top of it, where one transaction over the whole firing held a
        // million rows locked for minutes.
        //
        // Should the firing fail half way, the committed batches stay and the key rolls back.
        // Running it again reviews those records again and finds nothing to change (the review
        // is a function of the record and the month), so no second history line or
        // ledger.changed; a lapse warning queued again carries the same key and event id,
        // which the notifier drops, and a transfer suggestion is not queued again because its
        // flag was committed with it. The lists are counted over every batch of the run and
        // written with the fire key: they go once.
        let mut tx = firing.pool.begin().await?;
        let batch: Vec<Row> = sqlx::query_as(SELECT)
            .bind(&after)
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
        let Some(last) = batch.last() else { break };
        after = last.member_id.clone();
        pass.review(&batch).write(&mut tx).await?;
        tx.commit().await?;
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
        changed = pass.changed,
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
    /// Records changed and messages queued.
    changed: u64,
    written: u64,
}

/// What one batch writes, in its own transaction.
#[derive(Default)]
struct BatchWrites {
    updates: Updates,
    history: Vec<HistoryRow>,
    out: Vec<OutboxRow>,
}

impl BatchWrites {
    async fn write(self, tx: &mut PgConnection) -> sqlx::Result<()> {
        self.updates.write(tx).await?;
        writes::history(tx, &self.history).await?;
        writes::outbox(tx, &self.out).await
    }
}

impl Pass {
    fn new(firing: &Firing<'_>) -> Self {
        let p = &firing.settings.policy;
        let today = firing.due.with_timezone(&hongyan_domain::TZ).date_naive();
        Self {
            policy: ReviewPolicy {
                ladder: Ladder {
                    stale_after: p.stale_after_months,
                    branch_list_after: p.branch_list_after_months,
                    lost_contact_after: p.lost_contact_after_months,
                },
                lapse_warning_after: p.lapse_warning_after_months,
                transfer_suggestion_after: p.transfer_suggestion_after_months,
            },
            today,
            month: Month::of_date(today),
            caused_by: keys::firing_id(firing.schedule, firing.due),
            due: firing.due,
            branch_lists: BTreeMap::new(),
            county_lists: BTreeMap::new(),
            changed: 0,
            written: 0,
        }
    }

    /// Reviews one batch: the records that change, the members' messages, and the names
    /// counted for the lists.
    fn review(&mut self, batch: &[Row]) -> BatchWrites {
        let (month, caused_by, due) = (self.month, self.caused_by, self.due);
        let mut w = BatchWrites::default();
        for row in batch {
            let facts = row.facts();
            let r = review(&facts, self.today, &self.policy);
            if r.changes(&facts) {
                let version = row.version + 1;
                w.updates.push(row.id, &r, version);
                w.history.push(history_row(row, &r, caused_by, due));
                w.out
                    .push(ledger_changed(row, &r.flags, version, caused_by, due));
            }
            self.count_for_lists(row, r.months_unconfirmed);
            if let Some(months) = r.lapse_warning {
                w.out
                    .extend(lapse_warnings(row, months, month, caused_by, due));
            }
            if let Some(months) = r.suggest_transfer {
                w.out
                    .extend(transfer_suggestion(row, months, month, caused_by, due));
            }
        }
        self.changed += w.updates.ids.len() as u64;
        self.written += w.out.len() as u64;
        w
    }

    /// Counts the record on its branch's list, and on its county's when contact is lost.
    fn count_for_lists(&mut self, row: &Row, months_unconfirmed: u32) {
        let ladder = &self.policy.ladder;
        if ladder.on_branch_list(months_unconfirmed) {
            count(
                &mut self.branch_lists,
                &row.home_org_id,
                &row.branch_name,
                &row.branch_contact.0,
            );
        }
        if ladder.rung(months_unconfirmed) == Rung::LostContact
            && let (Some(id), Some(name)) = (&row.county_id, &row.county_name)
        {
            let contact = row.county_contact.as_ref().and_then(|c| c.0.clone());
            count(&mut self.county_lists, id, name, &contact);
        }
    }

    /// The branch and county lists counted over the whole run, one message per org.
    fn lists(&self, public_url: &str) -> Vec<OutboxRow> {
        let (month, caused_by, due) = (self.month, self.caused_by, self.due);
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
                list_row(template, org, to, month, public_url, caused_by, due)
            })
            .collect()
    }
}

impl Row {
    fn facts(&self) -> RecordFacts {
        RecordFacts {
            last_confirmed_on: self.confirmed_on,
            months_unconfirmed: self.months_unconfirmed.max(0) as u32,
            flags: self.flags.0.clone(),
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

/// The changed rows of a batch, written in one statement.
#[derive(Default)]
struct Updates {
    ids: Vec<uuid::Uuid>,
    months: Vec<i32>,
    flags: Vec<serde_json::Value>,
    transfer: Vec<bool>,
    versions: Vec<i64>,
}

impl Updates {
    fn push(&mut self, id: uuid::Uuid, r: &hongyan_domain::rules::monthly::Review, version: i64) {
        self.ids.push(id);
        self.months.push(r.months_unconfirmed as i32);
        self.flags.push(json!(r.flags));
        self.transfer.push(r.transfer_suggested);
        self.versions.push(version);
    }

    async fn write(self, conn: &mut PgConnection) -> sqlx::Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        // The columns and the record's document move together, as the registry writes them.
        sqlx::query(
            "UPDATE flow_records r SET months_unconfirmed = u.months, version = u.version,
                 doc = r.doc || jsonb_build_object('months_unconfirmed', u.months, 'flags', u.flags,
                     'transfer_suggested', u.transfer, 'version', u.version),
                 updated_at = now()
             FROM UNNEST($1::uuid[], $2::int[], $3::jsonb[], $4::bool[], $5::bigint[])
                 AS u(id, months, flags, transfer, version)
             WHERE r.id = u.id",
        )
        .bind(self.ids)
        .bind(self.months)
        .bind(self.flags)
        .bind(self.transfer)
        .bind(self.versions)
        .execute(conn)
        .await?;
        Ok(())
    }
}

fn history_row(
    row: &Row,
    r: &hongyan_domain::rules::monthly::Review,
    caused_by: EventId,
    due: DateTime<Utc>,
) -> HistoryRow {
    HistoryRow {
        event_id: caused_by,
        event_type: "monthly_review",
        member_id: MemberId::parse(&row.member_id).ok(),
        org_id: OrgId::parse(&row.home_org_id).ok(),
        record_id: Some(row.id),
        occurred_at: due.fixed_offset(),
        actor: json!({"system": "hongyan"}),
        data: json!({
            "months_unconfirmed": r.months_unconfirmed,
            "flags": r.flags,
            "transfer_suggested": r.transfer_suggested,
        }),
        applied: true,
        note: None,
    }
}

fn ledger_changed(
    row: &Row,
    flags: &[String],
    version: i64,
    caused_by: EventId,
    due: DateTime<Utc>,
) -> OutboxRow {
    // Keyed by the firing and the record's new version: a rerun cannot produce it again (the
    // fire key stops it), and a relay that publishes twice is dropped downstream.
    let id = EventId(keys::id_of(&format!(
        "ledger.changed:{caused_by}:{}:{version}",
        row.id
    )));
    let data = json!({
        "member_id": row.member_id,
        "home_org_id": row.home_org_id,
        "status": row.status,
        "region_code": row.region_code,
        "version": version,
        "certificate_no": row.certificate_no,
        "flags": flags,
        "caused_by": caused_by,
    });
    OutboxRow {
        routing_key: "ledger.changed".into(),
        message_id: id.to_string(),
        payload: keyed_envelope("ledger.changed", id, due, data),
        park: None,
    }
}
