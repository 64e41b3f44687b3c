//! The runner: bootstraps auth, runs suites (steps in order, teardown always), replays
//! auth-enforcement probes, cleans up, and emits a result event for everything it does.
//! It never prints; reporters do.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde_json::Value as J;
use tokio_util::sync::CancellationToken;

use crate::eval::step::{self, EvalSettings};
use crate::eval::template::{Scope, Templates};
use crate::exit;
use crate::http::client::{CrumbCtx, HttpClient, Outgoing, SendError, ms};
use crate::load::config::{AuthScope, Config};
use crate::load::suite::{AuthMode, Step, Suite};
use crate::report::event::{
    Breadcrumb, CleanupReport, Event, EventSink, FailureClass, LeftBehind, LeftKind, Outcome, Phase, StepKind, StepResult, SuiteEnd,
};
use crate::run::auth::{Auth, AuthError};
use crate::run::journal::{Journal, RecordEntry};
use crate::run::jwt;
use crate::secret::{Redactor, Secret};

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
}

/// Everything a run shares. Built once by the app layer.
pub struct RunCtx {
    pub run_id: String,
    /// `run.*` for templates.
    pub run_fields: serde_json::Map<String, J>,
    pub http: HttpClient,
    pub templates: Templates,
    pub sink: EventSink,
    pub redactor: Redactor,
    pub config: Config,
    /// run, env and config vars.
    pub base_scope: Scope,
    pub journal: Option<Journal>,
    pub cancel: Cancel,
    pub opts: RunOptions,
}

impl RunCtx {
    /// Streams breadcrumbs, stamping the last one with the verdict.
    pub fn emit_crumbs(&self, mut crumbs: Vec<Breadcrumb>, class: Option<FailureClass>) -> Vec<Breadcrumb> {
        if let Some(last) = crumbs.last_mut() {
            if last.outcome == "ok" && class.is_some() {
                last.outcome = "failed".into();
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

    fn eval_settings(&self) -> EvalSettings<'_> {
        EvalSettings { stub_phrases: &self.config.stub_phrases, fingerprint: self.config.gateway.fingerprint.as_ref() }
    }
}

/// What the run came to.
#[derive(Debug, Default)]
pub struct RunOutcome {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub cleanup: CleanupReport,
    pub bootstrap_error: Option<AuthError>,
    pub interrupted: bool,
}

impl RunOutcome {
    fn tally(&mut self, st: &StepResult) {
        match (st.kind, st.outcome) {
            (StepKind::Teardown, Outcome::Failed) => self.cleanup.teardown_failures += 1,
            (StepKind::Teardown, _) => {}
            (_, Outcome::Passed) => self.passed += 1,
            (_, Outcome::Failed) => self.failed += 1,
            (_, Outcome::Skipped) => self.skipped += 1,
        }
    }

    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            exit::INTERRUPTED
        } else if let Some(e) = &self.bootstrap_error {
            if e.unreachable() { exit::GATEWAY_UNREACHABLE } else { exit::AUTH_BOOTSTRAP }
        } else if self.failed > 0 || self.passed == 0 {
            exit::STEP_FAILED
        } else if !self.cleanup.left.is_empty() || self.cleanup.teardown_failures > 0 {
            exit::CLEANUP_FAILED
        } else {
            exit::OK
        }
    }
}

/// Polls the readiness route until it answers 2xx, with backoff (100 ms doubling to 2 s), for at
/// most `timeout`. Returns how long it took, or the last thing that went wrong.
pub async fn wait_ready(ctx: &RunCtx, timeout: std::time::Duration) -> Result<std::time::Duration, String> {
    let start = Instant::now();
    let mut delay = std::time::Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut req = Outgoing::new("GET", &ctx.config.gateway.ready_path);
        // One probe may not outlive the whole wait.
        req.timeout =
            Some(ctx.http.settings.timeout.min(timeout.saturating_sub(start.elapsed()).max(std::time::Duration::from_millis(50))));
        let cc = CrumbCtx { suite: None, step: Some("ready".into()), phase: Phase::Ready, attempt };
        let ex = ctx.http.send(&req, &cc, &ctx.cancel.interrupt).await;
        let last = match &ex.result {
            Ok(r) if (200..300).contains(&r.status) => {
                ctx.emit_crumbs(ex.crumbs, None);
                return Ok(start.elapsed());
            }
            Ok(r) => format!("GET {} answered {}", ctx.config.gateway.ready_path, r.status),
            Err(e) => format!("GET {}: {e}", ctx.config.gateway.ready_path),
        };
        let class = match &ex.result {
            Err(e) => e.class(),
            Ok(_) => FailureClass::ServerError,
        };
        ctx.emit_crumbs(ex.crumbs, Some(class));
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() || ctx.cancel.interrupt.is_cancelled() {
            return Err(format!("not ready after {attempt} attempts in {:.1} s; last: {last}", start.elapsed().as_secs_f64()));
        }
        tokio::select! {
            _ = tokio::time::sleep(delay.min(left)) => {}
            _ = ctx.cancel.interrupt.cancelled() => {}
        }
        delay = (delay * 2).min(std::time::Duration::from_secs(2));
    }
}

