//! The one owner of outcomes: every exit code smokegate has, what each means, and which of two
//! wins. Documented in the book (docs/src/exit-codes.md) and in `smokegate --help` (the table below is generated from
//! this enum). Only `main.rs` turns an [`Exit`] into a process exit.

/// A process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every selected step passed and cleanup succeeded.
    Ok,
    /// At least one step failed (or no step ran at all).
    StepFailed,
    /// Usage, configuration or suite error: nothing was sent.
    Usage,
    /// The auth bootstrap (create, login, token) failed.
    AuthBootstrap,
    /// The gateway was unreachable or never became ready.
    GatewayUnreachable,
    /// Every step passed, but a teardown or the user's deletion failed: something was left behind.
    CleanupFailed,
    /// The gateway-only policy refused the run (foreign origin, direct service URL in the env).
    Policy,
    /// The run was green, but a report (`--json`, `--junit`, `--log-file`, the job summary)
    /// could not be written; every other report was. A red run keeps its own code.
    ReportFailed,
    /// Interrupted by SIGINT/SIGTERM (after teardown and cleanup ran).
    Interrupted,
}

impl Exit {
    /// Every code, in the order of the help table.
    pub const ALL: [Exit; 9] = [
        Exit::Ok,
        Exit::StepFailed,
        Exit::Usage,
        Exit::AuthBootstrap,
        Exit::GatewayUnreachable,
        Exit::CleanupFailed,
        Exit::Policy,
        Exit::ReportFailed,
        Exit::Interrupted,
    ];

    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::StepFailed => 1,
            Exit::Usage => 2,
            Exit::AuthBootstrap => 3,
            Exit::GatewayUnreachable => 4,
            Exit::CleanupFailed => 5,
            Exit::Policy => 6,
            Exit::ReportFailed => 7,
            Exit::Interrupted => 130,
        }
    }

    /// The code's meaning, as the help table and the demo say it.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "all steps passed and cleanup succeeded",
            Exit::StepFailed => "a step failed, or no step ran",
            Exit::Usage => "usage, config or suite error",
            Exit::AuthBootstrap => "auth bootstrap failed",
            Exit::GatewayUnreachable => "gateway unreachable or not ready",
            Exit::CleanupFailed => "steps passed but cleanup failed (something was left behind)",
            Exit::Policy => "the gateway-only policy refused the run",
            Exit::ReportFailed => "the run was green, but a report could not be written",
            Exit::Interrupted => "interrupted (teardown and cleanup still ran)",
        }
    }

    /// The code a report records (merging shard reports reads them back).
    pub fn from_code(code: i32) -> Option<Exit> {
        Exit::ALL.into_iter().find(|e| e.code() == code)
    }

    /// How bad it is: when two outcomes meet (shards merged, a report failing after a red run),
    /// the higher rank is the run's. Nothing sent (usage, policy) outranks what a run found;
    /// an interruption outranks everything, since nothing after it is complete.
    fn rank(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::ReportFailed => 1,
            Exit::CleanupFailed => 2,
            Exit::StepFailed => 3,
            Exit::AuthBootstrap => 4,
            Exit::GatewayUnreachable => 5,
            Exit::Policy => 6,
            Exit::Usage => 7,
            Exit::Interrupted => 8,
        }
    }

    /// The worse of two outcomes.
    pub fn worst(self, other: Exit) -> Exit {
        if other.rank() > self.rank() { other } else { self }
    }

    pub fn is_ok(self) -> bool {
        self == Exit::Ok
    }

    /// The table printed under `--help`.
    pub fn help_table() -> String {
        let mut s = String::from("Exit codes:");
        for e in Exit::ALL {
            s.push_str(&format!("\n  {:<4} {}", e.code(), e.meaning()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_read_back() {
        for e in Exit::ALL {
            assert_eq!(Exit::from_code(e.code()), Some(e));
        }
        assert_eq!(Exit::from_code(42), None);
    }

    #[test]
    fn the_worse_outcome_wins_whichever_side_it_is_on() {
        assert_eq!(Exit::Ok.worst(Exit::StepFailed), Exit::StepFailed);
        assert_eq!(Exit::StepFailed.worst(Exit::Ok), Exit::StepFailed);
        assert_eq!(Exit::CleanupFailed.worst(Exit::StepFailed), Exit::StepFailed);
        assert_eq!(Exit::ReportFailed.worst(Exit::CleanupFailed), Exit::CleanupFailed);
        assert_eq!(Exit::StepFailed.worst(Exit::Interrupted), Exit::Interrupted);
        assert_eq!(Exit::Ok.worst(Exit::ReportFailed), Exit::ReportFailed);
    }

    #[test]
    fn the_book_table_lists_exactly_these_codes() {
        let readme = include_str!("../docs/src/exit-codes.md");
        let start = readme.find("# Exit codes").expect("the book has an exit code table");
        let rows: Vec<i32> = readme[start..]
            .lines()
            .skip_while(|l| !l.starts_with("| code"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.trim_matches('|').split('|').next().unwrap().trim().parse().unwrap())
            .collect();
        assert_eq!(rows, Exit::ALL.map(Exit::code).to_vec());
    }

    #[test]
    fn the_help_table_lists_every_code() {
        let t = Exit::help_table();
        assert!(t.starts_with("Exit codes:"));
        assert!(t.contains("\n  0    all steps passed") && t.contains("\n  130  interrupted"), "{t}");
        assert_eq!(t.lines().count(), 1 + Exit::ALL.len());
    }
}
