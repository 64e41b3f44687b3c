//! The one owner of verdicts: every step, teardown and probe result of a run is made here
//! (passed, or failed with a class; skipped only for a teardown with nothing to tear down), and
//! [`RunOutcome`] tallies them into the run's verdict and exit code.

use crate::exit::Exit;
use crate::load::suite::{Step, Suite};
use crate::report::event::{CleanupReport, FailureClass, Outcome, StepKind, StepResult};
use crate::run::auth::AuthError;

/// What the run came to.
#[derive(Debug, Default)]
pub struct RunOutcome {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub cleanup: CleanupReport,
    pub bootstrap_error: Option<AuthError>,
    pub interrupted: bool,
    /// Answers of the auth lifecycle (create, login, refresh, cleanup) that broke the contract:
    /// the run is red (class `schema`), though the lifecycle went on.
    pub contract_breaks: Vec<String>,
    /// Why no suite ran, when something stopped the run before them.
    pub stopped: Option<Stopped>,
}

/// What stopped a run before its suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// `--wait-ready` gave up: Ctrl-C, the last answer lacked the gateway's fingerprint (a
    /// service, not the gateway), or the gateway never became ready.
    NotReady { interrupted: bool, unmarked: bool },
    /// The fingerprint check before the first write was answered without the fingerprint.
    Unmarked,
    /// The fingerprint check before the first write got no answer.
    NoAnswer { unreachable: bool },
    /// A shard with no suite (fewer suites than runners): nothing to do, nothing wrong.
    EmptyShard,
}

impl RunOutcome {
    pub(crate) fn tally(&mut self, st: &StepResult) {
        match (st.kind, st.outcome) {
            (StepKind::Teardown, Outcome::Failed) => self.cleanup.teardown_failures += 1,
            (StepKind::Teardown, _) => {}
            (_, Outcome::Passed) => self.passed += 1,
            (_, Outcome::Failed) => self.failed += 1,
            (_, Outcome::Skipped) => self.skipped += 1,
        }
    }

    /// Adds a suite's counts and what it left behind.
    pub(crate) fn add(&mut self, counts: RunOutcome) {
        self.passed += counts.passed;
        self.failed += counts.failed;
        self.skipped += counts.skipped;
        self.cleanup.teardown_failures += counts.cleanup.teardown_failures;
        self.cleanup.left.extend(counts.cleanup.left);
    }

    /// The run's exit code: the one function that decides it (a report that then cannot be
    /// written is combined with it by `Exit::worst`).
    pub fn exit(&self) -> Exit {
        if let Some(stop) = self.stopped {
            return match stop {
                Stopped::NotReady { interrupted: true, .. } => Exit::Interrupted,
                Stopped::NotReady { unmarked: true, .. } | Stopped::Unmarked => Exit::Policy,
                Stopped::NotReady { .. } | Stopped::NoAnswer { unreachable: true } => Exit::GatewayUnreachable,
                Stopped::NoAnswer { unreachable: false } => Exit::AuthBootstrap,
                Stopped::EmptyShard => Exit::Ok,
            };
        }
        if self.interrupted {
            Exit::Interrupted
        } else if let Some(e) = &self.bootstrap_error {
            auth_exit(e)
        } else if self.failed > 0 || self.passed == 0 || !self.contract_breaks.is_empty() {
            Exit::StepFailed
        } else if !self.cleanup.left.is_empty() || self.cleanup.teardown_failures > 0 {
            Exit::CleanupFailed
        } else {
            Exit::Ok
        }
    }
}

/// The exit of an auth lifecycle that failed (a run's bootstrap, `token`, `call`, `login`).
pub fn auth_exit(e: &AuthError) -> Exit {
    match e {
        AuthError::Cancelled => Exit::Interrupted,
        e if e.unreachable() => Exit::GatewayUnreachable,
        _ => Exit::AuthBootstrap,
    }
}

/// The exit of a single request (`smokegate call`) that got no answer.
pub fn request_exit(class: FailureClass) -> Exit {
    match class {
        FailureClass::Connect => Exit::GatewayUnreachable,
        FailureClass::Cancelled => Exit::Interrupted,
        _ => Exit::StepFailed,
    }
}

