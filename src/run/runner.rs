//! The runner: readiness, the auth lifecycle around the suites (one user per run or per suite),
//! the suites themselves (`--jobs` at a time), and the users' cleanup, which always runs. It
//! never prints: it emits events, and reporters render them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::eval::step;
use crate::exit::Exit;
use crate::http::client::{CrumbCtx, Outgoing, ms};
use crate::load::config::{AuthScope, Mode, ServiceCredentials};
use crate::load::suite::Suite;
use crate::report::event::{Event, FailureClass, LeftBehind, Phase, RunSummary, StepKind, SuiteEnd};
use crate::run::auth::{Auth, AuthError, Identity, render_setting, service_credentials};
use crate::run::ctx::{Output, RunCtx};
use crate::run::exchange::{self, Judge};
use crate::run::suite::run_suite;
use crate::run::verdict::{RunOutcome, Stopped, not_run};
use crate::secret::Secret;

/// The gateway did not become ready in time.
#[derive(Debug, thiserror::Error)]
#[error("not ready after {attempts} attempts in {secs:.1} s; last: {last}")]
pub struct NotReady {
    pub attempts: u32,
    pub secs: f64,
    pub last: String,
    /// The last answer lacked the gateway's fingerprint: a service, not the gateway (exit 6).
    pub unmarked: bool,
}

