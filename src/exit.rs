//! The one table of process exit codes. Documented in the README and in `smokegate --help`.

/// Every selected step passed and cleanup succeeded.
pub const OK: i32 = 0;
/// At least one step failed (or no step ran at all).
pub const STEP_FAILED: i32 = 1;
/// Usage, configuration or suite error: nothing was sent.
pub const USAGE: i32 = 2;
/// The auth bootstrap (create, login, token) failed.
pub const AUTH_BOOTSTRAP: i32 = 3;
/// The gateway was unreachable or never became ready.
pub const GATEWAY_UNREACHABLE: i32 = 4;
/// Every step passed, but a teardown or the user's deletion failed: something was left behind.
pub const CLEANUP_FAILED: i32 = 5;
/// The gateway-only policy refused the run (foreign origin, direct service URL in the env).
pub const POLICY: i32 = 6;
/// The run was green, but a report (`--json`, `--junit`, `--log-file`, the job summary) could
/// not be written; every other report was. A red run keeps its own code and names the file.
pub const REPORT_FAILED: i32 = 7;
/// Interrupted by SIGINT/SIGTERM (after teardown and cleanup ran).
pub const INTERRUPTED: i32 = 130;

/// The table as printed under `--help`.
pub const HELP_TABLE: &str = "\
Exit codes:
  0    all steps passed and cleanup succeeded
  1    a step failed, or no step ran
  2    usage, config or suite error
  3    auth bootstrap failed
  4    gateway unreachable or not ready
  5    steps passed but cleanup failed (something was left behind)
  6    the gateway-only policy refused the run
  7    the run was green, but a report could not be written
  130  interrupted (teardown and cleanup still ran)";
