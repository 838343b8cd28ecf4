//! `hongyan link --member ID [--month YYYY-MM]`: a member's update link (DESIGN.md section 7),
//! minted as the scheduler mints it for a reminder.

use std::process::ExitCode;

use anyhow::Context;
use hongyan_adapters::Settings;
use hongyan_domain::ids::MemberId;
use hongyan_domain::link;
use hongyan_domain::month::Month;
use secrecy::ExposeSecret;

pub fn run(settings: &Settings, member: &str, month: Option<&str>) -> anyhow::Result<ExitCode> {
    let member = MemberId::parse(member)?;
    let now = chrono::Utc::now();
    let month = match month {
        Some(m) => Month::parse(m)?,
        None => Month::of_instant(now),
    };
    let secret = settings.api.link_secret.as_ref().context(
        "api.link_secret is not set: export HONGYAN__API__LINK_SECRET (scripts/run makes a local one)",
    )?;
    let expires = now + chrono::Duration::days(i64::from(settings.api.link_valid_days));
    let token = link::mint(secret.expose_secret().as_bytes(), &member, month, expires);
    println!("{}", link::url(&settings.api.public_url, &token));
    Ok(ExitCode::SUCCESS)
}
