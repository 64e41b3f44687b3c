//! One suite's run: its scope, its steps in order (journaled, probed, judged), the rest not run
//! after a failure (with why), and its teardown, which always runs.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::eval::template::Scope;
use crate::http::client::{Credential, CrumbCtx, ms};
use crate::load::suite::{AuthMode, Step, Suite};
use crate::report::event::{Event, FailureClass, Outcome, Phase, StepKind, StepResult, SuiteEnd};
use crate::run::auth::{Auth, AuthError};
use crate::run::ctx::RunCtx;
use crate::run::exchange::{self, Judge};
use crate::run::journal::RecordEntry;
use crate::run::probe::{self, ProbePlan};
use crate::run::records;
use crate::run::verdict::{Attempt, Facts, RunOutcome, Sent, Stop, Tries, finish, not_run, unprobed};
use crate::secret::Secret;

/// Runs one suite's steps and teardown, emitting each result; returns the counts.
pub(crate) async fn run_suite(ctx: &Arc<RunCtx>, suite: &Suite, auth: Option<&Auth>) -> RunOutcome {
    let start = Instant::now();
    let file = suite.file.display().to_string();
    ctx.out.sink.emit(Event::SuiteStarted {
        name: suite.name.clone(),
        file: file.clone(),
        steps: suite.steps.len() + suite.teardown.len(),
    });
    let mut s = SuiteState::new(ctx, suite, auth);
    for step in &suite.steps {
        s.step(step).await;
    }
    s.require_probes();
    s.teardown().await;
    ctx.out.sink.emit(Event::SuiteFinished(SuiteEnd { name: suite.name.clone(), file, duration_ms: ms(start.elapsed()) }));
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
    /// The scope version the teardowns were last journaled at: a step that captured nothing
    /// changes no teardown's rendering, so it is not rendered again.
    journaled_at: Option<u64>,
}

impl<'a> SuiteState<'a> {
    /// The suite's scope (run, env, config vars, the user, its own vars); a var that cannot be
    /// rendered stops the suite before its first step.
    fn new(ctx: &'a RunCtx, suite: &'a Suite, auth: Option<&'a Auth>) -> Self {
        let mut scope = ctx.vars.base.clone();
        if let Some(a) = auth {
            a.extend_scope(&mut scope);
        }
        let mut stop = None;
        if ctx.cancel.stop_new.is_cancelled() {
            stop = Some(Stop { class: FailureClass::NotRun, why: "not started: --fail-fast after an earlier failure".into() });
        }
        for (name, value) in &suite.vars {
            match ctx.vars.templates.render_json(value, &scope) {
                Ok(v) => {
                    if ctx.config.secrets.contains(name)
                        && let Some(text) = v.as_str()
                    {
                        ctx.out.redactor.add(&Secret::new(text));
                    }
                    scope.set_json(name.clone(), &v)
                }
                Err(e) => {
                    // Sanitized where it is reported (`not_run`).
                    stop.get_or_insert(Stop { class: FailureClass::Template, why: format!("suite var `{name}` cannot be rendered: {e}") });
                }
            }
        }
        for (name, value) in &ctx.vars.cli {
            scope.set_json(name.clone(), value);
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
            journaled_at: None,
        }
    }

    fn emit(&mut self, r: StepResult) {
        self.counts.tally(&r);
        self.ctx.out.sink.emit(Event::StepFinished(r));
    }

    fn started(&self, step: &Step, kind: StepKind) {
        self.ctx.out.sink.emit(Event::StepStarted { file: self.suite.file.display().to_string(), name: step.name.clone(), kind });
    }

