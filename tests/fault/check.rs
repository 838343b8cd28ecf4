//! What a case checks once its workload settled, member by member, and the figures line it
//! prints: the ledger's final state, each departure's certificate issued once (every
//! county-year sequence without gap or repeat), every SMS taken once by the gateway, nothing
//! good parked, and the Redis directory equal to PostgreSQL.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;

use hongyan_adapters::amqp::{Names, parked};
use hongyan_adapters::directory::Place;
use hongyan_adapters::store::reads;
use hongyan_domain::ledger::FlowRecord;

use crate::roles::template_code;
use crate::workload::{BRANCHES, branch};
use crate::world::{Recovery, World};

/// What went wrong, a line each; empty when all is well.
#[derive(Default)]
pub struct Findings(Vec<String>);

impl Findings {
    fn add(&mut self, what: String) {
        self.0.push(what);
    }

    /// Up to five examples of a kind of mismatch, with how many there were.
    fn examples(&mut self, what: &str, found: &[String]) {
        if !found.is_empty() {
            let shown: Vec<_> = found.iter().take(5).cloned().collect();
            self.add(format!(
                "{what}: {} (e.g. {})",
                found.len(),
                shown.join("; ")
            ));
        }
    }
}

/// The case's figures, printed as one line (and appended to target/fault-figures.txt).
#[derive(Debug, Default)]
pub struct Figures {
    pub events_sent: usize,
    pub applied: usize,
    pub parked: usize,
    pub repeated: usize,
    pub republished: usize,
    pub sms_sent: usize,
    pub sms_repeated: usize,
    pub recovery: Recovery,
    pub seconds: f64,
}

fn secs(s: Option<f64>) -> String {
    s.map_or("-".into(), |s| format!("{s:.1}"))
}

/// Runs every check, prints the figures, and fails the test on any finding.
pub async fn verify(w: &World, recovery: Recovery) -> anyhow::Result<()> {
    let mut f = Findings::default();
    let records = latest_records(w).await?;
    let repeated = ledger(w, &records, &mut f).await?;
    certificates(w, &records, &mut f);
    sms(w, &mut f);
    let parked = parked(w, &mut f).await?;
    directory(w, &records, &mut f).await?;
    let figures = Figures {
        events_sent: w.work.events() + w.malformed,
        applied: w.applied().await.unwrap_or(0),
        parked,
        repeated,
        republished: w.producer.republished,
        sms_sent: w.gateway.taken(),
        sms_repeated: w.gateway.repeated(),
        recovery,
        seconds: w.started.elapsed().as_secs_f64(),
    };
    let line = format!(
        "fault figures: case={} events_sent={} applied={} parked={} repeated={} republished={} sms_sent={} sms_repeated={} recovery_s(registry={}, notifier={}) case_s={:.1}{}",
        w.case,
        figures.events_sent,
        figures.applied,
        figures.parked,
        figures.repeated,
        figures.republished,
        figures.sms_sent,
        figures.sms_repeated,
        secs(figures.recovery.registry),
        secs(figures.recovery.notifier),
        figures.seconds,
        w.note
    );
    println!("{line}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fault-figures.txt");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
    {
        let _ = writeln!(file, "{line}");
    }
    if f.0.is_empty() {
        w.servers.discard_logs();
    }
    anyhow::ensure!(f.0.is_empty(), "{}: {}\n{}", w.case, line, f.0.join("\n"));
    Ok(())
}

/// Each member's newest record.
async fn latest_records(w: &World) -> anyhow::Result<HashMap<String, FlowRecord>> {
    let mut conn = w.pool.acquire().await?;
    let mut out = HashMap::new();
    let mut after = String::new();
    loop {
        let page = reads::latest_records_page(&mut conn, &after, 2_000).await?;
        let Some(last) = page.last() else { break };
        after = last.member_id.as_str().to_owned();
        out.extend(
            page.into_iter()
                .map(|r| (r.member_id.as_str().to_owned(), r)),
        );
    }
    Ok(out)
}