/// A finished suite: its index, counts, its own user (`auth.scope: suite`) and bootstrap error.
type SuiteRun = (usize, RunOutcome, Option<Arc<Auth>>, Option<AuthError>);

/// Runs the suites with the auth lifecycle around them.
pub async fn run(ctx: Arc<RunCtx>, suites: Vec<Suite>) -> RunOutcome {
    let mut outcome = RunOutcome::default();
    let needs_auth = suites.iter().any(Suite::needs_auth);
    let per_suite = ctx.config.auth.scope == AuthScope::Suite;
    let mut users: Vec<Arc<Auth>> = Vec::new();

    let shared = if needs_auth && !per_suite {
        match make_auth(&ctx, None) {
            Ok(a) => {
                let a = Arc::new(a);
                users.push(a.clone());
                if let Err(e) = a.bootstrap(&ctx.cancel.interrupt).await {
                    outcome.bootstrap_error = Some(e);
                }
                Some(a)
            }
            Err(e) => {
                outcome.bootstrap_error = Some(e);
                None
            }
        }
    } else {
        None
    };

    if outcome.bootstrap_error.is_none() {
        let jobs = ctx.opts.jobs.max(1);
        let results: Vec<SuiteRun> = futures::stream::iter(suites.iter().enumerate())
            .map(|(i, suite)| {
                let ctx = ctx.clone();
                let shared = shared.clone();
                async move {
                    let (auth, err) = if per_suite && suite.needs_auth() {
                        match make_auth(&ctx, Some(suite.name.clone())) {
                            Ok(a) => {
                                let a = Arc::new(a);
                                let err = a.bootstrap(&ctx.cancel.interrupt).await.err();
                                (Some(a), err)
                            }
                            Err(e) => (None, Some(e)),
                        }
                    } else {
                        (shared, None)
                    };
                    // Steps are counted and handed to the reporters as they finish, never kept
                    // here: they live on only in reporters that asked for them (JSON, JUnit), so
                    // memory stays flat in the number of steps.
                    let counts = match &err {
                        None => run_suite(&ctx, suite, auth.as_deref()).await,
                        Some(e) => bootstrap_failed_suite(&ctx, suite, e),
                    };
                    (i, counts, if per_suite { auth } else { None }, err)
                }
            })
            .buffer_unordered(jobs)
            .collect()
            .await;
        let mut results = results;
        results.sort_by_key(|r| r.0);
        for (_, counts, auth, err) in results {
            if let Some(a) = auth {
                users.push(a);
            }
            if let (Some(e), None) = (err, &outcome.bootstrap_error) {
                outcome.bootstrap_error = Some(e);
            }
            outcome.passed += counts.passed;
            outcome.failed += counts.failed;
            outcome.skipped += counts.skipped;
            outcome.cleanup.teardown_failures += counts.cleanup.teardown_failures;
            outcome.cleanup.left.extend(counts.cleanup.left);
        }
    }

    // Cleanup runs whatever happened above, bounded only by the abort token.
    for user in &users {
        if !user.is_disposable() {
            continue;
        }
        if ctx.opts.keep_user {
            user.keep();
            outcome.cleanup.kept.push(user.identity.email.clone());
            continue;
        }
        let email = &user.identity.email;
        if outcome.cleanup.left.iter().any(|l| l.owner.as_ref() == Some(email)) {
            // Deleting it would orphan them: only its token can delete what it owns.
            user.keep_for_cleanup();
            outcome.cleanup.left.push(LeftBehind::user(
                email,
                "kept: records it owns were left behind, and deleting them needs its token; `smokegate cleanup` deletes them, then the user".into(),
            ));
            continue;
        }
        match user.cleanup(&ctx.cancel.abort).await {
            Ok(Some(email)) => outcome.cleanup.deleted.push(email),
            Ok(None) => {}
            Err(reason) => outcome.cleanup.left.push(LeftBehind::user(email, reason)),
        }
    }
    outcome.interrupted = ctx.cancel.interrupt.is_cancelled();
    ctx.sink.emit(Event::Cleanup(outcome.cleanup.clone()));
    outcome
}

