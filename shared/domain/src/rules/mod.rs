//! The scheduler's rules (DESIGN.md section 4), as plain functions over dates and record facts:
//! which members a firing concerns, what changes on the ledger, and the deterministic keys of
//! what it sends. The scheduler selects candidates with SQL and asks these functions; the
//! tests here check each rule at its boundaries (the day before, the day, the day after; month
//! and quarter ends; 29 February).

pub mod contacts;
pub mod greetings;
pub mod keys;
pub mod monthly;
pub mod periods;
