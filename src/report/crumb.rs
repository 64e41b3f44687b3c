//! One request's record (its phase, timings, status and the failure class of what it carried),
//! the vocabulary every result and report uses.

use serde::{Deserialize, Serialize};

/// Which part of a run a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum Phase {
    #[serde(rename = "ready")]
    Ready,
    #[serde(rename = "bootstrap.create")]
    BootstrapCreate,
    #[serde(rename = "bootstrap.login")]
    BootstrapLogin,
    /// `auth.after_login`: what the run learns about its user once it has logged in.
    #[serde(rename = "bootstrap.after_login")]
    AfterLogin,
    #[serde(rename = "refresh")]
    Refresh,
    /// `auth.admin` logging in (when a step first runs as `auth: admin`, and when its token is due).
    #[serde(rename = "admin.login")]
    AdminLogin,
    /// `auth.admin.logout`, at the end of the run.
    #[serde(rename = "admin.logout")]
    AdminLogout,
    /// A service account's credentials read from a secrets manager (`credentials_secret`).
    #[serde(rename = "credentials.secret")]
    Secret,
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
            Phase::AfterLogin => "bootstrap.after_login",
            Phase::Refresh => "refresh",
            Phase::AdminLogin => "admin.login",
            Phase::AdminLogout => "admin.logout",
            Phase::Secret => "credentials.secret",
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
        matches!(
            self,
            Phase::BootstrapCreate
                | Phase::BootstrapLogin
                | Phase::AfterLogin
                | Phase::Refresh
                | Phase::AdminLogin
                | Phase::AdminLogout
                | Phase::Secret
                | Phase::Cleanup
                | Phase::Verify
        )
    }
}

/// Why a step failed. Each class names a different way the real path is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
    pub outcome: CrumbOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<FailureClass>,
}

/// What became of one request: answered and judged good, answered and judged bad, or no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum CrumbOutcome {
    Ok,
    Failed,
    /// No response (refused, timed out, broken off, or never sent).
    Error,
}

impl CrumbOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CrumbOutcome::Ok => "ok",
            CrumbOutcome::Failed => "failed",
            CrumbOutcome::Error => "error",
        }
    }
}

impl std::fmt::Display for CrumbOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Breadcrumb {
    /// One line for people: `phase METHOD path -> status · reqId … · N ms`, then the upstream,
    /// the gateway's own id and the failure class when there are any. `full` (JUnit) adds the
    /// time, trace id, time to headers and attempt; the console's `-v` uses the short form.
    pub fn line(&self, full: bool) -> String {
        let status = self.status.map_or_else(|| self.outcome.as_str().to_owned(), |s| s.to_string());
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
