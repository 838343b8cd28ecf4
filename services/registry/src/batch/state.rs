//! The ledger as one batch sees it: what the loader read ([`super::load`]), moved on by each
//! applied event's effects. The rules read it through the methods below and never change it;
//! only [`State::absorb`] does, which also adds the effects to the batch's change list
//! ([`Changes`]) for the flush.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset};
use hongyan_adapters::store::rows::{MemberRow, OrgRow};
use hongyan_domain::ids::{CertificateNo, MemberId, OrgId, Phone};
use hongyan_domain::ledger::FlowRecord;
use hongyan_domain::station::StationRef;
use uuid::Uuid;

use super::effects::Effects;
use super::flush::Changes;
use super::load::Loaded;
use hongyan_domain::ledger::certificates::Sequences;

/// The batch's view of the ledger. Every field is read by the rules through a method, and
/// changed by `absorb` alone, in event order: a batch is applied by one task, so no lock.
#[derive(Default)]
pub struct State {
    /// Events already applied: those of the batch found in `processed_events` at load, and
    /// those the batch applied since (a second copy in the same batch is a duplicate).
    processed: HashSet<Uuid>,
    members: HashMap<MemberId, MemberRow>,
    orgs: HashMap<OrgId, OrgRow>,
    /// Every record read or changed, by id.
    records: HashMap<Uuid, FlowRecord>,
    /// Each member's open record.
    open: HashMap<MemberId, Uuid>,
    /// Each member's newest record, open or closed.
    latest: HashMap<MemberId, Uuid>,
    by_certificate: HashMap<CertificateNo, MemberId>,
    stations: Vec<StationRef>,
    /// Records read from the database, with the version read: the flush writes a changed one
    /// back only where the row still holds that version (the optimistic check).
    read_versions: HashMap<Uuid, i64>,
    /// The certificate sequences the batch may number in, as read and as moved on.
    certificates: Sequences,
    /// Study packs that exist, with the time of the event that last set each.
    packs: HashMap<String, DateTime<FixedOffset>>,
    /// (member, pack) completions already recorded.
    completed: HashSet<(String, String)>,
    /// What the batch changed so far, for the flush.
    changes: Changes,
}

impl From<Loaded> for State {
    fn from(loaded: Loaded) -> Self {
        let Loaded {
            processed,
            members,
            orgs,
            records,
            by_certificate,
            stations,
            certificates,
            packs,
            completed,
        } = loaded;
        let mut state = State {
            processed,
            members,
            orgs,
            by_certificate,
            stations,
            certificates,
            packs,
            completed,
            ..State::default()
        };
        for rec in records {
            state.remember_loaded(rec);
        }
        state
    }
}

impl State {
    /// Whether the event was applied before (at load, or earlier in the batch).
    pub fn is_processed(&self, event: &Uuid) -> bool {
        self.processed.contains(event)
    }

    pub fn org(&self, id: &OrgId) -> Option<&OrgRow> {
        self.orgs.get(id)
    }

    pub fn member(&self, id: &MemberId) -> Option<&MemberRow> {
        self.members.get(id)
    }

    /// The members with this phone (the batch loaded every member whose phone an arrival
    /// names).
    pub fn members_with_phone(&self, phone: &Phone) -> Vec<&MemberRow> {
        self.members
            .values()
            .filter(|m| &m.member.phone == phone)
            .collect()
    }

    /// The member whose record carries this certificate number.
    pub fn member_by_certificate(&self, no: &CertificateNo) -> Option<&MemberId> {
        self.by_certificate.get(no)
    }

    pub fn stations(&self) -> &[StationRef] {
        &self.stations
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

    /// The certificate number the next departure of `county` in `year` would get, or `None`
    /// once the year's numbers are all given out.
    pub fn next_certificate(&self, county: &str, year: i32) -> Option<u32> {
        self.certificates.peek(county, year)
    }

    /// When the study pack was last set, if it exists.
    pub fn pack_set_at(&self, id: &str) -> Option<DateTime<FixedOffset>> {
        self.packs.get(id).copied()
    }

    /// Whether the member's completion of the pack is recorded.
    pub fn has_completed(&self, member: &MemberId, pack: &str) -> bool {
        self.completed
            .contains(&(member.as_str().to_owned(), pack.to_owned()))
    }

    /// Takes one event's effects in: the view moves on (the next event sees them) and the
    /// change list grows.
    pub fn absorb(&mut self, fx: Effects) {
        if let Some(id) = fx.applied {
            self.processed.insert(id);
        }
        if let Some(w) = &fx.org {
            let id = &w.row.org.id;
            if let Some(old) = w.moved_from() {
                // Keep the batch's copies of descendants in step with what the database does
                // at flush.
                for other in self.orgs.values_mut() {
                    if other.path.contains(id) && &other.org.id != id {
                        let below: Vec<OrgId> =
                            other.path.iter().skip(old.len()).cloned().collect();
                        other.path = w.row.path.iter().cloned().chain(below).collect();
                    }
                }
            }
            self.orgs.insert(id.clone(), w.row.clone());
        }
        if let Some(row) = &fx.member {
            self.members.insert(row.member.id.clone(), row.clone());
        }
        let read_version = fx.record.as_ref().and_then(|rec| {
            self.put_record(rec.clone());
            self.read_versions.get(&rec.record_id).copied()
        });
        if let Some(n) = &fx.certificate {
            self.certificates.take(&n.county, n.year, n.seq);
        }
        if let Some(p) = &fx.pack {
            self.packs
                .insert(p.pack.pack_id.as_str().to_owned(), p.published_at);
        }
        if let Some(c) = &fx.completion {
            self.completed
                .insert((c.member_id.clone(), c.pack_id.clone()));
        }
        self.changes.add(fx, read_version);
    }

    /// The batch's change list, with the certificate sequences it moved on.
    pub fn into_changes(self) -> Changes {
        self.changes.with_certificates(self.certificates)
    }

    /// A record as loaded: its member's open record if open, and their newest by version.
    fn remember_loaded(&mut self, rec: FlowRecord) {
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
        self.read_versions.insert(id, rec.version);
        self.records.insert(id, rec);
    }

    /// A record an event opened or changed: now its member's newest, their open one while it
    /// is open, and found by its certificate number.
    fn put_record(&mut self, rec: FlowRecord) {
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
        self.records.insert(id, rec);
    }
}