    /// One step: not run (with why), or sent, journaled, probed and judged.
    async fn step(&mut self, step: &Step) {
        let (ctx, suite, auth) = (self.ctx, self.suite, self.auth);
        if self.stop.is_none() && ctx.cancel.interrupt.is_cancelled() {
            self.stop = Some(Stop { class: FailureClass::Cancelled, why: "interrupted before it was sent".into() });
        }
        if let Some(st) = &self.stop {
            let r = not_run(suite, step, StepKind::Step, st.class, &st.why, &ctx.out.redactor);
            if st.class != FailureClass::NotRun && st.class != FailureClass::Cancelled {
                self.stop = Some(Stop { class: FailureClass::NotRun, why: format!("not run: {}", st.why) });
            }
            self.emit(r);
            return;
        }
        self.started(step, StepKind::Step);
        // Write-ahead: a step whose captures a teardown still waits for may create a record
        // before its id is known; a killed run must still leave word of it.
        let pending = records::journal_pending(ctx, suite, step, &self.scope, &self.records, &mut self.pending).await;
        // A write in flight may commit upstream: abandoning it on Ctrl-C would lose the id its
        // teardown needs. It finishes (bounded by its timeout and the abort deadline); a read
        // is cancelled at once.
        let write = matches!(step.request.method.as_str(), "POST" | "PUT" | "PATCH");
        let cancel = if write { &ctx.cancel.abort } else { &ctx.cancel.interrupt };
        let sent = exec_step(ctx, suite, step, &mut self.scope, auth, How { kind: StepKind::Step, attempt: 1, cancel }).await;
        if sent.went_out() && self.journaled_at != Some(self.scope.version()) {
            // The request went out: whatever it created is journaled as soon as its teardown can say how to delete it.
            records::journal_records(ctx, suite, &self.scope, auth, &mut self.records, &mut self.pending).await;
            self.journaled_at = Some(self.scope.version());
        }
        if let Some(i) = pending {
            records::settle_pending(ctx, &mut self.pending[i], &sent, &mut self.counts).await;
        }
        let probes = self.probe(step, &sent).await;
        let r = finish(suite, step, StepKind::Step, sent, &probes, &ctx.out.redactor);
        if r.outcome == Outcome::Failed {
            if !suite.continue_on_failure {
                self.stop = Some(Stop { class: FailureClass::NotRun, why: format!("not run: an earlier step failed: {}", r.name) });
            }
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
    async fn probe(&mut self, step: &Step, sent: &Sent) -> Vec<StepResult> {
        let (ctx, suite) = (self.ctx, self.suite);
        if sent.verdict().outcome != Outcome::Passed || step.auth.unwrap_or(suite.auth) != AuthMode::User {
            return Vec::new();
        }
        self.authed_passed = true;
        match probe::probe_plan(ctx, suite, step) {
            ProbePlan::No => Vec::new(),
            ProbePlan::Replay => {
                let p = probe::run_probes(ctx, suite, step, &self.scope, self.auth).await;
                self.probed += p.len();
                p
            }
            ProbePlan::Unsafe => vec![unprobed(
                suite,
                step,
                format!("{} · probe", step.name),
                format!(
                    "`auth_probe: true` on a {} step: writes are never replayed without credentials (a gateway that does not enforce auth would perform them); probe a GET of what it created",
                    step.request.method
                ),
                &ctx.out.redactor,
            )],
        }
    }

    /// A run asked to prove auth enforcement that proved nothing is not green.
    fn require_probes(&mut self) {
        let suite = self.suite;
        let wanted = suite.probed(self.ctx.opts.auth_probes);
        if !(wanted && self.authed_passed && self.probed == 0 && self.stop.is_none()) {
            return;
        }
        let first = suite.steps.iter().find(|s| s.auth.unwrap_or(suite.auth) == AuthMode::User).unwrap_or(&suite.steps[0]);
        let r = unprobed(
            suite,
            first,
            "auth probes".into(),
            "auth probes were asked for, but this suite has no passing GET/HEAD/OPTIONS step with `auth: user` to replay without credentials; add one (e.g. a GET of what it created), or set `auth_probe: false` on the suite".into(),
            &self.ctx.out.redactor,
        );
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
                    &ctx.out.redactor,
                )
            } else {
                self.started(step, StepKind::Teardown);
                let how = How { kind: StepKind::Teardown, attempt: 1, cancel: &ctx.cancel.abort };
                let sent = exec_step(ctx, suite, step, &mut self.scope, self.auth, how).await;
                finish(suite, step, StepKind::Teardown, sent, &[], &ctx.out.redactor)
            };
            if let Some(rec) = self.records[i].take() {
                records::settle_record(&ctx.journal, rec, &r, &mut self.counts);
            }
            if let Some(p) = self.pending[i].take() {
                // Its create passed, but this teardown never could be rendered: still "may exist".
                self.counts
                    .cleanup
                    .left
                    .push(records::may_exist(&p, "it may exist: its teardown could never be rendered, so nothing deleted it".into()));
            }
            self.emit(r);
        }
    }
}

/// How a step is sent: as a step or a teardown, which attempt, raced against which token.
#[derive(Clone, Copy)]
struct How<'a> {
    kind: StepKind,
    attempt: u32,
    cancel: &'a CancellationToken,
}

/// A step, sent once, or — with `eventually` — until its expectation holds, a terminal state
/// (`unless`) holds, or `within` runs out. Every attempt is a new request with its own reqId
/// and breadcrumb; the result is the last attempt's, with every attempt's breadcrumbs.
async fn exec_step(ctx: &RunCtx, suite: &Suite, step: &Step, scope: &mut Scope, auth: Option<&Auth>, how: How<'_>) -> Sent {
    if let Some(d) = step.delay {
        // An interrupt ends the wait; the step then runs into the cancelled token and says so.
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = how.cancel.cancelled() => {}
        }
    }
    let Some(ev) = &step.eventually else { return exec(ctx, suite, step, scope, auth, how).await.0 };
    let start = Instant::now();
    let mut crumbs = Vec::new();
    let mut how = how;
    loop {
        let (mut sent, terminal) = exec(ctx, suite, step, scope, auth, how).await;
        crumbs.append(&mut sent.facts.breadcrumbs);
        let left = ev.within.saturating_sub(start.elapsed());
        let retry = matches!(&sent.last, Attempt::Failed { class, .. } if retried(*class));
        let again = retry && !terminal && left > ev.every && !how.cancel.is_cancelled();
        if !again {
            sent.facts.breadcrumbs = crumbs;
            sent.facts.duration_ms = ms(start.elapsed());
            sent.tries = Tries { count: how.attempt, terminal, secs: start.elapsed().as_secs_f64() };
            return sent;
        }
        tokio::select! {
            _ = tokio::time::sleep(ev.every) => {}
            _ = how.cancel.cancelled() => {}
        }
        how.attempt += 1;
    }
}

