//! smokegate: gateway-first end-to-end smoke testing.
//!
//! One folder per pipeline stage: `load` (suites and config) → `eval` (templates, matchers,
//! a step's verdict) and `http` (the client, under the gateway-only policy) → `run` (the
//! runner, the one request path, the auth lifecycle, the journal) → `report` (events and
//! reporters). `import` turns other tools' tests into suites (it only uses `load`, to check what it
//! writes). `cli` is the edge; `secret` the sanitizer every output passes through; `exit`
//! the exit codes. ARCHITECTURE.md has the map.

/// `println!` that never panics and never prints a secret: a closed stdout (`smokegate token |
/// head -1`) must not abort a command before its cleanup has run, and every line goes through
/// the process's sanitizer ([`secret::Redactor`]) first.
#[macro_export]
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = $crate::secret::Redactor::global().redact(&format!($($arg)*));
        let _ = writeln!(std::io::stdout(), "{line}");
    }};
}

/// `eprintln!` through the sanitizer, for the same reasons as [`outln!`].
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = $crate::secret::Redactor::global().redact(&format!($($arg)*));
        let _ = writeln!(std::io::stderr(), "{line}");
    }};
}

/// The one unsanitized print: `smokegate token --raw`, which exists to hand the token over.
#[macro_export]
macro_rules! outln_unmasked {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod cli;
pub mod eval;
pub mod exit;
pub mod http;
pub mod import;
pub mod load;
pub mod report;
pub mod run;
pub mod secret;
