//! The one owner of verdicts: every step, teardown and probe result of a run is made here
//! (passed, or failed with a class; skipped only for a teardown with nothing to tear down), and
//! [`RunOutcome`] tallies them into the run's verdict and exit code.

use crate::exit::Exit;
use crate::load::suite::{Step, Suite};
use crate::report::event::{AssertionResult, Breadcrumb, CleanupReport, FailureClass, Outcome, StepKind, StepResult};
use crate::run::auth::AuthError;
use crate::secret::Redactor;

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

/// How one attempt of a step came out, before `eventually` and the probes have their say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    Passed,
    Failed {
        class: FailureClass,
        message: String,
    },
    /// A teardown with nothing to tear down (the capture it needs was never made).
    NothingToDo(String),
}

impl Attempt {
    pub(crate) fn failed(class: FailureClass, message: impl Into<String>) -> Attempt {
        Attempt::Failed { class, message: message.into() }
    }
}

/// What `eventually` came to: how many attempts, whether its `unless` (a terminal state) held
/// on the last one, and how long they took.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tries {
    pub count: u32,
    pub terminal: bool,
    pub secs: f64,
}

impl Tries {
    pub(crate) const ONCE: Tries = Tries { count: 1, terminal: false, secs: 0.0 };
}

/// What a step did, besides its verdict: what the report shows of it.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// A probe's own name (`… · probe: no token`); a step's is its own.
    pub name: Option<String>,
    /// The rendered path, sanitized (the written one when it never rendered).
    pub path: Option<String>,
    pub status: Option<u16>,
    pub duration_ms: f64,
    pub replay: Option<String>,
    pub assertions: Vec<AssertionResult>,
    pub breadcrumbs: Vec<Breadcrumb>,
}

/// A step as sent: its facts and the inputs of its verdict, before the probes.
#[derive(Debug)]
pub(crate) struct Sent {
    pub facts: Facts,
    pub last: Attempt,
    pub tries: Tries,
}

impl Sent {
    pub(crate) fn not_sent(last: Attempt) -> Sent {
        Sent { facts: Facts::default(), last, tries: Tries::ONCE }
    }

    /// Whether a request went out.
    pub(crate) fn went_out(&self) -> bool {
        !self.facts.breadcrumbs.is_empty()
    }

    /// The verdict without probes: what a record's write-ahead note and the probes go by.
    pub(crate) fn verdict(&self) -> Verdict {
        verdict(&self.last, self.tries, &[])
    }
}

/// A step's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub outcome: Outcome,
    pub class: Option<FailureClass>,
    pub message: Option<String>,
}

/// The one function that makes a step's verdict, from its last attempt, what `eventually` came
/// to, and its probes: a terminal state fails it; a failure after retries says so; a passing
/// step fails with the first failed probe.
pub(crate) fn verdict(last: &Attempt, tries: Tries, probes: &[StepResult]) -> Verdict {
    let failed = |class, message: String| Verdict { outcome: Outcome::Failed, class: Some(class), message: Some(message) };
    if tries.terminal {
        return failed(FailureClass::Assertion, format!("reached a terminal state (`unless` held) on attempt {}", tries.count));
    }
    match last {
        Attempt::NothingToDo(why) => Verdict { outcome: Outcome::Skipped, class: None, message: Some(why.clone()) },
        Attempt::Failed { class, message } if tries.count > 1 => {
            failed(*class, format!("{message} (still failing after {} attempts in {:.1} s)", tries.count, tries.secs))
        }
        Attempt::Failed { class, message } => failed(*class, message.clone()),
        Attempt::Passed => match probes.iter().find(|p| p.outcome == Outcome::Failed) {
            Some(p) => Verdict { outcome: Outcome::Failed, class: p.failure_class, message: p.message.clone() },
            None => Verdict { outcome: Outcome::Passed, class: None, message: None },
        },
    }
}

