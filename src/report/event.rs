//! What a run produces: breadcrumbs, step results, and the events that carry them from the
//! runner to the reporters. Plain, documented data (the report contract); reporters only read it.

use std::sync::{Arc, Mutex};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which part of a run a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    #[serde(rename = "ready")]
    Ready,
    #[serde(rename = "bootstrap.create")]
    BootstrapCreate,
    #[serde(rename = "bootstrap.login")]
    BootstrapLogin,
    #[serde(rename = "refresh")]
    Refresh,
    /// `auth.admin` logging in (when a step first runs as `auth: admin`, and when its token is due).
    #[serde(rename = "admin.login")]
    AdminLogin,
    #[serde(rename = "step")]
    Step,
    #[serde(rename = "probe")]
    Probe,
    #[serde(rename = "teardown")]
    Teardown,
    #[serde(rename = "cleanup")]
    Cleanup,
    /// The login after a user's deletion that proves it gone (refused with 401/403).
    #[serde(rename = "cleanup.verify")]
    Verify,
    #[serde(rename = "call")]
    Call,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Ready => "ready",
            Phase::BootstrapCreate => "bootstrap.create",
            Phase::BootstrapLogin => "bootstrap.login",
            Phase::Refresh => "refresh",
            Phase::AdminLogin => "admin.login",
            Phase::Step => "step",
            Phase::Probe => "probe",
            Phase::Teardown => "teardown",
            Phase::Cleanup => "cleanup",
            Phase::Verify => "cleanup.verify",
            Phase::Call => "call",
        }
    }

    /// A request of the auth lifecycle: what its answers hand out (a refresh token, a session
    /// cookie) is a secret.
    pub fn is_auth(self) -> bool {
        matches!(self, Phase::BootstrapCreate | Phase::BootstrapLogin | Phase::Refresh | Phase::AdminLogin | Phase::Cleanup | Phase::Verify)
    }
}

/// Why a step failed. Each class names a different way the real path is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// A status, header, body or JSON assertion did not hold (including empty data).
    Assertion,
    /// 401/403 where the step did not expect it.
    Auth,
    /// No complete response within the timeout.
    Timeout,
    /// The connection could not be made, or broke mid-response.
    Connect,
    /// A 5xx the step did not expect.
    ServerError,
    /// A 501 or a "not implemented" body: a stub answered instead of a real handler.
    Stub,
    /// A template could not be rendered (undefined variable, syntax).
    Template,
    /// A capture found nothing at its JSONPath or header.
    Capture,
    /// The request or a redirect would leave the gateway, or the response lacks its fingerprint.
    OffGateway,
    /// Same-origin redirects that loop, or a chain longer than 5.
    TooManyRedirects,
    /// The gateway answered a request without valid credentials with something else than 401/403.
    AuthNotEnforced,
    /// The body could not be read as what the step asserts on (invalid JSON, invalid UTF-8).
    InvalidResponse,
    /// The body exceeded the configured cap.
    BodyTooLarge,
    /// The response breaks its contract: the step's JSON Schema, or the OpenAPI document (a
    /// body that violates the operation's schema, a status the operation does not list).
    Schema,
    /// The run was interrupted before or during this step.
    Cancelled,
    /// The step was selected but never sent (an earlier step of its suite failed, its suite
    /// could not start, `--fail-fast` stopped the run). Not verified is never passed.
    NotRun,
    /// Auth enforcement was asked for (`--auth-probes`, `auth_probe`), but nothing could be
    /// replayed to prove it: no safe authenticated request, or the replay could not be built.
    Unprobed,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Assertion => "assertion",
            FailureClass::Auth => "auth",
            FailureClass::Timeout => "timeout",
            FailureClass::Connect => "connect",
            FailureClass::ServerError => "server-error",
            FailureClass::Stub => "stub",
            FailureClass::Template => "template",
            FailureClass::Capture => "capture",
            FailureClass::OffGateway => "off-gateway",
            FailureClass::TooManyRedirects => "too-many-redirects",
            FailureClass::AuthNotEnforced => "auth-not-enforced",
            FailureClass::InvalidResponse => "invalid-response",
            FailureClass::BodyTooLarge => "body-too-large",
            FailureClass::Schema => "schema",
            FailureClass::Cancelled => "cancelled",
            FailureClass::NotRun => "not-run",
            FailureClass::Unprobed => "unprobed",
        }
    }
}

/// One HTTP request as the harness saw it. Durations in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Breadcrumb {
    /// RFC 3339 UTC time the request was sent.
    pub time: String,
    pub run_id: String,
    /// The id we sent (`X-Request-Id`), a UUIDv7.
    pub request_id: String,
    /// The id the gateway echoed, when it differs from ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub echoed_request_id: Option<String>,
    pub trace_id: String,
    pub span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub phase: Phase,
    pub method: String,
    /// Path and query, secret-looking query values masked.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What the gateway reported as the upstream (first configured header present), `name: value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Time to response headers.
    pub ttfb_ms: f64,
    /// Time to the end of the body.
    pub total_ms: f64,
    /// 1 for the first try.
    pub attempt: u32,
    /// `ok`, `failed`, or `error` (no response).
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<FailureClass>,
}

