//! The auth lifecycle: a disposable identity (or a service account), create → login through the
//! gateway, the JWT kept for the run and refreshed before it expires (single-flight), and the
//! user's deletion at the end, retried, journalled, and reported when it fails.

mod admin;
mod bootstrap;
mod call;
mod credentials;
mod deletion;
mod journaled;
mod obtain;
pub mod secret_store;
mod token;

pub use credentials::{random_password, render_setting, service_credentials};

use std::sync::Mutex as StdMutex;
use std::time::{Duration, SystemTime};

use admin::AdminSession;
use token::{Arrival, Token, now_secs};

use rand::Rng;
use serde_json::Value as J;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::eval::step;
use crate::eval::template::Scope;
use crate::http::aws::{AwsKeys, SigningScope};
use crate::http::client::{Credential, CrumbCtx, Outgoing, Response, SendError};
use crate::load::config::{AuthConfig, Bearer, Mode, TokenAt, Users};
use crate::load::suite::{AuthMode, Step};
use crate::report::event::{Event, FailureClass, Phase};
use crate::run::ctx::RunCtx;
use crate::run::exchange::{self, Judge};
use crate::run::journal::{self, CreateState, Entry};
use crate::run::jwt::{self, JwtInfo};
use crate::secret::Secret;
pub use token::TokenError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// An auth request failed: `status` is the gateway's answer if there was one, `sent` false
    /// when the request never left (no connection, invalid request).
    #[error("{step} failed ({class}): {detail}", class = class.as_str())]
    /// `token`: the answer held a token anyway (a "refusal" that hands one out proves nothing).
    Step { step: String, class: FailureClass, detail: String, status: Option<u16>, sent: bool, token: bool },
    #[error("cannot journal the test user before creating it, so nothing was created: {0}")]
    Journal(String),
    #[error("no token in the login response (looked at {0})")]
    TokenMissing(String),
    #[error("the login response's token is malformed: {0}")]
    Malformed(jwt::JwtError),
    #[error("{0}")]
    Credentials(String),
    #[error("interrupted")]
    Cancelled,
}

impl AuthError {
    /// A setting or identity template that does not render: nothing was sent.
    pub fn template(step: &str, detail: String) -> AuthError {
        AuthError::Step { step: step.to_owned(), class: FailureClass::Template, detail, status: None, sent: false, token: false }
    }

    /// True when the gateway could not be reached at all (exit 4 rather than 3).
    pub fn unreachable(&self) -> bool {
        matches!(self, AuthError::Step { class: FailureClass::Connect, .. })
    }

    /// The gateway's status, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            AuthError::Step { status, .. } => *status,
            _ => None,
        }
    }

    /// A login refused with 400, 401 or 403 and no token: these credentials do not (or no
    /// longer) log in. The only answer taken as proof that an identity is absent. Real servers
    /// answer a deleted user's login with each of them (json-server-auth `400 "Cannot find
    /// user"`, fastapi-users `400 LOGIN_BAD_CREDENTIALS`, OAuth2 token endpoints `400
    /// invalid_grant`, simplejwt `401`, others `403`); 404, 405, 408, 429 and 5xx prove nothing
    /// (a wrong route, a rate limit, an outage).
    pub fn login_refused(&self) -> bool {
        matches!(self, AuthError::Step { status: Some(400 | 401 | 403), token: false, .. })
    }

    /// Answered (a 5xx): whatever the upstream did, it has finished; but a 504 is the gateway
    /// giving up on it, and it may still commit, as after a timeout of our own.
    fn upstream_finished(&self) -> bool {
        self.status().is_some_and(|s| s != 504)
    }

    /// Nothing can have been created: the request never left, or the gateway refused it with a
    /// 4xx that is not a "try again" (408, 425, 429).
    fn definitive_refusal(&self) -> bool {
        match self {
            AuthError::Step { sent: false, .. } => true,
            AuthError::Step { status: Some(s), .. } => (400..500).contains(s) && !matches!(s, 408 | 425 | 429),
            _ => false,
        }
    }
}

/// Why a user may still exist after its deletion was tried.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct NotDeleted(pub String);

