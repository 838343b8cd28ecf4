//! The registry's own SQL (each role owns its statements).

pub mod study;
