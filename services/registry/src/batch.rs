//! A batch of events in one transaction: load, apply in order, write, commit. Many deliveries
//! are acknowledged after one commit, which is what makes the registry fast (issue #2's
//! target needs batched transactions, not one per event).

use chrono::{DateTime, Utc};
use hongyan_adapters::directory::Place;
use hongyan_domain::Envelope;
use hongyan_domain::ledger::LedgerPolicy;
use sqlx::PgPool;

use crate::apply::{Applier, Outcome};
use crate::waiting::Key;
use crate::working::WorkingSet;

/// What a committed batch did.
#[derive(Debug, Default)]
pub struct Applied {
    /// One outcome per event, in order.
    pub outcomes: Vec<Outcome>,
    /// Directory entries to write through now that the commit is done.
    pub places: Vec<Place>,
    /// Whether service stations changed (the directory's GEO set follows).
    pub stations_changed: bool,
    /// What the batch created or changed, to wake the deferred events that name it.
    pub created: Vec<Key>,
}

/// Why a batch did not commit.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Worth trying again: the database is away, or a concurrent transaction won a race.
    #[error("transient: {0}")]
    Transient(String),
    /// Not worth trying again as a batch: some event hits a fault. The caller applies the
    /// events one by one to find it.
    #[error("{0}")]
    Fault(String),
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        if hongyan_adapters::store::is_transient(&e) {
            BatchError::Transient(e.to_string())
        } else {
            BatchError::Fault(e.to_string())
        }
    }
}

/// Applies `events` in one transaction.
#[tracing::instrument(name = "transaction", skip_all, fields(events = events.len()))]
pub async fn apply(
    pool: &PgPool,
    policy: &LedgerPolicy,
    events: &[Envelope],
    now: DateTime<Utc>,
) -> Result<Applied, BatchError> {
    let mut tx = pool.begin().await?;
    let mut ws = WorkingSet::load(&mut tx, events).await?;
    let mut outcomes = Vec::with_capacity(events.len());
    {
        let mut applier = Applier {
            ws: &mut ws,
            policy,
            now,
        };
        for ev in events {
            outcomes.push(applier.apply(ev));
        }
    }
    if !ws.flush(&mut tx).await? {
        tracing::debug!("Batch lost a race to another transaction; rolling back.");
        tx.rollback().await?;
        return Err(BatchError::Transient(
            "another transaction applied some of these events, or changed a record they read, first".into(),
        ));
    }
    tx.commit().await?;
    tracing::debug!("Batch committed.");
    let places = ws.changed_records().into_iter().map(Place::of).collect();
    Ok(Applied {
        outcomes,
        places,
        stations_changed: ws.dirty_stations,
        created: ws.created(),
    })
}
