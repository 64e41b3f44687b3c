//! The auth lifecycle: a disposable identity (or a service account), create → login through the
//! gateway, the JWT kept for the run and refreshed before it expires (single-flight), and the
//! user's deletion at the end, retried, journalled, and reported when it fails.

mod admin;
mod token;

use std::sync::Mutex as StdMutex;
use std::time::{Duration, SystemTime};

use admin::AdminSession;
use token::{Token, now_secs};

use rand::Rng;
use serde_json::Value as J;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::eval::step;
use crate::eval::template::Scope;
use crate::http::client::{Credential, CrumbCtx, Outgoing, Response, SendError};
use crate::load::config::{AuthConfig, AuthModeKind};
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

pub struct Identity {
    pub email: String,
    pub password: Secret,
}

/// What is known of an identity, behind one lock: what its create came to, until when an
/// unanswered create may still complete upstream, whether it ever logged in, the captures of
/// its lifecycle steps, the gateway's clock skew, and its journal entry.
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
}

pub struct Auth {
    ctx: std::sync::Arc<RunCtx>,
    cfg: AuthConfig,
    pub identity: Identity,
    mode: AuthModeKind,
    /// The one lock of the identity's lifecycle state.
    state: StdMutex<IdentityState>,
    /// The token, behind an async lock: whoever finds it due renews it, the others wait (single
    /// flight).
    token: Mutex<Option<Token>>,
    /// Which suite this user belongs to (`auth.scope: suite`), for messages.
    pub label: Option<String>,
    /// The config `cfg` came from, as journal entries and session caches keep it.
    saved: crate::load::config::SavedConfig,
    /// Lifecycle answers that broke the contract (class `schema`): they make the run red, but
    /// never stop the lifecycle, so the token is used and the user still deleted.
    contract_breaks: StdMutex<Vec<String>>,
    /// `auth.admin`, when configured.
    admin: Option<AdminSession>,
}

/// 24+ characters with letters, digits and symbols, from the OS RNG.
pub fn random_password() -> Secret {
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const SYMBOL: &[u8] = b"-_.!#%+=";
    let mut rng = rand::rng();
    let all: Vec<u8> = [LOWER, UPPER, DIGIT, SYMBOL].concat();
    let mut chars: Vec<u8> = vec![
        LOWER[rng.random_range(0..LOWER.len())],
        UPPER[rng.random_range(0..UPPER.len())],
        DIGIT[rng.random_range(0..DIGIT.len())],
        SYMBOL[rng.random_range(0..SYMBOL.len())],
    ];
    while chars.len() < 28 {
        chars.push(all[rng.random_range(0..all.len())]);
    }
    // Shuffle so the classes are not in fixed positions.
    for i in (1..chars.len()).rev() {
        chars.swap(i, rng.random_range(0..=i));
    }
    Secret::new(String::from_utf8(chars).expect("ascii"))
}

