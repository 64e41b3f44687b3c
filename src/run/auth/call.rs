//! The one request path of the lifecycle's steps: rendered in the identity's scope, signed
//! when `auth: aws`, sent to the gateway or the declared identity provider, rate limits waited
//! out, judged like a suite step, and captured for the user (or the admin).

use super::*;

impl Auth {
    /// Sends one auth step through the run's one request path and judges it like a suite step.
    pub(super) async fn call(&self, step: &Step, phase: Phase, attempt: u32, cancel: &CancellationToken) -> Result<Response, AuthError> {
        self.call_in(step, self.scope(), phase, attempt, cancel).await
    }

    /// [`Auth::call`] in a given scope (the admin's steps see the admin as `user`). A 429, or a
    /// 503 with `Retry-After`, is waited out and the step sent again while the waits fit
    /// `auth.rate_limit_wait`.
    pub(super) async fn call_in(
        &self,
        step: &Step,
        scope: Scope,
        phase: Phase,
        attempt: u32,
        cancel: &CancellationToken,
    ) -> Result<Response, AuthError> {
        let mut waited = Duration::ZERO;
        loop {
            let (out, judged) = self.send_once(step, &scope, phase, attempt, cancel).await?;
            let Some(asked) = rate_limited(&judged, self.cfg.rate_limit_wait.saturating_sub(waited)) else {
                return self.settle(step, phase, &out, judged);
            };
            let human = crate::http::client::human;
            let Ok(wait) = asked else {
                let status = judged.status;
                return Err(AuthError::Step {
                    step: step.name.clone(),
                    class: judged.class().unwrap_or(FailureClass::Assertion),
                    detail: format!(
                        "{} {} was rate-limited ({}): the server asked to wait {}, longer than `auth.rate_limit_wait` ({}) allows{}",
                        out.method,
                        out.path,
                        status.unwrap_or_default(),
                        asked.err().map_or_else(String::new, human),
                        human(self.cfg.rate_limit_wait),
                        if waited.is_zero() { String::new() } else { format!(" after waiting {}", human(waited)) }
                    ),
                    status,
                    sent: true,
                    token: false,
                });
            };
            self.ctx.out.sink.emit(Event::Info(format!(
                "{}: rate-limited ({}); waiting {} as the server asked, then sending it again",
                step.name,
                judged.status.unwrap_or_default(),
                human(wait)
            )));
            // A create sent again may complete that much later: its settle deadline moves with it.
            if phase == Phase::BootstrapCreate
                && let Some(at) = self.state().settle_by.as_mut()
            {
                *at += wait;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => return Err(AuthError::Cancelled),
            }
            waited += wait;
        }
    }

