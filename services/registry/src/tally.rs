//! What the registry settled, counted: per batch ([`Counts`], logged with each batch) and since
//! start ([`Tally`], which tests and operators read). Every event is also counted in the
//! `hongyan_events_total` metric by type and outcome.

use std::sync::atomic::{AtomicU64, Ordering};

/// How a settled event ended, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    Applied,
    Stale,
    Duplicate,
    /// Sent to `hongyan.parked`.
    Parked,
    /// Waiting to be looked at again (held, or in a retry tier).
    Deferred,
}

impl Settled {
    /// The metric's `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Settled::Applied => "applied",
            Settled::Stale => "stale",
            Settled::Duplicate => "duplicate",
            Settled::Parked => "parked",
            Settled::Deferred => "deferred",
        }
    }
}

/// One batch's outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub applied: u64,
    pub stale: u64,
    pub duplicate: u64,
    pub parked: u64,
    pub deferred: u64,
}

impl Counts {
    /// Counts one event (and records it in the metric).
    pub fn count(&mut self, kind: &str, settled: Settled) {
        hongyan_adapters::metrics::event(kind, settled.label());
        *match settled {
            Settled::Applied => &mut self.applied,
            Settled::Stale => &mut self.stale,
            Settled::Duplicate => &mut self.duplicate,
            Settled::Parked => &mut self.parked,
            Settled::Deferred => &mut self.deferred,
        } += 1;
    }

    pub fn total(&self) -> u64 {
        self.applied + self.stale + self.duplicate + self.parked + self.deferred
    }
}

/// Totals since the registry started, shared by its tasks.
#[derive(Debug, Default)]
pub struct Tally {
    applied: AtomicU64,
    stale: AtomicU64,
    duplicate: AtomicU64,
    parked: AtomicU64,
    deferred: AtomicU64,
    /// Woken each time a batch is settled (committed, its copies published, acknowledged), so
    /// whoever waits for an event (a test) awaits the registry instead of polling the ledger.
    settled: tokio::sync::Notify,
}

impl Tally {
    /// Adds a settled batch's counts and wakes those waiting for one.
    pub fn add(&self, c: &Counts) {
        self.applied.fetch_add(c.applied, Ordering::Relaxed);
        self.stale.fetch_add(c.stale, Ordering::Relaxed);
        self.duplicate.fetch_add(c.duplicate, Ordering::Relaxed);
        self.parked.fetch_add(c.parked, Ordering::Relaxed);
        self.deferred.fetch_add(c.deferred, Ordering::Relaxed);
        self.settled.notify_waiters();
    }

    /// Resolves when the next batch is settled. `enable` it before checking what it settles,
    /// or a batch settled in between is missed.
    pub fn settled(&self) -> tokio::sync::futures::Notified<'_> {
        self.settled.notified()
    }

    /// The totals so far.
    pub fn counts(&self) -> Counts {
        Counts {
            applied: self.applied.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            duplicate: self.duplicate.load(Ordering::Relaxed),
            parked: self.parked.load(Ordering::Relaxed),
            deferred: self.deferred.load(Ordering::Relaxed),
        }
    }
}
