//! smokegate: gateway-first end-to-end smoke testing.
//!
//! The pipeline, one module each: load (`suite`, `config`, `yaml`) → render (`template`) →
//! send (`http`, under `policy`) → evaluate (`step`, `matcher`) → emit (`event`) → render
//! (`report`). `auth` and `journal` own the test user's lifecycle; `runner` drives a run;
//! `app` turns flags into settings and commands; `refgate` is the reference gateway.

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
pub mod load;
pub mod report;
pub mod run;
pub mod secret;
