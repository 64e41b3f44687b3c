//! `smokegate cleanup`: everything the journal says a run may have left — records first, then
//! their owners, then the cached session's user — deleted through the gateway and proven gone.

use std::sync::Arc;

use super::args::GatewayArgs;
use super::failure::Failure;
use super::settings::{build_ctx, color_enabled, default_paths, gateway_setup};
use crate::exit::Exit;
use crate::report::console::{Console, Verbosity};
use crate::report::event::EventSink;
use crate::run::auth::{Auth, Identity};
use crate::run::ctx::{Cancel, RunCtx, RunOptions};
use crate::run::journal::{Entry, Journal, RecordEntry};
use crate::run::records::{ADMIN_OWNER, replay_record};
use crate::run::runner::make_auth;
use crate::run::session::SessionStore;
use crate::run::signal;
use crate::secret::{Redactor, Secret};

/// `smokegate cleanup`: replays the teardown of every journaled record, then deletes (and
/// proves deleted) every journaled identity. An unreadable entry is left in place and makes the
/// command fail: what it described may still exist.
pub async fn cmd_cleanup(args: GatewayArgs, verbosity: Verbosity, cancel: Cancel) -> Result<Exit, Failure> {
    let paths = default_paths(&[]);
    // `--config` on this command line wins over the configs the entries carry.
    let config_given = args.config.is_some();
    let setup = gateway_setup(&args, &paths)?;
    let journal = Journal::new(&setup.state_dir);
    journal.sweep_temporaries();
    journal.sweep_superseded();
    let state_dir = setup.state_dir.clone();
    let (entries, bad) = journal.entries();
    let (records, bad_records) = journal.records();
    let mut left = 0;
    for b in bad.iter().chain(&bad_records) {
        left += 1;
        crate::errln!("error: unreadable journal entry {b}: what it records may still exist (left in place; inspect or delete it by hand)");
    }
    let origin = setup.gateway.origin();
    let redactor = Redactor::global();
    let sink = EventSink::new(vec![Box::new(Console::new(color_enabled(), verbosity, redactor.clone(), true))]);
    let ctx = build_ctx(setup, sink, redactor, RunOptions { jobs: 1, ..RunOptions::default() }, cancel)?;
    signal::install(ctx.cancel.clone(), ctx.config.auth.cleanup_deadline, ctx.out.sink.clone());
    let mut done = 0;
    // Another gateway's entries are never contacted (the gateway-only rule): they are left,
    // and say where to finish them.
    let elsewhere = std::cell::Cell::new(0usize);
    let here = |gw: &str, what: &str| {
        if gw != origin {
            elsewhere.set(elsewhere.get() + 1);
            crate::errln!("left {what}: it was created behind {gw}, not {origin} (run `smokegate cleanup --gateway {gw}`)");
        }
        gw == origin
    };
    let mut records: Vec<_> = records.into_iter().filter(|r| here(&r.gateway, &r.describe())).collect();
    let mut tally = Tally::default();
    for entry in entries.into_iter().filter(|e| here(&e.gateway, &e.email)) {
        // What the user owns first: deleting it needs the user's token.
        let email = entry.email.clone();
        // And what its run's admin created: deleted with that admin's token, from the same config.
        let run = entry.run_id.clone();
        let (owned, rest): (Vec<_>, Vec<_>) = records
            .into_iter()
            .partition(|r| r.owner.as_deref() == Some(email.as_str()) || (r.owner.as_deref() == Some(ADMIN_OWNER) && r.run_id == run));
        records = rest;
        clean_identity(&ctx, entry, owned, config_given, &mut tally).await;
    }
    clean_orphan_records(&ctx, records, &mut tally).await;
    done += tally.done;
    left += tally.left + elsewhere.get();
    // The cached session of `smokegate token` is a test user too.
    let store = SessionStore::new(&state_dir);
    let (session_code, removed) = super::session::logout(&ctx, &store, false, config_given).await?;
    done += removed;
    if session_code != Exit::Ok {
        left += 1;
    }
    crate::outln!("cleanup: {done} removed, {left} left");
    Ok(if left > 0 || session_code != Exit::Ok { Exit::CleanupFailed } else { Exit::Ok })
}

/// What `cleanup` removed and what it had to leave.
#[derive(Default)]
struct Tally {
    done: usize,
    left: usize,
}

/// Replays the records a journaled identity owns, then deletes and verifies the identity (kept
/// while any of its records is left: only its token can delete them).
async fn clean_identity(ctx: &Arc<RunCtx>, entry: Entry, owned: Vec<RecordEntry>, config_given: bool, t: &mut Tally) {
    let identity = Identity { name: entry.email.clone(), password: Secret::new(entry.password.clone()) };
    // With the routes of the config it was created under, whatever config is here.
    let auth = match entry.config.as_ref().filter(|_| !config_given) {
        None => Auth::new(ctx.clone(), identity, None),
        Some(saved) => match saved.auth() {
            Ok(cfg) => Auth::with_config(ctx.clone(), cfg, saved.clone(), identity, None),
            Err(e) => {
                t.left += 1 + owned.len();
                crate::errln!("left {}: its journal entry's config no longer parses: {e}", entry.email);
                return;
            }
        },
    };
    let email = entry.email.clone();
    auth.adopt(entry);
    let mut owned_left = 0;
    for rec in owned {
        if replayed(ctx, &rec, Some(&auth)).await {
            t.done += 1;
        } else {
            owned_left += 1;
        }
    }
    if owned_left > 0 {
        t.left += owned_left + 1;
        crate::errln!("left {email}: kept until the {owned_left} record(s) it owns are deleted");
        return;
    }
    match auth.cleanup(&ctx.cancel.abort).await {
        Ok(Some(_)) => {
            t.done += 1;
            crate::outln!("deleted {email}");
        }
        Ok(None) => {
            t.done += 1;
            crate::outln!("dropped {email}: its login is refused, so it was never created or is already gone");
        }
        Err(reason) => {
            t.left += 1;
            crate::errln!("left {email}: {reason}");
        }
    }
}

/// Records whose owner is not a journaled identity: anonymous teardowns, or a service account's.
async fn clean_orphan_records(ctx: &Arc<RunCtx>, records: Vec<RecordEntry>, t: &mut Tally) {
    // Records of a long-lived identity (a service account, a client, an API key) are deleted
    // with its credential; a disposable owner that is not journaled cannot be logged in as.
    // For a disposable mode, only its admin (if the config has one) can delete what it created.
    let wanted = !ctx.config.auth.kind().creates_users() || ctx.config.auth.admin.is_some();
    let service = if wanted { make_auth(ctx, None).await.ok() } else { None };
    for rec in records {
        let auth = match (&rec.owner, &service) {
            (None, _) => None,
            (Some(o), Some(svc)) if *o == svc.identity.name || (o == ADMIN_OWNER && ctx.config.auth.admin.is_some()) => Some(svc),
            (Some(o), _) => {
                t.left += 1;
                crate::errln!("left {}: it needs the token of {o}, which is not in the journal", rec.describe());
                continue;
            }
        };
        if replayed(ctx, &rec, auth).await {
            t.done += 1;
        } else {
            t.left += 1;
        }
    }
}

/// Replays one record's teardown and says what became of it.
async fn replayed(ctx: &RunCtx, rec: &RecordEntry, owner: Option<&Auth>) -> bool {
    match replay_record(ctx, rec, owner).await {
        Ok(status) => {
            crate::outln!("deleted {} ({status})", rec.describe());
            true
        }
        Err(reason) => {
            crate::errln!("left {}: {reason}", rec.describe());
            false
        }
    }
}
