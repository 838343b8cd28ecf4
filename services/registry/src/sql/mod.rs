//! The registry's own SQL (each role owns its statements).

pub mod certificates;
pub mod study;