/// The journal could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", dir.display())]
pub struct JournalError {
    dir: std::path::PathBuf,
    source: std::io::Error,
}

/// Who an `Auth` is: a disposable user's email, a service account's username, a client's id,
/// or `api key (HEADER)` — how reports and the journal name it — and its secret (password,
/// client secret or key), masked everywhere.
pub struct Identity {
    pub name: String,
    pub password: Secret,
}

/// What is known of an identity, behind one lock: what its create came to, until when an
/// unanswered create may still complete upstream, whether it ever logged in, the captures of
/// its lifecycle steps, the gateway's clock skew, its journal entry, and the contract breaks
/// of its answers. The token has a lock of its own, an async one: whoever finds it due renews
/// it across awaits while the others wait (single flight), which a state lock must never be
/// held across.
#[derive(Default)]
struct IdentityState {
    /// `None`: nothing was created (never sent, or refused for good). `Pending`/`Unknown`: it
    /// may exist. `Created`: it does.
    created: Option<CreateState>,
    /// `None`: the create was answered (or never sent).
    settle_by: Option<SystemTime>,
    /// It has logged in at least once (here, or in the run that journaled it).
    logged_in: bool,
    captures: serde_json::Map<String, J>,
    /// Gateway clock minus ours, in seconds (from an auth answer's `Date`).
    skew_secs: i64,
    entry: Option<Entry>,
    /// Lifecycle answers that broke the contract (class `schema`): they make the run red, but
    /// never stop the lifecycle, so the token is used and the user still deleted.
    contract_breaks: Vec<String>,
    /// `token.*` for templates, once the user holds a token: its claims (a JWT) or none (an
    /// opaque token, whose `token.claims` is an error that says so).
    token_facts: Option<TokenFacts>,
    /// The journaled values of the environment variables the lifecycle reads (an identity
    /// finished by `cleanup`): they win over this shell's, since the identity lives there.
    env: std::collections::BTreeMap<String, String>,
}

/// What templates may read of the user's current token.
#[derive(Clone)]
enum TokenFacts {
    Jwt(serde_json::Map<String, J>),
    Opaque,
}

pub struct Auth {
    ctx: std::sync::Arc<RunCtx>,
    cfg: AuthConfig,
    pub identity: Identity,
    /// The one lock of the identity's lifecycle state.
    state: StdMutex<IdentityState>,
    /// The token, behind an async lock: whoever finds it due renews it, the others wait (single
    /// flight).
    token: Mutex<Option<Token>>,
    /// Which suite this user belongs to (`auth.scope: suite`), for messages.
    pub label: Option<String>,
    /// The config `cfg` came from, as journal entries and session caches keep it.
    saved: crate::load::config::SavedConfig,
    /// `auth.admin`, when configured.
    admin: Option<AdminSession>,
    /// `auth.identity_provider`: a client whose policy admits that origin alone, for lifecycle
    /// steps with a `url:` there (or why it could not be made: said when a step needs it).
    provider: std::sync::OnceLock<Option<Result<crate::http::client::HttpClient, String>>>,
    /// The AWS keys of `auth: aws` steps, read (and masked) when the first is signed.
    aws_keys: std::sync::OnceLock<Result<AwsKeys, String>>,
}

impl Auth {
    pub fn new(ctx: std::sync::Arc<RunCtx>, identity: Identity, label: Option<String>) -> Auth {
        let (cfg, saved) = (ctx.config.auth.clone(), ctx.config.saved());
        Auth::with_config(ctx, cfg, saved, identity, label)
    }

    /// An identity finished with the routes of the config it was created under (a journal
    /// entry's or a cached session's), whichever config the current folder has.
    pub fn with_config(
        ctx: std::sync::Arc<RunCtx>,
        cfg: AuthConfig,
        saved: crate::load::config::SavedConfig,
        identity: Identity,
        label: Option<String>,
    ) -> Auth {
        ctx.out.redactor.add(&identity.password);
        let admin = cfg.admin.as_ref().map(|a| AdminSession::load(&ctx, a));
        let mut auth = Auth {
            cfg,
            ctx,
            identity,
            state: StdMutex::new(IdentityState::default()),
            token: Mutex::new(None),
            label,
            saved,
            admin: None,
            provider: std::sync::OnceLock::new(),
            aws_keys: std::sync::OnceLock::new(),
        };
        auth.admin = admin;
        auth
    }

