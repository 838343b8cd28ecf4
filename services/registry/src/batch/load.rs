//! The first stage of a batch: what its events name, read in a few queries. Each query is
//! skipped when the batch asks it nothing: a round trip saved per kind of thing the batch
//! does not name (most batches name no certificate or phone).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset};
use hongyan_adapters::store::reads as shared_reads;
use hongyan_adapters::store::rows::{MemberRow, OrgRow};
use hongyan_domain::Envelope;
use hongyan_domain::envelope::EventData;
use hongyan_domain::ids::{CertificateNo, MemberId, OrgId};
use hongyan_domain::ledger::{self, FlowRecord};
use hongyan_domain::payloads::{ArrivalKey, NewOrg, Subject};
use hongyan_domain::station::StationRef;
use sqlx::PgConnection;
use uuid::Uuid;

use super::state::State;
use crate::sql::{certificates, reads, study};
use hongyan_domain::ledger::certificates::Sequences;

/// What the loader read: the batch's state before its first event
/// ([`State`] is built from it).
#[derive(Default)]
pub struct Loaded {
    /// Which of the batch's events were applied before.
    pub processed: HashSet<Uuid>,
    /// The members the events name (by id, by certificate, by phone).
    pub members: HashMap<MemberId, MemberRow>,
    /// The orgs the events name, the members' home orgs and the records' inflow orgs.
    pub orgs: HashMap<OrgId, OrgRow>,
    /// Each loaded member's open record, or their newest closed one.
    pub records: Vec<FlowRecord>,
    /// The open records' members, by the certificate numbers arrivals name.
    pub by_certificate: HashMap<CertificateNo, MemberId>,
    /// Every service station (only when the batch has a departure).
    pub stations: Vec<StationRef>,
    /// The sequences of every county and year the batch's departures may number in.
    pub certificates: Sequences,
    /// The study packs the events name, with the time of the event that last set each.
    pub packs: HashMap<String, DateTime<FixedOffset>>,
    /// The (member, pack) completions the events name that are already recorded.
    pub completed: HashSet<(String, String)>,
}

fn strings<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let set: HashSet<&str> = ids.into_iter().collect();
    let mut v: Vec<String> = set.into_iter().map(str::to_owned).collect();
    v.sort();
    v
}

/// Loads what `events` need.
pub async fn load(conn: &mut PgConnection, events: &[Envelope]) -> sqlx::Result<State> {
    let mut loaded = Loaded::default();
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id.0).collect();
    loaded.processed = reads::processed(conn, &ids).await?.into_iter().collect();
    let named = Named::of(events);
    members_and_records(conn, &named, &mut loaded).await?;
    orgs(conn, &named, &mut loaded).await?;
    if named.any_outbound {
        loaded.stations = reads::stations(conn).await?;
        loaded.certificates = sequences(conn, &named, &loaded.orgs).await?;
    }
    for (id, at) in study::packs(conn, &strings(named.pack_ids.iter().copied())).await? {
        loaded.packs.insert(id, at.fixed_offset());
    }
    loaded.completed = study::completions(conn, &named.done_members, &named.done_packs).await?;
    Ok(State::from(loaded))
}

