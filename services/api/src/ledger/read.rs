//! Reading the ledger for an export: the records of `query` streamed from PostgreSQL into a
//! bounded channel of [`LedgerRow`]s. Nothing is collected: rows go to whichever encoder writes
//! the format, so memory stays flat however large the county. (`query` knows the SQL and the
//! row it makes; `rows` the row and its cells; this file only runs the one into the other.)

use chrono::NaiveDate;
use futures::StreamExt;
use hongyan_domain::rules::monthly::Ladder;
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::LedgerScope;
use super::query;
use super::rows::{LedgerRow, Rows};

/// How many rows may wait between the query and the encoder.
const ROWS_IN_FLIGHT: usize = 1024;

/// Starts the queries on their own task and hands back the rows. When the reader goes away
/// (the client hung up), the send fails, the task ends and the transaction is dropped, which
/// gives the connection back. A failed row is passed on and ends the stream.
pub fn stream(pool: PgPool, ask: Ask, scope: LedgerScope) -> Rows {
    let (tx, rx) = mpsc::channel(ROWS_IN_FLIGHT);
    tokio::spawn(async move {
        if let Err(e) = send_rows(&pool, &ask, scope, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

/// What an export asks for: whose ledger, read by whom, and the day and ladder the records'
/// standing is worked out for (months unconfirmed and the ladder's flags are derived where
/// read, DESIGN.md section 4).
pub struct Ask {
    pub viewer_org: String,
    pub org_id: String,
    pub today: NaiveDate,
    pub ladder: Ladder,
}

/// Reads the scope, then sends its records one by one until the last or until nobody reads.
async fn send_rows(
    pool: &PgPool,
    ask: &Ask,
    scope: LedgerScope,
    tx: &mpsc::Sender<Result<LedgerRow, sqlx::Error>>,
) -> Result<(), sqlx::Error> {
    let mut db = pool.begin().await?;
    query::begin(&mut db).await?;
    let orgs = query::scope_orgs(&mut db, &ask.viewer_org, &ask.org_id, scope).await?;
    let mut rows = query::records(&orgs, ask.today).fetch(&mut *db);
    while let Some(raw) = rows.next().await {
        let row = raw?.into_row(&orgs, &ask.ladder)?;
        if tx.send(Ok(row)).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}
