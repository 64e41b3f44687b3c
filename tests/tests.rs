//! Integration tests: the compiled binary against wiremock servers and the reference gateway.
//! One test binary with themed modules builds faster than one binary per file.

mod common;

mod action;
mod auth;
mod classes;
mod compat;
mod core;
mod demo;
mod deployments;
mod first_hour;
mod fuzz;
mod hardening;
mod hostile;
mod html;
mod import;
mod journal;
mod kill;
mod lifecycle;
mod policy;
mod reports;
mod scale;
mod secrets;
mod session;
mod tty;
mod verdicts;
