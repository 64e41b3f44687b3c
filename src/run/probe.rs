//! Auth-enforcement probes: a passing authenticated read, replayed without a token, with a forged
//! signature and with `alg: none`; the gateway must refuse each with 401/403.

use std::time::Instant;

use crate::eval::template::Scope;
use crate::http::client::{Credential, CrumbCtx, ms};
use crate::load::suite::{Step, Suite};
use crate::report::event::{FailureClass, Phase, StepKind, StepResult};
use crate::run::auth::{Auth, AuthError};
use crate::run::ctx::RunCtx;
use crate::run::exchange::{self, Judge, Judged};
use crate::run::jwt;
use crate::run::verdict::{Attempt, Facts, Sent, Tries, finish, not_run, unprobed};
use crate::secret::{Redactor, Secret};

/// Whether and how a passing step is probed.
pub(crate) enum ProbePlan {
    /// Not asked for, or not an authenticated step.
    No,
    /// A safe method: replay it without and with forged credentials.
    Replay,
    /// Asked for explicitly on a write, which is never replayed.
    Unsafe,
}

pub(crate) fn probe_plan(ctx: &RunCtx, suite: &Suite, step: &Step) -> ProbePlan {
    let safe = matches!(step.request.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    match (step.auth_probe, safe) {
        (Some(false), _) => ProbePlan::No,
        (Some(true), false) => ProbePlan::Unsafe,
        (Some(true), true) => ProbePlan::Replay,
        (None, true) if suite.probed(ctx.opts.auth_probes) => ProbePlan::Replay,
        (None, _) => ProbePlan::No,
    }
}

/// The replays of a credential: none at all, then forgeries a gateway must verify to refuse —
/// for a JWT another signature and `alg: none`, for a key or a cookie another value.
fn forgeries(c: &Credential) -> Vec<(&'static str, Option<Credential>)> {
    let real = c.secret().expose();
    match c {
        Credential::Token { .. } if real.split('.').count() == 3 => vec![
            ("no token", None),
            ("forged signature", Some(c.with_secret(Secret::new(jwt::tamper_signature(real))))),
            ("alg none", Some(c.with_secret(Secret::new(jwt::alg_none(real))))),
        ],
        Credential::Token { .. } => vec![("no token", None), ("forged token", Some(c.with_secret(Secret::new(forge(real)))))],
        Credential::Header(..) => vec![("no api key", None), ("forged api key", Some(c.with_secret(Secret::new(forge(real)))))],
        Credential::Cookie(..) => {
            vec![("no session cookie", None), ("forged session cookie", Some(c.with_secret(Secret::new(forge(real)))))]
        }
    }
}

/// The same value with its last character changed: the same shape, never the same secret.
fn forge(real: &str) -> String {
    let mut chars: Vec<char> = real.chars().collect();
    match chars.last_mut() {
        Some(c) => *c = if *c == 'x' { 'y' } else { 'x' },
        None => chars.push('x'),
    }
    chars.into_iter().collect()
}

fn probe_name(step: &Step) -> String {
    format!("{} · probe", step.name)
}

/// Replays a passing step without valid credentials; each replay must be refused with 401/403.
pub(crate) async fn run_probes(ctx: &RunCtx, suite: &Suite, step: &Step, scope: &Scope, auth: Option<&Auth>) -> Vec<StepResult> {
    let mut scope = scope.clone();
    let base = match exchange::render(ctx, step, &mut scope) {
        Ok(b) => b,
        Err(e) => {
            return vec![unprobed(
                suite,
                step,
                probe_name(step),
                format!("the replay could not be rendered: {}", e.message),
                &ctx.out.redactor,
            )];
        }
    };
    let credential = match auth {
        Some(a) => a.credential(&ctx.cancel.interrupt).await,
        None => Err(AuthError::Credentials("no user was set up".into())),
    };
    let credential = match credential {
        Ok(c) => c,
        Err(AuthError::Cancelled) => {
            return vec![not_run(
                suite,
                step,
                StepKind::Probe,
                FailureClass::Cancelled,
                "interrupted before the probes",
                &ctx.out.redactor,
            )];
        }
        Err(e) => {
            return vec![unprobed(suite, step, probe_name(step), format!("no token to forge the probes from: {e}"), &ctx.out.redactor)];
        }
    };
    let probes = forgeries(&credential);
    let mut out = Vec::new();
    for (label, forged) in probes {
        // A forgery is deterministic per credential (added once) and close to the real one.
        if let Some(f) = &forged {
            ctx.out.redactor.add(f.secret());
        }
        let mut req = base.clone();
        // Each replay is its own request, with its own reqId.
        req.request_id = None;
        req.credential = forged;
        let start = Instant::now();
        let name = format!("{} · probe: {label}", step.name);
        let cc = CrumbCtx { suite: Some(suite.name.clone()), step: Some(name.clone()), phase: Phase::Probe, attempt: 1 };
        let judged = exchange::send(ctx, &req, &cc, Judge::Refused { label }, &ctx.cancel.interrupt).await;
        let facts = Facts {
            name: Some(name),
            path: Some(crate::secret::redact_query(&ctx.out.redactor.redact(&base.path))),
            duration_ms: ms(start.elapsed()),
            ..Facts::default()
        };
        let r = probe_result(&ctx.out.redactor, suite, step, label, judged, facts);
        out.push(r);
    }
    out
}

/// One probe's result, from its judged replay and what is known of it already (name, path,
/// duration).
fn probe_result(redactor: &Redactor, suite: &Suite, step: &Step, label: &str, judged: Judged, facts: Facts) -> StepResult {
    let class = judged.class();
    let mut assertions = judged.verdict.assertions;
    for a in &mut assertions {
        a.line = Some(step.pos.line);
    }
    if assertions.is_empty() {
        // No answer to judge: the send error is the probe's result.
        assertions.push(crate::report::event::AssertionResult {
            what: format!("probe {label}"),
            expected: "401 or 403".into(),
            actual: "no response".into(),
            passed: false,
            line: Some(step.pos.line),
        });
    }
    let last = match class {
        None => Attempt::Passed,
        Some(c) => {
            let rid = judged.crumbs.last().map_or("-", |b| b.request_id.as_str());
            let msg = match &judged.error {
                Some(e) => format!("probe `{label}`: {e}"),
                None => judged.verdict.message.clone().unwrap_or_default(),
            };
            Attempt::failed(c, format!("{msg} (reqId {rid})"))
        }
    };
    let facts = Facts { status: judged.response.as_ref().map(|x| x.status), assertions, breadcrumbs: judged.crumbs, ..facts };
    finish(suite, step, StepKind::Probe, Sent { facts, last, tries: Tries::ONCE }, &[], redactor)
}
