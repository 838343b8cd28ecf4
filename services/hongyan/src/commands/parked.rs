//! `hongyan parked list|replay`.

use std::process::ExitCode;

use anyhow::Context;
use hongyan_adapters::amqp::{self, Names, parked};
use hongyan_adapters::{Settings, outbox, store};
use hongyan_domain::ids::mask_phones;

use crate::cli::ParkedCommand;

/// The envelope's event id, when the body is JSON that has one.
fn event_id(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("event_id")?.as_str().map(str::to_owned)
}

/// The outbox rows the broker returned, printed before the parked queue (DESIGN.md section 8:
/// set aside with a retry time and a reason).
async fn set_aside(settings: &Settings, limit: u32) -> anyhow::Result<Vec<outbox::SetAside>> {
    let pool = store::pool(&settings.database)?;
    let rows = outbox::set_aside_rows(&pool, i64::from(limit))
        .await
        .context("Could not read the outbox's set-aside rows from PostgreSQL; is it running and migrated (`hongyan migrate`)?")?;
    for r in &rows {
        println!(
            "outbox row {id} ({key}, message {mid}) returned {n} time(s), next try {at}\n   reason: {reason}\n",
            id = r.id,
            key = r.routing_key,
            mid = r.message_id,
            n = r.returns,
            at = r.retry_at.format("%Y-%m-%d %H:%M:%S UTC"),
            reason = mask_phones(&r.reason),
        );
    }
    Ok(rows)
}

pub async fn run(settings: &Settings, command: ParkedCommand) -> anyhow::Result<ExitCode> {
    let conn = amqp::connect(&settings.amqp, "parked").await?;
    let names = Names::new(&settings.amqp.prefix);
    match command {
        ParkedCommand::List { limit } => {
            let list = parked::list(&conn, &names, limit).await?;
            let aside = set_aside(settings, limit).await?;
            if list.is_empty() && aside.is_empty() {
                println!("Nothing is parked.");
            }
            for (i, m) in list.iter().enumerate() {
                let body = String::from_utf8_lossy(&m.body);
                let body: String = mask_phones(&body).chars().take(600).collect();
                println!(
                    "#{n} event {id} ({key}) from {src}, {attempts} attempt(s)\n   reason: {reason}\n   body: {body}\n",
                    n = i + 1,
                    id = event_id(&m.body).unwrap_or_else(|| "-".into()),
                    key = m.routing_key,
                    src = m.source_queue,
                    attempts = m.attempts,
                    reason = mask_phones(&m.reason),
                );
            }
        }
        ParkedCommand::Replay {
            event_id: only,
            reason_contains,
        } => {
            let report = parked::replay_report(&conn, &names, |m| {
                only.as_ref()
                    .is_none_or(|id| event_id(&m.body).as_deref() == Some(id.as_str()))
                    && reason_contains
                        .as_ref()
                        .is_none_or(|t| m.reason.contains(t.as_str()))
            })
            .await?;
            println!("Sent {} parked event(s) back to their queues.", report.sent);
            if !report.unroutable.is_empty() {
                let mut queues = report.unroutable.clone();
                queues.sort();
                queues.dedup();
                eprintln!(
                    "Kept {} parked event(s): their source queue ({}) does not exist, so the broker returned them. Start the role that owns the queue (it declares it) and replay again.",
                    report.unroutable.len(),
                    queues.join(", ")
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(ExitCode::SUCCESS)
}
