//! The ADR's helpers for local runs: a cached session per gateway (`smokegate token`), one
//! authenticated request through the gateway (`smokegate call`), and deleting the cached user
//! (`smokegate logout`). The cache itself is `run::session`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as J;

use super::args::{CallArgs, GatewayArgs, TokenArgs};
use super::failure::Failure;
use super::settings::{build_ctx, gateway_setup};
use crate::exit::Exit;
use crate::http::client::{CrumbCtx, Outgoing};
use crate::load::config::TokenAt;
use crate::report::console::{Console, Verbosity};
use crate::report::event::{Event, EventSink, Phase};
use crate::run::auth::{Auth, AuthError, Identity};
use crate::run::ctx::{Cancel, RunCtx, RunOptions};
use crate::run::session::{Session, SessionStore};
use crate::run::{runner, signal};
use crate::secret::{MASK, Redactor, SECRET_HEADERS, Secret};

/// A run context for one-off commands: progress and warnings go to stderr, so stdout carries
/// only the command's own output (`token --raw` is piped into headers).
fn local_ctx(args: &GatewayArgs, verbosity: Verbosity, cancel: Cancel) -> Result<(Arc<RunCtx>, SessionStore), Failure> {
    let setup = gateway_setup(args, &[PathBuf::from("smoke-suites")])?;
    let store = SessionStore::new(&setup.state_dir);
    let redactor = Redactor::global();
    let console = Console::new(false, verbosity.min(Verbosity::Normal), redactor.clone(), true).all_to_stderr();
    let warnings = setup.warnings.clone();
    let opts = RunOptions { jobs: 1, ..RunOptions::default() };
    let ctx = build_ctx(setup, EventSink::new(vec![Box::new(console)]), redactor, opts, cancel)?;
    for w in warnings {
        ctx.out.sink.emit(Event::Warning(w));
    }
    // Ctrl-C while a user is being created still deletes it (as in `run`).
    signal::install(ctx.cancel.clone(), ctx.config.auth.cleanup_deadline, ctx.out.sink.clone());
    Ok((ctx, store))
}

fn auth_failure(e: AuthError) -> Failure {
    Failure::new(crate::run::verdict::auth_exit(&e), format!("auth bootstrap failed: {e}"))
}

