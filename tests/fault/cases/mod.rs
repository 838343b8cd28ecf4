//! One fault a case. Each follows the same steps: start the world, publish, inject the fault
//! once part of the stream is applied, measure how long each role took to make progress again,
//! wait for the workload to settle, and verify.

mod input;
mod processes;
mod servers;
