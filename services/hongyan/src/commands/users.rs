//! `hongyan users`: the console's people (DESIGN.md section 12).

use std::process::ExitCode;

use hongyan_adapters::Settings;
use hongyan_adapters::store;
use hongyan_api::console::users;
use hongyan_domain::Phone;

use crate::cli::UsersCommand;

pub async fn run(settings: &Settings, command: UsersCommand) -> anyhow::Result<ExitCode> {
    store::migrate(&settings.database).await?;
    let pool = store::pool(&settings.database)?;
    let now = chrono::Utc::now();
    match command {
        UsersCommand::Create { org, name, phone } => {
            let phone = Phone::parse_typed(&phone).map_err(|e| {
                anyhow::anyhow!(
                    "{e} Give the person's mainland mobile, e.g. --phone 138-0013-8000."
                )
            })?;
            let user = users::create(&pool, &org, &name, &phone, "cli", now).await?;
            println!(
                "user {} created: {} at {} ({}), signs in with {}",
                user.id,
                user.name,
                user.org_name,
                user.org_id,
                phone.masked()
            );
        }
        UsersCommand::List { org } => {
            let list = users::list(&pool, org.as_deref()).await?;
            if list.is_empty() {
                println!(
                    "No console users yet: hongyan users create --org ID --name NAME --phone PHONE"
                );
            }
            for u in list {
                let state = u.revoked_at.map_or("active".to_owned(), |t| {
                    format!("revoked {}", t.to_rfc3339())
                });
                println!(
                    "{}\t{}\t{} ({})\t{}\tcreated {}\t{state}",
                    u.id,
                    u.name,
                    u.org_name,
                    u.org_id,
                    u.phone.masked(),
                    u.created_at.to_rfc3339()
                );
            }
        }
        UsersCommand::Revoke { id } => {
            users::revoke(&pool, &id, now).await?;
            println!("revoked {id}; their console sessions have ended");
        }
    }
    Ok(ExitCode::SUCCESS)
}
