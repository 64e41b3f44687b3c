//! One suite's run: its scope, its steps in order (journaled, probed, judged), the rest not run
//! after a failure (with why), and its teardown, which always runs.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::eval::template::Scope;
use crate::http::client::{CrumbCtx, ms};
use crate::load::suite::{AuthMode, Step, Suite};
use crate::report::event::{Event, FailureClass, Outcome, Phase, StepKind, StepResult, SuiteEnd};
use crate::run::auth::{Auth, AuthError};
use crate::run::ctx::RunCtx;
use crate::run::exchange::{self, Judge};
use crate::run::journal::RecordEntry;
use crate::run::probe::{self, ProbePlan};
use crate::run::records;
use crate::run::verdict::{RunOutcome, Stop, blank, fail, not_run, unprobed};
use crate::secret::Secret;

/// Runs one suite's steps and teardown, emitting each result; returns the counts.
pub(crate) async fn run_suite(ctx: &Arc<RunCtx>, suite: &Suite, auth: Option<&Auth>) -> RunOutcome {
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
        let pending = records::journal_pending(ctx, suite, step, &self.scope, &self.records, &mut self.pending);
        // A write in flight may commit upstream: abandoning it on Ctrl-C would lose the id its
        // teardown needs. It finishes (bounded by its timeout and the abort deadline); a read
        // is cancelled at once.
        let write = matches!(step.request.method.as_str(), "POST" | "PUT" | "PATCH");
        let cancel = if write { &ctx.cancel.abort } else { &ctx.cancel.interrupt };
        let mut r = exec(ctx, suite, step, StepKind::Step, &mut self.scope, auth, cancel).await;
        if !r.breadcrumbs.is_empty() {
            // The request went out: whatever it created is journaled as soon as its teardown can say how to delete it.
            records::journal_records(ctx, suite, &self.scope, auth, &mut self.records, &mut self.pending);
        }
        if let Some(i) = pending {
            records::settle_pending(ctx, &mut self.pending[i], &r, &mut self.counts);
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
        let probes = match probe::probe_plan(ctx, suite, step) {
            ProbePlan::No => Vec::new(),
            ProbePlan::Replay => {
                let p = probe::run_probes(ctx, suite, step, &self.scope, self.auth).await;
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
                records::settle_record(ctx, rec, &r, &mut self.counts);
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

/// Runs one step: render → token → send → judge, and records its captures into `scope`.
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
    let mut out = match exchange::render(ctx, step, scope) {
        Ok(o) => o,
        Err(e) => {
            // A teardown that needs a capture the steps never made has nothing to tear down.
            let never_captured = |v: &String| suite.capture_names.contains(v);
            if let Some(var) = e.variable.filter(|v| kind == StepKind::Teardown && never_captured(v)) {
                r.message = Some(format!("nothing to tear down: `{var}` was never captured"));
                return r;
            }
            fail(&mut r, FailureClass::Template, e.message, &ctx.redactor);
            return r;
        }
    };
    r.path = crate::secret::redact_query(&ctx.redactor.redact(&out.path));
    if step.auth.unwrap_or(suite.auth) == AuthMode::User {
        match token(auth, cancel).await {
            Ok(t) => out.bearer = Some(t),
            Err((class, why)) => {
                fail(&mut r, class, why, &ctx.redactor);
                return r;
            }
        }
    }
    let phase = if kind == StepKind::Teardown { Phase::Teardown } else { Phase::Step };
    let cc = CrumbCtx { suite: Some(suite.name.clone()), step: Some(step.name.clone()), phase, attempt: 1 };
    let judged = exchange::send(ctx, &out, &cc, Judge::Expect { step, scope }, cancel).await;
    r.duration_ms = ms(start.elapsed());
    r.status = judged.status;
    r.breadcrumbs = judged.crumbs;
    let v = judged.verdict;
    exchange::keep_captures(ctx, &v.captures, scope);
    r.assertions = v.assertions;
    for a in &mut r.assertions {
        a.actual = ctx.redactor.redact(&a.actual);
        a.expected = ctx.redactor.redact(&a.expected);
    }
    match v.class {
        Some(class) => fail(&mut r, class, v.message.unwrap_or_default(), &ctx.redactor),
        None => r.outcome = Outcome::Passed,
    }
    r
}

/// The bearer token for an `auth: user` step, or the class and reason it has none.
async fn token(auth: Option<&Auth>, cancel: &CancellationToken) -> Result<Secret, (FailureClass, String)> {
    let Some(a) = auth else { return Err((FailureClass::Auth, "the step needs a user but none was set up".into())) };
    match a.bearer(cancel).await {
        Ok(t) => Ok(t),
        Err(AuthError::Cancelled) => Err((FailureClass::Cancelled, "interrupted".into())),
        Err(e) => Err((FailureClass::Auth, format!("could not refresh the token: {e}"))),
    }
}
