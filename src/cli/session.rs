//! The ADR's helpers for local runs: a cached session per gateway (`smokegate token`), one
//! authenticated request through the gateway (`smokegate call`), and deleting the cached user
//! (`smokegate logout`). The cache is one 0600 file per gateway origin under the state dir; it
//! holds what a later `logout` or `cleanup` needs, so a cached user is never lost.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value as J;
use sha2::{Digest, Sha256};

use crate::cli::app::{self, Failure};
use crate::cli::args::{CallArgs, GatewayArgs, TokenArgs};
use crate::exit;
use crate::http::client::{CrumbCtx, Outgoing};
use crate::report::console::{Console, Verbosity};
use crate::report::event::{EventSink, Phase};
use crate::run::auth::{Auth, AuthError, Identity};
use crate::run::journal;
use crate::run::runner::{RunCtx, RunOptions};
use crate::secret::{MASK, Redactor, SECRET_HEADERS, Secret};

/// One cached session. Holds a password and a token: never derive `Debug`.
#[derive(Serialize, Deserialize)]
pub struct Session {
    pub version: u32,
    /// The gateway origin this session belongs to.
    pub gateway: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub captures: serde_json::Map<String, J>,
    /// False for service accounts: `logout` then only forgets the token.
    pub disposable: bool,
    pub created_at: String,
}

/// Where sessions live: `<state dir>/sessions/<sha256(origin)[..16]>.json`.
pub struct SessionStore {
    dir: PathBuf,
}

impl SessionStore {
    pub fn new(state_dir: &Path) -> Self {
        SessionStore { dir: state_dir.join("sessions") }
    }

    pub fn path(&self, origin: &str) -> PathBuf {
        let hash = Sha256::digest(origin.as_bytes());
        let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.json"))
    }

