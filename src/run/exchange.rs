//! The one path every request of a run takes: render → send → judge → breadcrumbs. Suite steps
//! and teardowns, auth probes, the auth lifecycle's own steps, readiness polls and `cleanup`'s
//! replays all go through [`send`], so every breadcrumb carries the verdict of what it carried.

use serde_json::Value as J;
use tokio_util::sync::CancellationToken;

use crate::eval::step::{self, Verdict};
use crate::eval::template::{Scope, TemplateError, Templates};
use crate::http::client::{CrumbCtx, HttpClient, Outgoing, Response, SendError};
use crate::load::suite::{Body, Expect, Step};
use crate::report::event::{Breadcrumb, Event, FailureClass, Phase};
use crate::run::ctx::RunCtx;

/// Renders a step's request. The bearer token is added by the caller.
pub fn render_request(step: &Step, t: &Templates, scope: &Scope) -> Result<Outgoing, TemplateError> {
    let req = &step.request;
    let mut out = Outgoing::new(req.method.clone(), &t.render_str(&req.path, scope)?);
    for (k, v) in &req.headers {
        out.headers.push((k.clone(), t.render_str(v, scope)?));
    }
    out.body = match &req.body {
        Body::None => None,
        Body::Json(v) => Some((serde_json::to_vec(&t.render_json(v, scope)?).unwrap_or_default().into(), "application/json")),
        Body::Raw(s) => Some((t.render_str(s, scope)?.into_bytes().into(), "text/plain; charset=utf-8")),
        Body::Form(fields) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields {
                form.append_pair(k, &t.render_str(v, scope)?);
            }
            Some((form.finish().into_bytes().into(), "application/x-www-form-urlencoded"))
        }
    };
    out.follow_redirects = req.follow_redirects;
    out.timeout = req.timeout;
    Ok(out)
}

/// What a response is judged against.
pub enum Judge<'a> {
    /// A step's own `expect` and captures, in the scope it was rendered in.
    Expect { step: &'a Step, scope: &'a Scope },
    /// A replay without valid credentials: only 401/403 pass; anything else means the gateway
    /// does not enforce auth.
    Refused { label: &'a str },
    /// Any status `accept` says yes to (readiness, a journaled teardown).
    Status { accept: &'a dyn Fn(u16) -> bool, expected: &'a str },
}

/// A request sent and judged.
pub struct Judged {
    /// The answer, when one arrived whole.
    pub response: Option<Response>,
    /// The status, also when the body then broke or overflowed.
    pub status: Option<u16>,
    /// Why no whole answer arrived.
    pub error: Option<SendError>,
    /// The judgement; for an error, its class and text.
    pub verdict: Verdict,
    /// One per request sent (redirect hops included), already emitted, the last stamped with
    /// the verdict.
    pub crumbs: Vec<Breadcrumb>,
}

impl Judged {
    pub fn class(&self) -> Option<FailureClass> {
        self.verdict.class
    }

    /// The reqId of the last request sent.
    pub fn request_id(&self) -> Option<&str> {
        self.crumbs.last().map(|c| c.request_id.as_str())
    }
}

/// Renders a step's request in `scope`. Its reqId exists first, as `request.id`, so a step can
/// send or expect it; a request-id header the step sets itself is sent as written and becomes
/// `request.id`. Credential headers are registered with the sanitizer before anything is sent.
pub fn render(ctx: &RunCtx, step: &Step, scope: &mut Scope) -> Result<Outgoing, TemplateError> {
    let rid = crate::http::client::new_request_id();
    scope.set_request_id(&rid);
    let mut out = render_request(step, &ctx.vars.templates, scope)?;
    for (k, v) in &out.headers {
        ctx.out.redactor.add_header(k, v);
    }
    match ctx.net.http.own_request_id(&out) {
        Some(own) => scope.set_request_id(&own),
        None => out.request_id = Some(rid),
    }
    Ok(out)
}

/// Sends `out` through the gateway, judges the answer, emits the breadcrumbs with the verdict.
pub async fn send(ctx: &RunCtx, out: &Outgoing, cc: &CrumbCtx, judge: Judge<'_>, cancel: &CancellationToken) -> Judged {
    send_via(ctx, &ctx.net.http, out, cc, judge, cancel).await
}

