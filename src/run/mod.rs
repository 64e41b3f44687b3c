//! Run: the runner, the auth lifecycle, the journal of what a run created, signals.

pub mod auth;
pub mod journal;
pub mod jwt;
pub mod runner;
pub mod signal;