    /// The session for this origin; a file that cannot be read is an error naming it (never its contents).
    pub fn load(&self, origin: &str) -> Result<Option<Session>, String> {
        let path = self.path(origin);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read the session cache {}: {e}", path.display())),
        };
        let s: Session = serde_json::from_str(&text).map_err(|e| {
            format!("the session cache {} is damaged (line {}, column {}); delete it", path.display(), e.line(), e.column())
        })?;
        Ok((s.gateway == origin).then_some(s))
    }

    pub fn save(&self, s: &Session) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        journal::restrict_dir(&self.dir);
        let path = self.path(&s.gateway);
        journal::write_atomic(&path, &serde_json::to_vec_pretty(s).map_err(std::io::Error::other)?)?;
        Ok(path)
    }

    /// Holds this origin's session for one command: `token`, `call` and `logout` running at
    /// once take turns, so exactly one of them creates the user and the others reuse it.
    pub async fn lock(&self, origin: &str) -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(&self.dir)?;
        journal::restrict_dir(&self.dir);
        let path = self.path(origin).with_extension("lock");
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        // Waiting for another process blocks a thread: not the runtime's (signals still land).
        tokio::task::spawn_blocking(move || file.lock().map(|()| file)).await.map_err(std::io::Error::other)?
    }

    pub fn remove(&self, origin: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(origin)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A run context for one-off commands: progress and warnings go to stderr, so stdout carries
/// only the command's own output (`token --raw` is piped into headers).
fn local_ctx(args: &GatewayArgs, verbosity: Verbosity) -> Result<(Arc<RunCtx>, SessionStore), Failure> {
    let setup = app::gateway_setup(args, &[PathBuf::from("smoke-suites")])?;
    let store = SessionStore::new(&setup.state_dir);
    let redactor = Redactor::global();
    let console = Console::new(false, verbosity.min(Verbosity::Normal), redactor.clone(), true).all_to_stderr();
    let warnings = setup.warnings.clone();
    let ctx = app::build_ctx(setup, EventSink::new(vec![Box::new(console)]), redactor, RunOptions { jobs: 1, ..RunOptions::default() })?;
    for w in warnings {
        ctx.sink.emit(crate::report::event::Event::Warning(w));
    }
    // Ctrl-C while a user is being created still deletes it (as in `run`).
    crate::run::signal::install(ctx.cancel.clone(), ctx.config.auth.cleanup_deadline);
    Ok((ctx, store))
}

fn auth_failure(e: AuthError) -> Failure {
    let code = match &e {
        AuthError::Cancelled => exit::INTERRUPTED,
        e if e.unreachable() => exit::GATEWAY_UNREACHABLE,
        _ => exit::AUTH_BOOTSTRAP,
    };
    Failure::new(code, format!("auth bootstrap failed: {e}"))
}

fn session_of(ctx: &RunCtx, auth: &Auth, caps: serde_json::Map<String, J>, token: Option<Secret>) -> Session {
    Session {
        version: 1,
        gateway: ctx.http.gateway.origin(),
        email: auth.identity.email.clone(),
        password: auth.identity.password.expose().to_owned(),
        token: token.map(|t| t.expose().to_owned()),
        captures: caps,
        disposable: auth.is_disposable(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// The cached session's user, logged in and fresh, or a newly minted one. Returns the user and
/// whether it was reused.
async fn obtain(ctx: &Arc<RunCtx>, store: &SessionStore) -> Result<(Arc<Auth>, bool), Failure> {
    let origin = ctx.http.gateway.origin();
    let cancel = ctx.cancel.interrupt.clone();
    let _held = lock(store, &origin).await?;
    if let Some(s) = store.load(&origin).map_err(|m| Failure::new(exit::USAGE, m))? {
        let auth = Arc::new(Auth::new(ctx.clone(), Identity { email: s.email.clone(), password: Secret::new(s.password.clone()) }, None));
        auth.restore(s.captures.clone(), s.token.clone().map(Secret::new)).await;
        match auth.bearer(&cancel).await {
            Ok(_) => {
                save(ctx, store, &auth).await?;
                return Ok((auth, true));
            }
            Err(e) if e.login_refused() => {
                // The gateway no longer knows this user: forget it and mint a new one.
                ctx.sink.emit(crate::report::event::Event::Info(format!("cached user {} was refused; creating a new one", s.email)));
                store.remove(&origin).map_err(|e| Failure::new(exit::USAGE, format!("cannot remove the session cache: {e}")))?;
            }
            Err(e) => return Err(auth_failure(e)),
        }
    }
    let auth = Arc::new(crate::run::runner::make_auth(ctx, None).map_err(auth_failure)?);
    if let Err(e) = auth.bootstrap(&cancel).await {
        // A failed login after a create still deletes the user.
        if let Err(left) = auth.cleanup(&ctx.cancel.abort).await {
            ctx.sink.emit(crate::report::event::Event::Warning(format!(
                "test user {} was left behind: {left} (kept in the journal; run `smokegate cleanup`)",
                auth.identity.email
            )));
        }
        return Err(auth_failure(e));
    }
    save(ctx, store, &auth).await?;
    // The session file now records the user; the journal entry would make `cleanup` delete it.
    auth.release_from_journal();
    Ok((auth, false))
}

async fn lock(store: &SessionStore, origin: &str) -> Result<std::fs::File, Failure> {
    store
        .lock(origin)
        .await
        .map_err(|e| Failure::new(exit::USAGE, format!("cannot lock the session cache in {}: {e}", store.dir.display())))
}

async fn save(ctx: &RunCtx, store: &SessionStore, auth: &Auth) -> Result<PathBuf, Failure> {
    let (caps, token) = auth.session_parts().await;
    store
        .save(&session_of(ctx, auth, caps, token))
        .map_err(|e| Failure::new(exit::USAGE, format!("cannot write the session cache in {}: {e}", store.dir.display())))
}

fn fmt_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(|| secs.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn fmt_secs(secs: i64) -> String {
    if secs < 0 {
        return format!("expired {} ago", humantime::format_duration(Duration::from_secs(secs.unsigned_abs())));
    }
    humantime::format_duration(Duration::from_secs(secs as u64)).to_string()
}

/// `smokegate token`.
pub async fn cmd_token(args: TokenArgs, verbosity: Verbosity) -> Result<i32, Failure> {
    let (ctx, store) = local_ctx(&args.gateway, if args.raw { Verbosity::Quiet } else { verbosity })?;
    let (auth, reused) = obtain(&ctx, &store).await?;
    let (_, token) = auth.session_parts().await;
    let token = token.ok_or_else(|| Failure::new(exit::AUTH_BOOTSTRAP, "no token after login"))?;
    if args.raw {
        // The one place a token is printed, on request, for `curl -H "Authorization: Bearer $(…)"`.
        crate::outln_unmasked!("{}", token.expose());
        return Ok(exit::OK);
    }
    if verbosity == Verbosity::Quiet {
        // `-q`: the session is there and fresh, the exit code says so; nothing to print.
        return Ok(exit::OK);
    }
    let Some((alg, left, lifetime, claims)) = auth.token_facts().await else {
        return Err(Failure::new(exit::AUTH_BOOTSTRAP, "no token after login"));
    };
    crate::outln!("user      {}{}", auth.identity.email, if reused { " (cached session)" } else { " (new session)" });
    crate::outln!("gateway   {}", ctx.http.gateway.base_url());
    crate::outln!("alg       {alg}");
    match (claims.get("exp").and_then(J::as_i64), left) {
        (Some(exp), Some(left)) => {
            crate::outln!("expires   {} ({})", fmt_time(exp), if left >= 0 { format!("in {}", fmt_secs(left)) } else { fmt_secs(left) })
        }
        _ => crate::outln!("expires   never (no `exp` claim)"),
    }
    if let Some(l) = lifetime {
        crate::outln!("ttl       {}", fmt_secs(l));
    }
    let claims = ctx.redactor.redact(&serde_json::to_string_pretty(&J::Object(claims)).unwrap_or_default());
    crate::outln!("claims    {}", claims.replace('\n', "\n          "));
    crate::outln!("cache     {}", store.path(&ctx.http.gateway.origin()).display());
    crate::outln!("token     {MASK} (print it with `smokegate token --raw`)");
    Ok(exit::OK)
}

/// Parses `-H 'Name: value'`.
fn parse_header(h: &str) -> Result<(String, String), Failure> {
    let (k, v) = h.split_once(':').ok_or_else(|| Failure::new(exit::USAGE, format!("-H `{h}`: expected `Name: value`")))?;
    let k = k.trim();
    if k.is_empty() || reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
        return Err(Failure::new(exit::USAGE, format!("-H: `{k}` is not a valid header name")));
    }
    Ok((k.to_owned(), v.trim().to_owned()))
}

/// `smokegate call METHOD PATH`: exits 0 on a 2xx/3xx answer, 1 otherwise.
pub async fn cmd_call(args: CallArgs, verbosity: Verbosity) -> Result<i32, Failure> {
    let method = args.method.to_ascii_uppercase();
    if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
        return Err(Failure::new(exit::USAGE, format!("`{}` is not an HTTP method", args.method)));
    }
    let headers = args.header.iter().map(|h| parse_header(h)).collect::<Result<Vec<_>, _>>()?;
    let body = match &args.json {
        Some(text) => {
            let v: J = serde_json::from_str(text).map_err(|e| Failure::new(exit::USAGE, format!("--json: not valid JSON: {e}")))?;
            Some((serde_json::to_vec(&v).unwrap_or_default(), "application/json"))
        }
        None => None,
    };
    let (ctx, store) = local_ctx(&args.gateway, verbosity)?;
    // The path is checked against the gateway before any login happens.
    ctx.http.gateway.resolve(&args.path).map_err(|e| Failure::new(exit::POLICY, format!("gateway-only policy: {e}")))?;
    let mut out = Outgoing::new(&method, &args.path);
    for (k, v) in &headers {
        ctx.redactor.add_header(k, v);
    }
    out.headers = headers;
    out.body = body;
    if !args.anon {
        let (auth, _) = obtain(&ctx, &store).await?;
        out.bearer = Some(auth.bearer(&ctx.cancel.interrupt).await.map_err(auth_failure)?);
    }
    let cc = CrumbCtx { suite: None, step: Some("call".into()), phase: Phase::Call, attempt: 1 };
    let ex = ctx.http.send(&out, &cc, &ctx.cancel.interrupt).await;
    let crumb = ex.crumbs.last().cloned();
    let resp = match ex.result {
        Ok(r) => r,
        Err(e) => {
            let code = match e.class() {
                crate::report::event::FailureClass::Connect => exit::GATEWAY_UNREACHABLE,
                crate::report::event::FailureClass::Cancelled => exit::INTERRUPTED,
                _ => exit::STEP_FAILED,
            };
            let rid = crumb.map(|c| c.request_id).unwrap_or_default();
            return Err(Failure::new(code, ctx.redactor.redact(&format!("{method} {}: {e} (reqId {rid})", args.path))));
        }
    };
    let r = &ctx.redactor;
    crate::outln!("{} {}", resp.status, reqwest::StatusCode::from_u16(resp.status).ok().and_then(|s| s.canonical_reason()).unwrap_or(""));
    if let Some(c) = &crumb {
        // The upstream header is the server's word: it may echo a credential.
        crate::errln!(
            "reqId {} · {:.1} ms · upstream {}",
            c.request_id,
            c.total_ms,
            r.redact(c.upstream.as_deref().unwrap_or("none reported"))
        );
    }
    for (name, value) in &resp.headers {
        let v =
            if SECRET_HEADERS.contains(&name.as_str()) { MASK.to_owned() } else { String::from_utf8_lossy(value.as_bytes()).into_owned() };
        crate::outln!("{}", r.redact(&format!("{name}: {v}")));
    }
    crate::outln!();
    let text = match crate::eval::step::parse_json(&resp.body) {
        Ok(v) if !resp.body.is_empty() => serde_json::to_string_pretty(&v).unwrap_or_default(),
        _ => String::from_utf8_lossy(&resp.body).into_owned(),
    };
    if !text.is_empty() {
        crate::outln!("{}", r.redact(&text));
    }
    Ok(if resp.status < 400 { exit::OK } else { exit::STEP_FAILED })
}

/// `smokegate logout`: deletes the cached user and the cache; nothing cached is not an error.
pub async fn cmd_logout(args: GatewayArgs, verbosity: Verbosity) -> Result<i32, Failure> {
    let (ctx, store) = local_ctx(&args, verbosity)?;
    Ok(logout(&ctx, &store, true).await?.0)
}

/// Shared by `logout` and `cleanup`: the exit code, and how many users it removed.
pub async fn logout(ctx: &Arc<RunCtx>, store: &SessionStore, say_if_none: bool) -> Result<(i32, usize), Failure> {
    let origin = ctx.http.gateway.origin();
    let _held = lock(store, &origin).await?;
    let Some(s) = store.load(&origin).map_err(|m| Failure::new(exit::USAGE, m))? else {
        if say_if_none {
            crate::outln!("no cached session for {origin}");
        }
        return Ok((exit::OK, 0));
    };
    if !s.disposable {
        store.remove(&origin).map_err(|e| Failure::new(exit::USAGE, format!("cannot remove the session cache: {e}")))?;
        crate::outln!("forgot the cached service-account session for {origin} (service accounts are never deleted)");
        return Ok((exit::OK, 0));
    }
    let auth = Auth::new(ctx.clone(), Identity { email: s.email.clone(), password: Secret::new(s.password.clone()) }, None);
    auth.restore(s.captures.clone(), s.token.clone().map(Secret::new)).await;
    match auth.cleanup(&ctx.cancel.abort).await {
        Ok(deleted) => {
            store.remove(&origin).map_err(|e| Failure::new(exit::USAGE, format!("cannot remove the session cache: {e}")))?;
            match deleted {
                Some(email) => crate::outln!("deleted test user {email}"),
                None => crate::outln!("dropped {}: login refused, so it is already gone", s.email),
            }
            Ok((exit::OK, 1))
        }
        Err(reason) => {
            crate::errln!("cleanup failed: test user {} was left behind: {reason} (the session cache is kept; try again)", s.email);
            Ok((exit::CLEANUP_FAILED, 0))
        }
    }
}
