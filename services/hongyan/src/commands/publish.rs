//! `hongyan publish FILE`: event envelopes, one JSON object per line, checked and published to
//! hongyan.events with confirms. A bad line is reported with its reason and not published.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use hongyan_adapters::Settings;
use hongyan_adapters::amqp::publisher::{Outgoing, Publisher};
use hongyan_adapters::amqp::{self, Names, topology};
use hongyan_domain::Envelope;
use lapin::types::FieldTable;

pub async fn run(settings: &Settings, file: &Path) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("Could not read {}", file.display()))?;
    let conn = amqp::connect(&settings.amqp, "publish").await?;
    let names = Names::new(&settings.amqp.prefix);
    let ch = conn.create_channel().await?;
    topology::declare_all(&ch, &names, &settings.amqp).await?;
    let publisher = Publisher::open(&conn).await?;
    let (mut out, mut bad) = (Vec::new(), 0);
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match Envelope::parse(line.as_bytes(), None) {
            Ok(ev) => out.push(Outgoing {
                exchange: names.exchange(),
                routing_key: ev.kind.as_str().to_owned(),
                body: line.as_bytes().to_vec(),
                headers: FieldTable::default(),
                message_id: Some(ev.event_id.to_string()),
            }),
            Err(e) => {
                bad += 1;
                eprintln!("{}:{}: {e}", file.display(), i + 1);
            }
        }
    }
    for chunk in out.chunks(500) {
        publisher.publish_all(chunk).await?;
    }
    println!("{}: {} event(s) published.", file.display(), out.len());
    let _ = conn.close(200, "done".into()).await;
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
