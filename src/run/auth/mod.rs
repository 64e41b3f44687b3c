//! The auth lifecycle: a disposable identity (or a service account), create → login through the
//! gateway, the JWT kept for the run and refreshed before it expires (single-flight), and the
//! user's deletion at the end, retried, journalled, and reported when it fails.

mod admin;
mod credentials;
mod deletion;
mod journaled;
mod obtain;
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
    provider: Option<Result<crate::http::client::HttpClient, String>>,
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
        let provider = cfg.identity_provider.as_ref().map(|(raw, _)| provider_client(&ctx, raw));
        let mut auth = Auth {
            cfg,
            ctx,
            identity,
            state: StdMutex::new(IdentityState::default()),
            token: Mutex::new(None),
            label,
            saved,
            admin: None,
            provider,
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
        self.extend_scope(&mut s);
        s
    }

    /// Sends one auth step through the run's one request path and judges it like a suite step.
    async fn call(&self, step: &Step, phase: Phase, attempt: u32, cancel: &CancellationToken) -> Result<Response, AuthError> {
        self.call_in(step, self.scope(), phase, attempt, cancel).await
    }

    /// [`Auth::call`] in a given scope (the admin's steps see the admin as `user`). A 429, or a
    /// 503 with `Retry-After`, is waited out and the step sent again while the waits fit
    /// `auth.rate_limit_wait`. A `url:` on the declared identity provider goes through its
    /// client; anything else through the gateway's, whose policy refuses other origins.
    async fn call_in(
        &self,
        step: &Step,
        scope: Scope,
        phase: Phase,
        attempt: u32,
        cancel: &CancellationToken,
    ) -> Result<Response, AuthError> {
        let fail = |class: FailureClass, detail: String| AuthError::Step {
            step: step.name.clone(),
            class,
            detail,
            status: None,
            sent: false,
            token: false,
        };
        let mut waited = Duration::ZERO;
        let (out, judged) = loop {
            let mut scope = scope.clone();
            let mut out = exchange::render(&self.ctx, step, &mut scope).map_err(|e| fail(FailureClass::Template, e.message))?;
            match step.auth {
                Some(AuthMode::User) => {
                    let token =
                        self.current_token().await.ok_or_else(|| fail(FailureClass::Auth, "no token to authenticate with".into()))?;
                    out.credential = Some(self.wrap(token));
                }
                // Boxed: the admin's own login goes through here too.
                Some(AuthMode::Admin) => out.credential = Some(Box::pin(self.admin_credential(cancel)).await?),
                Some(AuthMode::None | AuthMode::Aws) | None => {}
            }
            let client = self.client_for(&out.path).map_err(|e| fail(FailureClass::OffGateway, e))?;
            if step.auth == Some(AuthMode::Aws) {
                self.sign(client, &mut out, &scope).map_err(|e| fail(FailureClass::Auth, e))?;
            }
            let cc = CrumbCtx { suite: self.label.clone(), step: Some(step.name.clone()), phase, attempt };
            let judged = exchange::send_via(&self.ctx, client, &out, &cc, Judge::Expect { step, scope: &scope }, cancel).await;
            match rate_limited(&judged, self.cfg.rate_limit_wait.saturating_sub(waited)) {
                Some(Ok(wait)) => {
                    self.ctx.out.sink.emit(Event::Info(format!(
                        "{}: rate-limited ({}); waiting {} as the server asked, then sending it again",
                        step.name,
                        judged.status.unwrap_or_default(),
                        crate::http::client::human(wait)
                    )));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return Err(AuthError::Cancelled),
                    }
                    waited += wait;
                }
                Some(Err(asked)) => {
                    let status = judged.status;
                    return Err(AuthError::Step {
                        step: step.name.clone(),
                        class: judged.class().unwrap_or(FailureClass::Assertion),
                        detail: format!(
                            "{} {} was rate-limited ({}): the server asked to wait {}, longer than `auth.rate_limit_wait` ({}) allows{}",
                            out.method,
                            out.path,
                            status.unwrap_or_default(),
                            asked.map_or_else(|| "an unstated time".to_owned(), crate::http::client::human),
                            crate::http::client::human(self.cfg.rate_limit_wait),
                            if waited.is_zero() { String::new() } else { format!(" after waiting {}", crate::http::client::human(waited)) }
                        ),
                        status,
                        sent: true,
                        token: false,
                    });
                }
                None => break (out, judged),
            }
        };
        // What an auth step captures is a credential from the moment it arrives (a refresh
        // token, a session id): masked before any message about this answer is made.
        for (_, v) in &judged.verdict.captures {
            if let Some(s) = v.as_str() {
                self.ctx.out.redactor.add(&Secret::new(s));
            }
        }
        let class = judged.class();
        let Some(resp) = judged.response else {
            if matches!(judged.error, Some(SendError::Cancelled)) {
                return Err(AuthError::Cancelled);
            }
            let sent = !matches!(judged.error, Some(SendError::Connect(_) | SendError::Invalid(_)));
            return Err(AuthError::Step {
                step: step.name.clone(),
                class: class.unwrap_or(FailureClass::Connect),
                detail: judged.verdict.message.unwrap_or_default(),
                status: judged.status,
                sent,
                token: false,
            });
        };
        match class {
            // Only a contract broken: noted, and the lifecycle goes on with the answer.
            Some(FailureClass::Schema) => {
                let what = format!("{} ({} {})", step.name, out.method, out.path);
                let msg = format!("{what}: {}", judged.verdict.message.as_deref().unwrap_or("the answer breaks the contract"));
                self.ctx.out.sink.emit(Event::Warning(format!("contract (schema): {msg}")));
                self.state().contract_breaks.push(msg);
            }
            Some(class) => return Err(self.refused(step, &out, &resp, class, judged.verdict.message)),
            None => {}
        }
        // The admin's steps capture for the admin (its logout reads them), never for the user
        // (whose captures are journaled).
        match phase {
            Phase::AdminLogin | Phase::AdminLogout => {
                if let Some(admin) = &self.admin {
                    admin.captures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(judged.verdict.captures);
                }
            }
            _ => self.state().captures.extend(judged.verdict.captures),
        }
        Ok(resp)
    }

    /// Signs `out` (AWS SigV4, `auth.aws`) for the URL `client` sends it to, as it will be sent;
    /// the keys, the signature and its header are masked before anything is sent.
    fn sign(&self, client: &crate::http::client::HttpClient, out: &mut Outgoing, scope: &Scope) -> Result<(), String> {
        let Some(aws) = &self.cfg.aws else { return Err("the step is signed (`auth: aws`), but `auth.aws` is not configured".into()) };
        let keys = self
            .aws_keys
            .get_or_init(|| {
                let env: Vec<(String, String)> = std::env::vars().collect();
                let keys = AwsKeys::from_env(&env)?;
                self.ctx.out.redactor.add(&keys.secret_access_key);
                if let Some(t) = &keys.session_token {
                    self.ctx.out.redactor.add(t);
                }
                Ok(keys)
            })
            .as_ref()
            .map_err(Clone::clone)?;
        let render = |t: &str| self.ctx.vars.templates.render_str(t, scope).map_err(|e| format!("auth.aws: {}", e.message));
        let signing = SigningScope { region: render(&aws.region)?, service: render(&aws.service)? };
        let url = client.gateway.resolve(&out.path).map_err(|e| e.to_string())?;
        let mut headers = out.headers.clone();
        if let Some((_, ct)) = out.body.as_ref().filter(|_| !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"))) {
            headers.push(("content-type".into(), (*ct).to_owned()));
        }
        let body = out.body.as_ref().map(|(b, _)| b.as_ref()).unwrap_or_default();
        let signed = crate::http::aws::signature_headers(keys, &signing, out.method.as_str(), &url, &headers, body, SystemTime::now())?;
        for (k, v) in signed {
            if k == "authorization" {
                self.ctx.out.redactor.add_header(&k, &v);
                if let Some((_, sig)) = v.rsplit_once("Signature=") {
                    self.ctx.out.redactor.add(&Secret::new(sig));
                }
            }
            out.headers.push((k, v));
        }
        out.signed = Some(signing);
        Ok(())
    }

    /// The client a lifecycle request goes through: the declared identity provider's for a URL
    /// on its origin, else the gateway's (whose policy refuses any other origin).
    fn client_for(&self, path: &str) -> Result<&crate::http::client::HttpClient, String> {
        if !path.starts_with('/')
            && let Some(provider) = &self.provider
            && let Ok(url) = url::Url::parse(path)
        {
            let client = provider.as_ref().map_err(Clone::clone)?;
            if client.gateway.check(&url).is_ok() {
                return Ok(client);
            }
        }
        Ok(&self.ctx.net.http)
    }

    /// An answered auth step that failed its checks. An unexpected status is the cause (a
    /// service port answering 404 to the create): say it first, with what the body said.
    fn refused(&self, step: &Step, out: &Outgoing, resp: &Response, class: FailureClass, message: Option<String>) -> AuthError {
        let status_ok = step.expect.status_ok(resp.status);
        let class = match (status_ok, class) {
            (false, FailureClass::Capture | FailureClass::InvalidResponse | FailureClass::Template) => match resp.status {
                401 | 403 => FailureClass::Auth,
                500..=599 => FailureClass::ServerError,
                _ => FailureClass::Assertion,
            },
            (_, c) => c,
        };
        let detail = if status_ok {
            message.unwrap_or_default()
        } else {
            format!(
                "{} {} answered {}{} (expected {})",
                out.method,
                out.path,
                resp.status,
                step::body_hint(&resp.body),
                step.expect.status_text()
            )
        };
        let token = self.token_in(resp);
        AuthError::Step { step: step.name.clone(), class, detail, status: Some(resp.status), sent: true, token }
    }

    /// Whether an answer hands out a token where the login's token would be: at one of the
    /// token paths, or as the session cookie.
    fn token_in(&self, resp: &Response) -> bool {
        let Some(login) = self.cfg.login() else { return false };
        let paths = match &login.token {
            TokenAt::Cookie(name) => {
                return resp.headers.get_all(reqwest::header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).any(|c| {
                    c.split_once('=').is_some_and(|(k, v)| k.trim() == name && !v.split(';').next().unwrap_or_default().trim().is_empty())
                });
            }
            TokenAt::Body { paths, .. } => paths,
        };
        let Ok(body) = step::parse_json(&resp.body) else { return false };
        paths.iter().any(|path| step::value_at(path, &body).is_some_and(|v| v.as_str().is_some_and(|t| !t.is_empty())))
    }

    async fn current_token(&self) -> Option<Secret> {
        self.token.lock().await.as_ref().map(|t| t.secret.clone())
    }

    /// Create (disposable mode), login, then `after_login`. The identity is journaled before
    /// its first create step is sent (no journal, no create); afterwards only a definitive
    /// refusal of that first step removes it. Once the first step is answered the user exists:
    /// a later step that fails (a confirmation, a password) leaves it to be deleted like any
    /// other. On failure the caller still runs `cleanup`, which deletes and proves the deletion.
    pub async fn bootstrap(&self, cancel: &CancellationToken) -> Result<(), AuthError> {
        if let Mode::ApiKey(_) = self.cfg.mode {
            // A static key: nothing to fetch; it is masked like a token (`Auth::new`).
            return Ok(());
        }
        if let Mode::Disposable { users, .. } = &self.cfg.mode {
            self.create(users, cancel).await?;
        }
        {
            let mut guard = self.token.lock().await;
            let t = self.login(Phase::BootstrapLogin, cancel).await?;
            self.note_token(&t);
            self.hold(&mut guard, t, "login's");
        }
        if self.is_disposable() {
            self.state().logged_in = true;
            self.journal_write_or_warn().await;
        }
        self.after_login(cancel).await
    }

    /// `auth.create`, step by step (see [`Auth::bootstrap`]).
    async fn create(&self, users: &Users, cancel: &CancellationToken) -> Result<(), AuthError> {
        let first = &users.create[0];
        let timeout = first.request.timeout.unwrap_or(self.ctx.net.http.settings.timeout);
        // Until the gateway answers, assume the user may exist: a timeout can hide a create.
        {
            let mut st = self.state();
            st.settle_by = Some(SystemTime::now() + timeout);
            st.created = Some(CreateState::Pending);
        }
        if let Err(e) = self.journal_write().await {
            // Nothing is sent without its journal entry: nothing may exist.
            let mut st = self.state();
            (st.created, st.settle_by) = (None, None);
            return Err(AuthError::Journal(e.to_string()));
        }
        match self.call(first, Phase::BootstrapCreate, 1, cancel).await {
            Ok(_) => self.mark_created().await,
            Err(e) => {
                if e.definitive_refusal() {
                    self.state().created = None;
                    self.journal_remove();
                } else if matches!(e.status(), Some(200..=299)) {
                    // Created, though its answer failed a check (a capture, a stub phrase).
                    self.mark_created().await;
                } else {
                    {
                        let mut st = self.state();
                        if e.upstream_finished() {
                            st.settle_by = None;
                        }
                        st.created = Some(CreateState::Unknown);
                    }
                    self.journal_write_or_warn().await;
                }
                return Err(e);
            }
        }
        for step in &users.create[1..] {
            let answered = self.call(step, Phase::BootstrapCreate, 1, cancel).await;
            // Captures are journaled as they come: a later step (or `cleanup`) may need them.
            self.journal_write_or_warn().await;
            answered?;
        }
        self.ctx.out.sink.emit(Event::Info(format!("created test user {}", self.identity.name)));
        Ok(())
    }

    /// `auth.after_login`: run once, after the first login that succeeds, with the user's token.
    /// Their captures are the user's, journaled at once (a `cleanup` elsewhere reads them).
    pub(super) async fn after_login(&self, cancel: &CancellationToken) -> Result<(), AuthError> {
        let Some(login) = self.cfg.login() else { return Ok(()) };
        for step in &login.after_login {
            let answered = self.call(step, Phase::AfterLogin, 1, cancel).await;
            if self.is_disposable() {
                self.journal_write_or_warn().await;
            }
            answered?;
        }
        Ok(())
    }

    /// Whether an `after_login` capture is missing: a run killed between its login and its
    /// `after_login` left the user without what `cleanup` reads.
    pub(super) fn after_login_missing(&self) -> bool {
        let Some(login) = self.cfg.login() else { return false };
        let st = self.state();
        login.after_login.iter().flat_map(|s| &s.capture).any(|c| !st.captures.contains_key(&c.name))
    }

    async fn mark_created(&self) {
        {
            let mut st = self.state();
            st.created = Some(CreateState::Created);
            st.settle_by = None;
        }
        self.journal_write_or_warn().await;
    }
}

