//! How the token is obtained and renewed: the login, a refresh token, client credentials, the
//! admin's login, and when each is due.

use super::admin::AdminSession;
use super::*;
use crate::load::config::{Admin, Carry, ClientCredentials, Login, TokenType};
use crate::load::jsonpath::CompiledPath;
use crate::run::ctx::IdentityProvider;

/// Where an OAuth2 token endpoint puts the token.
static ACCESS_TOKEN: std::sync::LazyLock<[CompiledPath; 1]> =
    std::sync::LazyLock::new(|| [CompiledPath::parse("$.access_token").expect("valid")]);

impl Auth {
    /// A new token from the mode's source: the gateway's login, or the identity provider. A
    /// static API key has none.
    pub(super) async fn login(&self, phase: Phase, cancel: &CancellationToken) -> Result<Token, AuthError> {
        match &self.cfg.mode {
            Mode::Disposable { login, .. } | Mode::ServiceAccount { login, .. } => self.log_in(login, phase, cancel).await,
            Mode::ClientCredentials { client, .. } => {
                self.client_token(client, self.ctx.net.idp.as_ref(), &self.identity, "client credentials", phase, cancel).await
            }
            Mode::ApiKey(_) => Err(AuthError::Credentials("auth mode `api-key` has no token: its key goes in a header".into())),
        }
    }

    async fn log_in(&self, login: &Login, phase: Phase, cancel: &CancellationToken) -> Result<Token, AuthError> {
        let resp = self.call(&login.step, phase, 1, cancel).await?;
        let (mut t, body) = self.token_of(&login.step.name, &resp, &login.token, None)?;
        if let Some(r) = &login.refresh {
            // The login's own capture `refresh_token` wins; else the usual places.
            let captured = self.state().captures.get("refresh_token").and_then(J::as_str).map(str::to_owned);
            let found = captured.or_else(|| token::select_str(body.as_ref()?, &r.from_login));
            t.refresh = found.map(Secret::new);
            if let Some(r) = &t.refresh {
                self.ctx.out.redactor.add(r);
            }
        }
        self.note_skew(&resp);
        if phase == Phase::BootstrapLogin {
            self.warn_about(&t.info);
        }
        Ok(t)
    }

    /// The token an answer hands out (where `at` says, or at `paths` when given), masked from
    /// here on, and the answer as JSON (`None` for a cookie), parsed once for whatever else it
    /// holds.
    pub(super) fn token_of(
        &self,
        step: &str,
        resp: &Response,
        at: &TokenAt,
        paths: Option<&[CompiledPath]>,
    ) -> Result<(Token, Option<J>), AuthError> {
        let (paths, token_type) = match at {
            TokenAt::Body { paths: own, .. } => (paths.unwrap_or(own), self.cfg.login().map_or(TokenType::Detect, |l| l.token_type)),
            TokenAt::Cookie(name) => {
                let t =
                    token::from_cookie(name, resp).ok_or_else(|| AuthError::TokenMissing(format!("a `{name}` cookie in Set-Cookie")))?;
                self.ctx.out.redactor.add(&t.secret);
                return Ok((t, None));
            }
        };
        let body = step::parse_json(&resp.body).map_err(|why| AuthError::Step {
            step: step.to_owned(),
            class: FailureClass::InvalidResponse,
            detail: format!("the answer is {why}"),
            status: Some(resp.status),
            sent: true,
            token: false,
        })?;
        let t = token::from_answer(&body, paths, token_type, self.cfg.token_ttl)?;
        self.ctx.out.redactor.add(&t.secret);
        Ok((t, Some(body)))
    }

    /// Gateway clock minus ours, from an auth answer's `Date`, and a warning past the tolerance.
    pub(super) fn note_skew(&self, resp: &Response) {
        let Some(date) = resp.date else { return };
        let skew = match date.duration_since(SystemTime::now()) {
            Ok(ahead) => ahead.as_secs() as i64,
            Err(behind) => -(behind.duration().as_secs() as i64),
        };
        self.state().skew_secs = if skew.abs() > 2 { skew } else { 0 };
        if skew.unsigned_abs() > self.cfg.clock_skew_tolerance.as_secs() {
            self.ctx.out.sink.emit(Event::Warning(format!(
                "clock skew: the gateway's clock is {}s {} this machine's (tolerance {}s); token expiry is judged by the gateway's clock",
                skew.abs(),
                if skew > 0 { "ahead of" } else { "behind" },
                self.cfg.clock_skew_tolerance.as_secs()
            )));
        }
    }

