//! The edge: flags (`args`), settings resolved once (`settings`), one file per command, and
//! `app`, which dispatches and turns failures into exit codes. The only layer that reads argv
//! or the process environment and prints top-level errors; the library never imports it.

pub mod app;
pub mod args;
pub mod check;
pub mod cleanup;
pub mod demo;
pub mod failure;
pub mod import;
pub mod merge;
pub mod refgate;
pub mod run;
pub mod session;
pub mod settings;