    /// Renders, credentials, signs and sends a lifecycle step once. A `url:` on the declared
    /// identity provider goes through its client; anything else through the gateway's, whose
    /// policy refuses other origins.
    async fn send_once(
        &self,
        step: &Step,
        scope: &Scope,
        phase: Phase,
        attempt: u32,
        cancel: &CancellationToken,
    ) -> Result<(Outgoing, exchange::Judged), AuthError> {
        let fail = |class: FailureClass, detail: String| AuthError::Step {
            step: step.name.clone(),
            class,
            detail,
            status: None,
            sent: false,
            token: false,
        };
        let mut scope = scope.clone();
        // An admin whose credentials are in a secrets manager is read before its step renders
        // (`{{ admin.password }}`): its values join the scope.
        if step.auth == Some(AuthMode::Admin)
            && let Some(session) = &self.admin
            && session.value().is_none()
            && session.identity_now(&self.ctx, cancel).await.is_ok()
            && let Some(v) = session.value()
        {
            scope.set_json("admin", &v);
        }
        let mut out = exchange::render(&self.ctx, step, &mut scope).map_err(|e| fail(FailureClass::Template, e.message))?;
        match step.auth {
            Some(AuthMode::User) => {
                let token = self.current_token().await.ok_or_else(|| fail(FailureClass::Auth, "no token to authenticate with".into()))?;
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
        Ok((out, judged))
    }

    /// What a judged lifecycle answer comes to: its captures masked and kept (the user's, or the
    /// admin's for its own steps), a broken contract noted, anything else failed an error.
    fn settle(&self, step: &Step, phase: Phase, out: &Outgoing, judged: exchange::Judged) -> Result<Response, AuthError> {
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
            Some(class) => return Err(self.refused(step, out, &resp, class, judged.verdict.message)),
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
    pub(super) fn sign(&self, client: &crate::http::client::HttpClient, out: &mut Outgoing, scope: &Scope) -> Result<(), String> {
        let Some(aws) = &self.cfg.aws else { return Err("the step is signed (`auth: aws`), but `auth.aws` is not configured".into()) };
        let keys = self.aws_keys.get_or_init(|| secret_store::aws_keys(&self.ctx)).as_ref().map_err(Clone::clone)?;
        let render = |t: &str| self.ctx.vars.templates.render_str(t, scope).map_err(|e| format!("auth.aws: {}", e.message));
        let signing = SigningScope { region: render(&aws.region)?, service: render(&aws.service)? };
        secret_store::sign(&self.ctx, client, out, keys, signing)
    }

    /// The client a lifecycle request goes through: the declared identity provider's for a URL
    /// on its origin, else the gateway's (whose policy refuses any other origin).
    pub(super) fn client_for(&self, path: &str) -> Result<&crate::http::client::HttpClient, String> {
        // Made when first needed, in the identity's scope (a journaled entry's environment).
        let provider = self.provider.get_or_init(|| {
            let (raw, _) = self.cfg.identity_provider.as_ref()?;
            let url = self.ctx.vars.templates.render_str(raw, &self.scope()).map_err(|e| format!("auth.identity_provider: {}", e.message));
            Some(url.and_then(|u| provider_client(&self.ctx, &u)))
        });
        if !path.starts_with('/')
            && let Some(provider) = provider
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
    pub(super) fn refused(&self, step: &Step, out: &Outgoing, resp: &Response, class: FailureClass, message: Option<String>) -> AuthError {
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
    pub(super) fn token_in(&self, resp: &Response) -> bool {
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

    pub(super) async fn current_token(&self) -> Option<Secret> {
        self.token.lock().await.as_ref().map(|t| t.secret.clone())
    }
}

/// A failed lifecycle answer that asks to be sent again later: a 429, or a 503 with
/// `Retry-After`. `Ok(wait)` when the wait fits `budget` (what is left of
/// `auth.rate_limit_wait`), `Err(wait)` when it does not.
fn rate_limited(judged: &exchange::Judged, budget: Duration) -> Option<Result<Duration, Duration>> {
    let resp = judged.response.as_ref().filter(|_| judged.class().is_some())?;
    let after = resp.headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
    let wait = wait_for(resp.status, after)?;
    Some(if wait <= budget { Ok(wait) } else { Err(wait) })
}

/// How long a `status` with this `Retry-After` asks to wait: a 429 without one (or with one
/// that does not parse) a second; a 503 only with one. Never under a second: `Retry-After: 0`
/// or a date gone by would otherwise resend at once, and the waits would never add up to the
/// budget that ends them.
fn wait_for(status: u16, retry: Option<&str>) -> Option<Duration> {
    let asked = retry.and_then(retry_after);
    let wait = match (status, asked) {
        (429, None) => Duration::from_secs(1),
        (429 | 503, Some(d)) => d,
        _ => return None,
    };
    Some(wait.max(Duration::from_secs(1)))
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

/// The client for `auth.identity_provider` (`url`, rendered): the run's own when it names the same
/// origin, else one made for it (an entry's config in `cleanup` may name another); plain http
/// off loopback and the gateway's own origin are refused as for a token URL.
fn provider_client(ctx: &RunCtx, url: &str) -> Result<crate::http::client::HttpClient, String> {
    let key = "auth.identity_provider";
    let (gw, _) = crate::run::ctx::IdentityProvider::check(url, ctx.config.gateway.allow_http, &ctx.net.http.gateway)
        .map_err(|e| format!("{key}: {e}"))?;
    if let Some(own) = ctx.net.provider.as_ref().filter(|c| c.gateway.origin() == gw.origin()) {
        return Ok(own.clone());
    }
    // An AWS endpoint (a signed lifecycle) trusts `AWS_CA_BUNDLE` as the AWS CLI does.
    let settings =
        if ctx.config.auth.aws.is_some() { secret_store::aws_settings(&ctx.net.http.settings) } else { ctx.net.http.settings.clone() };
    crate::http::client::HttpClient::new(gw, settings, &ctx.run_id).map_err(|e| format!("{key}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every wait is at least a second (so the budget ends the resends), a 503 waits only when
    /// asked to, other statuses never.
    #[test]
    fn rate_limit_waits_are_never_zero_and_only_for_429_and_503() {
        let s = Duration::from_secs;
        assert_eq!(wait_for(429, None), Some(s(1)));
        assert_eq!(wait_for(429, Some("0")), Some(s(1)));
        assert_eq!(wait_for(429, Some("Wed, 21 Oct 2015 07:28:00 GMT")), Some(s(1)), "a date gone by");
        assert_eq!(wait_for(429, Some("soon")), Some(s(1)));
        assert_eq!(wait_for(429, Some("7")), Some(s(7)));
        assert_eq!(wait_for(503, Some("3")), Some(s(3)));
        assert_eq!(wait_for(503, None), None);
        assert_eq!(wait_for(500, Some("3")), None);
        let later = httpdate::fmt_http_date(SystemTime::now() + s(120));
        assert!(wait_for(503, Some(&later)).is_some_and(|d| d > s(110) && d <= s(120)));
    }
}
