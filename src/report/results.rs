//! What a run found, step by step and at the end: step and suite results, what cleanup left,
//! the run's summary and its OpenAPI coverage. Plain, documented data (the report contract).

use serde::{Deserialize, Serialize};

use crate::report::crumb::{Breadcrumb, FailureClass};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    Step,
    Teardown,
    Probe,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum LeftKind {
    #[default]
    User,
    Record,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
