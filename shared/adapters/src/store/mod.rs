//! PostgreSQL: connecting, migrating, and the reads and writes more than one role makes (each
//! role keeps its own statements: the registry's are in `hongyan-registry`'s `sql`).

pub mod keys;
pub mod reads;
pub mod rows;
pub mod writes;

use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::config::{DatabaseSettings, redact};

/// A pool that connects on first use, so a role starts even while PostgreSQL is still coming
/// up (or restarting); every query then waits up to the acquire timeout.
pub fn pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(&settings.url)
        .with_context(|| {
            format!(
                "database.url {} is not a PostgreSQL URL",
                redact(&settings.url)
            )
        })
}

/// Creates the database when missing and applies the migrations embedded in this binary.
pub async fn migrate(settings: &DatabaseSettings) -> anyhow::Result<()> {
    let url = &settings.url;
    let exists = sqlx::Postgres::database_exists(url)
        .await
        .with_context(|| {
            format!(
                "Could not reach PostgreSQL at {}; start it (scripts/services) or fix database.url",
                redact(url)
            )
        })?;
    if !exists {
        sqlx::Postgres::create_database(url)
            .await
            .with_context(|| format!("Could not create the database {}", redact(url)))?;
        tracing::info!(database = %redact(url), "Database created.");
    }
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("Could not apply the migrations")?;
    pool.close().await;
    Ok(())
}

/// Whether an error is worth retrying: the database is away, restarting or overloaded, or
/// the transaction lost a race (serialization failure, deadlock, a unique key taken by a
/// concurrent commit).
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // 08: connection exception; 40: transaction rollback; 53: insufficient resources;
            // 57P: operator intervention (e.g. the server shutting down); 23505: unique
            // violation lost to a concurrent commit.
            code.starts_with("08")
                || code.starts_with("40")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "23505"
        }
        _ => false,
    }
}