/// Polls the readiness route until it answers 2xx, with backoff (100 ms doubling to 2 s), for at
/// most `timeout`. Returns how long it took, or the last thing that went wrong.
pub async fn wait_ready(ctx: &RunCtx, timeout: Duration) -> Result<Duration, NotReady> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    let path = &ctx.config.gateway.ready_path;
    let accept = |s: u16| (200..300).contains(&s);
    loop {
        attempt += 1;
        let mut req = Outgoing::new(reqwest::Method::GET, path);
        // One probe may not outlive the whole wait.
        req.timeout = Some(ctx.net.http.settings.timeout.min(timeout.saturating_sub(start.elapsed()).max(Duration::from_millis(50))));
        let cc = CrumbCtx { suite: None, step: Some("ready".into()), phase: Phase::Ready, attempt };
        let judged = exchange::send(ctx, &req, &cc, Judge::Status { accept: &accept, expected: "2xx" }, &ctx.cancel.interrupt).await;
        let unmarked =
            judged.response.as_ref().and_then(|r| ctx.config.gateway.fingerprint.as_ref().and_then(|fp| step::lacks_fingerprint(fp, r)));
        let last = match (&judged.error, judged.status) {
            // A service answering 200 in the gateway's place is not a ready gateway.
            (None, Some(s)) if unmarked.is_some() => format!("GET {path} answered {s}, but {}", unmarked.as_deref().unwrap_or_default()),
            (None, Some(s)) if accept(s) => return Ok(start.elapsed()),
            (None, Some(s)) => format!("GET {path} answered {s}"),
            (Some(e), _) => format!("GET {path}: {e}"),
            (None, None) => format!("GET {path}: no answer"),
        };
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() || ctx.cancel.interrupt.is_cancelled() {
            return Err(NotReady { attempts: attempt, secs: start.elapsed().as_secs_f64(), last, unmarked: unmarked.is_some() });
        }
        tokio::select! {
            _ = tokio::time::sleep(delay.min(left)) => {}
            _ = ctx.cancel.interrupt.cancelled() => {}
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// A whole run on a built context: announces it, waits for readiness when asked, runs the
/// suites, and emits the summary with the run's exit code. Reports are finished by the caller.
pub async fn execute(ctx: Arc<RunCtx>, suites: Vec<Suite>, warnings: Vec<String>) -> Exit {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let sink = ctx.out.sink.clone();
    sink.emit(Event::RunStarted {
        run_id: ctx.run_id.clone(),
        gateway: ctx.net.http.gateway.base_url(),
        suites: suites.len(),
        version: env!("CARGO_PKG_VERSION"),
        config: ctx.config.source(),
        identity_provider: ctx.net.provider_origin(),
    });
    sink.emit(Event::SuitesPlanned(suites.iter().map(|s| s.file.display().to_string()).collect()));
    for w in warnings {
        sink.emit(Event::Warning(w));
    }
    let n_suites = suites.len();
    let no_steps = suites.iter().map(|s| s.steps.len()).sum::<usize>() == 0;
    let mut not_ready = None;
    if let (Some(timeout), false) = (ctx.opts.wait_ready, no_steps) {
        match wait_ready(&ctx, timeout).await {
            Ok(took) => sink.emit(Event::Info(format!("gateway ready after {:.1} s", took.as_secs_f64()))),
            Err(e) => not_ready = Some(e),
        }
    }
    // With a fingerprint, nothing is written until an answer has shown it (`--wait-ready` did).
    let unproven = match (&not_ready, ctx.opts.wait_ready, no_steps) {
        (None, None, false) => prove_gateway(&ctx).await.err(),
        _ => None,
    };
    let mut outcome =
        if no_steps || not_ready.is_some() || unproven.is_some() { RunOutcome::default() } else { run(ctx.clone(), suites).await };
    outcome.stopped = match (&unproven, &not_ready) {
        (Some(e), _) => Some(e.stopped()),
        (None, Some(e)) => Some(Stopped::NotReady { interrupted: ctx.cancel.interrupt.is_cancelled(), unmarked: e.unmarked }),
        // A shard can legitimately be empty when there are fewer suites than runners.
        (None, None) if n_suites == 0 && ctx.opts.shard.is_some() && ctx.opts.selected_steps > 0 => Some(Stopped::EmptyShard),
        (None, None) => None,
    };
    let exit = outcome.exit();
    let error = error_of(&outcome, not_ready.as_ref(), unproven.as_ref());
    sink.emit(Event::RunFinished(RunSummary {
        run_id: ctx.run_id.clone(),
        gateway: ctx.net.http.gateway.base_url(),
        started_at,
        duration_ms: ms(started.elapsed()),
        passed: outcome.passed,
        failed: outcome.failed,
        skipped: outcome.skipped,
        suites: n_suites,
        interrupted: outcome.interrupted,
        exit_code: exit.code(),
        error,
        identity_provider: ctx.net.provider_origin(),
        openapi: ctx.config.openapi.as_ref().map(|(file, api)| api.coverage(file.clone())),
    }));
    exit
}

/// Why the run could not show that `GATEWAY_BASE_URL` is the gateway.
#[derive(Debug, thiserror::Error)]
enum Unproven {
    #[error(
        "GET {path} answered {status} without the gateway's fingerprint: {why}. GATEWAY_BASE_URL may point at a service behind the gateway; nothing was created"
    )]
    Unmarked { path: String, status: u16, why: String },
    #[error("GET {path} (the gateway fingerprint check before anything is created): {why}")]
    NoAnswer { path: String, why: String, unreachable: bool },
}

impl Unproven {
    fn stopped(&self) -> Stopped {
        match self {
            Unproven::Unmarked { .. } => Stopped::Unmarked,
            Unproven::NoAnswer { unreachable, .. } => Stopped::NoAnswer { unreachable: *unreachable },
        }
    }
}

/// With `gateway.fingerprint`, one safe request (a GET of the ready path) must carry it before
/// the first create: a run pointed at a service port would otherwise create its user there.
async fn prove_gateway(ctx: &RunCtx) -> Result<(), Unproven> {
    let Some(fp) = &ctx.config.gateway.fingerprint else { return Ok(()) };
    let path = ctx.config.gateway.ready_path.clone();
    let cc = CrumbCtx { suite: None, step: Some("gateway fingerprint".into()), phase: Phase::Ready, attempt: 1 };
    let any = |_: u16| true;
    let judged = exchange::send(
        ctx,
        &Outgoing::new(reqwest::Method::GET, &path),
        &cc,
        Judge::Status { accept: &any, expected: "any" },
        &ctx.cancel.interrupt,
    )
    .await;
    match (&judged.response, &judged.error) {
        (Some(r), _) => match step::lacks_fingerprint(fp, r) {
            None => Ok(()),
            Some(why) => Err(Unproven::Unmarked { path, status: r.status, why }),
        },
        (None, e) => Err(Unproven::NoAnswer {
            path,
            why: e.as_ref().map_or_else(|| "no answer".into(), |e| e.to_string()),
            unreachable: matches!(judged.class(), Some(FailureClass::Connect)),
        }),
    }
}

