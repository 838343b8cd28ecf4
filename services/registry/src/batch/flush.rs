//! The last stage of a batch: its change list, written in a few statements
//! (`crate::sql::writes`), each kind of row in one.

use std::collections::HashMap;

use hongyan_adapters::store::rows::{HistoryRow, MemberRow, OutboxRow};
use hongyan_adapters::store::writes as shared_writes;
use hongyan_domain::OrgKind;
use hongyan_domain::ids::MemberId;
use hongyan_domain::ledger::FlowRecord;
use sqlx::PgConnection;
use uuid::Uuid;

use super::effects::{Effects, OrgWrite};
use crate::sql::study::{CompletionRow, PackRow};
use crate::sql::writes::UnmatchedRow;
use crate::sql::{certificates, study, writes};
use crate::waiting::Key;
use hongyan_domain::ledger::certificates::Sequences;

/// A flow record to write, with the version it was read at (`None`: new in this batch).
struct RecordWrite {
    rec: FlowRecord,
    read_at: Option<i64>,
}

/// What a batch writes: its events' effects, gathered in event order
/// ([`super::state::State::absorb`]). A member or record changed twice is written once, as it
/// last stood, in the place of its first change.
#[derive(Default)]
pub struct Changes {
    /// Orgs saved, in event order.
    orgs: Vec<OrgWrite>,
    members: Vec<MemberRow>,
    member_at: HashMap<MemberId, usize>,
    records: Vec<RecordWrite>,
    record_at: HashMap<Uuid, usize>,
    /// The certificate sequences, as read and as moved on.
    certificates: Sequences,
    history: Vec<HistoryRow>,
    outbox: Vec<OutboxRow>,
    unmatched: Vec<UnmatchedRow>,
    /// Packs stored, each once (its last version), in the order of its last event.
    packs: Vec<PackRow>,
    completions: Vec<CompletionRow>,
    /// Events applied (or found stale): marked processed.
    applied: Vec<Uuid>,
    /// Whether a service station was saved (the directory's GEO set follows).
    stations_changed: bool,
}

impl Changes {
    /// Adds one event's effects; `read_at` is the version its record was read at, if it was.
    pub(super) fn add(&mut self, fx: Effects, read_at: Option<i64>) {
        let Effects {
            applied,
            org,
            member,
            record,
            certificate: _,
            history,
            outbox,
            unmatched,
            pack,
            completion,
        } = fx;
        self.applied.extend(applied);
        if let Some(w) = org {
            self.stations_changed |= w.row.org.kind == OrgKind::Station;
            self.orgs.push(w);
        }
        if let Some(row) = member {
            match self.member_at.get(&row.member.id) {
                Some(&i) => self.members[i] = row,
                None => {
                    self.member_at
                        .insert(row.member.id.clone(), self.members.len());
                    self.members.push(row);
                }
            }
        }
        if let Some(rec) = record {
            match self.record_at.get(&rec.record_id) {
                Some(&i) => self.records[i].rec = rec,
                None => {
                    self.record_at.insert(rec.record_id, self.records.len());
                    self.records.push(RecordWrite { rec, read_at });
                }
            }
        }
        self.history.extend(history);
        self.outbox.extend(outbox);
        self.unmatched.extend(unmatched);
        if let Some(p) = pack {
            self.packs.retain(|r| r.pack.pack_id != p.pack.pack_id);
            self.packs.push(p);
        }
        self.completions.extend(completion);
    }

    /// The certificate sequences the batch read and moved on (its numbers are in the
    /// records; the sequences are written with the compare-and-set).
    pub(super) fn with_certificates(mut self, certificates: Sequences) -> Self {
        self.certificates = certificates;
        self
    }

    /// Changed records, oldest version first (what the directory is told).
    pub fn changed_records(&self) -> Vec<&FlowRecord> {
        let mut v: Vec<&FlowRecord> = self.records.iter().map(|w| &w.rec).collect();
        v.sort_by_key(|r| r.version);
        v
    }

    pub fn stations_changed(&self) -> bool {
        self.stations_changed
    }

    /// What this batch creates or changes that a deferred event may name: saved orgs and
    /// members, members whose records changed (and the records' certificates), new packs.
    pub fn created(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .orgs
            .iter()
            .map(|w| Key::Org(w.row.org.id.as_str().to_owned()))
            .collect();
        keys.extend(
            self.members
                .iter()
                .map(|m| Key::Member(m.member.id.as_str().to_owned())),
        );
        for RecordWrite { rec, .. } in &self.records {
            keys.push(Key::Member(rec.member_id.as_str().to_owned()));
            keys.extend(
                rec.certificate_no
                    .as_ref()
                    .map(|c| Key::Certificate(c.as_str().to_owned())),
            );
        }
        keys.extend(
            self.packs
                .iter()
                .map(|p| Key::Pack(p.pack.pack_id.as_str().to_owned())),
        );
        keys
    }
}

/// Writes a batch's changes. Returns false when another transaction applied one of these
/// events first, or changed a record or gave out a certificate number since this batch read
/// it (the caller rolls back and tries again, finding duplicates or the newer record).
#[tracing::instrument(skip_all, fields(
    events = changes.applied.len(),
    records = changes.records.len(),
    members = changes.members.len(),
    orgs = changes.orgs.len(),
))]
pub async fn flush(conn: &mut PgConnection, changes: &Changes) -> sqlx::Result<bool> {
    // Orgs first: members and records name them.
    for w in &changes.orgs {
        writes::org(conn, &w.row, w.old_path.as_deref()).await?;
    }
    writes::members(conn, &changes.members.iter().collect::<Vec<_>>()).await?;
    if !certificates::write(conn, &changes.certificates).await? {
        tracing::debug!("Another transaction gave out certificate numbers first.");
        return Ok(false);
    }
    // Existing records first: a record closed and another opened for the same member in one
    // batch must free the "one open record" slot before the new one takes it.
    let (mut changed, mut new) = (Vec::new(), Vec::new());
    for w in &changes.records {
        match w.read_at {
            Some(read_at) => changed.push((&w.rec, read_at)),
            None => new.push(&w.rec),
        }
    }
    if writes::changed_records(conn, &changed).await? != changed.len() as u64 {
        tracing::debug!("Another transaction changed a record this batch read.");
        return Ok(false);
    }
    writes::new_records(conn, &new).await?;
    writes::history(conn, &changes.history).await?;
    shared_writes::outbox(conn, &changes.outbox).await?;
    for u in &changes.unmatched {
        writes::unmatched(conn, u).await?;
    }
    study::write_packs(conn, &changes.packs).await?;
    study::write_completions(conn, &changes.completions).await?;
    let fresh = writes::processed(conn, &changes.applied).await?;
    tracing::debug!(new = fresh, "Batch written.");
    Ok(fresh == changes.applied.len() as u64)
}
