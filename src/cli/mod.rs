//! The edge: flags, resolved settings and one file per command. The only layer that reads argv
//! or the process environment, prints top-level errors and chooses the exit code.

pub mod app;
pub mod args;
pub mod demo;
pub mod refgate;
pub mod session;