pub fn make_auth(ctx: &Arc<RunCtx>, label: Option<String>) -> Result<Auth, AuthError> {
    let identity = match ctx.config.auth.mode {
        crate::load::config::AuthModeKind::Disposable => Auth::disposable_identity(ctx)?,
        crate::load::config::AuthModeKind::ServiceAccount => {
            for name in ["SMOKE_USERNAME", "SMOKE_PASSWORD"] {
                if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(name) {
                    return Err(AuthError::Credentials(format!("{name} is set but is not valid UTF-8")));
                }
            }
            // Other variables may hold any bytes: only these two are read.
            let env: Vec<(String, String)> =
                ["SMOKE_USERNAME", "SMOKE_PASSWORD"].iter().filter_map(|n| Some((n.to_string(), std::env::var(n).ok()?))).collect();
            crate::run::auth::service_credentials(&env, ctx.config.auth.credentials_file.as_deref())?
        }
    };
    Ok(Auth::new(ctx.clone(), identity, label))
}

fn bootstrap_failed_suite(ctx: &RunCtx, suite: &Suite, e: &AuthError) -> RunOutcome {
    let mut counts = RunOutcome::default();
    let why = format!("the suite's user could not be set up: {e}");
    for step in &suite.steps {
        let r = not_run(suite, step, StepKind::Step, FailureClass::NotRun, &why);
        counts.tally(&r);
        ctx.sink.emit(Event::StepFinished(r));
    }
    ctx.sink.emit(Event::SuiteFinished(SuiteEnd { name: suite.name.clone(), file: suite.file.display().to_string(), duration_ms: 0.0 }));
    counts
}

/// A step's result before anything is known: the one shape every verdict below starts from.
fn blank(suite: &Suite, step: &Step, kind: StepKind) -> StepResult {
    StepResult {
        suite: suite.name.clone(),
        file: suite.file.display().to_string(),
        line: step.pos.line,
        name: step.name.clone(),
        kind,
        outcome: Outcome::Skipped,
        failure_class: None,
        message: None,
        method: step.request.method.clone(),
        path: step.request.path.clone(),
        status: None,
        duration_ms: 0.0,
        assertions: Vec::new(),
        breadcrumbs: Vec::new(),
    }
}

/// A selected step that was never sent: a failure with its reason, never a skip. (Skipped is
/// only for what nothing needed doing, such as a teardown whose record was never created.)
fn not_run(suite: &Suite, step: &Step, kind: StepKind, class: FailureClass, why: &str) -> StepResult {
    let mut r = blank(suite, step, kind);
    r.outcome = Outcome::Failed;
    r.failure_class = Some(class);
    r.message = Some(why.to_owned());
    r
}

/// Why the rest of a suite does not run: the first step it hits fails with `class`, the ones
/// after it as `not-run`.
struct Stop {
    class: FailureClass,
    why: String,
}

/// Runs one suite's steps and teardown, emitting each result; returns the counts.
async fn run_suite(ctx: &Arc<RunCtx>, suite: &Suite, auth: Option<&Auth>) -> RunOutcome {
    let start = Instant::now();
    let file = suite.file.display().to_string();
    ctx.sink.emit(Event::SuiteStarted { name: suite.name.clone(), file: file.clone(), steps: suite.steps.len() + suite.teardown.len() });
    let mut s = SuiteState::new(ctx, suite, auth);
    for step in &suite.steps {
        s.step(step).await;
    }
    s.require_probes();
    s.teardown().await;
    ctx.sink.emit(Event::SuiteFinished(SuiteEnd { name: suite.name.clone(), file, duration_ms: ms(start.elapsed()) }));
    s.counts
}

/// One suite's run in progress: its scope, what it journaled, why it stopped, its counts.
struct SuiteState<'a> {
    ctx: &'a RunCtx,
    suite: &'a Suite,
    auth: Option<&'a Auth>,
    scope: Scope,
    /// The journaled record of each teardown step, once it could be rendered.
    records: Vec<Option<RecordEntry>>,
    /// "A record may exist", journaled for a teardown step before the step whose capture it
    /// needs was sent; replaced by the real record once the teardown renders.
    pending: Vec<Option<RecordEntry>>,
    stop: Option<Stop>,
    counts: RunOutcome,
    probed: usize,
    authed_passed: bool,
}

impl<'a> SuiteState<'a> {
    /// The suite's scope (run, env, config vars, the user, its own vars); a var that cannot be
    /// rendered stops the suite before its first step.
    fn new(ctx: &'a RunCtx, suite: &'a Suite, auth: Option<&'a Auth>) -> Self {
        let mut scope = ctx.base_scope.clone();
        if let Some(a) = auth {
            a.extend_scope(&mut scope);
        }
        let mut stop = None;
        if ctx.cancel.stop_new.is_cancelled() {
            stop = Some(Stop { class: FailureClass::NotRun, why: "not started: --fail-fast after an earlier failure".into() });
        }
        for (name, value) in &suite.vars {
            match ctx.templates.render_json(value, &scope) {
                Ok(v) => {
                    if ctx.config.secrets.contains(name)
                        && let Some(text) = v.as_str()
                    {
                        ctx.redactor.add(&Secret::new(text));
                    }
                    scope.set_json(name.clone(), &v)
                }
                Err(e) => {
                    let why = ctx.redactor.redact(&format!("suite var `{name}` cannot be rendered: {e}"));
                    stop.get_or_insert(Stop { class: FailureClass::Template, why });
                }
            }
        }
        SuiteState {
            ctx,
            suite,
            auth,
            scope,
            records: vec![None; suite.teardown.len()],
            pending: vec![None; suite.teardown.len()],
            stop,
            counts: RunOutcome::default(),
            probed: 0,
            authed_passed: false,
        }
    }

