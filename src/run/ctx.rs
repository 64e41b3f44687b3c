//! What a run shares: settings, the HTTP client, templates, the event sink, the sanitizer, the
//! journal, and cancellation in the order it escalates.

use serde_json::Value as J;
use tokio_util::sync::CancellationToken;

use crate::eval::step::EvalSettings;
use crate::eval::template::{Scope, Templates};
use crate::http::client::{ClientSettings, HttpClient};
use crate::http::policy::{Gateway, GatewayUrlError};
use crate::load::config::Config;
use crate::report::event::{Breadcrumb, CrumbOutcome, Event, EventSink, FailureClass};
use crate::run::journal::Journal;
use crate::secret::Redactor;

/// Cancellation, in the order it escalates.
#[derive(Clone, Default)]
pub struct Cancel {
    /// First signal: no new steps; in-flight reads are cancelled, in-flight writes finish (see
    /// `run_suite`).
    pub interrupt: CancellationToken,
    /// Deadline passed or second signal: teardown and cleanup stop too.
    pub abort: CancellationToken,
    /// `--fail-fast` after a failure: no new suites.
    pub stop_new: CancellationToken,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--shard K/N`.
    pub shard: Option<(u32, u32)>,
    /// Steps selected (paths, `--tag`, `--filter`) before sharding: an empty shard of a
    /// non-empty selection is fine, an empty selection is red on every shard.
    pub selected_steps: usize,
    pub wait_ready: Option<std::time::Duration>,
    pub fail_fast: bool,
    pub auth_probes: bool,
    pub keep_user: bool,
    pub jobs: usize,
    /// `--curl FILE`: every request is also emitted as a `curl` line.
    pub replays: bool,
}

/// `SMOKE_USERNAME`/`SMOKE_PASSWORD` as the CLI read them: the values that are UTF-8, and the
/// names of those that are set but are not. Holds a password: no `Debug`.
#[derive(Default, Clone)]
pub struct ServiceEnv {
    pub vars: Vec<(String, String)>,
    pub not_utf8: Vec<String>,
}

/// Everything a run shares, by stage. Built once per command by the CLI layer.
pub struct RunCtx {
    pub run_id: String,
    pub config: Config,
    pub opts: RunOptions,
    pub cancel: Cancel,
    /// Service-account credentials from the environment, as the CLI read them.
    pub service_env: ServiceEnv,
    /// Where requests go: the gateway's client and policy, and the identity provider's.
    pub net: Net,
    /// What templates render with.
    pub vars: Vars,
    /// What the run may have created, until it is proven gone.
    pub journal: Journal,
    /// What the run says, sanitized.
    pub out: Output,
    /// Credentials read from a secrets manager, by the secret's id: once per run (or why not).
    pub fetched_secrets: tokio::sync::Mutex<std::collections::HashMap<String, FetchedSecret>>,
}

/// A secret's user name and password, or why they could not be read.
pub type FetchedSecret = Result<(String, crate::secret::Secret), String>;

/// The clients a run sends through, each with the policy that admits its origin only.
pub struct Net {
    pub http: HttpClient,
    /// `auth.mode: client-credentials`: the identity provider, the one other origin contacted.
    pub idp: Option<IdentityProvider>,
    /// `auth.identity_provider`: the origin lifecycle steps may send `url:` requests to.
    pub provider: Option<HttpClient>,
}

impl Net {
    /// The identity provider's origin, for the header line and the reports.
    pub fn provider_origin(&self) -> Option<String> {
        self.idp.as_ref().map(|i| &i.client).or(self.provider.as_ref()).map(|c| c.gateway.origin())
    }
}

/// The template engine and the values it renders with.
pub struct Vars {
    pub templates: Templates,
    /// `run.*` for templates.
    pub run_fields: serde_json::Map<String, J>,
    /// run, env and config vars.
    pub base: Scope,
    /// `--var`/`--vars-file`: set again over each suite's own `vars`, since the command line wins.
    pub cli: Vec<(String, J)>,
}

/// The event sink and the sanitizer every line and report passes through.
pub struct Output {
    pub sink: EventSink,
    pub redactor: Redactor,
}

impl Output {
    /// Streams breadcrumbs, stamping the last one with the verdict.
    pub fn emit_crumbs(&self, mut crumbs: Vec<Breadcrumb>, class: Option<FailureClass>) -> Vec<Breadcrumb> {
        if let Some(last) = crumbs.last_mut() {
            if last.outcome == CrumbOutcome::Ok && class.is_some() {
                last.outcome = CrumbOutcome::Failed;
            }
            if last.failure_class.is_none() {
                last.failure_class = class;
            }
        }
        for c in &crumbs {
            tracing::debug!(
                phase = c.phase.as_str(),
                method = %c.method,
                path = %c.path,
                status = ?c.status,
                request_id = %c.request_id,
                upstream = ?c.upstream,
                total_ms = c.total_ms,
                outcome = %c.outcome,
                "request"
            );
            self.sink.emit(Event::Breadcrumb(c.clone()));
        }
        crumbs
    }
}

/// The identity provider of `client-credentials`: a client whose policy admits only its origin,
/// and the token endpoint's path there.
pub struct IdentityProvider {
    pub client: HttpClient,
    pub path: String,
}

/// Why a token URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// Plain http off loopback: the gateway-only policy's refusal.
    #[error("{0}")]
    Policy(GatewayUrlError),
    #[error("{0}")]
    Invalid(String),
}

impl IdentityProvider {
    /// A client for the token URL `raw` (rendered) whose policy admits its origin only; plain
    /// http off loopback is refused as for the gateway, and the gateway's own origin is not an
    /// identity provider.
    pub fn new(raw: &str, allow_http: bool, gateway: &Gateway, settings: ClientSettings, run_id: &str) -> Result<Self, IdpError> {
        let (gw, path) = IdentityProvider::check(raw, allow_http, gateway)?;
        let client = HttpClient::new(gw, settings, run_id).map_err(|e| IdpError::Invalid(e.to_string()))?;
        Ok(IdentityProvider { client, path })
    }

    /// What [`IdentityProvider::new`] refuses, without building a client: the provider's
    /// origin and the token endpoint's path there.
    pub fn check(raw: &str, allow_http: bool, gateway: &Gateway) -> Result<(Gateway, String), IdpError> {
        let url = url::Url::parse(raw).map_err(|e| IdpError::Invalid(format!("`{raw}`: {e}")))?;
        let origin = url.origin().ascii_serialization();
        let gw = Gateway::parse(&origin, allow_http).map_err(|e| match e {
            GatewayUrlError::PlainHttp(_) => IdpError::Policy(e),
            other => IdpError::Invalid(other.to_string()),
        })?;
        if origin == gateway.origin() {
            return Err(IdpError::Invalid(
                "is on the gateway's origin: an identity provider is another origin (log in through `login` routes instead)".into(),
            ));
        }
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        Ok((gw, path))
    }
}

impl RunCtx {
    pub fn eval_settings(&self) -> EvalSettings<'_> {
        EvalSettings {
            stub_phrases: &self.config.stub_phrases,
            fingerprint: self.config.gateway.fingerprint.as_ref(),
            openapi: self.config.openapi.as_ref().map(|(_, a)| a.as_ref()),
        }
    }
}
