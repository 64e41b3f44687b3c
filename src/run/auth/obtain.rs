//! How the token is obtained and renewed: the login, a refresh token, client credentials, the
//! admin's login, and when each is due.

use super::*;
use crate::load::config::TokenType;

/// Where an OAuth2 token endpoint puts the token.
static ACCESS_TOKEN: std::sync::LazyLock<[(String, serde_json_path::JsonPath); 1]> =
    std::sync::LazyLock::new(|| [("$.access_token".to_owned(), serde_json_path::JsonPath::parse("$.access_token").expect("valid"))]);

impl Auth {
    pub(super) async fn login(&self, phase: Phase, cancel: &CancellationToken) -> Result<Token, AuthError> {
        if self.mode.from_identity_provider() {
            return self.client_token(phase, cancel).await;
        }
        let resp = self.call(&self.cfg.login, phase, 1, cancel).await?;
        let (mut t, body) = self.token_of(&self.cfg.login.name, &resp, &self.cfg.token_paths)?;
        if let Some(r) = &self.cfg.refresh {
            // The login's own capture `refresh_token` wins; else the usual places.
            let captured = self.state().captures.get("refresh_token").and_then(J::as_str).map(str::to_owned);
            let found = captured.or_else(|| token::select_str(body.as_ref()?, &r.from_login));
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

    /// The token an answer hands out (at `paths`, or the session cookie), masked from here on,
    /// and the answer as JSON (`None` for a cookie), parsed once for whatever else it holds.
    pub(super) fn token_of(
        &self,
        step: &str,
        resp: &Response,
        paths: &[(String, serde_json_path::JsonPath)],
    ) -> Result<(Token, Option<J>), AuthError> {
        if let Some(name) = &self.cfg.token_cookie {
            let t = token::from_cookie(name, resp).ok_or_else(|| AuthError::TokenMissing(format!("a `{name}` cookie in Set-Cookie")))?;
            self.ctx.redactor.add(&t.secret);
            return Ok((t, None));
        }
        let body = step::parse_json(&resp.body).map_err(|why| AuthError::Step {
            step: step.to_owned(),
            class: FailureClass::InvalidResponse,
            detail: format!("the answer is {why}"),
            status: Some(resp.status),
            sent: true,
            token: false,
        })?;
        let t = token::from_answer(&body, paths, self.cfg.token_type, self.cfg.token_ttl)?;
        self.ctx.redactor.add(&t.secret);
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
    pub(super) async fn refreshed(&self, refresh: &Secret, cancel: &CancellationToken) -> Result<Token, AuthError> {
        let r = self.cfg.refresh.as_ref().ok_or_else(|| AuthError::Credentials("no `login.refresh`".into()))?;
        let mut scope = self.scope();
        scope.set_json("refresh_token", &J::String(refresh.expose().to_owned()));
        let resp = self.call_in(&r.step, scope, Phase::Refresh, 1, cancel).await?;
        let (mut t, body) = self.token_of(&r.step.name, &resp, &r.token_paths)?;
        let next = body.and_then(|b| token::select_str(&b, &r.refresh_paths)).map(Secret::new);
        if let Some(n) = &next {
            self.ctx.redactor.add(n);
        }
        t.refresh = next.or_else(|| Some(refresh.clone()));
        self.note_skew(&resp);
        Ok(t)
    }

    pub(super) fn warn_about(&self, info: &JwtInfo) {
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

    pub(super) fn skew(&self) -> i64 {
        self.state().skew_secs
    }

    /// The token for the next request, logging in again first (once, whoever asks) when it
    /// expires within the refresh margin.
    pub async fn bearer(&self, cancel: &CancellationToken) -> Result<Secret, AuthError> {
        if self.mode.sends_a_key() {
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
        // Credentials that could not be read fail here, when the admin is first needed.
        session.identity()?;
        // Its own login step, or the user's with the admin's credentials as `user.*`.
        let step = admin.login.as_ref().unwrap_or(&self.cfg.login);
        let mut scope = self.ctx.base_scope.clone();
        if let Some(who) = session.value() {
            scope.set_json("user", &who);
            scope.set_json("admin", &who);
        }
        let resp = self.call_in(step, scope, Phase::AdminLogin, 1, cancel).await?;
        let (t, _) = self.token_of(&step.name, &resp, admin.token_paths.as_deref().unwrap_or(&self.cfg.token_paths))?;
        let s = t.secret.clone();
        *guard = Some(t);
        Ok(self.wrap(s))
    }

    /// What an `auth: user` request carries: the bearer token (refreshed when due), the session
    /// cookie, or the API key.
    pub async fn credential(&self, cancel: &CancellationToken) -> Result<Credential, AuthError> {
        if let (true, Some((header, _))) = (self.mode.sends_a_key(), &self.cfg.api_key) {
            return Ok(Credential::Header(header.clone(), self.identity.password.clone()));
        }
        Ok(self.wrap(self.bearer(cancel).await?))
    }

    /// How this run's token travels: a session cookie, or `auth.header` with `auth.scheme`.
    pub(super) fn wrap(&self, token: Secret) -> Credential {
        match &self.cfg.token_cookie {
            Some(name) => Credential::Cookie(name.clone(), token),
            None => Credential::Token { header: self.cfg.token_header.clone(), scheme: self.cfg.scheme.clone(), secret: token },
        }
    }

    /// OAuth2 client credentials (RFC 6749 §4.4) from the identity provider: the one origin
    /// besides the gateway that smokegate contacts, and only for this request.
    pub(super) async fn client_token(&self, phase: Phase, cancel: &CancellationToken) -> Result<Token, AuthError> {
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
        // RFC 6749 §5.1: `access_token`, and its lifetime in `expires_in` (a JWT's `exp` too).
        let t = token::from_answer(&body, &ACCESS_TOKEN[..], TokenType::Detect, self.cfg.token_ttl)?;
        self.ctx.redactor.add(&t.secret);
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