    fn emit(&mut self, r: StepResult) {
        self.counts.tally(&r);
        self.ctx.sink.emit(Event::StepFinished(r));
    }

    fn started(&self, step: &Step, kind: StepKind) {
        self.ctx.sink.emit(Event::StepStarted { file: self.suite.file.display().to_string(), name: step.name.clone(), kind });
    }

    /// One step: not run (with why), or sent, journaled, probed and judged.
    async fn step(&mut self, step: &Step) {
        let (ctx, suite, auth) = (self.ctx, self.suite, self.auth);
        if self.stop.is_none() && ctx.cancel.interrupt.is_cancelled() {
            self.stop = Some(Stop { class: FailureClass::Cancelled, why: "interrupted before it was sent".into() });
        }
        if let Some(st) = &self.stop {
            let r = not_run(suite, step, StepKind::Step, st.class, &st.why);
            if st.class != FailureClass::NotRun && st.class != FailureClass::Cancelled {
                self.stop = Some(Stop { class: FailureClass::NotRun, why: format!("not run: {}", st.why) });
            }
            self.emit(r);
            return;
        }
        self.started(step, StepKind::Step);
        // Write-ahead: a step whose captures a teardown still waits for may create a record
        // before its id is known; a killed run must still leave word of it.
        let pending = journal_pending(ctx, suite, step, &self.scope, &self.records, &mut self.pending);
        // A write in flight may commit upstream: abandoning it on Ctrl-C would lose the id its
        // teardown needs. It finishes (bounded by its timeout and the abort deadline); a read
        // is cancelled at once.
        let write = matches!(step.request.method.as_str(), "POST" | "PUT" | "PATCH");
        let cancel = if write { &ctx.cancel.abort } else { &ctx.cancel.interrupt };
        let mut r = exec(ctx, suite, step, StepKind::Step, &mut self.scope, auth, cancel).await;
        if !r.breadcrumbs.is_empty() {
            // The request went out: whatever it created is journaled as soon as its teardown can say how to delete it.
            journal_records(ctx, suite, &self.scope, auth, &mut self.records, &mut self.pending);
        }
        if let Some(i) = pending {
            settle_pending(ctx, &mut self.pending[i], &r, &mut self.counts);
        }
        let probes = self.probe(step, &mut r).await;
        if r.outcome == Outcome::Failed {
            self.stop = Some(Stop { class: FailureClass::NotRun, why: format!("not run: an earlier step failed: {}", r.name) });
            if ctx.opts.fail_fast {
                ctx.cancel.stop_new.cancel();
            }
        }
        self.emit(r);
        for p in probes {
            self.emit(p);
        }
    }

    /// Replays a passing authenticated step without valid credentials when asked to; a failed
    /// probe fails the step.
    async fn probe(&mut self, step: &Step, r: &mut StepResult) -> Vec<StepResult> {
        let (ctx, suite) = (self.ctx, self.suite);
        if r.outcome != Outcome::Passed || step.auth.unwrap_or(suite.auth) != AuthMode::User {
            return Vec::new();
        }
        self.authed_passed = true;
        let probes = match probe_plan(ctx, suite, step) {
            ProbePlan::No => Vec::new(),
            ProbePlan::Replay => {
                let p = run_probes(ctx, suite, step, &self.scope, self.auth).await;
                self.probed += p.len();
                p
            }
            ProbePlan::Unsafe => vec![unprobed(
                suite,
                step,
                format!(
                    "`auth_probe: true` on a {} step: writes are never replayed without credentials (a gateway that does not enforce auth would perform them); probe a GET of what it created",
                    step.request.method
                ),
            )],
        };
        if let Some(bad) = probes.iter().find(|p| p.outcome == Outcome::Failed) {
            r.outcome = Outcome::Failed;
            r.failure_class = bad.failure_class;
            r.message = bad.message.clone();
        }
        probes
    }

