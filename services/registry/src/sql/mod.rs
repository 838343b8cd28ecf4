//! The registry's own SQL (each role owns its statements): the batch's reads and writes of
//! the ledger, the certificate sequences, study packs. Public for the integration tests and
//! the benchmark, which seed and probe the ledger the way the registry writes it.

pub mod certificates;
pub mod reads;
pub mod study;
pub mod writes;
