//! The working set of one batch: everything its events touch, loaded in a few queries, changed
//! in memory by the ledger rules in event order, and written back in a few statements.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset};
use hongyan_adapters::store::rows::{HistoryRow, MemberRow, OrgRow, OutboxRow};
use hongyan_adapters::store::{reads as shared_reads, writes as shared_writes};
use hongyan_domain::Envelope;
use hongyan_domain::envelope::EventData;
use hongyan_domain::ids::{CertificateNo, MemberId, OrgId};
use hongyan_domain::ledger::{self, FlowRecord};
use hongyan_domain::payloads::{ArrivalKey, NewOrg, Subject};
use hongyan_domain::station::StationRef;
use sqlx::PgConnection;

use crate::certificates::Sequences;
use crate::sql::writes::UnmatchedRow;
use crate::sql::{certificates, reads, study, writes};
use crate::waiting::Key;
use uuid::Uuid;

/// One member's entry as it was, see [`WorkingSet::snapshot_member`].
pub struct MemberSnapshot {
    id: MemberId,
    row: Option<MemberRow>,
    dirty: bool,
}

/// An org as one `org.upserted` saved it, written at flush in event order: when its place in
/// the tree changed, every descendant's stored path follows (which only the database knows
/// all of).
#[derive(Clone, Debug)]
pub struct OrgWrite {
    pub row: OrgRow,
    /// Its path before this event, or `None` for a new org.
    pub old_path: Option<Vec<String>>,
}

#[derive(Default)]
pub struct WorkingSet {
    pub processed: HashSet<Uuid>,
    pub members: HashMap<MemberId, MemberRow>,
    pub orgs: HashMap<OrgId, OrgRow>,
    /// Every record touched, by id.
    records: HashMap<Uuid, FlowRecord>,
    /// Each member's open record.
    open: HashMap<MemberId, Uuid>,
    /// Each member's newest record, open or closed.
    latest: HashMap<MemberId, Uuid>,
    pub by_certificate: HashMap<CertificateNo, MemberId>,
    pub stations: Vec<StationRef>,
    // What to write.
    dirty_records: Vec<Uuid>,
    /// Records read from the database, with the version read (written back only where the
    /// row still holds it).
    loaded_records: HashMap<Uuid, i64>,
    dirty_members: Vec<MemberId>,
    pub dirty_stations: bool,
    /// Orgs saved by this batch, in event order.
    pub org_writes: Vec<OrgWrite>,
    /// The activity-certificate sequences of the counties and years this batch may number in.
    pub certificates: Sequences,
    pub history: Vec<HistoryRow>,
    pub outbox: Vec<OutboxRow>,
    pub unmatched: Vec<UnmatchedRow>,
    pub applied: Vec<Uuid>,
    /// Study packs that exist, with the time of the event that last set each.
    pub packs: HashMap<String, DateTime<FixedOffset>>,
    /// (member, pack) completions already recorded.
    pub completed: HashSet<(String, String)>,
    pub new_packs: Vec<study::PackRow>,
    pub new_completions: Vec<study::CompletionRow>,
}

fn strings<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let set: HashSet<&str> = ids.into_iter().collect();
    let mut v: Vec<String> = set.into_iter().map(str::to_owned).collect();
    v.sort();
    v
}