    /// A fresh disposable identity from the configured email template.
    pub fn disposable_identity(ctx: &RunCtx, users: &Users) -> Result<Identity, AuthError> {
        let mut scope = ctx.vars.base.clone();
        // Each identity gets its own random part, even with one user per suite.
        let rand: String = (0..6).map(|_| b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::rng().random_range(0..36)] as char).collect();
        let mut run = ctx.vars.run_fields.clone();
        run.insert("rand".into(), J::String(rand));
        scope.set_json("run", &J::Object(run));
        let email = ctx.vars.templates.render_str(&users.email, &scope).map_err(|e| AuthError::template("identity", e.message))?;
        Ok(Identity { name: email, password: random_password() })
    }

    pub fn is_disposable(&self) -> bool {
        matches!(self.cfg.mode, Mode::Disposable { .. })
    }

    /// The template scope for auth steps and `user.*` in suites.
    pub fn user_value(&self) -> J {
        let caps = self.captures();
        let mut user = serde_json::Map::new();
        user.insert("email".into(), J::String(self.identity.name.clone()));
        user.insert("username".into(), J::String(self.identity.name.clone()));
        user.insert("password".into(), J::String(self.identity.password.expose().to_owned()));
        if let Some(id) = caps.get("user_id").or_else(|| caps.get("id")) {
            user.insert("id".into(), id.clone());
        }
        J::Object(user)
    }

    /// The contract breaks of its lifecycle answers so far, each once.
    pub fn take_contract_breaks(&self) -> Vec<String> {
        std::mem::take(&mut self.state().contract_breaks)
    }

    /// The config this identity's routes come from, for session caches.
    pub fn saved_config(&self) -> crate::load::config::SavedConfig {
        self.saved.clone()
    }

    /// Adds `user`, `token` and the auth captures to a scope.
    pub fn extend_scope(&self, scope: &mut Scope) {
        scope.set_json("user", &self.user_value());
        if let Some(v) = self.admin.as_ref().and_then(AdminSession::value) {
            scope.set_json("admin", &v);
        }
        let (captures, facts) = {
            let st = self.state();
            (st.captures.clone(), st.token_facts.clone())
        };
        match facts {
            Some(TokenFacts::Jwt(claims)) => scope.set_json("token", &serde_json::json!({ "type": "jwt", "claims": claims })),
            Some(TokenFacts::Opaque) => {
                scope.set_json("token", &serde_json::json!({ "type": "opaque" }));
                scope.explain_absent("token.claims", "the login's token is opaque (not a JWT), so it has no claims");
            }
            None => {}
        }
        for (k, v) in captures {
            scope.set_json(k, &v);
        }
    }

    /// Notes what templates may read of the user's new token (`token.claims.*`).
    pub(super) fn note_token(&self, t: &Token) {
        let facts =
            if t.info.alg == "opaque" || t.info.alg == "cookie" { TokenFacts::Opaque } else { TokenFacts::Jwt(t.info.claims.clone()) };
        self.state().token_facts = Some(facts);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, IdentityState> {
        // A panic while holding it cannot leave it half-updated in a way worse than losing it.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn captures(&self) -> serde_json::Map<String, J> {
        self.state().captures.clone()
    }

    fn scope(&self) -> Scope {
        let mut s = self.ctx.vars.base.clone();
        let journaled = self.state().env.clone();
        if !journaled.is_empty() {
            let mut env: serde_json::Map<String, J> = std::env::vars().map(|(k, v)| (k, J::String(v))).collect();
            env.extend(journaled.into_iter().map(|(k, v)| (k, J::String(v))));
            s.set_json("env", &J::Object(env));
        }
        self.extend_scope(&mut s);
        s
    }
}

/// `journal::Journal` re-exported for callers that only deal with auth.
pub use journal::Journal;