/// The error the run's summary names (its exit is `RunOutcome::exit`).
fn error_of(outcome: &RunOutcome, not_ready: Option<&NotReady>, unproven: Option<&Unproven>) -> Option<String> {
    if let Some(e) = unproven {
        return Some(e.to_string());
    }
    if let Some(e) = not_ready {
        return Some(format!("--wait-ready: the gateway is {e}"));
    }
    if let Some(e) = &outcome.bootstrap_error {
        return Some(format!("auth bootstrap failed: {e}"));
    }
    if let Some(first) = outcome.contract_breaks.first() {
        let more = outcome.contract_breaks.len() - 1;
        let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
        return Some(format!("schema: an auth lifecycle answer breaks the contract: {first}{more}"));
    }
    if outcome.stopped == Some(Stopped::EmptyShard) {
        return None;
    }
    (outcome.passed + outcome.failed == 0 && !outcome.interrupted)
        .then(|| "no steps ran: nothing was tested (check the paths, --tag and --filter)".into())
}

/// A finished suite: its index, counts, its own user (`auth.scope: suite`) and bootstrap error.
type SuiteRun = (usize, RunOutcome, Option<Arc<Auth>>, Option<AuthError>);

/// Runs the suites with the auth lifecycle around them.
pub async fn run(ctx: Arc<RunCtx>, suites: Vec<Suite>) -> RunOutcome {
    let mut outcome = RunOutcome::default();
    let mut users: Vec<Arc<Auth>> = Vec::new();
    let per_suite = ctx.config.auth.scope == AuthScope::Suite;
    let shared = if suites.iter().any(Suite::needs_auth) && !per_suite {
        let (user, err) = bootstrap(&ctx, None).await;
        users.extend(user.clone());
        outcome.bootstrap_error = err;
        user
    } else {
        None
    };
    if outcome.bootstrap_error.is_none() {
        for (_, counts, auth, err) in run_suites(&ctx, &suites, shared).await {
            users.extend(auth);
            if let (Some(e), None) = (err, &outcome.bootstrap_error) {
                outcome.bootstrap_error = Some(e);
            }
            outcome.add(counts);
        }
    }
    clean_up_users(&ctx, &users, &mut outcome).await;
    outcome.contract_breaks.extend(users.iter().flat_map(|u| u.take_contract_breaks()));
    outcome.interrupted = ctx.cancel.interrupt.is_cancelled();
    ctx.out.sink.emit(Event::Cleanup(outcome.cleanup.clone()));
    outcome
}

/// A user made and set up; it is returned even when its bootstrap failed, since it may exist.
async fn bootstrap(ctx: &Arc<RunCtx>, label: Option<String>) -> (Option<Arc<Auth>>, Option<AuthError>) {
    match make_auth(ctx, label).await {
        Ok(a) => {
            let a = Arc::new(a);
            let err = a.bootstrap(&ctx.cancel.interrupt).await.err();
            (Some(a), err)
        }
        Err(e) => (None, Some(e)),
    }
}

/// Runs the suites `--jobs` at a time, each with the shared user or its own; in suite order.
async fn run_suites(ctx: &Arc<RunCtx>, suites: &[Suite], shared: Option<Arc<Auth>>) -> Vec<SuiteRun> {
    let per_suite = ctx.config.auth.scope == AuthScope::Suite;
    let mut results: Vec<SuiteRun> = futures::stream::iter(suites.iter().enumerate())
        .map(|(i, suite)| {
            let shared = shared.clone();
            async move {
                let (auth, err) =
                    if per_suite && suite.needs_auth() { bootstrap(ctx, Some(suite.name.clone())).await } else { (shared, None) };
                // Steps are counted and handed to the reporters as they finish, never kept
                // here: they live on only in reporters that asked for them (JSON, JUnit), so
                // memory stays flat in the number of steps.
                let counts = match &err {
                    None => run_suite(ctx, suite, auth.as_deref()).await,
                    Some(e) => bootstrap_failed_suite(&ctx.out, suite, e),
                };
                (i, counts, if per_suite { auth } else { None }, err)
            }
        })
        .buffer_unordered(ctx.opts.jobs.max(1))
        .collect()
        .await;
    results.sort_by_key(|r| r.0);
    results
}