/// The members the batch names (by id, by certificate, by phone) and their records: the open
/// one, or the newest closed one for a member away from none.
async fn members_and_records(
    conn: &mut PgConnection,
    named: &Named<'_>,
    loaded: &mut Loaded,
) -> sqlx::Result<()> {
    let by_cert = if named.certs.is_empty() {
        Vec::new()
    } else {
        reads::records_by_certificate(conn, &strings(named.certs.iter().copied())).await?
    };
    for r in &by_cert {
        if let Some(c) = &r.certificate_no {
            loaded.by_certificate.insert(c.clone(), r.member_id.clone());
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
        rows.extend(reads::members_by_phone(conn, &strings(named.phones.iter().copied())).await?);
    }
    for row in rows {
        loaded.members.insert(row.member.id.clone(), row);
    }
    wanted = strings(loaded.members.keys().map(MemberId::as_str));
    let mut with_open = HashSet::new();
    if !wanted.is_empty() {
        for rec in reads::open_records(conn, &wanted).await? {
            with_open.insert(rec.member_id.clone());
            loaded.records.push(rec);
        }
    }
    // An open record is always its member's newest (a new one opens only after the last
    // closed), so only members away from no record need the look back.
    let closed_only: Vec<String> = wanted
        .into_iter()
        .filter(|m| MemberId::parse(m).is_ok_and(|id| !with_open.contains(&id)))
        .collect();
    if !closed_only.is_empty() {
        loaded.records.extend(
            reads::latest_records(conn, &closed_only)
                .await?
                .into_values(),
        );
    }
    Ok(())
}

/// The orgs the batch names, its members' home orgs and its records' inflow orgs.
async fn orgs(conn: &mut PgConnection, named: &Named<'_>, loaded: &mut Loaded) -> sqlx::Result<()> {
    let more_orgs = loaded
        .members
        .values()
        .map(|m| m.member.home_org_id.as_str())
        .chain(
            loaded
                .records
                .iter()
                .filter_map(|r| r.inflow_org_id.as_ref().map(|o| o.as_str())),
        );
    let org_rows = shared_reads::orgs(
        conn,
        &strings(named.org_ids.iter().copied().chain(more_orgs)),
    )
    .await?;
    for row in org_rows {
        loaded.orgs.insert(row.org.id.clone(), row);
    }
    Ok(())
}

/// The certificate sequences the batch's departures may number in.
async fn sequences(
    conn: &mut PgConnection,
    named: &Named<'_>,
    orgs: &HashMap<OrgId, OrgRow>,
) -> sqlx::Result<Sequences> {
    // A departure numbers its certificate in its member's home county, and the home org is
    // one of the batch's orgs (loaded above, or saved by an earlier event of the batch), so
    // these are every county and year the batch can number in.
    let mut counties: Vec<String> = orgs
        .values()
        .map(|o| o.org.region_code.county())
        .chain(named.new_counties.iter().cloned())
        .collect();
    counties.sort_unstable();
    counties.dedup();
    let mut years = named.years.clone();
    years.sort_unstable();
    years.dedup();
    certificates::read(conn, &counties, &years).await
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
            n.add(&e.data);
        }
        n
    }

    fn add(&mut self, data: &'e EventData) {
        match data {
            EventData::OrgUpserted(o) => {
                self.new_counties.push(o.region_code.county());
                self.org_ids.push(o.id.as_str());
                self.org_ids
                    .extend(o.parent_id.as_ref().map(|p| p.as_str()));
            }
            EventData::MemberUpserted(m) => self.org_ids.push(m.home_org_id.as_str()),
            EventData::Outbound(o) => {
                self.any_outbound = true;
                self.years.push(ledger::certificate_year(o));
                if let Subject::Full(m) = &o.subject {
                    self.org_ids.push(m.home_org_id.as_str());
                }
                self.org_ids
                    .extend(o.inflow_org_id.as_ref().map(|p| p.as_str()));
            }
            EventData::Inbound(i) => {
                for key in &i.keys {
                    match key {
                        ArrivalKey::Certificate(c) => self.certs.push(c.as_str()),
                        ArrivalKey::Person {
                            phone, home_org_id, ..
                        } => {
                            self.phones.push(phone.as_str());
                            self.org_ids
                                .extend(home_org_id.as_ref().map(|p| p.as_str()));
                        }
                        ArrivalKey::MemberId(_) => {}
                    }
                }
            }
            EventData::Transfer(t) => {
                if let NewOrg::Known(id) = &t.new_org {
                    self.org_ids.push(id.as_str());
                }
            }
            EventData::StudyPublished(p) => {
                self.pack_ids.push(p.pack_id.as_str());
                self.org_ids
                    .extend(p.audience.org_ids.iter().map(|o| o.as_str()));
            }
            EventData::StudyCompleted(c) => {
                self.pack_ids.push(c.pack_id.as_str());
                self.done_members.push(c.member_id.as_str().to_owned());
                self.done_packs.push(c.pack_id.as_str().to_owned());
            }
            _ => {}
        }
    }
}