    /// A run asked to prove auth enforcement that proved nothing is not green.
    fn require_probes(&mut self) {
        let suite = self.suite;
        let wanted = suite.auth_probe || self.ctx.opts.auth_probes;
        if !(wanted && self.authed_passed && self.probed == 0 && self.stop.is_none()) {
            return;
        }
        let first = suite.steps.iter().find(|s| s.auth.unwrap_or(suite.auth) == AuthMode::User).unwrap_or(&suite.steps[0]);
        let mut r = unprobed(
            suite,
            first,
            "auth probes were asked for, but this suite has no passing GET/HEAD/OPTIONS step with `auth: user` to replay without credentials; add one (e.g. a GET of what it created), or set `auth_probe: false` on the suite".into(),
        );
        r.name = "auth probes".into();
        self.emit(r);
    }

    /// Teardown always runs; only the abort token (deadline, second signal) stops it.
    async fn teardown(&mut self) {
        let (ctx, suite) = (self.ctx, self.suite);
        for (i, step) in suite.teardown.iter().enumerate() {
            let r = if ctx.cancel.abort.is_cancelled() {
                not_run(
                    suite,
                    step,
                    StepKind::Teardown,
                    FailureClass::Cancelled,
                    "aborted before teardown: what it deletes may be left behind",
                )
            } else {
                self.started(step, StepKind::Teardown);
                exec(ctx, suite, step, StepKind::Teardown, &mut self.scope, self.auth, &ctx.cancel.abort).await
            };
            if let Some(rec) = self.records[i].take() {
                settle_record(ctx, rec, &r, &mut self.counts);
            }
            if let Some(p) = self.pending[i].take() {
                // Its create passed, but this teardown never could be rendered: still "may exist".
                self.counts
                    .cleanup
                    .left
                    .push(may_exist(&p, "it may exist: its teardown could never be rendered, so nothing deleted it".into()));
            }
            self.emit(r);
        }
    }
}

/// A journal record of this run with nothing known but what it is and where.
fn record_entry(ctx: &RunCtx, key: String, label: String, method: String, path: String) -> RecordEntry {
    RecordEntry {
        version: 1,
        run_id: ctx.run_id.clone(),
        gateway: ctx.http.gateway.origin(),
        key,
        label,
        owner: None,
        method,
        path,
        headers: Vec::new(),
        body: None,
        accept: Vec::new(),
        created_at: chrono::Utc::now().to_rfc3339(),
        pending: None,
    }
}

/// Journals (or re-journals, when its rendering changed) every teardown of the suite that can
/// be rendered now: the record it deletes may exist from here on.
fn journal_records(
    ctx: &RunCtx,
    suite: &Suite,
    scope: &Scope,
    auth: Option<&Auth>,
    records: &mut [Option<RecordEntry>],
    pending: &mut [Option<RecordEntry>],
) {
    let Some(j) = &ctx.journal else { return };
    for (i, t) in suite.teardown.iter().enumerate() {
        let Ok(out) = step::render_request(t, &ctx.templates, scope) else { continue };
        let owner = (t.auth.unwrap_or(suite.auth) == AuthMode::User).then(|| auth.map(|a| a.identity.email.clone())).flatten();
        let rec = RecordEntry {
            owner,
            headers: out.headers,
            body: out.body.map(|(b, ct)| (String::from_utf8_lossy(&b).into_owned(), ct.to_owned())),
            accept: t.expect.status.as_ref().map_or_else(|| vec!["2xx".to_owned()], |p| p.iter().map(|p| p.text()).collect()),
            ..record_entry(ctx, format!("{}#{i}", suite.file.display()), format!("{} › {}", suite.name, t.name), out.method, out.path)
        };
        let same = records[i]
            .as_ref()
            .is_some_and(|o| (&o.method, &o.path, &o.headers, &o.body) == (&rec.method, &rec.path, &rec.headers, &rec.body));
        if same {
            continue;
        }
        match j.write_record(&rec) {
            Ok(()) => {
                records[i] = Some(rec);
                // The real record replaces the "may exist" note written ahead of its create.
                if let Some(p) = pending[i].take() {
                    let _ = j.remove_record(&p);
                }
            }
            Err(e) => ctx.sink.emit(Event::Warning(format!(
                "cannot journal {}: {e}; if this run is killed, `smokegate cleanup` will not know about it",
                rec.describe()
            ))),
        }
    }
}

