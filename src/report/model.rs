//! The machine-readable report (`--json`, `schema_version` 1) and the collector that builds it
//! from run events. JUnit, the GitHub summary and `merge` are all rendered from this one
//! document, so every format tells the same story.

use serde::{Deserialize, Serialize};

use crate::exit::Exit;
use crate::report::event::{Breadcrumb, CleanupReport, Event, Outcome, Phase, RunSummary, StepKind, StepResult, SuiteEnd, SuiteResult};

pub const SCHEMA_VERSION: u32 = 1;

/// A smokegate run, as written by `--json`. Durations are in milliseconds, times RFC 3339 UTC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(title = "smokegate run report"))]
pub struct Report {
    /// The layout of this document; 1 for now, bumped on incompatible changes.
    pub schema_version: u32,
    pub tool: Tool,
    pub run: RunSummary,
    /// One entry per suite file that ran, in the order they were given.
    pub suites: Vec<SuiteResult>,
    pub cleanup: CleanupReport,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Requests made outside suite steps: readiness, bootstrap, token refresh, user deletion.
    #[serde(default)]
    pub breadcrumbs: Vec<Breadcrumb>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Report {
    /// (passed, failed, skipped) over suite steps and probes (teardowns count under cleanup).
    pub fn counts(suite: &SuiteResult) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for s in suite.steps.iter().filter(|s| s.kind != StepKind::Teardown) {
            match s.outcome {
                Outcome::Passed => c.0 += 1,
                Outcome::Failed => c.1 += 1,
                Outcome::Skipped => c.2 += 1,
            }
        }
        c
    }

    pub fn failures(&self) -> impl Iterator<Item = &crate::report::event::StepResult> {
        self.suites.iter().flat_map(|s| s.steps.iter()).filter(|s| s.outcome == Outcome::Failed)
    }
}

/// The steps of suites still running (several at once under `--jobs`), for reporters that
/// show or keep a suite as a whole: steps arrive one by one, the suite's end closes its result.
#[derive(Default)]
pub struct OpenSuites(Vec<SuiteResult>);

impl OpenSuites {
    pub fn push(&mut self, st: &StepResult) {
        let i = self.position(&st.suite, &st.file);
        self.0[i].steps.push(st.clone());
    }

    pub fn finish(&mut self, end: &SuiteEnd) -> SuiteResult {
        let i = self.position(&end.name, &end.file);
        let mut suite = self.0.swap_remove(i);
        suite.duration_ms = end.duration_ms;
        suite
    }

    /// The open suite for `file`, opened (empty) if it is not yet.
    fn position(&mut self, name: &str, file: &str) -> usize {
        self.0.iter().position(|s| s.file == file).unwrap_or_else(|| {
            self.0.push(SuiteResult { name: name.to_owned(), file: file.to_owned(), duration_ms: 0.0, steps: Vec::new() });
            self.0.len() - 1
        })
    }
}

/// Accumulates events into a [`Report`]; complete once `RunFinished` has been seen.
#[derive(Default)]
pub struct Collector {
    suites: Vec<SuiteResult>,
    open: OpenSuites,
    cleanup: CleanupReport,
    warnings: Vec<String>,
    breadcrumbs: Vec<Breadcrumb>,
    summary: Option<RunSummary>,
    /// Suite names in the order the run announced them, to keep reports stable under `--jobs`.
    order: Vec<String>,
}

impl Collector {
    pub fn handle(&mut self, event: &Event) {
        match event {
            Event::Warning(w) => self.warnings.push(w.clone()),
            Event::Breadcrumb(c) if !matches!(c.phase, Phase::Step | Phase::Probe | Phase::Teardown) => self.breadcrumbs.push(c.clone()),
            Event::StepFinished(st) => self.open.push(st),
            Event::SuiteFinished(end) => self.suites.push(self.open.finish(end)),
            Event::Cleanup(c) => self.cleanup = c.clone(),
            Event::RunFinished(s) => self.summary = Some(s.clone()),
            Event::SuitesPlanned(names) => self.order = names.clone(),
            _ => {}
        }
    }

