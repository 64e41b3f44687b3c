//! What a run produces: breadcrumbs, step results, and the events that carry them from the
//! runner to the reporters. Plain, documented data (the report contract); reporters only read it.

use std::sync::{Arc, Mutex};

pub use crate::report::crumb::{Breadcrumb, CrumbOutcome, FailureClass, Phase};
pub use crate::report::results::*;

#[derive(Debug, Clone)]
pub enum Event {
    RunStarted {
        run_id: String,
        gateway: String,
        suites: usize,
        version: &'static str,
        /// The config file in use, or `built-in routes` when there is none.
        config: String,
        /// `client-credentials`: the identity provider's origin, the one other origin contacted.
        identity_provider: Option<String>,
    },
    /// The suite files about to run, in the order given (reports keep this order under `--jobs`).
    SuitesPlanned(Vec<String>),
    Info(String),
    Warning(String),
    Breadcrumb(Breadcrumb),
    /// A suite began (for live views); `steps` counts its steps and teardown steps.
    SuiteStarted {
        name: String,
        file: String,
        steps: usize,
    },
    /// A step (or teardown step) is about to send its request.
    StepStarted {
        file: String,
        name: String,
        kind: StepKind,
    },
    StepFinished(StepResult),
    SuiteFinished(SuiteEnd),
    Cleanup(CleanupReport),
    RunFinished(RunSummary),
    /// The first SIGINT/SIGTERM: steps are cancelled; teardown and cleanup get `deadline`.
    Interrupted {
        deadline: std::time::Duration,
    },
    /// A second signal, or the deadline passed: teardown and cleanup stop too.
    Aborted {
        second_signal: bool,
    },
    /// A request as a `curl` line (`--curl FILE`), sanitized, with its reqId and phase.
    Replay {
        request_id: String,
        phase: Phase,
        line: String,
    },
}

/// Reports that could not be written: one line per file, naming it and why.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReportError(pub Vec<String>);

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ReportError {}

impl ReportError {
    pub fn one(what: impl Into<String>) -> Self {
        ReportError(vec![what.into()])
    }

    /// `Ok` when nothing failed.
    pub fn into_result(self) -> Result<(), ReportError> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn extend(&mut self, other: Result<(), ReportError>) {
        if let Err(e) = other {
            self.0.extend(e.0);
        }
    }
}

/// A consumer of events: console, JSON, JUnit, GitHub. Never reaches back into the runner.
pub trait Reporter: Send {
    fn handle(&mut self, event: &Event);
    /// Writes files; called once after `RunFinished`.
    fn finish(&mut self) -> Result<(), ReportError> {
        Ok(())
    }
}

/// Fans events out to every reporter, in order, one event at a time.
#[derive(Clone, Default)]
pub struct EventSink {
    reporters: Arc<Mutex<Vec<Box<dyn Reporter>>>>,
}

impl EventSink {
    pub fn new(reporters: Vec<Box<dyn Reporter>>) -> Self {
        EventSink { reporters: Arc::new(Mutex::new(reporters)) }
    }

    pub fn emit(&self, event: Event) {
        if let Ok(mut rs) = self.reporters.lock() {
            for r in rs.iter_mut() {
                r.handle(&event);
            }
        }
    }

    /// Finishes every reporter, even after one failed; the error names everything that could
    /// not be written.
    pub fn finish(&self) -> Result<(), ReportError> {
        let mut errors = ReportError::default();
        if let Ok(mut rs) = self.reporters.lock() {
            for r in rs.iter_mut() {
                errors.extend(r.finish());
            }
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crumb() -> Breadcrumb {
        Breadcrumb {
            time: "2026-11-23T21:00:00Z".into(),
            run_id: "run".into(),
            request_id: "rid-1".into(),
            echoed_request_id: Some("gw-9".into()),
            trace_id: "t".repeat(32),
            span_id: "s".repeat(16),
            suite: Some("orders".into()),
            step: Some("read".into()),
            phase: Phase::Step,
            method: "GET".into(),
            path: "/api/orders/1".into(),
            status: Some(404),
            upstream: Some("x-upstream: orders-svc".into()),
            ttfb_ms: 1.25,
            total_ms: 2.5,
            attempt: 2,
            outcome: CrumbOutcome::Failed,
            failure_class: Some(FailureClass::Assertion),
        }
    }

    #[test]
    fn a_breadcrumb_line_short_for_the_console_full_for_junit() {
        let c = crumb();
        assert_eq!(
            c.line(false),
            "step GET /api/orders/1 -> 404 · reqId rid-1 · 2.5 ms · upstream x-upstream: orders-svc · gateway id gw-9 · assertion"
        );
        let full = c.line(true);
        assert!(full.starts_with("2026-11-23T21:00:00Z step GET /api/orders/1 -> 404 · reqId rid-1 · trace tttt"), "{full}");
        assert!(
            full.contains("· 2.5 ms (headers 1.2 ms) · attempt 2 · upstream x-upstream: orders-svc · gateway id gw-9 · assertion"),
            "{full}"
        );

        let bare =
            Breadcrumb { status: None, outcome: CrumbOutcome::Error, upstream: None, echoed_request_id: None, failure_class: None, ..c };
        assert_eq!(bare.line(false), "step GET /api/orders/1 -> error · reqId rid-1 · 2.5 ms");
    }
}