/// Every member's final state as expected; every event in history once. Returns the events
/// applied more than once.
async fn ledger(
    w: &World,
    records: &HashMap<String, FlowRecord>,
    f: &mut Findings,
) -> anyhow::Result<usize> {
    let mut wrong = Vec::new();
    for ex in &w.work.members {
        let Some(r) = records.get(&ex.member_id) else {
            wrong.push(format!("{} has no record", ex.member_id));
            continue;
        };
        let got = (
            r.status.as_str(),
            r.version,
            r.certificate_no.is_some(),
            r.location.region_code.as_str(),
            r.location.address.as_str(),
        );
        let want = (
            ex.status,
            ex.version,
            ex.certificate,
            ex.region_code.as_str(),
            ex.address.as_str(),
        );
        if got != want {
            wrong.push(format!("{}: {got:?}, expected {want:?}", ex.member_id));
        }
    }
    f.examples("members whose ledger differs", &wrong);
    let (lines, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM history")
            .fetch_one(&w.pool)
            .await?;
    if distinct as usize != w.work.events() {
        f.add(format!(
            "{distinct} events in history, {} sent",
            w.work.events()
        ));
    }
    Ok((lines - distinct) as usize)
}

/// Each departure that earns a certificate has one, and each county-year sequence runs from 1
/// without gap or repeat.
fn certificates(w: &World, records: &HashMap<String, FlowRecord>, f: &mut Findings) {
    let mut sequences: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for r in records.values() {
        if let Some(c) = &r.certificate_no {
            let c = c.to_string();
            let (county_year, seq) = c.split_at(c.len() - 5);
            sequences
                .entry(county_year.to_owned())
                .or_default()
                .push(seq.parse().unwrap_or(0));
        }
    }
    let issued: usize = sequences.values().map(Vec::len).sum();
    if issued != w.work.certificates() {
        f.add(format!(
            "{issued} certificates issued, {} departures earn one",
            w.work.certificates()
        ));
    }
    for (county_year, mut seqs) in sequences {
        seqs.sort_unstable();
        let n = seqs.len() as u32;
        if seqs != (1..=n).collect::<Vec<_>>() {
            let distinct: HashSet<_> = seqs.iter().collect();
            f.add(format!(
                "certificate sequence {county_year}: {n} numbers, {} distinct, highest {}",
                distinct.len(),
                seqs.last().unwrap_or(&0)
            ));
        }
    }
}

/// Every SMS the workload causes taken once per phone and template; none more.
fn sms(w: &World, f: &mut Findings) {
    let got = w.gateway.per_phone_and_template();
    let mut wrong = Vec::new();
    let mut expected_codes = HashSet::new();
    for ((phone, template), want) in &w.work.sms {
        let code = template_code(template);
        expected_codes.insert((phone.clone(), code.to_owned()));
        let n = got
            .get(&(phone.clone(), code.to_owned()))
            .copied()
            .unwrap_or(0);
        if n != *want {
            wrong.push(format!(
                "{}****{} {template}: {n} of {want}",
                &phone[..3],
                &phone[7..]
            ));
        }
    }
    for (key, n) in &got {
        if !expected_codes.contains(key) {
            wrong.push(format!("unexpected {} SMS of template {}", n, key.1));
        }
    }
    f.examples("phones and templates with the wrong number of SMS", &wrong);
    let repeated = w.gateway.repeated();
    if repeated > 0 {
        f.add(format!(
            "{repeated} SMS sent again for the same notification"
        ));
    }
}

/// Exactly the malformed events are parked, each with a reason. Returns how many are parked.
async fn parked(w: &World, f: &mut Findings) -> anyhow::Result<usize> {
    let conn = lapin::Connection::connect(
        &w.servers.rabbit.url(),
        lapin::ConnectionProperties::default(),
    )
    .await?;
    let list = parked::list(&conn, &Names::new(""), 100_000).await?;
    let _ = conn.close(200, "listed".into()).await;
    let mut good = Vec::new();
    let mut markers = HashSet::new();
    for m in &list {
        let body = String::from_utf8_lossy(&m.body);
        match body.find("flood-") {
            Some(at) => {
                let marker: String = body[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                if !markers.insert(marker.clone()) {
                    good.push(format!("{marker} parked twice"));
                }
                if m.reason.trim().is_empty() {
                    good.push(format!("{marker} parked without a reason"));
                }
            }
            None => good.push(format!("a good {} parked: {}", m.routing_key, m.reason)),
        }
    }
    f.examples("parked wrongly", &good);
    if markers.len() != w.malformed {
        f.add(format!(
            "{} of {} malformed events parked",
            markers.len(),
            w.malformed
        ));
    }
    Ok(list.len())
}

/// Redis holds, for each member, what PostgreSQL's newest record says (nothing once closed).
async fn directory(
    w: &World,
    records: &HashMap<String, FlowRecord>,
    f: &mut Findings,
) -> anyhow::Result<()> {
    let dir = w.directory().await?;
    let mut wrong = Vec::new();
    for ex in &w.work.members {
        let want = records
            .get(&ex.member_id)
            .filter(|r| r.status.is_open())
            .map(Place::of);
        let got = dir.get(&ex.member_id).await?;
        if got != want {
            wrong.push(format!(
                "{}: Redis {got:?}, PostgreSQL {want:?}",
                ex.member_id
            ));
        }
    }
    f.examples(
        "members whose directory entry differs from PostgreSQL",
        &wrong,
    );
    let open: Vec<&FlowRecord> = records.values().filter(|r| r.status.is_open()).collect();
    let mut sets = Vec::new();
    for b in 0..BRANCHES {
        let want = sorted(open.iter().filter(|r| r.home_org_id.as_str() == branch(b)));
        if dir.of_branch(&branch(b)).await? != want {
            sets.push(format!("branch {}", branch(b)));
        }
    }
    // The province, city and county of the destinations.
    for (code, prefix) in [("440000", "44"), ("440100", "4401"), ("440106", "440106")] {
        let want = sorted(
            open.iter()
                .filter(|r| r.location.region_code.as_str().starts_with(prefix)),
        );
        if dir.in_region(code).await? != want {
            sets.push(format!("region {code}"));
        }
    }
    f.examples(
        "directory sets that differ from PostgreSQL's open records",
        &sets,
    );
    Ok(())
}

fn sorted<'a>(records: impl Iterator<Item = &'a &'a FlowRecord>) -> Vec<String> {
    let mut v: Vec<String> = records.map(|r| r.member_id.as_str().to_owned()).collect();
    v.sort();
    v
}
