//! Run: the runner and one suite's run, the one request path (render → send → judge), probes,
//! the auth lifecycle, the journal of what a run created, verdicts, signals and cancellation.

pub mod auth;
pub mod ctx;
pub mod exchange;
pub mod journal;
pub mod jwt;
pub mod probe;
pub mod records;
pub mod runner;
pub mod session;
pub mod signal;
pub mod suite;
pub mod verdict;