/// Journals "a record may exist" before a step whose captures a not-yet-renderable teardown
/// needs: if the run dies before the answer, the journal still says what was being created.
/// Returns the teardown index it was journaled for.
fn journal_pending(
    ctx: &RunCtx,
    suite: &Suite,
    step: &Step,
    scope: &Scope,
    records: &[Option<RecordEntry>],
    pending: &mut [Option<RecordEntry>],
) -> Option<usize> {
    let j = ctx.journal.as_ref()?;
    if step.capture.is_empty() {
        return None;
    }
    let (i, t) = suite.teardown.iter().enumerate().find(|(i, t)| {
        records[*i].is_none()
            && pending[*i].is_none()
            && step::render_request(t, &ctx.templates, scope).is_err()
            && teardown_reads(ctx, t).iter().any(|v| step.capture.iter().any(|c| &c.name == v))
    })?;
    let rec = RecordEntry {
        pending: Some(format!("its create was sent, but the run ended before its id arrived, so `{}` cannot delete it", t.name)),
        // Nothing can delete it without its id: it does not hold its user back.
        ..record_entry(
            ctx,
            format!("{}#{i}:pending", suite.file.display()),
            format!("{} › {}", suite.name, step.name),
            step.request.method.clone(),
            // The path as it goes out, when it renders (exec says why when it does not).
            step::render_request(step, &ctx.templates, scope).map_or_else(|_| step.request.path.clone(), |o| o.path),
        )
    };
    match j.write_record(&rec) {
        Ok(()) => {
            pending[i] = Some(rec);
            Some(i)
        }
        Err(e) => {
            ctx.sink.emit(Event::Warning(format!("cannot journal {}: {e}", rec.describe())));
            None
        }
    }
}

/// The step that might have created a record came back. Nothing was created (not sent, or
/// refused with a 4xx): the note goes. It failed otherwise: the record may exist without an id,
/// so the note stays journaled and is reported. It passed: the note stays until the teardown
/// renders (`journal_records` replaces it) or the suite ends without it ever rendering.
fn settle_pending(ctx: &RunCtx, slot: &mut Option<RecordEntry>, r: &StepResult, counts: &mut RunOutcome) {
    let Some(p) = slot.as_ref() else { return };
    let refused = |s: u16| (400..500).contains(&s) && !matches!(s, 408 | 425 | 429);
    if r.breadcrumbs.is_empty() || r.status.is_some_and(refused) {
        if let (Some(j), Some(p)) = (&ctx.journal, slot.take()) {
            let _ = j.remove_record(&p);
        }
    } else if r.outcome == Outcome::Failed {
        let why = format!("it may exist: the step failed ({}) before its id could be captured", r.message.as_deref().unwrap_or("failed"));
        counts.cleanup.left.push(may_exist(p, why));
        *slot = None;
    }
}

/// The top-level variables a teardown step's request reads (path, headers, body).
fn teardown_reads(ctx: &RunCtx, t: &Step) -> Vec<String> {
    let mut texts = vec![t.request.path.clone()];
    texts.extend(t.request.headers.iter().map(|(_, v)| v.clone()));
    match &t.request.body {
        crate::load::suite::Body::Json(v) => texts.push(v.to_string()),
        crate::load::suite::Body::Raw(r) => texts.push(r.clone()),
        crate::load::suite::Body::None => {}
    }
    texts
        .iter()
        .flat_map(|text| ctx.templates.variables(text).unwrap_or_default())
        .map(|v| v.split('.').next().unwrap_or_default().to_owned())
        .collect()
}

/// A record that may exist and that nothing can delete: reported, kept in the journal.
fn may_exist(p: &RecordEntry, reason: String) -> LeftBehind {
    LeftBehind { identity: p.describe(), reason, kind: LeftKind::Record, owner: None }
}

/// A record's teardown ran (or could not): gone from the journal when it passed, else left
/// behind, kept, and reported.
fn settle_record(ctx: &RunCtx, rec: RecordEntry, r: &StepResult, counts: &mut RunOutcome) {
    match r.outcome {
        Outcome::Failed => counts.cleanup.left.push(LeftBehind {
            identity: rec.describe(),
            reason: r.message.clone().unwrap_or_else(|| "its teardown failed".into()),
            kind: LeftKind::Record,
            owner: rec.owner.clone(),
        }),
        _ => {
            if let Some(j) = &ctx.journal {
                let _ = j.remove_record(&rec);
            }
        }
    }
}

/// `smokegate cleanup`: sends a journaled record's teardown again (with its owner's token) and
/// removes it from the journal when the answer is one the teardown accepts.
pub async fn replay_record(ctx: &RunCtx, rec: &RecordEntry, owner: Option<&Auth>) -> Result<(), String> {
    if let Some(why) = &rec.pending {
        let msg = format!(
            "{why}. It may exist: check it by hand, then remove its journal entry in {}",
            ctx.journal.as_ref().map_or_else(String::new, |j| j.dir.join("records").display().to_string())
        );
        crate::errln!("left {}: {msg}", rec.describe());
        return Err(msg);
    }
    let mut out = Outgoing::new(&rec.method, &rec.path);
    out.headers = rec.headers.clone();
    out.body = rec.body.as_ref().map(|(b, ct)| {
        (b.clone().into_bytes(), if ct.starts_with("application/json") { "application/json" } else { "text/plain; charset=utf-8" })
    });
    let result = async {
        if let Some(a) = owner {
            out.bearer = Some(a.bearer(&ctx.cancel.abort).await.map_err(|e| format!("could not log in as its owner: {e}"))?);
        }
        let cc = CrumbCtx { suite: None, step: Some(rec.label.clone()), phase: Phase::Cleanup, attempt: 1 };
        let ex = ctx.http.send(&out, &cc, &ctx.cancel.abort).await;
        let status = ex.result.as_ref().ok().map(|r| r.status);
        ctx.emit_crumbs(ex.crumbs, None);
        match (ex.result, status) {
            (Ok(_), Some(s)) if rec.accepts(s) => Ok(s),
            (Ok(_), Some(s)) => Err(format!("its teardown answered {s}, expected {}", rec.accept.join(" or "))),
            (Err(e), _) => Err(e.to_string()),
            _ => Err("no answer".into()),
        }
    }
    .await;
    match result {
        Ok(status) => {
            if let Some(j) = &ctx.journal {
                let _ = j.remove_record(rec);
            }
            crate::outln!("deleted {} ({status})", rec.describe());
            Ok(())
        }
        Err(reason) => {
            crate::errln!("left {}: {reason}", rec.describe());
            Err(reason)
        }
    }
}

