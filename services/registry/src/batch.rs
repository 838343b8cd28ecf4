//! A batch of events in one transaction, in three stages: load what the events name
//! ([`load`] returns the batch's [`State`](state::State)), apply each event in order (its rule,
//! [`crate::apply`], returns what it changes, which the state absorbs), flush the change list
//! ([`flush`]), commit. Many deliveries are acknowledged after one commit, which is what makes
//! the registry fast (issue #2's target needs batched transactions, not one per event).

pub(crate) mod effects;
mod flush;
pub(crate) mod load;
pub(crate) mod state;

use chrono::{DateTime, Utc};
use hongyan_adapters::directory::Place;
use hongyan_domain::Envelope;
use hongyan_domain::ledger::LedgerPolicy;
use sqlx::PgPool;

use crate::apply::{Outcome, Rules};
use crate::waiting::Key;

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
    /// Worth trying again: the database is away or refused for now.
    #[error("transient database error")]
    Transient(#[source] sqlx::Error),
    /// Worth trying again: a concurrent transaction won a race.
    #[error(
        "another transaction applied some of these events, or changed a record they read, first"
    )]
    LostRace,
    /// Not worth trying again as a batch: some event hits a fault. The caller applies the
    /// events one by one to find it.
    #[error("database fault")]
    Fault(#[source] sqlx::Error),
}

impl BatchError {
    /// Whether the same batch may commit if tried again.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_) | Self::LostRace)
    }

    /// The whole chain in one line, for a log field or a parked reason.
    pub fn reason(&self) -> String {
        match self {
            Self::LostRace => self.to_string(),
            Self::Transient(e) | Self::Fault(e) => format!("{self}: {e}"),
        }
    }
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        if hongyan_adapters::store::is_transient(&e) {
            BatchError::Transient(e)
        } else {
            BatchError::Fault(e)
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
    let mut state = load::load(&mut tx, events).await?;
    let outcomes = events
        .iter()
        .map(|ev| {
            let (outcome, effects) = Rules::new(&state, policy, now).apply(ev);
            state.absorb(effects);
            outcome
        })
        .collect();
    let changes = state.into_changes();
    if !flush::flush(&mut tx, &changes).await? {
        tracing::debug!("Batch lost a race to another transaction; rolling back.");
        tx.rollback().await?;
        return Err(BatchError::LostRace);
    }
    tx.commit().await?;
    tracing::debug!("Batch committed.");
    let places = changes
        .changed_records()
        .into_iter()
        .map(Place::of)
        .collect();
    Ok(Applied {
        outcomes,
        places,
        stations_changed: changes.stations_changed(),
        created: changes.created(),
    })
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_batch_error_says_whether_to_try_again_and_keeps_the_database_error() {
        let away = BatchError::from(sqlx::Error::PoolTimedOut);
        assert!(away.is_transient());
        assert!(away.source().is_some(), "sqlx's error is the source");
        assert!(away.reason().starts_with("transient database error: "));
        let fault = BatchError::from(sqlx::Error::RowNotFound);
        assert!(!fault.is_transient());
        assert!(fault.source().is_some());
        assert!(BatchError::LostRace.is_transient());
        assert!(BatchError::LostRace.source().is_none());
    }
}