impl Breadcrumb {
    /// One line for people: `phase METHOD path -> status · reqId … · N ms`, then the upstream,
    /// the gateway's own id and the failure class when there are any. `full` (JUnit) adds the
    /// time, trace id, time to headers and attempt; the console's `-v` uses the short form.
    pub fn line(&self, full: bool) -> String {
        let status = self.status.map_or_else(|| self.outcome.clone(), |s| s.to_string());
        let mut t = format!("{} {} {} -> {status} · reqId {}", self.phase.as_str(), self.method, self.path, self.request_id);
        if full {
            t = format!(
                "{} {t} · trace {} · {:.1} ms (headers {:.1} ms) · attempt {}",
                self.time, self.trace_id, self.total_ms, self.ttfb_ms, self.attempt
            );
        } else {
            t.push_str(&format!(" · {:.1} ms", self.total_ms));
        }
        if let Some(u) = &self.upstream {
            t.push_str(&format!(" · upstream {u}"));
        }
        if let Some(e) = &self.echoed_request_id {
            t.push_str(&format!(" · gateway id {e}"));
        }
        if let Some(f) = self.failure_class {
            t.push_str(&format!(" · {}", f.as_str()));
        }
        t
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AssertionResult {
    /// What was checked: `status`, `$.id`, `header content-type`, `max_ms`, `stub`.
    pub what: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
    /// Line in the suite file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    Step,
    Teardown,
    Probe,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StepResult {
    pub suite: String,
    pub file: String,
    /// Line of the step in its suite file.
    pub line: usize,
    pub name: String,
    pub kind: StepKind,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<FailureClass>,
    /// The first failure, one line; or why the step was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub method: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub duration_ms: f64,
    /// A failed step's request as a `curl` line that sends it again through the gateway (the
    /// credential as `$SMOKEGATE_TOKEN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// Requests sent for it: more than one under `eventually` (each with its own breadcrumb).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub attempts: u32,
    pub assertions: Vec<AssertionResult>,
    pub breadcrumbs: Vec<Breadcrumb>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl StepResult {
    /// The reqId of the last request of the step, for failure lines.
    pub fn request_id(&self) -> Option<&str> {
        self.breadcrumbs.last().map(|b| b.request_id.as_str())
    }

    pub fn upstream(&self) -> Option<&str> {
        self.breadcrumbs.iter().rev().find_map(|b| b.upstream.as_deref())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SuiteResult {
    pub name: String,
    pub file: String,
    pub duration_ms: f64,
    pub steps: Vec<StepResult>,
}

/// A suite's end; its steps came before it as `StepFinished` events.
#[derive(Debug, Clone)]
pub struct SuiteEnd {
    pub name: String,
    pub file: String,
    pub duration_ms: f64,
}

/// What happened to the run's test user(s) and teardown.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct CleanupReport {
    /// Identities deleted (emails).
    pub deleted: Vec<String>,
    /// Identities that could not be deleted, with why. Also kept in the journal.
    pub left: Vec<LeftBehind>,
    /// `--keep-user` was given.
    pub kept: Vec<String>,
    /// Teardown steps that failed.
    pub teardown_failures: usize,
}

impl CleanupReport {
    /// What failed teardown steps mean for what is left: the journaled records they could not
    /// delete are listed in `left` on their own; a teardown that held no record deleted nothing
    /// this run is known to have created.
    pub fn teardown_note(&self) -> Option<String> {
        let n = self.teardown_failures;
        if n == 0 {
            return None;
        }
        let records = self.left.iter().filter(|l| l.kind == LeftKind::Record).count();
        Some(match records {
            0 => format!("{n} teardown step(s) failed; no record of this run is known to be left"),
            r => format!("{n} teardown step(s) failed; {r} record(s) left behind, kept in the journal"),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LeftBehind {
    /// The identity's email, or the record as `record METHOD path (suite › teardown)`.
    pub identity: String,
    pub reason: String,
    #[serde(default)]
    pub kind: LeftKind,
    /// For a record: the identity whose token its teardown needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl LeftBehind {
    pub fn user(email: &str, reason: String) -> Self {
        LeftBehind { identity: email.to_owned(), reason, kind: LeftKind::User, owner: None }
    }

    /// `test user a@b` or `record DELETE /x (suite › step)`, for messages.
    pub fn what(&self) -> String {
        match self.kind {
            LeftKind::User => format!("test user {}", self.identity),
            LeftKind::Record => self.identity.clone(),
        }
    }
}

/// What was left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LeftKind {
    #[default]
    User,
    Record,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunSummary {
    pub run_id: String,
    pub gateway: String,
    pub started_at: String,
    pub duration_ms: f64,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub suites: usize,
    pub interrupted: bool,
    pub exit_code: i32,
    /// Why the run ended early or failed as a whole (bootstrap, no steps), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `client-credentials`: the identity provider's origin, the one other origin contacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<String>,
    /// How much of the config's OpenAPI document the run exercised (`openapi:` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<OpenApiCoverage>,
}

/// How much of the OpenAPI document a run exercised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OpenApiCoverage {
    /// The document, as named in the config.
    pub file: String,
    pub exercised: usize,
    pub total: usize,
    /// Operations no request of the run reached (`GET /api/orders/{id}`).
    pub missed: Vec<String>,
    /// Requests of the run the document has no operation for.
    pub unmatched: Vec<String>,
}

impl OpenApiCoverage {
    /// `openapi: 7 of 12 operations (api/openapi.yaml)`.
    pub fn line(&self) -> String {
        format!("openapi: {} of {} operations ({})", self.exercised, self.total, self.file)
    }
}

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
            outcome: "failed".into(),
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

        let bare = Breadcrumb { status: None, outcome: "error".into(), upstream: None, echoed_request_id: None, failure_class: None, ..c };
        assert_eq!(bare.line(false), "step GET /api/orders/1 -> error · reqId rid-1 · 2.5 ms");
    }
}