    pub fn report(&self) -> Option<Report> {
        let mut suites = self.suites.clone();
        suites.sort_by_key(|s| self.order.iter().position(|n| n == &s.file).unwrap_or(usize::MAX));
        Some(Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool { name: "smokegate".into(), version: env!("CARGO_PKG_VERSION").into() },
            run: self.summary.clone()?,
            suites,
            cleanup: self.cleanup.clone(),
            warnings: self.warnings.clone(),
            breadcrumbs: self.breadcrumbs.clone(),
        })
    }
}

/// Combines shard reports into one: suites concatenated, counts summed, the worst exit code.
pub fn merge(reports: Vec<Report>) -> Option<Report> {
    let mut it = reports.into_iter();
    let mut out = it.next()?;
    for r in it {
        out.run.passed += r.run.passed;
        out.run.failed += r.run.failed;
        out.run.skipped += r.run.skipped;
        out.run.suites += r.run.suites;
        out.run.duration_ms = out.run.duration_ms.max(r.run.duration_ms);
        out.run.interrupted |= r.run.interrupted;
        out.run.exit_code = worst_exit(out.run.exit_code, r.run.exit_code);
        if out.run.started_at > r.run.started_at {
            out.run.started_at = r.run.started_at;
        }
        out.run.error = match (out.run.error.take(), r.run.error) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        out.run.run_id = format!("{}+{}", out.run.run_id, r.run.run_id);
        out.suites.extend(r.suites);
        out.cleanup.deleted.extend(r.cleanup.deleted);
        out.cleanup.left.extend(r.cleanup.left);
        out.cleanup.kept.extend(r.cleanup.kept);
        out.cleanup.teardown_failures += r.cleanup.teardown_failures;
        out.warnings.extend(r.warnings);
        out.breadcrumbs.extend(r.breadcrumbs);
    }
    out.suites.sort_by(|a, b| a.file.cmp(&b.file));
    // Shards that together ran no step tested nothing: each may be green alone, the whole is not.
    if out.run.passed + out.run.failed == 0 && !out.run.interrupted {
        out.run.exit_code = worst_exit(out.run.exit_code, Exit::StepFailed.code());
        out.run.error.get_or_insert_with(|| "no steps ran in any shard: nothing was tested".into());
    }
    Some(out)
}

/// The code that wins when runs are combined ([`Exit::worst`]); a code smokegate does not
/// know counts as a usage error.
pub fn worst_exit(a: i32, b: i32) -> i32 {
    let exit = |c: i32| Exit::from_code(c).unwrap_or(Exit::Usage);
    if exit(a).worst(exit(b)) == exit(a) { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(suite: &str, name: &str) -> StepResult {
        StepResult {
            suite: suite.into(),
            file: format!("{suite}.yaml"),
            line: 1,
            name: name.into(),
            kind: StepKind::Step,
            outcome: Outcome::Passed,
            failure_class: None,
            message: None,
            method: "GET".into(),
            path: "/".into(),
            status: Some(200),
            duration_ms: 1.0,
            attempts: 1,
            replay: None,
            assertions: Vec::new(),
            breadcrumbs: Vec::new(),
        }
    }

    #[test]
    fn interleaved_suites_are_assembled_by_file_and_closed_by_their_end() {
        let mut open = OpenSuites::default();
        for (s, n) in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2"), ("a", "a3")] {
            open.push(&step(s, n));
        }
        let b = open.finish(&SuiteEnd { name: "b".into(), file: "b.yaml".into(), duration_ms: 7.0 });
        assert_eq!((b.name.as_str(), b.duration_ms), ("b", 7.0));
        assert_eq!(b.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["b1", "b2"]);
        let a = open.finish(&SuiteEnd { name: "a".into(), file: "a.yaml".into(), duration_ms: 9.0 });
        assert_eq!(a.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a1", "a2", "a3"]);
        // A suite that ended without a step (all filtered out, or none) still has its result.
        let c = open.finish(&SuiteEnd { name: "c".into(), file: "c.yaml".into(), duration_ms: 0.0 });
        assert!(c.steps.is_empty() && c.name == "c");
        assert!(open.0.is_empty(), "nothing left open");
    }
}
