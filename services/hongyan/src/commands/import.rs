//! `hongyan import`: orgs and members from CSV or JSON lines, applied to the ledger as an
//! operator through the same rules as events (history, outbox, directory). Each line gets an
//! event id made from its content, so importing the same file twice changes nothing.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use hongyan_adapters::directory::{Directory, Place};
use hongyan_adapters::{Settings, store};
use hongyan_domain::Envelope;
use hongyan_domain::envelope::{Actor, EventData, EventType};
use hongyan_domain::fields::{FieldError, Obj};
use hongyan_domain::ids::EventId;
use hongyan_domain::ledger::LedgerPolicy;
use hongyan_domain::payloads::{MemberUpsert, OrgUpsert};
use hongyan_registry::Outcome;
use serde_json::{Map, Value, json};
use sqlx::PgPool;

const CHUNK: usize = 500;

pub async fn run(
    settings: &Settings,
    orgs: Option<&Path>,
    members: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    if orgs.is_none() && members.is_none() {
        anyhow::bail!("Nothing to import: give --orgs FILE and/or --members FILE");
    }
    // A first import on a new machine comes before anything else has migrated the database.
    store::migrate(&settings.database).await?;
    let pool = store::pool(&settings.database)?;
    let policy = LedgerPolicy {
        certificate_max_months: settings.policy.certificate_max_months,
    };
    let mut bad = 0;
    let mut written = Written::default();
    for (path, kind) in [
        (orgs, EventType::OrgUpserted),
        (members, EventType::MemberUpserted),
    ] {
        let Some(path) = path else { continue };
        let rows = read_rows(path, kind)?;
        let mut events = Vec::new();
        for (line, value) in rows {
            match to_envelope(kind, line, value) {
                Ok(ev) => events.push((line, ev)),
                Err(e) => {
                    bad += 1;
                    eprintln!("{}:{line}: {e}", path.display());
                }
            }
        }
        let (mut applied, mut unchanged) = (0, 0);
        for chunk in events.chunks(CHUNK) {
            let envs: Vec<Envelope> = chunk.iter().map(|(_, e)| e.clone()).collect();
            let result = hongyan_registry::batch::apply(&pool, &policy, &envs, Utc::now())
                .await
                .with_context(|| format!("Could not import {}", path.display()))?;
            written.places.extend(result.places);
            written.stations_changed |= result.stations_changed;
            for ((line, _), outcome) in chunk.iter().zip(result.outcomes) {
                match outcome {
                    Outcome::Applied(_) => applied += 1,
                    Outcome::Duplicate | Outcome::Stale(_) => unchanged += 1,
                    Outcome::Rejected(r) => {
                        bad += 1;
                        eprintln!("{}:{line}: {r}", path.display());
                    }
                    Outcome::Deferred(why) => {
                        bad += 1;
                        eprintln!("{}:{line}: {why}", path.display());
                    }
                }
            }
        }
        println!(
            "{}: {applied} imported, {unchanged} already up to date.",
            path.display()
        );
    }
    written.write_to_directory(settings, &pool).await;
    if bad > 0 {
        eprintln!(
            "{bad} line(s) were not imported; fix them and import again (lines already imported stay as they are)."
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// What the import changed that the live directory shows, written after the commits like the
/// registry's write-through.
#[derive(Default)]
struct Written {
    places: Vec<Place>,
    stations_changed: bool,
}

impl Written {
    /// A failure loses nothing (PostgreSQL holds the import); it says how to catch up.
    async fn write_to_directory(self, settings: &Settings, pool: &PgPool) {
        if self.places.is_empty() && !self.stations_changed {
            return;
        }
        if let Err(e) = self.write(settings, pool).await {
            eprintln!(
                "The import is in the ledger, but the live directory was not updated ({e:#}); run `hongyan directory rebuild` once Redis answers."
            );
        }
    }

    async fn write(&self, settings: &Settings, pool: &PgPool) -> anyhow::Result<()> {
        let dir = Directory::connect(&settings.redis).await?;
        dir.put(&self.places).await?;
        if self.stations_changed {
            let mut conn = pool.acquire().await?;
            dir.put_stations(&store::reads::station_points(&mut conn).await?)
                .await?;
        }
        Ok(())
    }
}

/// A line as the event it imports; a bad line's error names its field (`line 3.phone`) and is
/// printed beside the file's name.
fn to_envelope(kind: EventType, line: usize, value: Value) -> Result<Envelope, FieldError> {
    let path = format!("line {line}");
    let obj = Obj::new(&path, &value)?;
    let data = match kind {
        EventType::OrgUpserted => EventData::OrgUpserted(OrgUpsert::read(obj)?),
        _ => EventData::MemberUpserted(MemberUpsert::read(obj)?),
    };
    let content = serde_json::to_string(&value).unwrap_or_default();
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("hongyan-import:{}:{content}", kind.as_str()).as_bytes(),
    );
    Ok(Envelope {
        event_id: EventId(id),
        kind,
        occurred_at: Utc::now().fixed_offset(),
        actor: Actor::Operator {
            name: "import".into(),
        },
        data,
        raw_data: value,
    })
}

/// Rows as JSON objects with their line numbers.
fn read_rows(path: &Path, kind: EventType) -> anyhow::Result<Vec<(usize, Value)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Could not read {}", path.display()))?;
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !is_csv {
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v = serde_json::from_str(line).with_context(|| {
                format!(
                    "{}:{}: not a JSON object; use one JSON object per line",
                    path.display(),
                    i + 1
                )
            })?;
            rows.push((i + 1, v));
        }
        return Ok(rows);
    }
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.with_context(|| format!("{}:{}: not valid CSV", path.display(), i + 2))?;
        let cell = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|p| rec.get(p))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        rows.push((i + 2, csv_row(kind, &cell)));
    }
    Ok(rows)
}