/// A step's result, made once from what it did and its verdict; its message goes through the
/// sanitizer. Nothing changes a result after this.
pub(crate) fn finish(suite: &Suite, step: &Step, kind: StepKind, sent: Sent, probes: &[StepResult], redactor: &Redactor) -> StepResult {
    let v = verdict(&sent.last, sent.tries, probes);
    let f = sent.facts;
    StepResult {
        suite: suite.name.clone(),
        file: suite.file.display().to_string(),
        line: step.pos.line,
        name: f.name.unwrap_or_else(|| step.name.clone()),
        kind,
        outcome: v.outcome,
        failure_class: v.class,
        message: v.message.map(|m| redactor.redact(&m)),
        method: step.request.method.to_string(),
        path: f.path.unwrap_or_else(|| step.request.path.clone()),
        status: f.status,
        duration_ms: f.duration_ms,
        attempts: sent.tries.count,
        replay: f.replay,
        assertions: f.assertions,
        breadcrumbs: f.breadcrumbs,
    }
}

/// A selected step that was never sent: a failure with its reason, never a skip. (Skipped is
/// only for what nothing needed doing, such as a teardown whose record was never created.)
pub(crate) fn not_run(suite: &Suite, step: &Step, kind: StepKind, class: FailureClass, why: &str, redactor: &Redactor) -> StepResult {
    finish(suite, step, kind, Sent::not_sent(Attempt::failed(class, why)), &[], redactor)
}

/// Why the rest of a suite does not run: the first step it hits fails with `class`, the ones
/// after it as `not-run`.
pub(crate) struct Stop {
    pub class: FailureClass,
    pub why: String,
}

/// A probe that could not prove anything: a failure of its own class.
pub(crate) fn unprobed(suite: &Suite, step: &Step, name: String, why: String, redactor: &Redactor) -> StepResult {
    let sent =
        Sent { facts: Facts { name: Some(name), ..Facts::default() }, ..Sent::not_sent(Attempt::failed(FailureClass::Unprobed, why)) };
    finish(suite, step, StepKind::Probe, sent, &[], redactor)
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

    /// The step verdict from each of its inputs: passing and failing, retried, terminal, probed.
    #[test]
    fn a_step_verdict_is_made_from_its_inputs() {
        let probe = |outcome, class: Option<FailureClass>, msg: &str| StepResult {
            suite: "s".into(),
            file: "s.yaml".into(),
            line: 1,
            name: "p".into(),
            kind: StepKind::Probe,
            outcome,
            failure_class: class,
            message: Some(msg.into()),
            method: "GET".into(),
            path: "/".into(),
            status: None,
            duration_ms: 0.0,
            attempts: 1,
            replay: None,
            assertions: vec![],
            breadcrumbs: vec![],
        };
        let ok = probe(Outcome::Passed, None, "");
        let bad = probe(Outcome::Failed, Some(FailureClass::AuthNotEnforced), "answered 200 without a token");
        let once = Tries::ONCE;
        let v = verdict(&Attempt::Passed, once, std::slice::from_ref(&ok));
        assert_eq!((v.outcome, v.class, v.message), (Outcome::Passed, None, None));
        let v = verdict(&Attempt::Passed, once, &[ok.clone(), bad.clone()]);
        assert_eq!((v.outcome, v.class), (Outcome::Failed, Some(FailureClass::AuthNotEnforced)), "the first failed probe fails the step");
        let failed = Attempt::failed(FailureClass::ServerError, "status: expected 200, got 503");
        let v = verdict(&failed, once, std::slice::from_ref(&bad));
        assert_eq!(
            (v.class, v.message.as_deref()),
            (Some(FailureClass::ServerError), Some("status: expected 200, got 503")),
            "its own failure first"
        );
        let v = verdict(&failed, Tries { count: 3, terminal: false, secs: 1.25 }, &[]);
        assert_eq!(v.message.as_deref(), Some("status: expected 200, got 503 (still failing after 3 attempts in 1.2 s)"));
        let v = verdict(&Attempt::Passed, Tries { count: 2, terminal: true, secs: 0.5 }, &[]);
        assert_eq!((v.outcome, v.class), (Outcome::Failed, Some(FailureClass::Assertion)), "a terminal state fails even a passing attempt");
        assert_eq!(v.message.as_deref(), Some("reached a terminal state (`unless` held) on attempt 2"));
        let v = verdict(&Attempt::NothingToDo("nothing to tear down".into()), once, &[]);
        assert_eq!((v.outcome, v.class), (Outcome::Skipped, None));
    }
}