impl WorkingSet {
    /// Loads what `events` need. Open records are locked until the transaction ends.
    pub async fn load(conn: &mut PgConnection, events: &[Envelope]) -> sqlx::Result<Self> {
        let mut ws = WorkingSet::default();
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id.0).collect();
        ws.processed = reads::processed(conn, &ids).await?.into_iter().collect();
        let named = Named::of(events);
        // Each query below is skipped when the batch asks it nothing: a round trip saved per
        // kind of thing the batch does not name (most batches name no certificate or phone).
        ws.load_members_and_records(conn, &named).await?;
        ws.load_orgs(conn, &named).await?;
        if named.any_outbound {
            ws.stations = reads::stations(conn).await?;
            ws.load_certificates(conn, &named).await?;
        }
        for (id, at) in study::packs(conn, &strings(named.pack_ids.iter().copied())).await? {
            ws.packs.insert(id, at.fixed_offset());
        }
        ws.completed = study::completions(conn, &named.done_members, &named.done_packs).await?;
        Ok(ws)
    }

    /// The members the batch names (by id, by certificate, by phone) and their records: the
    /// open one, or the newest closed one for a member away from none.
    async fn load_members_and_records(
        &mut self,
        conn: &mut PgConnection,
        named: &Named<'_>,
    ) -> sqlx::Result<()> {
        let by_cert = if named.certs.is_empty() {
            Vec::new()
        } else {
            reads::records_by_certificate(conn, &strings(named.certs.iter().copied())).await?
        };
        for r in &by_cert {
            if let Some(c) = &r.certificate_no {
                self.by_certificate.insert(c.clone(), r.member_id.clone());
            }
        }
        let mut wanted = strings(
            named
                .member_ids
                .iter()
                .copied()
                .chain(by_cert.iter().map(|r| r.member_id.as_str())),
        );
        let mut rows = if wanted.is_empty() {
            Vec::new()
        } else {
            shared_reads::members(conn, &wanted).await?
        };
        if !named.phones.is_empty() {
            rows.extend(
                reads::members_by_phone(conn, &strings(named.phones.iter().copied())).await?,
            );
        }
        for row in rows {
            self.members.insert(row.member.id.clone(), row);
        }
        wanted = strings(self.members.keys().map(MemberId::as_str));
        if !wanted.is_empty() {
            for rec in reads::open_records(conn, &wanted).await? {
                self.remember(rec);
            }
        }
        // An open record is always its member's newest (a new one opens only after the last
        // closed), so only members away from no record need the look back.
        let closed_only: Vec<String> = wanted
            .into_iter()
            .filter(|m| MemberId::parse(m).is_ok_and(|id| !self.open.contains_key(&id)))
            .collect();
        if !closed_only.is_empty() {
            for rec in reads::latest_records(conn, &closed_only)
                .await?
                .into_values()
            {
                self.remember(rec);
            }
        }
        Ok(())
    }

    /// The orgs the batch names, its members' home orgs and its records' inflow orgs.
    async fn load_orgs(&mut self, conn: &mut PgConnection, named: &Named<'_>) -> sqlx::Result<()> {
        let more_orgs = self
            .members
            .values()
            .map(|m| m.member.home_org_id.as_str())
            .chain(
                self.records
                    .values()
                    .filter_map(|r| r.inflow_org_id.as_ref().map(|o| o.as_str())),
            );
        let org_rows = shared_reads::orgs(
            conn,
            &strings(named.org_ids.iter().copied().chain(more_orgs)),
        )
        .await?;
        for row in org_rows {
            self.orgs.insert(row.org.id.clone(), row);
        }
        Ok(())
    }

    /// The certificate sequences the batch's departures may number in.
    async fn load_certificates(
        &mut self,
        conn: &mut PgConnection,
        named: &Named<'_>,
    ) -> sqlx::Result<()> {
        // A departure numbers its certificate in its member's home county, and the home
        // org is one of the batch's orgs (loaded above, or saved by an earlier event of the
        // batch), so these are every county and year the batch can number in.
        let mut counties: Vec<String> = self
            .orgs
            .values()
            .map(|o| o.org.region_code.county())
            .chain(named.new_counties.iter().cloned())
            .collect();
        counties.sort_unstable();
        counties.dedup();
        let mut years = named.years.clone();
        years.sort_unstable();
        years.dedup();
        self.certificates = certificates::read(conn, &counties, &years).await?;
        Ok(())
    }

    fn remember(&mut self, rec: FlowRecord) {
        let id = rec.record_id;
        let member = rec.member_id.clone();
        if rec.status.is_open() {
            self.open.insert(member.clone(), id);
        }
        let newer = self
            .latest
            .get(&member)
            .and_then(|l| self.records.get(l))
            .is_none_or(|l| l.version <= rec.version);
        if newer {
            self.latest.insert(member, id);
        }
        self.loaded_records.insert(id, rec.version);
        self.records.insert(id, rec);
    }

    pub fn open_record(&self, member: &MemberId) -> Option<&FlowRecord> {
        self.open.get(member).and_then(|id| self.records.get(id))
    }

    pub fn latest_record(&self, member: &MemberId) -> Option<&FlowRecord> {
        self.latest.get(member).and_then(|id| self.records.get(id))
    }

    /// The version the member's next change counts on from.
    pub fn last_version(&self, member: &MemberId) -> i64 {
        self.latest_record(member).map_or(0, |r| r.version)
    }

    /// Stores a new or changed record.
    pub fn put_record(&mut self, rec: FlowRecord) {
        let id = rec.record_id;
        let member = rec.member_id.clone();
        if rec.status.is_open() {
            self.open.insert(member.clone(), id);
        } else if self.open.get(&member) == Some(&id) {
            self.open.remove(&member);
        }
        if let Some(c) = &rec.certificate_no {
            self.by_certificate.insert(c.clone(), member.clone());
        }
        self.latest.insert(member, id);
        if !self.dirty_records.contains(&id) {
            self.dirty_records.push(id);
        }
        self.records.insert(id, rec);
    }

    /// What `put_member` would change for `id`, to put back if the event is refused.
    pub fn snapshot_member(&self, id: &MemberId) -> MemberSnapshot {
        MemberSnapshot {
            id: id.clone(),
            row: self.members.get(id).cloned(),
            dirty: self.dirty_members.contains(id),
        }
    }

    /// Undoes the `put_member` calls made since `snapshot`.
    pub fn restore_member(&mut self, snapshot: MemberSnapshot) {
        let MemberSnapshot { id, row, dirty } = snapshot;
        if !dirty {
            self.dirty_members.retain(|d| d != &id);
        }
        match row {
            Some(row) => self.members.insert(id, row),
            None => self.members.remove(&id),
        };
    }

    pub fn put_member(&mut self, row: MemberRow) {
        let id = row.member.id.clone();
        if !self.dirty_members.contains(&id) {
            self.dirty_members.push(id.clone());
        }
        self.members.insert(id, row);
    }

    /// What this batch creates or changes that a deferred event may name: saved orgs and
    /// members, members whose records changed (and the records' certificates), new packs.
    pub fn created(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .org_writes
            .iter()
            .map(|w| Key::Org(w.row.org.id.as_str().to_owned()))
            .collect();
        keys.extend(
            self.dirty_members
                .iter()
                .map(|m| Key::Member(m.as_str().to_owned())),
        );
        for rec in self
            .dirty_records
            .iter()
            .filter_map(|id| self.records.get(id))
        {
            keys.push(Key::Member(rec.member_id.as_str().to_owned()));
            keys.extend(
                rec.certificate_no
                    .as_ref()
                    .map(|c| Key::Certificate(c.as_str().to_owned())),
            );
        }
        keys.extend(
            self.new_packs
                .iter()
                .map(|p| Key::Pack(p.pack.pack_id.as_str().to_owned())),
        );
        keys
    }

    /// Changed records, oldest version first (what the directory is told).
    pub fn changed_records(&self) -> Vec<&FlowRecord> {
        let mut v: Vec<&FlowRecord> = self
            .dirty_records
            .iter()
            .filter_map(|id| self.records.get(id))
            .collect();
        v.sort_by_key(|r| r.version);
        v
    }

    /// Writes everything. Returns false when another transaction applied one of these events
    /// first, or changed a record or gave out a certificate number since this batch read it (the caller rolls back and tries
    /// again, finding duplicates or the newer record).
    #[tracing::instrument(skip_all, fields(
        events = self.applied.len(),
        records = self.dirty_records.len(),
        members = self.dirty_members.len(),
        orgs = self.org_writes.len(),
    ))]
    pub async fn flush(&self, conn: &mut PgConnection) -> sqlx::Result<bool> {
        // Orgs first: members and records name them.
        for w in &self.org_writes {
            writes::org(conn, &w.row, w.old_path.as_deref()).await?;
        }
        let members: Vec<&MemberRow> = self
            .dirty_members
            .iter()
            .filter_map(|id| self.members.get(id))
            .collect();
        writes::members(conn, &members).await?;
        if !certificates::write(conn, &self.certificates).await? {
            tracing::debug!("Another transaction gave out certificate numbers first.");
            return Ok(false);
        }
        // Existing records first: a record closed and another opened for the same member in
        // one batch must free the "one open record" slot before the new one takes it.
        let (mut changed, mut new) = (Vec::new(), Vec::new());
        for rec in self
            .dirty_records
            .iter()
            .filter_map(|id| self.records.get(id))
        {
            match self.loaded_records.get(&rec.record_id) {
                Some(read_at) => changed.push((rec, *read_at)),
                None => new.push(rec),
            }
        }
        if writes::changed_records(conn, &changed).await? != changed.len() as u64 {
            tracing::debug!("Another transaction changed a record this batch read.");
            return Ok(false);
        }
        writes::new_records(conn, &new).await?;
        writes::history(conn, &self.history).await?;
        shared_writes::outbox(conn, &self.outbox).await?;
        for u in &self.unmatched {
            writes::unmatched(conn, u).await?;
        }
        study::write_packs(conn, &self.new_packs).await?;
        study::write_completions(conn, &self.new_completions).await?;
        let fresh = writes::processed(conn, &self.applied).await?;
        tracing::debug!(new = fresh, "Working set written.");
        Ok(fresh == self.applied.len() as u64)
    }
}