/// A CSV row in the shape of the event's data. Orgs: id, name, kind, parent_id, region_code,
/// contact_name, contact_phone, chat_provider, chat_webhook, chat_secret, lon, lat. Members:
/// id, name, phone, home_org_id, joined_party_on, pair_name, pair_phone, channels (`;`-separated).
fn csv_row<'a>(kind: EventType, cell: &dyn Fn(&str) -> Option<&'a str>) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    };
    for k in ["id", "name"] {
        put(k, cell(k));
    }
    if kind == EventType::OrgUpserted {
        for k in ["kind", "parent_id", "region_code"] {
            put(k, cell(k));
        }
        o.insert(
            "contact".into(),
            json!({"name": cell("contact_name"), "phone": cell("contact_phone")}),
        );
        if let Some(p) = cell("chat_provider") {
            o.insert("chat".into(), json!({"provider": p, "webhook": cell("chat_webhook"), "secret": cell("chat_secret")}));
        }
        let num = |k: &str| cell(k).and_then(|s| s.parse::<f64>().ok());
        if let (Some(lon), Some(lat)) = (num("lon"), num("lat")) {
            o.insert("geo".into(), json!({"lon": lon, "lat": lat}));
        }
    } else {
        for k in ["phone", "home_org_id", "joined_party_on"] {
            put(k, cell(k));
        }
        if let Some(name) = cell("pair_name") {
            o.insert(
                "pair".into(),
                json!({"name": name, "phone": cell("pair_phone")}),
            );
        }
        if let Some(ch) = cell("channels") {
            o.insert(
                "channels".into(),
                json!(ch.split(';').map(str::trim).collect::<Vec<_>>()),
            );
        }
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use hongyan_domain::fields::Problem;
    use hongyan_domain::ids::IdError;

    use super::*;

    #[test]
    fn a_bad_line_names_its_field_and_keeps_the_parse_error() {
        let e = to_envelope(EventType::OrgUpserted, 2, json!({"id": "张三"})).unwrap_err();
        assert_eq!(e.field, "line 2.id");
        assert_eq!(e.problem, Problem::Id(IdError::Id("张三".into())));
        assert!(std::error::Error::source(&e).is_some());
        let e = to_envelope(EventType::MemberUpserted, 3, json!([1])).unwrap_err();
        assert_eq!(e.to_string(), "field line 3: must be a JSON object");
    }
}