/// Service-account credentials from `SMOKE_USERNAME`/`SMOKE_PASSWORD` or a JSON secret file.
/// Errors name the variable, file and field, never a value.
pub fn service_credentials(env: &[(String, String)], file: Option<&std::path::Path>) -> Result<Identity, AuthError> {
    if let Some(path) = file {
        let text = crate::load::suite::read_regular(path)
            .map_err(|e| AuthError::Credentials(format!("cannot read credentials file {}: {e}", path.display())))
            .and_then(|b| {
                String::from_utf8(b).map_err(|_| AuthError::Credentials(format!("credentials file {} is not valid UTF-8", path.display())))
            })?;
        let v: J = serde_json::from_str(&text).map_err(|e| {
            AuthError::Credentials(format!(
                "credentials file {} is not valid JSON (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        let field = |name: &str| -> Result<String, AuthError> {
            match v.get(name) {
                Some(J::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(_) => {
                    Err(AuthError::Credentials(format!("credentials file {}: field `{name}` must be a non-empty string", path.display())))
                }
                None => Err(AuthError::Credentials(format!("credentials file {}: missing field `{name}`", path.display()))),
            }
        };
        if !v.is_object() {
            return Err(AuthError::Credentials(format!(
                "credentials file {} must hold a JSON object with `username` and `password`",
                path.display()
            )));
        }
        return Ok(Identity { email: field("username")?, password: Secret::new(field("password")?) });
    }
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    match (get("SMOKE_USERNAME"), get("SMOKE_PASSWORD")) {
        (Some(u), Some(p)) => Ok(Identity { email: u, password: Secret::new(p) }),
        (None, _) => Err(AuthError::Credentials("service-account mode needs SMOKE_USERNAME (or auth.credentials_file)".into())),
        (_, None) => Err(AuthError::Credentials("service-account mode needs SMOKE_PASSWORD (or auth.credentials_file)".into())),
    }
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
        ctx.redactor.add(&identity.password);
        let admin = cfg.admin.as_ref().map(|a| AdminSession::load(&ctx, a));
        let mut auth = Auth {
            mode: cfg.mode,
            cfg,
            ctx,
            identity,
            state: StdMutex::new(IdentityState::default()),
            token: Mutex::new(None),
            label,
            saved,
            contract_breaks: StdMutex::new(Vec::new()),
            admin: None,
        };
        auth.admin = admin;
        auth
    }

    /// A fresh disposable identity from the configured email template.
    pub fn disposable_identity(ctx: &RunCtx) -> Result<Identity, AuthError> {
        let mut scope = ctx.base_scope.clone();
        // Each identity gets its own random part, even with one user per suite.
        let rand: String = (0..6).map(|_| b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::rng().random_range(0..36)] as char).collect();
        let mut run = ctx.run_fields.clone();
        run.insert("rand".into(), J::String(rand));
        scope.set_json("run", &J::Object(run));
        let email = ctx.templates.render_str(&ctx.config.auth.email, &scope).map_err(|e| AuthError::Step {
            step: "identity".into(),
            class: FailureClass::Template,
            detail: e.message,
            status: None,
            sent: false,
            token: false,
        })?;
        Ok(Identity { email, password: random_password() })
    }

    pub fn is_disposable(&self) -> bool {
        self.mode == AuthModeKind::Disposable
    }

    /// The template scope for auth steps and `user.*` in suites.
    pub fn user_value(&self) -> J {
        let caps = self.captures();
        let mut user = serde_json::Map::new();
        user.insert("email".into(), J::String(self.identity.email.clone()));
        user.insert("username".into(), J::String(self.identity.email.clone()));
        user.insert("password".into(), J::String(self.identity.password.expose().to_owned()));
        if let Some(id) = caps.get("user_id").or_else(|| caps.get("id")) {
            user.insert("id".into(), id.clone());
        }
        J::Object(user)
    }

    /// The contract breaks of its lifecycle answers so far, each once.
    pub fn take_contract_breaks(&self) -> Vec<String> {
        self.contract_breaks.lock().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default()
    }

    /// The config this identity's routes come from, for session caches.
    pub fn saved_config(&self) -> crate::load::config::SavedConfig {
        self.saved.clone()
    }

    /// Adds `user` and the auth captures to a scope.
    pub fn extend_scope(&self, scope: &mut Scope) {
        scope.set_json("user", &self.user_value());
        if let Some(v) = self.admin.as_ref().and_then(AdminSession::value) {
            scope.set_json("admin", &v);
        }
        for (k, v) in self.captures() {
            scope.set_json(k, &v);
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, IdentityState> {
        // A panic while holding it cannot leave it half-updated in a way worse than losing it.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn captures(&self) -> serde_json::Map<String, J> {
        self.state().captures.clone()
    }

    fn scope(&self) -> Scope {
        let mut s = self.ctx.base_scope.clone();
        self.extend_scope(&mut s);
        s
    }

    /// Sends one auth step through the run's one request path and judges it like a suite step.
    async fn call(&self, step: &Step, phase: Phase, attempt: u32, cancel: &CancellationToken) -> Result<Response, AuthError> {
        self.call_in(step, self.scope(), phase, attempt, cancel).await
    }

    /// [`Auth::call`] in a given scope (the admin's login sees the admin as `user`).
    async fn call_in(
        &self,
        step: &Step,
        mut scope: Scope,
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
        let mut out = exchange::render(&self.ctx, step, &mut scope).map_err(|e| fail(FailureClass::Template, e.message))?;
        match step.auth {
            Some(AuthMode::User) => {
                let token = self.current_token().await.ok_or_else(|| fail(FailureClass::Auth, "no token to authenticate with".into()))?;
                out.credential = Some(self.wrap(token));
            }
            // Boxed: the admin's own login goes through here too.
            Some(AuthMode::Admin) => out.credential = Some(Box::pin(self.admin_credential(cancel)).await?),
            Some(AuthMode::None) | None => {}
        }
        let cc = CrumbCtx { suite: self.label.clone(), step: Some(step.name.clone()), phase, attempt };
        let judged = exchange::send(&self.ctx, &out, &cc, Judge::Expect { step, scope: &scope }, cancel).await;
        // What an auth step captures is a credential from the moment it arrives (a refresh
        // token, a session id): masked before any message about this answer is made.
        for (_, v) in &judged.verdict.captures {
            if let Some(s) = v.as_str() {
                self.ctx.redactor.add(&Secret::new(s));
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
                self.ctx.sink.emit(Event::Warning(format!("contract (schema): {msg}")));
                if let Ok(mut b) = self.contract_breaks.lock() {
                    b.push(msg);
                }
            }
            Some(class) => return Err(self.refused(step, &out, &resp, class, judged.verdict.message)),
            None => {}
        }
        self.state().captures.extend(judged.verdict.captures);
        Ok(resp)
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
        if let Some(name) = &self.cfg.token_cookie {
            return resp.headers.get_all(reqwest::header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).any(|c| {
                c.split_once('=').is_some_and(|(k, v)| k.trim() == name && !v.split(';').next().unwrap_or_default().trim().is_empty())
            });
        }
        let Ok(body) = step::parse_json(&resp.body) else { return false };
        self.cfg
            .token_paths
            .iter()
            .any(|(text, path)| step::select(path, text, &body).into_value().is_some_and(|v| v.as_str().is_some_and(|t| !t.is_empty())))
    }

    async fn current_token(&self) -> Option<Secret> {
        self.token.lock().await.as_ref().map(|t| t.secret.clone())
    }

    /// Create (disposable mode) then login. The identity is journaled before its create is
    /// sent (no journal, no create); afterwards only a definitive refusal removes it. On failure
    /// the caller still runs `cleanup`, which logs in, deletes and proves the deletion.
    pub async fn bootstrap(&self, cancel: &CancellationToken) -> Result<(), AuthError> {
        if self.mode == AuthModeKind::ApiKey {
            // A static key: nothing to fetch; it is masked like a token (`Auth::new`).
            return Ok(());
        }
        if self.is_disposable() {
            let timeout = self.cfg.create.request.timeout.unwrap_or(self.ctx.http.settings.timeout);
            // Until the gateway answers, assume the user may exist: a timeout can hide a create.
            {
                let mut st = self.state();
                st.settle_by = Some(SystemTime::now() + timeout);
                st.created = Some(CreateState::Pending);
            }
            if let Err(e) = self.journal_write() {
                // Nothing is sent without its journal entry: nothing may exist.
                let mut st = self.state();
                (st.created, st.settle_by) = (None, None);
                return Err(AuthError::Journal(e.to_string()));
            }
            match self.call(&self.cfg.create, Phase::BootstrapCreate, 1, cancel).await {
                Ok(_) => {
                    self.mark_created();
                    self.ctx.sink.emit(Event::Info(format!("created test user {}", self.identity.email)));
                }
                Err(e) => {
                    if e.definitive_refusal() {
                        self.state().created = None;
                        self.journal_remove();
                    } else if matches!(e.status(), Some(200..=299)) {
                        // Created, though its answer failed a check (a capture, a stub phrase).
                        self.mark_created();
                    } else {
                        {
                            let mut st = self.state();
                            if e.status().is_some() {
                                // Answered (a 5xx): whatever the upstream did, it has finished.
                                st.settle_by = None;
                            }
                            st.created = Some(CreateState::Unknown);
                        }
                        self.journal_write_or_warn();
                    }
                    return Err(e);
                }
            }
        }
        let mut guard = self.token.lock().await;
        let t = self.login(Phase::BootstrapLogin, cancel).await?;
        *guard = Some(t);
        if self.is_disposable() {
            self.state().logged_in = true;
            self.journal_write_or_warn();
        }
        Ok(())
    }

    fn mark_created(&self) {
        {
            let mut st = self.state();
            st.created = Some(CreateState::Created);
            st.settle_by = None;
        }
        self.journal_write_or_warn();
    }

    async fn login(&self, phase: Phase, cancel: &CancellationToken) -> Result<Token, AuthError> {
        if self.mode == AuthModeKind::ClientCredentials {
            return self.client_token(phase, cancel).await;
        }
        let resp = self.call(&self.cfg.login, phase, 1, cancel).await?;
        let mut t = self.token_of(&self.cfg.login.name, &resp, &self.cfg.token_paths)?;
        if self.cfg.refresh.is_some() {
            // The login's own capture `refresh_token` wins; else the usual places.
            let captured = self.state().captures.get("refresh_token").and_then(J::as_str).map(str::to_owned);
            let found = captured.or_else(|| {
                let body = step::parse_json(&resp.body).ok()?;
                let paths: Vec<_> = crate::load::config::DEFAULT_REFRESH_PATHS
                    .iter()
                    .filter_map(|p| serde_json_path::JsonPath::parse(p).ok().map(|j| (p.to_string(), j)))
                    .collect();
                token::select_str(&body, &paths)
            });
            t.refresh = found.map(Secret::new);
            if let Some(r) = &t.refresh {
                self.ctx.redactor.add(r);
            }
        }
        self.note_skew(&resp);
        if phase == Phase::BootstrapLogin {
            self.warn_about(&t.info);
        }
        Ok(t)
    }

    /// The token an answer hands out (at `paths`, or the session cookie), masked from here on.
    fn token_of(&self, step: &str, resp: &Response, paths: &[(String, serde_json_path::JsonPath)]) -> Result<Token, AuthError> {
        if let Some(name) = &self.cfg.token_cookie {
            let t = token::from_cookie(name, resp).ok_or_else(|| AuthError::TokenMissing(format!("a `{name}` cookie in Set-Cookie")))?;
            self.ctx.redactor.add(&t.secret);
            return Ok(t);
        }
        let body = step::parse_json(&resp.body).map_err(|why| AuthError::Step {
            step: step.to_owned(),
            class: FailureClass::InvalidResponse,
            detail: format!("the answer is {why}"),
            status: Some(resp.status),
            sent: true,
            token: false,
        })?;
        // A JWT-shaped string must be a JWT: a broken one is not taken for an opaque token.
        let kind = match (self.cfg.token_type, token::select_str(&body, paths)) {
            (crate::load::config::TokenType::Detect, Some(t)) if t.starts_with("eyJ") && t.split('.').count() == 3 => {
                crate::load::config::TokenType::Jwt
            }
            (k, _) => k,
        };
        let t = token::from_answer(&body, paths, kind, self.cfg.token_ttl).map_err(|e| match e {
            TokenError::Missing(looked) => AuthError::TokenMissing(looked),
            TokenError::NotJwt(j) => AuthError::Malformed(j),
            e @ TokenError::NotJson(_) => AuthError::Credentials(e.to_string()),
        })?;
        self.ctx.redactor.add(&t.secret);
        Ok(t)
    }

    /// Gateway clock minus ours, from an auth answer's `Date`, and a warning past the tolerance.
    fn note_skew(&self, resp: &Response) {
        let Some(date) = resp.date else { return };
        let skew = match date.duration_since(SystemTime::now()) {
            Ok(ahead) => ahead.as_secs() as i64,
            Err(behind) => -(behind.duration().as_secs() as i64),
        };
        self.state().skew_secs = if skew.abs() > 2 { skew } else { 0 };
        if skew.unsigned_abs() > self.cfg.clock_skew_tolerance.as_secs() {
            self.ctx.sink.emit(Event::Warning(format!(
                "clock skew: the gateway's clock is {}s {} this machine's (tolerance {}s); token expiry is judged by the gateway's clock",
                skew.abs(),
                if skew > 0 { "ahead of" } else { "behind" },
                self.cfg.clock_skew_tolerance.as_secs()
            )));
        }
    }

    /// `login.refresh`: a new token for the refresh token, without a login. The next refresh
    /// token replaces the old one when the answer holds one.
    async fn refreshed(&self, refresh: &Secret, cancel: &CancellationToken) -> Result<Token, AuthError> {
        let r = self.cfg.refresh.as_ref().ok_or_else(|| AuthError::Credentials("no `login.refresh`".into()))?;
        let mut scope = self.scope();
        scope.set_json("refresh_token", &J::String(refresh.expose().to_owned()));
        let resp = self.call_in(&r.step, scope, Phase::Refresh, 1, cancel).await?;
        let mut t = self.token_of(&r.step.name, &resp, &r.token_paths)?;
        let next = step::parse_json(&resp.body).ok().and_then(|b| token::select_str(&b, &r.refresh_paths)).map(Secret::new);
        if let Some(n) = &next {
            self.ctx.redactor.add(n);
        }
        t.refresh = next.or_else(|| Some(refresh.clone()));
        self.note_skew(&resp);
        Ok(t)
    }

    fn warn_about(&self, info: &JwtInfo) {
        if info.alg.eq_ignore_ascii_case("none") {
            self.ctx.sink.emit(Event::Warning("the gateway issued an unsigned token (alg: none)".into()));
        }
        match (info.exp, info.iat) {
            (Some(exp), iat) => {
                let ttl = exp - iat.unwrap_or_else(now_secs);
                if ttl > self.cfg.max_token_ttl.as_secs() as i64 {
                    self.ctx.sink.emit(Event::Warning(format!(
                        "token lives {} (max_token_ttl {}): the ADR asks for short-lived test tokens",
                        humantime::format_duration(Duration::from_secs(ttl.max(0) as u64)),
                        humantime::format_duration(self.cfg.max_token_ttl)
                    )));
                }
                self.ctx.sink.emit(Event::Info(format!(
                    "logged in as {}; token expires in {}",
                    self.identity.email,
                    humantime::format_duration(Duration::from_secs((exp - now_secs()).max(0) as u64))
                )));
            }
            (None, _) if info.alg == "opaque" => self.ctx.sink.emit(Event::Info(format!(
                "logged in as {}; an opaque token without a stated lifetime: used until a 401 (set `auth.token_ttl` if it expires)",
                self.identity.email
            ))),
            (None, _) => self.ctx.sink.emit(Event::Warning("the token has no `exp` claim: it never expires".into())),
        }
    }

    fn skew(&self) -> i64 {
        self.state().skew_secs
    }

    /// The token for the next request, logging in again first (once, whoever asks) when it
    /// expires within the refresh margin.
    pub async fn bearer(&self, cancel: &CancellationToken) -> Result<Secret, AuthError> {
        if self.mode == AuthModeKind::ApiKey {
            return Err(AuthError::Credentials("auth mode `api-key` has no token: its key goes in a header".into()));
        }
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref()
            && !t.due(self.skew(), self.cfg.refresh_margin)
        {
            return Ok(t.secret.clone());
        }
        // A refresh token renews it without a login; a refused refresh falls back to one.
        if let Some(refresh) = guard.as_ref().and_then(|t| t.refresh.clone()) {
            match self.refreshed(&refresh, cancel).await {
                Ok(t) => {
                    let s = t.secret.clone();
                    *guard = Some(t);
                    return Ok(s);
                }
                Err(AuthError::Cancelled) => return Err(AuthError::Cancelled),
                Err(e) => self.ctx.sink.emit(Event::Info(format!("the refresh was refused ({e}); logging in again"))),
            }
        }
        let t = self.login(Phase::Refresh, cancel).await?;
        let s = t.secret.clone();
        *guard = Some(t);
        Ok(s)
    }

    /// A request with this token was answered 401. A token whose expiry is unknown (opaque,
    /// without `expires_in` or `token_ttl`) is then taken as expired: the steps after it log in
    /// again first. The step that got the 401 is not retried.
    pub async fn refused_with(&self, secret: &Secret) {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_mut().filter(|t| t.secret.expose() == secret.expose() && t.info.exp.is_none()) {
            t.refused = true;
        }
    }

    /// The admin's token for an `auth: admin` step, logging it in first (once, whoever asks)
    /// when it has none or it is due.
    pub async fn admin_credential(&self, cancel: &CancellationToken) -> Result<Credential, AuthError> {
        let (Some(session), Some(admin)) = (&self.admin, &self.cfg.admin) else {
            return Err(AuthError::Credentials("the step runs as `auth: admin`, but `auth.admin` is not configured".into()));
        };
        let mut guard = session.token.lock().await;
        if let Some(t) = guard.as_ref()
            && !t.due(self.skew(), self.cfg.refresh_margin)
        {
            return Ok(self.wrap(t.secret.clone()));
        }
        let id = session.identity()?;
        // Its own login step, or the user's with the admin's credentials as `user.*`.
        let step = admin.login.as_ref().unwrap_or(&self.cfg.login);
        let mut scope = self.ctx.base_scope.clone();
        let who = serde_json::json!({ "email": id.email, "username": id.email, "password": id.password.expose() });
        scope.set_json("user", &who);
        scope.set_json("admin", &who);
        let resp = self.call_in(step, scope, Phase::AdminLogin, 1, cancel).await?;
        let t = self.token_of(&step.name, &resp, admin.token_paths.as_deref().unwrap_or(&self.cfg.token_paths))?;
        let s = t.secret.clone();
        *guard = Some(t);
        Ok(self.wrap(s))
    }

    /// What an `auth: user` request carries: the bearer token (refreshed when due), the session
    /// cookie, or the API key.
    pub async fn credential(&self, cancel: &CancellationToken) -> Result<Credential, AuthError> {
        if let (AuthModeKind::ApiKey, Some((header, _))) = (self.mode, &self.cfg.api_key) {
            return Ok(Credential::Header(header.clone(), self.identity.password.clone()));
        }
        Ok(self.wrap(self.bearer(cancel).await?))
    }

    /// How this run's token travels: a session cookie, or `auth.header` with `auth.scheme`.
    fn wrap(&self, token: Secret) -> Credential {
        match &self.cfg.token_cookie {
            Some(name) => Credential::Cookie(name.clone(), token),
            None => Credential::Token { header: self.cfg.token_header.clone(), scheme: self.cfg.scheme.clone(), secret: token },
        }
    }

    /// OAuth2 client credentials (RFC 6749 §4.4) from the identity provider: the one origin
    /// besides the gateway that smokegate contacts, and only for this request.
    async fn client_token(&self, phase: Phase, cancel: &CancellationToken) -> Result<Token, AuthError> {
        let step = "client credentials";
        let fail = |class: FailureClass, detail: String, status: Option<u16>| AuthError::Step {
            step: step.into(),
            class,
            detail,
            status,
            sent: status.is_some(),
            token: false,
        };
        let (Some(cc), Some(idp)) = (&self.cfg.client, &self.ctx.idp) else {
            return Err(AuthError::Credentials("client-credentials mode needs `auth.token_url`".into()));
        };
        let mut out = Outgoing::new("POST", &idp.path);
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = &cc.scope {
            form.append_pair("scope", scope);
        }
        let (id, secret) = (&self.identity.email, self.identity.password.expose());
        if cc.in_body {
            form.append_pair("client_id", id).append_pair("client_secret", secret);
        } else {
            use base64::Engine;
            let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")));
            self.ctx.redactor.add_header("authorization", &basic);
            out.headers.push(("authorization".into(), basic));
        }
        out.body = Some((form.finish().into_bytes(), "application/x-www-form-urlencoded"));
        let cctx = CrumbCtx { suite: self.label.clone(), step: Some(step.into()), phase, attempt: 1 };
        let ok = |s: u16| (200..300).contains(&s);
        let judged = exchange::send_via(&self.ctx, &idp.client, &out, &cctx, Judge::Status { accept: &ok, expected: "2xx" }, cancel).await;
        if matches!(judged.error, Some(SendError::Cancelled)) {
            return Err(AuthError::Cancelled);
        }
        let Some(resp) = judged.response.filter(|_| judged.verdict.class.is_none()) else {
            let class = judged.verdict.class.unwrap_or(FailureClass::Connect);
            return Err(fail(class, judged.verdict.message.unwrap_or_default(), judged.status));
        };
        let body = step::parse_json(&resp.body)
            .map_err(|why| fail(FailureClass::InvalidResponse, format!("the token response is {why}"), Some(resp.status)))?;
        let token = body.get("access_token").and_then(J::as_str).ok_or_else(|| AuthError::TokenMissing("$.access_token".into()))?;
        let secret = Secret::new(token);
        self.ctx.redactor.add(&secret);
        let now = now_secs();
        let expires_in = body.get("expires_in").and_then(J::as_i64);
        // A JWT says when it expires; an opaque token has `expires_in`.
        let mut info =
            jwt::decode(secret.expose()).unwrap_or(JwtInfo { alg: "opaque".into(), exp: None, iat: None, claims: Default::default() });
        if let Some(e) = expires_in {
            info.exp = Some(info.exp.map_or(now + e, |x| x.min(now + e)));
            info.iat = info.iat.or(Some(now));
        }
        if phase == Phase::BootstrapLogin {
            self.warn_about(&info);
        }
        Ok(Token::new(secret, info))
    }

    /// Token facts for `smokegate token` and reports: (alg, seconds left, lifetime).
    pub async fn token_facts(&self) -> Option<(String, Option<i64>, Option<i64>, serde_json::Map<String, J>)> {
        let g = self.token.lock().await;
        let t = g.as_ref()?;
        let r = t.remaining(self.skew());
        Some((t.info.alg.clone(), r.map(|x| x.0), r.map(|x| x.1), t.info.claims.clone()))
    }

    /// Deletes the user (disposable mode) and proves it. `Ok(None)`: nothing to do (never
    /// created, or proven absent); `Ok(Some(email))`: deleted, and its login is now refused;
    /// `Err(reason)`: it may still exist, and stays in the journal.
    pub async fn cleanup(&self, cancel: &CancellationToken) -> Result<Option<String>, NotDeleted> {
        let (created, logged_in) = {
            let st = self.state();
            (st.created, st.logged_in)
        };
        let Some(created) = created.filter(|_| self.is_disposable()) else { return Ok(None) };
        let created = created == CreateState::Created;
        // The delete goes out with the user's own token: log in again first if it has expired.
        let mut waited = false;
        loop {
            match self.bearer(cancel).await {
                Ok(_) => break,
                Err(AuthError::Cancelled) => return Err(NotDeleted("interrupted before the user could be deleted".into())),
                Err(e) if !e.login_refused() => return Err(NotDeleted(format!("could not log in to delete it: {e}"))),
                Err(_) if created && logged_in => {
                    // It logged in before and is refused now: it is gone (a killed run deleted it
                    // before it could update the journal, or someone else did).
                    self.journal_remove();
                    return Ok(None);
                }
                Err(e) if created => {
                    return Err(NotDeleted(format!(
                        "it was created, but its login is refused ({e}), so it cannot be deleted with its own token"
                    )));
                }
                Err(_) => {
                    // Never seen created and its login is refused: proof of absence, once no
                    // unanswered create can still be completing upstream.
                    let unsettled = self.state().settle_by.filter(|at| *at > SystemTime::now());
                    match unsettled {
                        Some(at) if !waited => {
                            let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
                            self.ctx.sink.emit(Event::Info(format!(
                                "{}: its create was never answered; waiting {:.1} s for it to settle before trusting a refused login",
                                self.identity.email,
                                wait.as_secs_f64()
                            )));
                            tokio::select! {
                                _ = tokio::time::sleep(wait) => {}
                                _ = cancel.cancelled() => return Err(NotDeleted("interrupted while an unanswered create settled; it may exist".into())),
                            }
                            waited = true;
                        }
                        _ => {
                            self.journal_remove();
                            return Ok(None);
                        }
                    }
                }
            }
        }
        let mut last = String::new();
        for attempt in 1..=4u32 {
            match self.call(&self.cfg.cleanup, Phase::Cleanup, attempt, cancel).await {
                Ok(resp) => return self.verify_deleted(resp.status, cancel).await,
                Err(AuthError::Cancelled) => return Err(NotDeleted("interrupted before the user could be deleted".into())),
                Err(e @ AuthError::Step { class: FailureClass::ServerError | FailureClass::Connect | FailureClass::Timeout, .. }) => {
                    last = e.to_string();
                    if attempt < 4 {
                        let backoff = Duration::from_millis(200 * (1 << (attempt - 1)));
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = cancel.cancelled() => return Err(NotDeleted(format!("interrupted while retrying: {last}"))),
                        }
                    }
                }
                Err(e) => return Err(NotDeleted(e.to_string())),
            }
        }
        Err(NotDeleted(format!("{last} (after 3 retries)")))
    }

    /// A delete's answer is not proof (a 404 from a wrong route looks like success): the user
    /// is gone when its login is refused with 401/403.
    async fn verify_deleted(&self, status: u16, cancel: &CancellationToken) -> Result<Option<String>, NotDeleted> {
        let routes = self.saved.file.clone().unwrap_or_else(|| "the built-in routes".to_owned());
        if let Some(verify) = &self.cfg.verify {
            // The configured proof: a step that passes only once the user is gone.
            return match self.call(verify, Phase::Verify, 1, cancel).await {
                Ok(_) => {
                    self.journal_remove();
                    Ok(Some(self.identity.email.clone()))
                }
                Err(AuthError::Cancelled) => {
                    Err(NotDeleted(format!("the delete answered {status}; interrupted before it could be verified")))
                }
                Err(e) => {
                    Err(NotDeleted(format!("the delete answered {status}, but `auth.verify` in {routes} does not show the user gone: {e}")))
                }
            };
        }
        match self.call(&self.cfg.login, Phase::Verify, 1, cancel).await {
            Err(e) if e.login_refused() => {
                self.journal_remove();
                Ok(Some(self.identity.email.clone()))
            }
            Ok(_) => Err(NotDeleted(format!(
                "the delete answered {status}, but the user can still log in: it was not deleted (check `auth.cleanup` in {routes})"
            ))),
            Err(AuthError::Cancelled) => Err(NotDeleted(format!("the delete answered {status}; interrupted before it could be verified"))),
            Err(e) => Err(NotDeleted(format!("the delete answered {status}, but whether the user is gone could not be verified: {e}"))),
        }
    }

    /// Leaves the user in the journal, as it is, for `smokegate cleanup`.
    pub fn keep_for_cleanup(&self) {
        {
            let mut st = self.state();
            if st.created != Some(CreateState::Created) {
                st.created = Some(CreateState::Unknown);
            }
        }
        self.journal_write_or_warn();
    }

    /// Marks the journal entry as kept (`--keep-user`).
    pub fn keep(&self) {
        let entry = {
            let mut st = self.state();
            let Some(entry) = st.entry.as_mut() else { return };
            entry.kept = true;
            entry.clone()
        };
        if let Some(j) = &self.ctx.journal {
            let _ = j.write(&entry);
        }
    }

    /// Writes the identity's journal entry with what is known of it now.
    fn journal_write(&self) -> Result<(), JournalError> {
        let Some(j) = &self.ctx.journal else { return Ok(()) };
        let entry = {
            let mut st = self.state();
            let (state, captures, logged_in) = (st.created.unwrap_or_default(), st.captures.clone(), st.logged_in);
            let settle_by = st.settle_by.map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
            let entry = st.entry.get_or_insert_with(|| Entry {
                version: 1,
                run_id: self.ctx.run_id.clone(),
                gateway: self.ctx.http.gateway.origin(),
                email: self.identity.email.clone(),
                password: self.identity.password.expose().to_owned(),
                captures: Default::default(),
                created_at: chrono::Utc::now().to_rfc3339(),
                kept: false,
                state,
                settle_by: None,
                logged_in: false,
                config: Some(self.saved.clone()),
            });
            entry.captures = captures;
            entry.state = state;
            entry.settle_by = settle_by;
            entry.logged_in = logged_in;
            entry.clone()
        };
        j.write(&entry).map(|_| ()).map_err(|e| JournalError { dir: j.dir.clone(), source: e })
    }

    /// After the create was sent the entry exists already; a failed update keeps the older one.
    fn journal_write_or_warn(&self) {
        if let Err(e) = self.journal_write() {
            self.ctx.sink.emit(Event::Warning(format!("cannot update the cleanup journal: {e}")));
        }
    }

    fn journal_remove(&self) {
        let Some(j) = &self.ctx.journal else { return };
        if let Some(entry) = self.state().entry.clone() {
            let _ = j.remove(&entry);
        }
    }

    /// What a cached session (`smokegate token`) keeps: the captures and the current token.
    pub async fn session_parts(&self) -> (serde_json::Map<String, J>, Option<Secret>) {
        (self.captures(), self.current_token().await)
    }

    /// Restores a cached session: the user exists, and its token is reused if it still parses
    /// (`bearer` then decides whether it is fresh enough).
    pub async fn restore(&self, captures: serde_json::Map<String, J>, token: Option<Secret>) {
        {
            // A cached session logged in before: if the gateway refuses this login, it is gone.
            let mut st = self.state();
            st.captures = captures;
            st.created = self.is_disposable().then_some(CreateState::Unknown);
            st.logged_in = true;
        }
        if let Some(secret) = token {
            self.ctx.redactor.add(&secret);
            if let Ok(info) = jwt::decode(secret.expose()) {
                *self.token.lock().await = Some(Token::new(secret, info));
            }
        }
    }

    /// Hands the identity over from the journal to a session cache that now records it.
    pub fn release_from_journal(&self) {
        self.journal_remove();
    }

    /// Restores a journalled identity (for `smokegate cleanup`): captures and "maybe created".
    pub fn adopt(&self, entry: Entry) {
        // A killed run's create may be in flight until its request deadline.
        let settle_by = match entry.state {
            CreateState::Created => None,
            _ => {
                entry.settle_by.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(SystemTime::from).or_else(|| {
                    chrono::DateTime::parse_from_rfc3339(&entry.created_at)
                        .ok()
                        .map(|t| SystemTime::from(t) + self.ctx.http.settings.timeout)
                })
            }
        };
        let mut st = self.state();
        st.captures = entry.captures.clone();
        st.created = Some(if entry.state == CreateState::Created { CreateState::Created } else { CreateState::Unknown });
        st.logged_in = entry.logged_in;
        st.settle_by = settle_by;
        st.entry = Some(entry);
    }
}

/// `journal::Journal` re-exported for callers that only deal with auth.
pub use journal::Journal;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_and_mixed() {
        for _ in 0..50 {
            let p = random_password();
            let s = p.expose();
            assert!(s.len() >= 24);
            assert!(s.chars().any(|c| c.is_ascii_lowercase()));
            assert!(s.chars().any(|c| c.is_ascii_uppercase()));
            assert!(s.chars().any(|c| c.is_ascii_digit()));
            assert!(s.chars().any(|c| !c.is_ascii_alphanumeric()));
        }
        assert_ne!(random_password().expose(), random_password().expose());
    }

    #[test]
    fn service_credentials_from_env_and_file() {
        let env = vec![("SMOKE_USERNAME".to_owned(), "svc".to_owned()), ("SMOKE_PASSWORD".to_owned(), "pw-123456".to_owned())];
        let id = service_credentials(&env, None).unwrap();
        assert_eq!(id.email, "svc");
        let e = service_credentials(&env[..1], None).err().unwrap();
        assert!(e.to_string().contains("SMOKE_PASSWORD"));

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret.json");
        std::fs::write(&f, r#"{"username":"svc","password":"s3cr3t-value","extra":1}"#).unwrap();
        assert_eq!(service_credentials(&[], Some(&f)).unwrap().email, "svc");
        std::fs::write(&f, r#"{"username":"svc","pass":"s3cr3t-value"}"#).unwrap();
        let msg = service_credentials(&[], Some(&f)).err().unwrap().to_string();
        assert!(msg.contains("missing field `password`") && !msg.contains("s3cr3t"), "{msg}");
        std::fs::write(&f, "{not json s3cr3t").unwrap();
        let msg = service_credentials(&[], Some(&f)).err().unwrap().to_string();
        assert!(msg.contains("not valid JSON") && !msg.contains("s3cr3t"), "{msg}");
    }
}