enum ProbePlan {
    /// Not asked for, or not an authenticated step.
    No,
    /// A safe method: replay it without and with forged credentials.
    Replay,
    /// Asked for explicitly on a write, which is never replayed.
    Unsafe,
}

fn probe_plan(ctx: &RunCtx, suite: &Suite, step: &Step) -> ProbePlan {
    let safe = matches!(step.request.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    match (step.auth_probe, safe) {
        (Some(false), _) => ProbePlan::No,
        (Some(true), false) => ProbePlan::Unsafe,
        (Some(true), true) => ProbePlan::Replay,
        (None, true) if suite.auth_probe || ctx.opts.auth_probes => ProbePlan::Replay,
        (None, _) => ProbePlan::No,
    }
}

/// A probe that could not prove anything: a failure of its own class.
fn unprobed(suite: &Suite, step: &Step, why: String) -> StepResult {
    let mut r = not_run(suite, step, StepKind::Probe, FailureClass::Unprobed, &why);
    r.name = format!("{} · probe", step.name);
    r
}

/// Runs one step: render → token → send → evaluate, and records captures into `scope`.
async fn exec(
    ctx: &RunCtx,
    suite: &Suite,
    step: &Step,
    kind: StepKind,
    scope: &mut Scope,
    auth: Option<&Auth>,
    cancel: &CancellationToken,
) -> StepResult {
    let start = Instant::now();
    let mut r = blank(suite, step, kind);
    let fail = |r: &mut StepResult, class: FailureClass, msg: String| {
        r.outcome = Outcome::Failed;
        r.failure_class = Some(class);
        r.message = Some(ctx.redactor.redact(&msg));
    };
    // The reqId exists before the request is rendered, so a step can send or expect it.
    let rid = uuid::Uuid::now_v7().to_string();
    scope.set_json("request", &serde_json::json!({ "id": rid }));
    let mut out = match step::render_request(step, &ctx.templates, scope) {
        Ok(o) => o,
        Err(e) => {
            // A teardown that needs a capture the steps never made has nothing to tear down.
            let never_captured = |v: &String| suite.capture_names.contains(v);
            if let Some(var) = e.variable.filter(|v| kind == StepKind::Teardown && never_captured(v)) {
                r.message = Some(format!("nothing to tear down: `{var}` was never captured"));
                return r;
            }
            fail(&mut r, FailureClass::Template, e.message);
            return r;
        }
    };
    for (k, v) in &out.headers {
        ctx.redactor.add_header(k, v);
    }
    match out.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(&ctx.config.gateway.request_id_header)) {
        // The suite's own id is sent as written: it is this request's id.
        Some((_, own)) => scope.set_json("request", &serde_json::json!({ "id": own })),
        None => out.request_id = Some(rid),
    }
    r.path = crate::secret::redact_query(&ctx.redactor.redact(&out.path));
    if step.auth.unwrap_or(suite.auth) == AuthMode::User {
        let Some(a) = auth else {
            fail(&mut r, FailureClass::Auth, "the step needs a user but none was set up".into());
            return r;
        };
        match a.bearer(cancel).await {
            Ok(t) => out.bearer = Some(t),
            Err(AuthError::Cancelled) => {
                fail(&mut r, FailureClass::Cancelled, "interrupted".into());
                return r;
            }
            Err(e) => {
                fail(&mut r, FailureClass::Auth, format!("could not refresh the token: {e}"));
                return r;
            }
        }
    }
    let phase = if kind == StepKind::Teardown { Phase::Teardown } else { Phase::Step };
    let cc = CrumbCtx { suite: Some(suite.name.clone()), step: Some(step.name.clone()), phase, attempt: 1 };
    let ex = ctx.http.send(&out, &cc, cancel).await;
    r.duration_ms = ms(start.elapsed());
    match ex.result {
        Err(e) => {
            let class = e.class();
            // A body that broke or overflowed still came with a status line worth showing.
            r.status = ex.crumbs.last().and_then(|c| c.status);
            r.breadcrumbs = ctx.emit_crumbs(ex.crumbs, Some(class));
            let msg = match &e {
                SendError::Timeout(d) if d.is_zero() => "no response within the timeout".to_owned(),
                _ => e.to_string(),
            };
            fail(&mut r, class, msg);
        }
        Ok(resp) => {
            r.status = Some(resp.status);
            ctx.redactor.add_response(&resp.headers, &resp.body, false);
            let v = step::evaluate(step, &resp, &ctx.templates, scope, &ctx.eval_settings(), out.body.as_ref().map(|b| b.0.as_slice()));
            r.breadcrumbs = ctx.emit_crumbs(ex.crumbs, v.class);
            for (k, val) in &v.captures {
                if (crate::secret::is_secret_name(k) || ctx.config.secrets.contains(k))
                    && let Some(s) = val.as_str()
                {
                    ctx.redactor.add(&Secret::new(s));
                }
                scope.set_json(k.clone(), val);
            }
            r.assertions = v.assertions;
            for a in &mut r.assertions {
                a.actual = ctx.redactor.redact(&a.actual);
                a.expected = ctx.redactor.redact(&a.expected);
            }
            if let Some(class) = v.class {
                fail(&mut r, class, v.message.unwrap_or_default());
            } else {
                r.outcome = Outcome::Passed;
            }
        }
    }
    r
}

