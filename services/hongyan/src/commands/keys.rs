//! `hongyan keys`.

use std::process::ExitCode;

use anyhow::Context;
use hongyan_adapters::Settings;
use hongyan_adapters::store::{self, keys};
use uuid::Uuid;

use crate::cli::KeysCommand;

pub async fn run(settings: &Settings, command: KeysCommand) -> anyhow::Result<ExitCode> {
    store::migrate(&settings.database).await?;
    let pool = store::pool(&settings.database)?;
    match command {
        KeysCommand::Create { org, name } => {
            let name = name.unwrap_or_else(|| format!("{org} key"));
            let (id, key) = keys::create(&pool, &org, &name).await.with_context(|| {
                format!("Could not store a key for org {org}; check that the org exists (hongyan import --orgs)")
            })?;
            println!("key id: {id}");
            println!("key (shown once, store it now): {key}");
        }
        KeysCommand::List { org } => {
            for key in keys::list(&pool, &org).await? {
                let last = key
                    .last_used_at
                    .map_or("never".to_owned(), |t| t.to_rfc3339());
                let state = key.revoked_at.map_or("active".to_owned(), |t| {
                    format!("revoked {}", t.to_rfc3339())
                });
                println!(
                    "{}\t{}\tcreated {}\tlast used {last}\t{state}",
                    key.id,
                    key.name,
                    key.created_at.to_rfc3339()
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let id: Uuid = id.parse().with_context(|| {
                format!("{id} is not a key id; see hongyan keys list --org ORG")
            })?;
            if !keys::revoke(&pool, id).await? {
                anyhow::bail!("No active key has id {id}; see hongyan keys list --org ORG");
            }
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