fn session_of(ctx: &RunCtx, auth: &Auth, caps: serde_json::Map<String, J>, token: Option<Secret>) -> Session {
    Session {
        version: 1,
        gateway: ctx.net.http.gateway.origin(),
        email: auth.identity.name.clone(),
        password: auth.identity.password.expose().to_owned(),
        token: token.map(|t| t.expose().to_owned()),
        captures: caps,
        disposable: auth.is_disposable(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        config: Some(auth.saved_config()),
    }
}

/// A cached session's user, with the routes of the config it was created with — unless
/// `--config` names one on this command line, which then wins (a broken login route fixed).
fn cached_auth(ctx: &Arc<RunCtx>, s: &Session, config_given: bool) -> Result<Auth, Failure> {
    let identity = Identity { name: s.email.clone(), password: Secret::new(s.password.clone()) };
    let Some(saved) = s.config.as_ref().filter(|_| !config_given) else { return Ok(Auth::new(ctx.clone(), identity, None)) };
    let cfg = saved.auth().map_err(|e| Failure::new(Exit::Usage, format!("the cached session's config no longer parses: {e}")))?;
    Ok(Auth::with_config(ctx.clone(), cfg, saved.clone(), identity, None))
}

/// The cached session's user, logged in and fresh, or a newly minted one. Returns the user and
/// whether it was reused.
async fn obtain(ctx: &Arc<RunCtx>, store: &SessionStore, config_given: bool) -> Result<(Arc<Auth>, bool), Failure> {
    let origin = ctx.net.http.gateway.origin();
    let cancel = ctx.cancel.interrupt.clone();
    let _held = lock(store, &origin).await?;
    if let Some(s) = store.load(&origin).map_err(|e| Failure::new(Exit::Usage, e.to_string()))? {
        let auth = Arc::new(cached_auth(ctx, &s, config_given)?);
        auth.restore(s.captures.clone(), s.token.clone().map(Secret::new)).await;
        match auth.bearer(&cancel).await {
            Ok(_) => {
                save(ctx, store, &auth).await?;
                return Ok((auth, true));
            }
            Err(e) if e.login_refused() => {
                // The gateway no longer knows this user: forget it and mint a new one.
                ctx.out.sink.emit(Event::Info(format!("cached user {} was refused; creating a new one", s.email)));
                store.remove(&origin).map_err(|e| Failure::new(Exit::Usage, format!("cannot remove the session cache: {e}")))?;
            }
            Err(e) => return Err(auth_failure(e)),
        }
    }
    let auth = Arc::new(runner::make_auth(ctx, None).await.map_err(auth_failure)?);
    if let Err(e) = auth.bootstrap(&cancel).await {
        // A failed login after a create still deletes the user.
        if let Err(left) = auth.cleanup(&ctx.cancel.abort).await {
            ctx.out.sink.emit(Event::Warning(format!(
                "test user {} was left behind: {left} (kept in the journal; run `smokegate cleanup`)",
                auth.identity.name
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
        .map_err(|e| Failure::new(Exit::Usage, format!("cannot lock the session cache in {}: {e}", store.dir.display())))
}

async fn save(ctx: &RunCtx, store: &SessionStore, auth: &Auth) -> Result<PathBuf, Failure> {
    let (caps, token) = auth.session_parts().await;
    store
        .save(&session_of(ctx, auth, caps, token))
        .map_err(|e| Failure::new(Exit::Usage, format!("cannot write the session cache in {}: {e}", store.dir.display())))
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
pub async fn cmd_token(args: TokenArgs, verbosity: Verbosity, cancel: Cancel) -> Result<Exit, Failure> {
    let (ctx, store) = local_ctx(&args.gateway, if args.raw { Verbosity::Quiet } else { verbosity }, cancel)?;
    let (auth, reused) = obtain(&ctx, &store, args.gateway.config.is_some()).await?;
    let (_, token) = auth.session_parts().await;
    let token = token.ok_or_else(|| Failure::new(Exit::AuthBootstrap, "no token after login"))?;
    if args.raw {
        // The one place a token is printed, on request, for `curl -H "Authorization: Bearer $(…)"`
        // (or whichever `auth.header`/`auth.scheme` say: `token` without `--raw` prints how).
        crate::outln_unmasked!("{}", token.expose());
        return Ok(Exit::Ok);
    }
    if verbosity == Verbosity::Quiet {
        // `-q`: the session is there and fresh, the exit code says so; nothing to print.
        return Ok(Exit::Ok);
    }
    let Some((alg, left, lifetime, claims)) = auth.token_facts().await else {
        return Err(Failure::new(Exit::AuthBootstrap, "no token after login"));
    };
    crate::outln!("user      {}{}", auth.identity.name, if reused { " (cached session)" } else { " (new session)" });
    crate::outln!("gateway   {}", ctx.net.http.gateway.base_url());
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
    let claims = ctx.out.redactor.redact(&serde_json::to_string_pretty(&J::Object(claims)).unwrap_or_default());
    crate::outln!("claims    {}", claims.replace('\n', "\n          "));
    crate::outln!("cache     {}", store.path(&ctx.net.http.gateway.origin()).display());
    let a = &ctx.config.auth;
    let send_as = match a.sent_as() {
        Ok(TokenAt::Cookie(name)) => format!("Cookie: {name}=$(smokegate token --raw)"),
        Ok(TokenAt::Body { send, .. }) => {
            format!("{}: {}", send.header, crate::http::client::with_scheme(&send.scheme, "$(smokegate token --raw)"))
        }
        Err(key) => format!("{}: $(smokegate token --raw)", key.header),
    };
    crate::outln!("token     {MASK} (print it with `smokegate token --raw`)");
    crate::outln!("send as   {send_as}");
    Ok(Exit::Ok)
}

/// Parses `-H 'Name: value'`.
fn parse_header(h: &str) -> Result<(String, String), Failure> {
    let (k, v) = h.split_once(':').ok_or_else(|| Failure::new(Exit::Usage, format!("-H `{h}`: expected `Name: value`")))?;
    let k = k.trim();
    if k.is_empty() || reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
        return Err(Failure::new(Exit::Usage, format!("-H: `{k}` is not a valid header name")));
    }
    Ok((k.to_owned(), v.trim().to_owned()))
}

/// `smokegate call METHOD PATH`: exits 0 on a 2xx/3xx answer, 1 otherwise.
pub async fn cmd_call(args: CallArgs, verbosity: Verbosity, cancel: Cancel) -> Result<Exit, Failure> {
    let Ok(method) = reqwest::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes()) else {
        return Err(Failure::new(Exit::Usage, format!("`{}` is not an HTTP method", args.method)));
    };
    let headers = args.header.iter().map(|h| parse_header(h)).collect::<Result<Vec<_>, _>>()?;
    let body = match &args.json {
        Some(text) => {
            let v: J = serde_json::from_str(text).map_err(|e| Failure::new(Exit::Usage, format!("--json: not valid JSON: {e}")))?;
            Some((serde_json::to_vec(&v).unwrap_or_default(), "application/json"))
        }
        None => None,
    };
    let (ctx, store) = local_ctx(&args.gateway, verbosity, cancel)?;
    // The path is checked against the gateway before any login happens.
    ctx.net.http.gateway.resolve(&args.path).map_err(|e| Failure::new(Exit::Policy, format!("gateway-only policy: {e}")))?;
    let mut out = Outgoing::new(method.clone(), &args.path);
    for (k, v) in &headers {
        ctx.out.redactor.add_header(k, v);
    }
    out.headers = headers;
    out.body = body.map(|(b, ct)| (b.into(), ct));
    if !args.anon {
        let (auth, _) = obtain(&ctx, &store, args.gateway.config.is_some()).await?;
        out.credential = Some(auth.credential(&ctx.cancel.interrupt).await.map_err(auth_failure)?);
    }
    let cc = CrumbCtx { suite: None, step: Some("call".into()), phase: Phase::Call, attempt: 1 };
    let ex = ctx.net.http.send(&out, &cc, &ctx.cancel.interrupt).await;
    let crumb = ex.crumbs.last().cloned();
    let resp = match ex.result {
        Ok(r) => r,
        Err(e) => {
            let code = crate::run::verdict::request_exit(e.class());
            let rid = crumb.map(|c| c.request_id).unwrap_or_default();
            return Err(Failure::new(code, ctx.out.redactor.redact(&format!("{method} {}: {e} (reqId {rid})", args.path))));
        }
    };
    let r = &ctx.out.redactor;
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
    Ok(if resp.status < 400 { Exit::Ok } else { Exit::StepFailed })
}

/// `smokegate logout`: deletes the cached user and the cache; nothing cached is not an error.
pub async fn cmd_logout(args: GatewayArgs, verbosity: Verbosity, cancel: Cancel) -> Result<Exit, Failure> {
    let (ctx, store) = local_ctx(&args, verbosity, cancel)?;
    Ok(logout(&ctx, &store, true, args.config.is_some()).await?.0)
}

/// Shared by `logout` and `cleanup`: the exit code, and how many users it removed.
pub async fn logout(ctx: &Arc<RunCtx>, store: &SessionStore, say_if_none: bool, config_given: bool) -> Result<(Exit, usize), Failure> {
    let origin = ctx.net.http.gateway.origin();
    let _held = lock(store, &origin).await?;
    let Some(s) = store.load(&origin).map_err(|e| Failure::new(Exit::Usage, e.to_string()))? else {
        if say_if_none {
            crate::outln!("no cached session for {origin}");
        }
        return Ok((Exit::Ok, 0));
    };
    if !s.disposable {
        store.remove(&origin).map_err(|e| Failure::new(Exit::Usage, format!("cannot remove the session cache: {e}")))?;
        crate::outln!("forgot the cached service-account session for {origin} (service accounts are never deleted)");
        return Ok((Exit::Ok, 0));
    }
    let auth = cached_auth(ctx, &s, config_given)?;
    auth.restore(s.captures.clone(), s.token.clone().map(Secret::new)).await;
    match auth.cleanup(&ctx.cancel.abort).await {
        Ok(deleted) => {
            store.remove(&origin).map_err(|e| Failure::new(Exit::Usage, format!("cannot remove the session cache: {e}")))?;
            match deleted {
                Some(email) => crate::outln!("deleted test user {email}"),
                None => crate::outln!("dropped {}: login refused, so it is already gone", s.email),
            }
            Ok((Exit::Ok, 1))
        }
        Err(reason) => {
            crate::errln!("cleanup failed: test user {} was left behind: {reason} (the session cache is kept; try again)", s.email);
            Ok((Exit::CleanupFailed, 0))
        }
    }
}