    /// `login.refresh`: a new token for the refresh token, without a login. The next refresh
    /// token replaces the old one when the answer holds one.
    pub(super) async fn refreshed(&self, refresh: &Secret, cancel: &CancellationToken) -> Result<Token, AuthError> {
        // Only a login with `refresh` hands out a refresh token.
        let Some((login, r)) = self.cfg.login().and_then(|l| Some((l, l.refresh.as_ref()?))) else {
            return Err(AuthError::Credentials("no `login.refresh`".into()));
        };
        let mut scope = self.scope();
        scope.set_json("refresh_token", &J::String(refresh.expose().to_owned()));
        let resp = self.call_in(&r.step, scope, Phase::Refresh, 1, cancel).await?;
        let (mut t, body) = self.token_of(&r.step.name, &resp, &login.token, Some(&r.token_paths))?;
        let next = body.and_then(|b| token::select_str(&b, &r.refresh_paths)).map(Secret::new);
        if let Some(n) = &next {
            self.ctx.out.redactor.add(n);
        }
        t.refresh = next.or_else(|| Some(refresh.clone()));
        self.note_skew(&resp);
        Ok(t)
    }

    pub(super) fn warn_about(&self, info: &JwtInfo) {
        if info.alg.eq_ignore_ascii_case("none") {
            self.ctx.out.sink.emit(Event::Warning("the gateway issued an unsigned token (alg: none)".into()));
        }
        match (info.exp, info.iat) {
            (Some(exp), iat) => {
                let ttl = exp.saturating_sub(iat.unwrap_or_else(now_secs));
                if ttl > self.cfg.max_token_ttl.as_secs() as i64 {
                    self.ctx.out.sink.emit(Event::Warning(format!(
                        "token lives {} (max_token_ttl {}): the ADR asks for short-lived test tokens",
                        humantime::format_duration(Duration::from_secs(ttl.max(0) as u64)),
                        humantime::format_duration(self.cfg.max_token_ttl)
                    )));
                }
                self.ctx.out.sink.emit(Event::Info(format!(
                    "logged in as {}; token expires in {}",
                    self.identity.name,
                    humantime::format_duration(Duration::from_secs(exp.saturating_sub(now_secs()).max(0) as u64))
                )));
            }
            (None, _) if info.alg == "opaque" => self.ctx.out.sink.emit(Event::Info(format!(
                "logged in as {}; an opaque token without a stated lifetime: used until a 401 (set `auth.token_ttl` if it expires)",
                self.identity.name
            ))),
            (None, _) => self.ctx.out.sink.emit(Event::Warning("the token has no `exp` claim: it never expires".into())),
        }
    }

    pub(super) fn skew(&self) -> i64 {
        self.state().skew_secs
    }

