//! What a run may have created besides its user: every teardown's record is journaled as soon
//! as its teardown can say how to delete it (and a "may exist" note ahead of a create whose id
//! has not arrived yet), settled when the teardown runs, and replayed by `smokegate cleanup`.

use crate::eval::template::Scope;
use crate::http::client::{CrumbCtx, Outgoing};
use crate::load::config::Config;
use crate::load::suite::{AuthMode, Body, StatusPat, Step, Suite};
use crate::report::event::{Event, LeftBehind, LeftKind, Outcome, Phase, StepResult};
use crate::run::auth::Auth;
use crate::run::ctx::{RunCtx, Vars};
use crate::run::exchange::{self, Judge};
use crate::run::journal::{Journal, RecordEntry};
use crate::run::verdict::{RunOutcome, Sent};

/// The owner of a record an `auth: admin` teardown deletes (not an email, so never an identity).
pub const ADMIN_OWNER: &str = "auth.admin";

/// A journal record of this run with nothing known but what it is and where.
pub(crate) fn record_entry(ctx: &RunCtx, key: String, label: String, method: String, path: String) -> RecordEntry {
    RecordEntry {
        version: 1,
        run_id: ctx.run_id.clone(),
        gateway: ctx.net.http.gateway.origin(),
        key,
        label,
        owner: None,
        method,
        path,
        headers: Vec::new(),
        body: None,
        accept: Vec::new(),
        // Fixed-width nanoseconds: `cleanup` deletes the newest first.
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        pending: None,
    }
}

/// Journals (or re-journals, when its rendering changed) every teardown of the suite that can
/// be rendered now: the record it deletes may exist from here on.
pub(crate) async fn journal_records(
    ctx: &RunCtx,
    suite: &Suite,
    scope: &Scope,
    auth: Option<&Auth>,
    records: &mut [Option<RecordEntry>],
    pending: &mut [Option<RecordEntry>],
) {
    let j = &ctx.journal;
    for (i, t) in suite.teardown.iter().enumerate().filter(|(_, t)| changes_something(&ctx.config, t)) {
        let Ok(out) = exchange::render_request(t, &ctx.vars.templates, scope) else { continue };
        let owner = match t.auth.unwrap_or(suite.auth) {
            AuthMode::User => auth.map(|a| a.identity.name.clone()),
            // Torn down with the admin's token: the admin of the run's config (never journaled).
            AuthMode::Admin => Some(ADMIN_OWNER.to_owned()),
            AuthMode::None | AuthMode::Aws => None,
        };
        let rec = RecordEntry {
            owner,
            headers: out.headers,
            body: out.body.map(|(b, ct)| (String::from_utf8_lossy(&b).into_owned(), ct.to_owned())),
            accept: t.expect.status.clone().unwrap_or_else(|| vec![StatusPat::Class(2)]),
            ..record_entry(
                ctx,
                format!("{}#{i}", suite.file.display()),
                format!("{} › {}", suite.name, t.name),
                out.method.to_string(),
                out.path,
            )
        };
        let same = records[i]
            .as_ref()
            .is_some_and(|o| (&o.method, &o.path, &o.headers, &o.body) == (&rec.method, &rec.path, &rec.headers, &rec.body));
        if same {
            continue;
        }
        match j.put_record(&rec).await {
            Ok(()) => {
                records[i] = Some(rec);
                // The real record replaces the "may exist" note written ahead of its create.
                if let Some(p) = pending[i].take() {
                    let _ = j.remove_record(&p);
                }
            }
            Err(e) => ctx.out.sink.emit(Event::Warning(format!(
                "cannot journal {}: {e}; if this run is killed, `smokegate cleanup` will not know about it",
                rec.describe()
            ))),
        }
    }
}