/// Deletes (and proves deleted) every disposable user, whatever happened before; bounded only
/// by the abort token. A user that owns records left behind is kept for `smokegate cleanup`.
async fn clean_up_users(ctx: &RunCtx, users: &[Arc<Auth>], outcome: &mut RunOutcome) {
    for user in users.iter().filter(|u| u.is_disposable()) {
        let email = &user.identity.name;
        if ctx.opts.keep_user {
            user.keep().await;
            outcome.cleanup.kept.push(email.clone());
            continue;
        }
        if outcome.cleanup.left.iter().any(|l| l.owner.as_ref() == Some(email)) {
            // Deleting it would orphan them: only its token can delete what it owns.
            user.keep_for_cleanup().await;
            outcome.cleanup.left.push(LeftBehind::user(
                email,
                "kept: records it owns were left behind, and deleting them needs its token; `smokegate cleanup` deletes them, then the user".into(),
            ));
            continue;
        }
        match user.cleanup(&ctx.cancel.abort).await {
            Ok(Some(email)) => outcome.cleanup.deleted.push(email),
            Ok(None) => {}
            Err(reason) => outcome.cleanup.left.push(LeftBehind::user(email, reason.to_string())),
        }
    }
    // Every admin that logged in logs out (already done for the users deleted above).
    for user in users {
        user.admin_logout(&ctx.cancel.abort).await;
    }
}

/// A user for this run: a fresh disposable identity, or the service account.
pub async fn make_auth(ctx: &Arc<RunCtx>, label: Option<String>) -> Result<Auth, AuthError> {
    let identity = match &ctx.config.auth.mode {
        Mode::Disposable { users, .. } => Auth::disposable_identity(ctx, users)?,
        Mode::ServiceAccount { credentials: ServiceCredentials::AwsSecret(id), .. } => {
            crate::run::auth::secret_store::identity(ctx, "auth.credentials_secret.aws", id, &ctx.cancel.interrupt).await?
        }
        Mode::ServiceAccount { credentials, .. } => {
            if let Some(name) = ctx.service_env.not_utf8.first() {
                return Err(AuthError::Credentials(format!("{name} is set but is not valid UTF-8")));
            }
            let file = match credentials {
                ServiceCredentials::File(f) => Some(f.as_path()),
                _ => None,
            };
            service_credentials(&ctx.service_env.vars, file)?
        }
        // The client's id names it in reports; its secret is masked like a password.
        Mode::ClientCredentials { client, .. } => Identity {
            name: render_setting(&ctx.vars, "auth.client_id", &client.client_id)?,
            password: Secret::new(render_setting(&ctx.vars, "auth.client_secret", &client.client_secret)?),
        },
        Mode::ApiKey(key) => Identity {
            name: format!("api key ({})", key.header),
            password: Secret::new(render_setting(&ctx.vars, "auth.value", &key.value)?),
        },
    };
    Ok(Auth::new(ctx.clone(), identity, label))
}

fn bootstrap_failed_suite(out: &Output, suite: &Suite, e: &AuthError) -> RunOutcome {
    let mut counts = RunOutcome::default();
    let why = format!("the suite's user could not be set up: {e}");
    for step in &suite.steps {
        let r = not_run(suite, step, StepKind::Step, FailureClass::NotRun, &why, &out.redactor);
        counts.tally(&r);
        out.sink.emit(Event::StepFinished(r));
    }
    out.sink.emit(Event::SuiteFinished(SuiteEnd { name: suite.name.clone(), file: suite.file.display().to_string(), duration_ms: 0.0 }));
    counts
}