    /// The token for the next request, logging in again first (once, whoever asks) when it
    /// expires within the refresh margin.
    pub async fn bearer(&self, cancel: &CancellationToken) -> Result<Secret, AuthError> {
        if let Mode::ApiKey(_) = self.cfg.mode {
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
                    self.note_token(&t);
                    return Ok(self.hold(&mut guard, t, "refreshed"));
                }
                Err(AuthError::Cancelled) => return Err(AuthError::Cancelled),
                Err(e) => self.ctx.out.sink.emit(Event::Info(format!("the refresh was refused ({e}); logging in again"))),
            }
        }
        let t = self.login(Phase::Refresh, cancel).await?;
        self.note_token(&t);
        Ok(self.hold(&mut guard, t, "login's"))
    }

    /// A request with this token was answered 401. A token renewed when refused (its expiry
    /// unknown, or it arrived expired: `token::Renewal`) is then taken as expired: the steps
    /// after it log in again first. The step that got the 401 is not retried.
    pub async fn refused_with(&self, secret: &Secret) {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_mut().filter(|t| t.secret.expose() == secret.expose()) {
            t.refuse();
        }
    }

    /// Holds a newly issued token as `whose` current one, and warns when it arrived already due
    /// (it is then renewed later than the margin says: see `token::Renewal`).
    pub(super) fn hold(&self, slot: &mut Option<Token>, mut t: Token, whose: &str) -> Secret {
        let why = match t.arrived(self.skew(), self.cfg.refresh_margin) {
            None => None,
            Some(Arrival::Due { left_ms, margin_ms }) => Some(format!(
                "the {whose} token arrived with {} left (refresh margin {}): it is used until shortly before it expires, then renewed",
                secs(left_ms),
                secs(margin_ms)
            )),
            Some(Arrival::Spent { left_ms }) => Some(format!(
                "the {whose} token arrived with {} left, too little to renew it before it expires (is the issuer's clock behind?): it is used until a request is refused with 401, then renewed",
                secs(left_ms)
            )),
            Some(Arrival::Expired { ago_ms }) => Some(format!(
                "the {whose} token had expired {} before it arrived, by the gateway's clock (is the issuer's clock behind?): it is used until a request is refused with 401, then renewed",
                secs(ago_ms)
            )),
        };
        if let Some(why) = why {
            self.ctx.out.sink.emit(Event::Warning(why));
        }
        let s = t.secret.clone();
        *slot = Some(t);
        s
    }

    /// The admin's token for an `auth: admin` step, logging it in first (once, whoever asks)
    /// when it has none or it is due.
    pub async fn admin_credential(&self, cancel: &CancellationToken) -> Result<Credential, AuthError> {
        let (Some(session), Some(admin)) = (&self.admin, &self.cfg.admin) else {
            return Err(AuthError::Credentials("the step runs as `auth: admin`, but `auth.admin` is not configured".into()));
        };
        let wrap = |s: Secret| match admin {
            Admin::Login { token, .. } => wrap_in(token, s),
            Admin::Client { send, .. } => bearer(send, s),
            Admin::Token { carry: Carry::Bearer(send), .. } => bearer(send, s),
            Admin::Token { carry: Carry::Header(name), .. } => Credential::Header(name.clone(), s),
        };
        if let Admin::Token { .. } = admin {
            // Nothing to log in: the token is as given (and masked since it was rendered).
            return Ok(wrap(session.identity_now(&self.ctx, cancel).await?.password.clone()));
        }
        let mut guard = session.token.lock().await;
        if let Some(t) = guard.as_ref()
            && !t.due(self.skew(), self.cfg.refresh_margin)
        {
            return Ok(wrap(t.secret.clone()));
        }
        // Credentials that could not be read fail here, when the admin is first needed.
        let who = session.identity_now(&self.ctx, cancel).await?;
        let t = match admin {
            Admin::Client { client, .. } => {
                let idp = session.idp.as_ref().map(|r| r.as_ref().map_err(|e| AuthError::Credentials(e.clone()))).transpose()?;
                self.client_token(client, idp, who, "admin client credentials", Phase::AdminLogin, cancel).await?
            }
            Admin::Login { login, token, .. } => {
                // Its own login step, or the user's with the admin's credentials as `user.*`.
                let resp = self.call_in(login, self.admin_scope(session), Phase::AdminLogin, 1, cancel).await?;
                session.logged_in.store(true, std::sync::atomic::Ordering::Relaxed);
                self.token_of(&login.name, &resp, token, None)?.0
            }
            Admin::Token { .. } => unreachable!("a static admin token returned above"),
        };
        Ok(wrap(self.hold(&mut guard, t, "admin's")))
    }

    /// The scope of the admin's own steps: its credentials as `user.*` and `admin.*`, and what
    /// its login captured.
    fn admin_scope(&self, session: &AdminSession) -> Scope {
        let mut scope = self.ctx.vars.base.clone();
        if let Some(who) = session.value() {
            scope.set_json("user", &who);
            scope.set_json("admin", &who);
        }
        for (k, v) in session.captures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            scope.set_json(k.clone(), v);
        }
        scope
    }

    /// `admin.logout`, when the admin logged in during this command: its session ends with the
    /// run. A logout that fails is a warning (the session expires on its own), never a red run.
    pub async fn admin_logout(&self, cancel: &CancellationToken) {
        let (Some(session), Some(Admin::Login { logout: Some(step), .. })) = (&self.admin, &self.cfg.admin) else { return };
        // A token due now is renewed first, so the scope holds the session the logout ends (a
        // renewal inside the logout's own call would log in a session nobody logs out).
        use std::sync::atomic::Ordering::Relaxed;
        if !session.logged_in.load(Relaxed) || self.admin_credential(cancel).await.is_err() {
            return;
        }
        session.logged_in.store(false, Relaxed);
        match self.call_in(step, self.admin_scope(session), Phase::AdminLogout, 1, cancel).await {
            Ok(_) => {
                *session.token.lock().await = None;
            }
            Err(e) => self.ctx.out.sink.emit(Event::Warning(format!("the admin's session may still be open: {e}"))),
        }
    }

    /// What an `auth: user` request carries: the bearer token (refreshed when due), the session
    /// cookie, or the API key.
    pub async fn credential(&self, cancel: &CancellationToken) -> Result<Credential, AuthError> {
        if let Mode::ApiKey(key) = &self.cfg.mode {
            return Ok(Credential::Header(key.header.clone(), self.identity.password.clone()));
        }
        Ok(self.wrap(self.bearer(cancel).await?))
    }

    /// How this run's token travels: a session cookie, or `auth.header` with `auth.scheme` (the
    /// API key's header for a key).
    pub(super) fn wrap(&self, token: Secret) -> Credential {
        match &self.cfg.mode {
            Mode::Disposable { login, .. } | Mode::ServiceAccount { login, .. } => wrap_in(&login.token, token),
            Mode::ClientCredentials { send, .. } => bearer(send, token),
            Mode::ApiKey(key) => Credential::Header(key.header.clone(), token),
        }
    }

    /// OAuth2 client credentials (RFC 6749 §4.4) from the identity provider: the one origin
    /// besides the gateway that smokegate contacts, and only for this request.
    pub(super) async fn client_token(
        &self,
        cc: &ClientCredentials,
        idp: Option<&IdentityProvider>,
        who: &Identity,
        step: &str,
        phase: Phase,
        cancel: &CancellationToken,
    ) -> Result<Token, AuthError> {
        let fail = |class: FailureClass, detail: String, status: Option<u16>| AuthError::Step {
            step: step.into(),
            class,
            detail,
            status,
            sent: status.is_some(),
            token: false,
        };
        let Some(idp) = idp else {
            return Err(AuthError::Credentials(format!("{step}: no identity provider (`token_url`)")));
        };
        let mut out = Outgoing::new(reqwest::Method::POST, &idp.path);
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = &cc.scope {
            form.append_pair("scope", scope);
        }
        let (id, secret) = (&who.name, who.password.expose());
        if cc.in_body {
            form.append_pair("client_id", id).append_pair("client_secret", secret);
        } else {
            use base64::Engine;
            let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")));
            self.ctx.out.redactor.add_header("authorization", &basic);
            out.headers.push(("authorization".into(), basic));
        }
        out.body = Some((form.finish().into_bytes().into(), "application/x-www-form-urlencoded"));
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
        // RFC 6749 §5.1: `access_token`, and its lifetime in `expires_in` (a JWT's `exp` too).
        let t = token::from_answer(&body, &ACCESS_TOKEN[..], TokenType::Detect, self.cfg.token_ttl)?;
        self.ctx.out.redactor.add(&t.secret);
        if phase == Phase::BootstrapLogin {
            self.warn_about(&t.info);
        }
        Ok(t)
    }

    /// Token facts for `smokegate token` and reports: (alg, seconds left, lifetime).
    pub async fn token_facts(&self) -> Option<(String, Option<i64>, Option<i64>, serde_json::Map<String, J>)> {
        let g = self.token.lock().await;
        let t = g.as_ref()?;
        let r = t.remaining(self.skew());
        Some((t.info.alg.clone(), r.map(|x| x.0), r.map(|x| x.1), t.info.claims.clone()))
    }
}

/// A token as the answer's kind says it travels: back as the session cookie, or in a header.
fn wrap_in(at: &TokenAt, token: Secret) -> Credential {
    match at {
        TokenAt::Cookie(name) => Credential::Cookie(name.clone(), token),
        TokenAt::Body { send, .. } => bearer(send, token),
    }
}

fn bearer(send: &Bearer, token: Secret) -> Credential {
    Credential::Token { header: send.header.clone(), scheme: send.scheme.clone(), secret: token }
}

/// Milliseconds for a warning, as `client::human` writes durations; whole seconds from 10 s.
fn secs(ms: i64) -> String {
    let ms = ms.max(0) as u64;
    crate::http::client::human(Duration::from_millis(if ms >= 10_000 { ms / 1000 * 1000 } else { ms }))
}