/// What a batch's events name, gathered before anything is read.
#[derive(Default)]
struct Named<'e> {
    member_ids: Vec<&'e str>,
    org_ids: Vec<&'e str>,
    phones: Vec<&'e str>,
    certs: Vec<&'e str>,
    pack_ids: Vec<&'e str>,
    done_members: Vec<String>,
    done_packs: Vec<String>,
    any_outbound: bool,
    /// Counties of orgs the batch saves, and years its departures fall in.
    new_counties: Vec<String>,
    years: Vec<i32>,
}

impl<'e> Named<'e> {
    fn of(events: &'e [Envelope]) -> Self {
        let mut n = Named::default();
        for e in events {
            if let Some(org) = e.actor.org_id() {
                n.org_ids.push(org.as_str());
            }
            if let Some(m) = e.data.member_id() {
                n.member_ids.push(m.as_str());
            }
            match &e.data {
                EventData::OrgUpserted(o) => {
                    n.new_counties.push(o.region_code.county());
                    n.org_ids.push(o.id.as_str());
                    n.org_ids.extend(o.parent_id.as_ref().map(|p| p.as_str()));
                }
                EventData::MemberUpserted(m) => n.org_ids.push(m.home_org_id.as_str()),
                EventData::Outbound(o) => {
                    n.any_outbound = true;
                    n.years.push(ledger::certificate_year(o));
                    if let Subject::Full(m) = &o.subject {
                        n.org_ids.push(m.home_org_id.as_str());
                    }
                    n.org_ids
                        .extend(o.inflow_org_id.as_ref().map(|p| p.as_str()));
                }
                EventData::Inbound(i) => {
                    for key in &i.keys {
                        match key {
                            ArrivalKey::Certificate(c) => n.certs.push(c.as_str()),
                            ArrivalKey::Person {
                                phone, home_org_id, ..
                            } => {
                                n.phones.push(phone.as_str());
                                n.org_ids.extend(home_org_id.as_ref().map(|p| p.as_str()));
                            }
                            ArrivalKey::MemberId(_) => {}
                        }
                    }
                }
                EventData::Transfer(t) => {
                    if let NewOrg::Known(id) = &t.new_org {
                        n.org_ids.push(id.as_str());
                    }
                }
                EventData::StudyPublished(p) => {
                    n.pack_ids.push(p.pack_id.as_str());
                    n.org_ids
                        .extend(p.audience.org_ids.iter().map(|o| o.as_str()));
                }
                EventData::StudyCompleted(c) => {
                    n.pack_ids.push(c.pack_id.as_str());
                    n.done_members.push(c.member_id.as_str().to_owned());
                    n.done_packs.push(c.pack_id.as_str().to_owned());
                }
                _ => {}
            }
        }
        n
    }
}