/// Journals "a record may exist" before a step whose captures a not-yet-renderable teardown
/// needs: if the run dies before the answer, the journal still says what was being created.
/// Returns the teardown index it was journaled for.
pub(crate) async fn journal_pending(
    ctx: &RunCtx,
    suite: &Suite,
    step: &Step,
    scope: &Scope,
    records: &[Option<RecordEntry>],
    pending: &mut [Option<RecordEntry>],
) -> Option<usize> {
    let j = &ctx.journal;
    if step.capture.is_empty() {
        return None;
    }
    let (i, t) = suite.teardown.iter().enumerate().find(|(i, t)| {
        changes_something(&ctx.config, t)
            && records[*i].is_none()
            && pending[*i].is_none()
            && exchange::render_request(t, &ctx.vars.templates, scope).is_err()
            && teardown_reads(&ctx.vars, t).iter().any(|v| step.capture.iter().any(|c| &c.name == v))
    })?;
    let rec = RecordEntry {
        pending: Some(format!("its create was sent, but the run ended before its id arrived, so `{}` cannot delete it", t.name)),
        // Nothing can delete it without its id: it does not hold its user back.
        ..record_entry(
            ctx,
            format!("{}#{i}:pending", suite.file.display()),
            format!("{} › {}", suite.name, step.name),
            step.request.method.to_string(),
            // The path as it goes out, when it renders (exec says why when it does not).
            exchange::render_request(step, &ctx.vars.templates, scope).map_or_else(|_| step.request.path.clone(), |o| o.path),
        )
    };
    match j.put_record(&rec).await {
        Ok(()) => {
            pending[i] = Some(rec);
            Some(i)
        }
        Err(e) => {
            ctx.out.sink.emit(Event::Warning(format!("cannot journal {}: {e}", rec.describe())));
            None
        }
    }
}

/// The step that might have created a record came back. Nothing was created (not sent, or
/// refused with a 4xx): the note goes. It failed otherwise: the record may exist without an id,
/// so the note stays journaled and is reported. It passed: the note stays until the teardown
/// renders (`journal_records` replaces it) or the suite ends without it ever rendering.
pub(crate) async fn settle_pending(ctx: &RunCtx, slot: &mut Option<RecordEntry>, sent: &Sent, counts: &mut RunOutcome) {
    let Some(p) = slot.as_ref() else { return };
    let refused = |s: u16| (400..500).contains(&s) && !matches!(s, 408 | 425 | 429);
    let v = sent.verdict();
    if !sent.went_out() || sent.facts.status.is_some_and(refused) {
        if let Some(p) = slot.take() {
            let _ = ctx.journal.remove_record(&p);
        }
    } else if v.outcome == Outcome::Failed {
        let failed = ctx.out.redactor.redact(v.message.as_deref().unwrap_or("failed"));
        let why = match sent.facts.status {
            // Answered: the record may exist, but the answer held no id for its teardown.
            Some(s) => format!("it may exist: its create was answered {s} without an id its teardown could use ({failed})"),
            None => format!("it may exist: the step failed ({failed}) before its id could be captured"),
        };
        if let Some(mut p) = slot.clone() {
            // What `cleanup` says of it later, too.
            p.pending = Some(why.trim_start_matches("it may exist: ").to_owned());
            let _ = ctx.journal.put_record(&p).await;
        }
        counts.cleanup.left.push(may_exist(p, why));
        *slot = None;
    }
}

/// Whether a teardown step deletes or changes something, and so stands for a record: not a
/// read (a GET proving the record gone) nor a login.
fn changes_something(config: &Config, t: &Step) -> bool {
    let read = matches!(t.request.method, reqwest::Method::GET | reqwest::Method::HEAD | reqwest::Method::OPTIONS);
    let logs_in = config.auth.login().is_some_and(|l| {
        let login = &l.step.request;
        t.request.method == login.method && t.request.path == login.path
    });
    !(read || logs_in)
}

