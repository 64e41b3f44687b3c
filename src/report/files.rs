//! Reporters that write files or CI integrations from the collected [`Report`]: `--json`,
//! `--junit`, and GitHub Actions annotations and job summary; plus the streaming `--log-file`.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::report::event::{Event, ReportError, Reporter};
use crate::report::model::{Collector, Report};
use crate::secret::Redactor;

/// Where the collected report goes. Every byte written passes through the run's redactor as a
/// last line of defence (secrets are already kept out by type).
#[derive(Default)]
pub struct Outputs {
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    /// `--html`: the self-contained page.
    pub html: Option<PathBuf>,
    /// GitHub Actions: annotations on stdout, and the summary file (`$GITHUB_STEP_SUMMARY`).
    pub github: Option<GithubOut>,
}

pub struct GithubOut {
    pub summary_file: Option<PathBuf>,
    pub workspace: Option<String>,
}

impl Outputs {
    pub fn any(&self) -> bool {
        self.json.is_some() || self.junit.is_some() || self.html.is_some() || self.github.is_some()
    }
}

pub struct FileReports {
    collector: Collector,
    outputs: Outputs,
    redactor: Redactor,
}

impl FileReports {
    pub fn new(outputs: Outputs, redactor: Redactor) -> Self {
        FileReports { collector: Collector::default(), outputs, redactor }
    }
}

fn write_file(path: &PathBuf, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

/// Writes the JSON and JUnit renderings of a report (shared with `merge`): each that can be
/// written is, whatever happened to the other.
pub fn write_report(report: &Report, json: Option<&PathBuf>, junit: Option<&PathBuf>, redactor: &Redactor) -> Result<(), ReportError> {
    let mut errors = ReportError::default();
    if let Some(p) = json {
        let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other);
        if let Err(e) = text.and_then(|t| write_file(p, &redactor.redact(&t))) {
            errors.0.push(format!("--json {}: {e}", p.display()));
        }
    }
    if let Some(p) = junit
        && let Err(e) =
            crate::report::junit::render(report).map_err(std::io::Error::other).and_then(|t| write_file(p, &redactor.redact(&t)))
    {
        errors.0.push(format!("--junit {}: {e}", p.display()));
    }
    errors.into_result()
}

impl Reporter for FileReports {
    fn handle(&mut self, event: &Event) {
        self.collector.handle(event);
    }

    fn finish(&mut self) -> Result<(), ReportError> {
        let Some(report) = self.collector.report() else { return Ok(()) };
        let mut errors = ReportError::default();
        errors.extend(write_report(&report, self.outputs.json.as_ref(), self.outputs.junit.as_ref(), &self.redactor));
        if let Some(p) = &self.outputs.html
            && let Err(e) = write_file(p, &crate::report::html::render(&report, &self.redactor))
        {
            errors.0.push(format!("--html {}: {e}", p.display()));
        }
        errors.extend(self.write_github(&report));
        errors.into_result()
    }
}

impl FileReports {
    fn write_github(&self, report: &Report) -> Result<(), ReportError> {
        if let Some(gh) = &self.outputs.github {
            let mut out = std::io::stdout().lock();
            for line in crate::report::github::annotations(report, gh.workspace.as_deref(), &self.redactor) {
                let _ = writeln!(out, "{line}");
            }
            if let Some(p) = &gh.summary_file {
                let named = |e: std::io::Error| ReportError::one(format!("GITHUB_STEP_SUMMARY {}: {e}", p.display()));
                let mut f = std::fs::OpenOptions::new().create(true).append(true).open(p).map_err(named)?;
                f.write_all(self.redactor.redact(&crate::report::github::summary(report)).as_bytes()).map_err(named)?;
            }
        }
        Ok(())
    }
}

/// A report written a line at a time as the run goes (nothing held back, so it survives a
/// killed run and memory stays flat), each line through the sanitizer; the first write error
/// is kept and named by `finish`.
struct LineFile {
    out: std::io::LineWriter<std::fs::File>,
    redactor: Redactor,
    error: Option<std::io::Error>,
    /// The flag it was asked for, for error messages.
    flag: &'static str,
}

impl LineFile {
    fn create(path: &PathBuf, redactor: Redactor, flag: &'static str) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        Ok(LineFile { out: std::io::LineWriter::new(std::fs::File::create(path)?), redactor, error: None, flag })
    }

    fn line(&mut self, text: &str) {
        let line = self.redactor.redact(text);
        if let Err(e) = writeln!(self.out, "{line}") {
            self.error.get_or_insert(e);
        }
    }

    fn finish(&mut self) -> Result<(), ReportError> {
        let flushed = self.out.flush();
        match self.error.take().or(flushed.err()) {
            Some(e) => Err(ReportError::one(format!("{}: {e}", self.flag))),
            None => Ok(()),
        }
    }
}

/// `--curl FILE`: every request of the run as a `curl` line that sends it again through the
/// gateway (credentials as `$SMOKEGATE_TOKEN`), each after a comment with its phase and reqId.
pub struct CurlFile(LineFile);

impl CurlFile {
    pub fn create(path: &PathBuf, redactor: Redactor) -> std::io::Result<Self> {
        let mut f = LineFile::create(path, redactor, "--curl")?;
        f.line("#!/bin/sh\n# smokegate: every request of the run. A local token: export SMOKEGATE_TOKEN=$(smokegate token --raw)");
        Ok(CurlFile(f))
    }
}

impl Reporter for CurlFile {
    fn handle(&mut self, event: &Event) {
        if let Event::Replay { request_id, phase, line } = event {
            self.0.line(&format!("# {} reqId {request_id}\n{line}", phase.as_str()));
        }
    }

    fn finish(&mut self) -> Result<(), ReportError> {
        self.0.finish()
    }
}

/// `--log-file`: one JSON object per line.
pub struct LogFile(LineFile);

impl LogFile {
    pub fn create(path: &PathBuf, redactor: Redactor) -> std::io::Result<Self> {
        Ok(LogFile(LineFile::create(path, redactor, "--log-file")?))
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Reporter for LogFile {
    fn handle(&mut self, event: &Event) {
        let line = match event {
            Event::RunStarted { run_id, gateway, suites, version, config, identity_provider } => {
                json!({"time": now(), "level": "info", "event": "run_started", "run_id": run_id, "gateway": gateway, "suites": suites, "version": version, "config": config, "identity_provider": identity_provider})
            }
            Event::Breadcrumb(c) => {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("level".into(), json!(if c.failure_class.is_some() { "error" } else { "info" }));
                    o.insert("event".into(), json!("request"));
                }
                v
            }
            Event::Warning(w) => json!({"time": now(), "level": "warn", "event": "warning", "message": w}),
            Event::StepFinished(s) => json!({
                "time": now(), "level": if s.outcome == crate::report::event::Outcome::Failed { "error" } else { "info" }, "event": "step",
                "suite": s.suite, "step": s.name, "kind": s.kind, "outcome": s.outcome, "failure_class": s.failure_class,
                "message": s.message, "request_id": s.request_id(), "file": s.file, "line": s.line, "duration_ms": s.duration_ms,
            }),
            Event::Cleanup(c) => {
                json!({"time": now(), "level": if c.left.is_empty() { "info" } else { "error" }, "event": "cleanup", "cleanup": c})
            }
            Event::RunFinished(s) => json!({"time": now(), "level": "info", "event": "run_finished", "summary": s}),
            _ => return,
        };
        self.0.line(&line.to_string());
    }

    fn finish(&mut self) -> Result<(), ReportError> {
        self.0.finish()
    }
}