/// [`send`] through another client: only the identity provider's (client credentials), whose
/// own policy admits its origin alone.
pub async fn send_via(
    ctx: &RunCtx,
    client: &HttpClient,
    out: &Outgoing,
    cc: &CrumbCtx,
    judge: Judge<'_>,
    cancel: &CancellationToken,
) -> Judged {
    let ex = client.send(out, cc, cancel).await;
    let (response, error, verdict) = match ex.result {
        Err(e) => {
            let message = match &e {
                SendError::Timeout(d) if d.is_zero() => "no response within the timeout".to_owned(),
                _ => e.to_string(),
            };
            let v = Verdict { class: Some(e.class()), message: Some(message), ..Verdict::default() };
            (None, Some(e), v)
        }
        Ok(resp) => {
            // Before judging, so no message can carry what the answer handed out. A secrets
            // manager's answer is registered field by field by its reader: the user's name in it
            // is not a secret.
            ctx.out.redactor.add_response(&resp.headers, &resp.body, cc.phase.is_auth() && cc.phase != Phase::Secret);
            let v = judge_response(ctx, &resp, out, judge);
            (Some(resp), None, v)
        }
    };
    // A body that broke or overflowed still came with a status line worth showing.
    let status = response.as_ref().map(|r| r.status).or_else(|| ex.crumbs.last().and_then(|c| c.status));
    let crumbs = ctx.out.emit_crumbs(ex.crumbs, verdict.class);
    if ctx.opts.replays
        && let Some(first) = crumbs.first()
        && let Some(line) = crate::http::replay::curl(client, out, &first.request_id)
    {
        ctx.out.sink.emit(Event::Replay { request_id: first.request_id.clone(), phase: cc.phase, line: ctx.out.redactor.redact(&line) });
    }
    Judged { response, status, error, verdict, crumbs }
}

fn judge_response(ctx: &RunCtx, resp: &Response, out: &Outgoing, judge: Judge<'_>) -> Verdict {
    match judge {
        Judge::Expect { step, scope } => step::evaluate(step, resp, &ctx.vars.templates, scope, &ctx.eval_settings(), out),
        Judge::Refused { label } => {
            let mut v = Verdict::default();
            let what = format!("probe {label}");
            if matches!(resp.status, 401 | 403) {
                v.pass(what, "401 or 403", resp.status.to_string(), None);
            } else {
                v.fail(FailureClass::AuthNotEnforced, what, "401 or 403", resp.status.to_string(), None);
                v.message = Some(format!("auth not enforced: the request with {label} was answered {} instead of 401/403", resp.status));
            }
            v
        }
        Judge::Status { accept, expected } => {
            let mut v = Verdict::default();
            if accept(resp.status) {
                v.pass("status", expected, resp.status.to_string(), None);
            } else {
                v.fail(FailureClass::Assertion, "status", expected, resp.status.to_string(), None);
                v.message = Some(format!("{} {} answered {}, expected {expected}", out.method, out.path, resp.status));
            }
            v
        }
    }
}

/// Whether `expect` (an `eventually.unless` terminal state) holds on an answer to `step`.
pub fn holds(ctx: &RunCtx, step: &Step, expect: &Expect, resp: &Response, scope: &Scope, out: &Outgoing) -> bool {
    let probe = Step { expect: Expect { openapi: false, ..expect.clone() }, capture: Vec::new(), eventually: None, ..step.clone() };
    step::evaluate(&probe, resp, &ctx.vars.templates, scope, &ctx.eval_settings(), out).class.is_none()
}

/// A capture worth masking: secret-named, or named in the config's `secrets:`.
pub fn keep_captures(ctx: &RunCtx, captures: &[(String, J)], scope: &mut Scope) {
    for (k, val) in captures {
        if (crate::secret::is_secret_name(k) || ctx.config.secrets.contains(k))
            && let Some(s) = val.as_str()
        {
            ctx.out.redactor.add(&crate::secret::Secret::new(s));
        }
        scope.set_json(k.clone(), val);
    }
}