/// `journal::Journal` re-exported for callers that only deal with auth.
pub use journal::Journal;

/// A lifecycle answer that asks to be sent again later: a 429, or a 503 with `Retry-After`.
/// `Ok(wait)` when the wait fits `budget`; `Err(asked)` when it does not (`None`: a wait the
/// server did not state, which only a 429 can be, is taken as one second).
fn rate_limited(judged: &exchange::Judged, budget: Duration) -> Option<Result<Duration, Option<Duration>>> {
    let resp = judged.response.as_ref().filter(|_| judged.class().is_some())?;
    let after = resp.headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry_after);
    let wait = match (resp.status, after) {
        (429, None) => Duration::from_secs(1),
        (429 | 503, Some(d)) => d,
        _ => return None,
    };
    Some(if wait <= budget { Ok(wait) } else { Err(Some(wait)) })
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3), as a wait from now.
fn retry_after(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// The client for `auth.identity_provider` (rendered): the run's own when it names the same
/// origin, else one made for it (an entry's config in `cleanup` may name another); plain http
/// off loopback and the gateway's own origin are refused as for a token URL.
fn provider_client(ctx: &RunCtx, raw: &str) -> Result<crate::http::client::HttpClient, String> {
    let key = "auth.identity_provider";
    let url = render_setting(&ctx.vars, key, raw).map_err(|e| e.to_string())?;
    let (gw, _) = crate::run::ctx::IdentityProvider::check(&url, ctx.config.gateway.allow_http, &ctx.net.http.gateway)
        .map_err(|e| format!("{key}: {e}"))?;
    if let Some(own) = ctx.net.provider.as_ref().filter(|c| c.gateway.origin() == gw.origin()) {
        return Ok(own.clone());
    }
    crate::http::client::HttpClient::new(gw, ctx.net.http.settings.clone(), &ctx.run_id).map_err(|e| format!("{key}: {e}"))
}