/// A step's result before anything is known: the one shape every verdict below starts from.
pub(crate) fn blank(suite: &Suite, step: &Step, kind: StepKind) -> StepResult {
    StepResult {
        suite: suite.name.clone(),
        file: suite.file.display().to_string(),
        line: step.pos.line,
        name: step.name.clone(),
        kind,
        outcome: Outcome::Skipped,
        failure_class: None,
        message: None,
        method: step.request.method.to_string(),
        path: step.request.path.clone(),
        status: None,
        duration_ms: 0.0,
        attempts: 1,
        replay: None,
        assertions: Vec::new(),
        breadcrumbs: Vec::new(),
    }
}

/// A selected step that was never sent: a failure with its reason, never a skip. (Skipped is
/// only for what nothing needed doing, such as a teardown whose record was never created.)
pub(crate) fn not_run(suite: &Suite, step: &Step, kind: StepKind, class: FailureClass, why: &str) -> StepResult {
    let mut r = blank(suite, step, kind);
    r.outcome = Outcome::Failed;
    r.failure_class = Some(class);
    r.message = Some(why.to_owned());
    r
}

/// Why the rest of a suite does not run: the first step it hits fails with `class`, the ones
/// after it as `not-run`.
pub(crate) struct Stop {
    pub class: FailureClass,
    pub why: String,
}

/// A probe that could not prove anything: a failure of its own class.
pub(crate) fn unprobed(suite: &Suite, step: &Step, why: String) -> StepResult {
    let mut r = not_run(suite, step, StepKind::Probe, FailureClass::Unprobed, &why);
    r.name = format!("{} · probe", step.name);
    r
}

/// Marks `r` failed with `class`; the message goes through the sanitizer first.
pub(crate) fn fail(r: &mut StepResult, class: FailureClass, msg: String, redactor: &crate::secret::Redactor) {
    r.outcome = Outcome::Failed;
    r.failure_class = Some(class);
    r.message = Some(redactor.redact(&msg));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(passed: usize, failed: usize) -> RunOutcome {
        RunOutcome { passed, failed, ..RunOutcome::default() }
    }

    /// Every way a run ends, and the one code each gets.
    #[test]
    fn one_function_decides_every_exit() {
        let stopped = |s| RunOutcome { stopped: Some(s), ..RunOutcome::default() };
        let cases = [
            (ran(3, 0), Exit::Ok),
            (ran(2, 1), Exit::StepFailed),
            (ran(0, 0), Exit::StepFailed),
            (RunOutcome { contract_breaks: vec!["login".into()], ..ran(3, 0) }, Exit::StepFailed),
            (RunOutcome { cleanup: CleanupReport { teardown_failures: 1, ..Default::default() }, ..ran(3, 0) }, Exit::CleanupFailed),
            (RunOutcome { interrupted: true, ..ran(1, 1) }, Exit::Interrupted),
            (RunOutcome { bootstrap_error: Some(AuthError::Cancelled), ..ran(0, 0) }, Exit::Interrupted),
            (RunOutcome { bootstrap_error: Some(AuthError::TokenMissing("x".into())), ..ran(0, 0) }, Exit::AuthBootstrap),
            (stopped(Stopped::NotReady { interrupted: true, unmarked: true }), Exit::Interrupted),
            (stopped(Stopped::NotReady { interrupted: false, unmarked: true }), Exit::Policy),
            (stopped(Stopped::NotReady { interrupted: false, unmarked: false }), Exit::GatewayUnreachable),
            (stopped(Stopped::Unmarked), Exit::Policy),
            (stopped(Stopped::NoAnswer { unreachable: true }), Exit::GatewayUnreachable),
            (stopped(Stopped::NoAnswer { unreachable: false }), Exit::AuthBootstrap),
            (stopped(Stopped::EmptyShard), Exit::Ok),
        ];
        for (outcome, exit) in cases {
            assert_eq!(outcome.exit(), exit, "{outcome:?}");
        }
        assert_eq!(request_exit(FailureClass::Connect), Exit::GatewayUnreachable);
        assert_eq!(request_exit(FailureClass::Cancelled), Exit::Interrupted);
        assert_eq!(request_exit(FailureClass::Timeout), Exit::StepFailed);
    }
}
