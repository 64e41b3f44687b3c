//! smokegate: gateway-first end-to-end smoke testing.
//!
//! The pipeline, one module each: load (`suite`, `config`, `yaml`) → render (`template`) →
//! send (`http`, under `policy`) → evaluate (`step`, `matcher`) → emit (`event`) → render
//! (`report`). `auth` and `journal` own the test user's lifecycle; `runner` drives a run;
//! `app` turns flags into settings and commands; `refgate` is the reference gateway.

/// `println!` that never panics: a closed stdout (`smokegate token | head -1`) must not abort a
/// command before its cleanup has run; the output is dropped instead.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics, for the same reason as [`outln!`].
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod diag;
pub mod event;
pub mod exit;
pub mod http;
pub mod journal;
pub mod jwt;
pub mod matcher;
pub mod policy;
pub mod refgate;
pub mod report;
pub mod runner;
pub mod schema;
pub mod secret;
pub mod session;
pub mod signal;
pub mod step;
pub mod suite;
pub mod template;
pub mod yaml;