/// The top-level variables a teardown step's request reads (path, headers, body).
fn teardown_reads(vars: &Vars, t: &Step) -> Vec<String> {
    let mut texts = vec![t.request.path.clone()];
    texts.extend(t.request.headers.iter().map(|(_, v)| v.clone()));
    match &t.request.body {
        Body::Json(v) => texts.push(v.to_string()),
        Body::Raw(r) => texts.push(r.clone()),
        Body::Form(f) => texts.extend(f.iter().map(|(_, v)| v.clone())),
        Body::None => {}
    }
    texts
        .iter()
        .flat_map(|text| vars.templates.variables(text).unwrap_or_default())
        .map(|v| v.split('.').next().unwrap_or_default().to_owned())
        .collect()
}

/// A record that may exist and that nothing can delete: reported, kept in the journal.
pub(crate) fn may_exist(p: &RecordEntry, reason: String) -> LeftBehind {
    LeftBehind { identity: p.describe(), reason, kind: LeftKind::Record, owner: None }
}

/// A record's teardown ran (or could not): gone from the journal when it passed, else left
/// behind, kept, and reported.
pub(crate) fn settle_record(journal: &Journal, rec: RecordEntry, r: &StepResult, counts: &mut RunOutcome) {
    match r.outcome {
        Outcome::Failed => counts.cleanup.left.push(LeftBehind {
            identity: rec.describe(),
            reason: r.message.clone().unwrap_or_else(|| "its teardown failed".into()),
            kind: LeftKind::Record,
            owner: rec.owner.clone(),
        }),
        _ => {
            let _ = journal.remove_record(&rec);
        }
    }
}

/// Why a journaled record is still there after `cleanup` tried it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RecordLeft(pub String);

/// `smokegate cleanup`: sends a journaled record's teardown again (with its owner's token) and
/// removes it from the journal when the answer is one the teardown accepts. Returns the status.
pub async fn replay_record(ctx: &RunCtx, rec: &RecordEntry, owner: Option<&Auth>) -> Result<u16, RecordLeft> {
    if let Some(why) = &rec.pending {
        let records = ctx.journal.dir.join("records").display().to_string();
        return Err(RecordLeft(format!("{why}. It may exist: check it by hand, then remove its journal entry in {records}")));
    }
    // Written by a run from a typed method; an entry edited into something else is left.
    let Ok(method) = reqwest::Method::from_bytes(rec.method.as_bytes()) else {
        return Err(RecordLeft(format!("its journaled method `{}` is not an HTTP method", rec.method)));
    };
    let mut out = Outgoing::new(method, &rec.path);
    out.headers = rec.headers.clone();
    out.body = rec.body.as_ref().map(|(b, ct)| {
        let ct = ["application/json", "application/x-www-form-urlencoded"].into_iter().find(|k| ct.starts_with(k));
        (b.clone().into_bytes().into(), ct.unwrap_or("text/plain; charset=utf-8"))
    });
    if let Some(a) = owner {
        let credential = match rec.owner.as_deref() {
            Some(ADMIN_OWNER) => a.admin_credential(&ctx.cancel.abort).await,
            _ => a.credential(&ctx.cancel.abort).await,
        };
        out.credential = Some(credential.map_err(|e| RecordLeft(format!("could not log in as its owner: {e}")))?);
    }
    let cc = CrumbCtx { suite: None, step: Some(rec.label.clone()), phase: Phase::Cleanup, attempt: 1 };
    let accept = |s: u16| rec.accepts(s);
    let expected = rec.accept.iter().map(|p| p.text()).collect::<Vec<_>>().join(" or ");
    let judged = exchange::send(ctx, &out, &cc, Judge::Status { accept: &accept, expected: &expected }, &ctx.cancel.abort).await;
    match (&judged.error, judged.status) {
        (None, Some(status)) if judged.class().is_none() => {
            let _ = ctx.journal.remove_record(rec);
            Ok(status)
        }
        (None, Some(status)) => Err(RecordLeft(format!("its teardown answered {status}, expected {expected}"))),
        (Some(e), _) => Err(RecordLeft(e.to_string())),
        (None, None) => Err(RecordLeft("no answer".into())),
    }
}