/// What `eventually` waits out: an expectation not met yet, a 5xx, a body not ready. What a
/// wait cannot fix fails at once: a refusal (401/403), a stub, a template, the gateway policy.
fn retried(class: FailureClass) -> bool {
    use FailureClass::*;
    matches!(class, Assertion | ServerError | Capture | InvalidResponse | Schema | Timeout | Connect)
}

/// Runs one attempt of a step: render → token → send → judge, and records its captures into
/// `scope`. Also says whether the step's `eventually.unless` (a terminal state) held.
async fn exec(ctx: &RunCtx, suite: &Suite, step: &Step, scope: &mut Scope, auth: Option<&Auth>, how: How<'_>) -> (Sent, bool) {
    let (kind, cancel) = (how.kind, how.cancel);
    let start = Instant::now();
    let mut out = match exchange::render(ctx, step, scope) {
        Ok(o) => o,
        Err(e) => {
            // A teardown that needs a capture the steps never made has nothing to tear down.
            let never_captured = |v: &String| suite.capture_names.contains(v);
            let last = match e.variable.filter(|v| never_captured(v)) {
                Some(var) if kind == StepKind::Teardown => {
                    Attempt::NothingToDo(format!("nothing to tear down: `{var}` was never captured"))
                }
                // `continue_on_failure`: the step that captures it failed, so this one cannot run.
                Some(var) => {
                    Attempt::failed(FailureClass::Capture, format!("`{var}` was never captured (the step that captures it failed)"))
                }
                None => Attempt::failed(FailureClass::Template, e.message),
            };
            return (Sent::not_sent(last), false);
        }
    };
    let mut facts = Facts { path: Some(crate::secret::redact_query(&ctx.out.redactor.redact(&out.path))), ..Facts::default() };
    let mode = step.auth.unwrap_or(suite.auth);
    if mode != AuthMode::None {
        match token(auth, mode, cancel).await {
            Ok(c) => out.credential = Some(c),
            Err((class, why)) => return (Sent { facts, last: Attempt::failed(class, why), tries: Tries::ONCE }, false),
        }
    }
    let phase = if kind == StepKind::Teardown { Phase::Teardown } else { Phase::Step };
    let cc = CrumbCtx { suite: Some(suite.name.clone()), step: Some(step.name.clone()), phase, attempt: how.attempt };
    let judged = exchange::send(ctx, &out, &cc, Judge::Expect { step, scope }, cancel).await;
    if let (Some(401), Some(a), AuthMode::User, Some(c)) = (judged.status, auth, mode, &out.credential) {
        a.refused_with(c.secret()).await;
    }
    let terminal = match (step.eventually.as_ref().and_then(|e| e.unless.as_ref()), &judged.response) {
        (Some(unless), Some(resp)) => exchange::holds(ctx, step, unless, resp, scope, &out),
        _ => false,
    };
    facts.duration_ms = ms(start.elapsed());
    facts.status = judged.status;
    facts.breadcrumbs = judged.crumbs;
    let v = judged.verdict;
    exchange::keep_captures(ctx, &v.captures, scope);
    facts.assertions = v.assertions;
    for a in &mut facts.assertions {
        a.actual = ctx.out.redactor.redact(&a.actual);
        a.expected = ctx.out.redactor.redact(&a.expected);
    }
    let last = match v.class {
        Some(class) => {
            let rid = facts.breadcrumbs.first().map(|c| c.request_id.clone()).unwrap_or_default();
            facts.replay = crate::http::replay::curl(&ctx.net.http, &out, &rid).map(|c| ctx.out.redactor.redact(&c));
            Attempt::failed(class, v.message.unwrap_or_default())
        }
        None => Attempt::Passed,
    };
    (Sent { facts, last, tries: Tries::ONCE }, terminal)
}

/// The credential of an `auth: user` (or `auth: admin`) step, or the class and reason it has none.
async fn token(auth: Option<&Auth>, mode: AuthMode, cancel: &CancellationToken) -> Result<Credential, (FailureClass, String)> {
    let Some(a) = auth else { return Err((FailureClass::Auth, "the step needs a user but none was set up".into())) };
    let credential = match mode {
        AuthMode::Admin => a.admin_credential(cancel).await,
        // The loader refuses it in suites: only lifecycle steps are signed.
        AuthMode::Aws => return Err((FailureClass::Auth, "`auth: aws` signs lifecycle steps only".into())),
        AuthMode::User | AuthMode::None => a.credential(cancel).await,
    };
    match credential {
        Ok(t) => Ok(t),
        Err(AuthError::Cancelled) => Err((FailureClass::Cancelled, "interrupted".into())),
        Err(e) => Err((FailureClass::Auth, format!("could not refresh the token: {e}"))),
    }
}