/// Replays a passing step without valid credentials; each replay must be refused with 401/403.
async fn run_probes(ctx: &RunCtx, suite: &Suite, step: &Step, scope: &Scope, auth: Option<&Auth>) -> Vec<StepResult> {
    let base = match step::render_request(step, &ctx.templates, scope) {
        Ok(b) => b,
        Err(e) => return vec![unprobed(suite, step, ctx.redactor.redact(&format!("the replay could not be rendered: {}", e.message)))],
    };
    let token = match auth {
        Some(a) => a.bearer(&ctx.cancel.interrupt).await,
        None => Err(AuthError::Credentials("no user was set up".into())),
    };
    let token = match token {
        Ok(t) => t,
        Err(AuthError::Cancelled) => {
            return vec![not_run(suite, step, StepKind::Probe, FailureClass::Cancelled, "interrupted before the probes")];
        }
        Err(e) => return vec![unprobed(suite, step, ctx.redactor.redact(&format!("no token to forge the probes from: {e}")))],
    };
    let probes: [(&str, Option<Secret>); 3] = [
        ("no token", None),
        ("forged signature", Some(Secret::new(jwt::tamper_signature(token.expose())))),
        ("alg none", Some(Secret::new(jwt::alg_none(token.expose())))),
    ];
    let mut out = Vec::new();
    for (label, bearer) in probes {
        // A forgery is deterministic per token (added once) and reversible to the real signature.
        if let Some(b) = &bearer {
            ctx.redactor.add(b);
        }
        let mut req: Outgoing = base.clone();
        req.bearer = bearer;
        let start = Instant::now();
        let name = format!("{} · probe: {label}", step.name);
        let cc = CrumbCtx { suite: Some(suite.name.clone()), step: Some(name.clone()), phase: Phase::Probe, attempt: 1 };
        let ex = ctx.http.send(&req, &cc, &ctx.cancel.interrupt).await;
        let mut r = blank(suite, step, StepKind::Probe);
        r.name = name;
        r.duration_ms = ms(start.elapsed());
        r.path = crate::secret::redact_query(&base.path);
        let (class, msg) = match &ex.result {
            Ok(resp) if matches!(resp.status, 401 | 403) => (None, None),
            Ok(resp) => (
                Some(FailureClass::AuthNotEnforced),
                Some(format!("auth not enforced: the request with {label} was answered {} instead of 401/403", resp.status)),
            ),
            Err(e) => (Some(e.class()), Some(format!("probe `{label}`: {e}"))),
        };
        r.status = ex.result.as_ref().ok().map(|x| x.status);
        r.breadcrumbs = ctx.emit_crumbs(ex.crumbs, class);
        r.assertions.push(crate::report::event::AssertionResult {
            what: format!("probe {label}"),
            expected: "401 or 403".into(),
            actual: r.status.map_or("no response".into(), |s| s.to_string()),
            passed: class.is_none(),
            line: Some(step.pos.line),
        });
        match class {
            None => r.outcome = Outcome::Passed,
            Some(c) => {
                r.outcome = Outcome::Failed;
                r.failure_class = Some(c);
                let rid = r.request_id().unwrap_or("-").to_owned();
                r.message = msg.map(|m| format!("{m} (reqId {rid})"));
            }
        }
        out.push(r);
    }
    out
}
