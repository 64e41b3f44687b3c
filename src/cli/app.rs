//! The CLI's entry: parses nothing itself (clap did), starts the runtime, dispatches the
//! command, and turns its failure into one sanitized error line and an [`Exit`].

use std::time::Duration;

use super::args::{Cli, Command};
use super::failure::Failure;
use super::{check, cleanup, demo, import, merge, refgate, run, session};
use crate::exit::Exit;
use crate::report::console::Verbosity;
use crate::run::ctx::Cancel;
use crate::secret::Redactor;

/// After the abort (a second signal, or the cleanup deadline), how long a command still gets to
/// finish its reports before `main` stops waiting for it.
const HARD_STOP_GRACE: Duration = Duration::from_secs(3);

pub fn main(cli: Cli) -> Exit {
    let verbosity = if cli.quiet {
        Verbosity::Quiet
    } else if cli.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    init_tracing();
    // The runner drives all suites from one task (concurrency, not parallelism), so one thread
    // does the same work without handing every response between threads: W1 in `bench/run.sh`
    // went from 82 to 53 ms. The reference gateway serves many clients and keeps its workers.
    let serves = matches!(cli.command, Command::Refgate(_) | Command::Demo(_));
    let mut builder = if serves { tokio::runtime::Builder::new_multi_thread() } else { tokio::runtime::Builder::new_current_thread() };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            crate::errln!("error: cannot start the async runtime: {e}");
            return Exit::Usage;
        }
    };
    let cancel = Cancel::default();
    let result = rt.block_on(async {
        // Everything in flight races the abort token; this is the backstop for anything that
        // does not (a lock held by another process), so a second Ctrl-C always ends. A task of
        // its own, so the command's future is not polled alongside a token on every wake-up.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let abort = cancel.abort.clone();
        tokio::spawn(async move {
            abort.cancelled().await;
            tokio::time::sleep(HARD_STOP_GRACE).await;
            let _ = stop.send(());
        });
        tokio::select! {
            biased;
            r = dispatch(cli.command, verbosity, cancel.clone()) => r,
            Ok(()) = stopped => {
                Err(Failure::new(Exit::Interrupted, "interrupted: stopped waiting; what was not deleted is in the journal (run `smokegate cleanup`)"))
            }
        }
    });
    // A blocking task (a lock wait) must not hold the process after the command is done.
    rt.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(exit) => exit,
        Err(f) => {
            // The last line of defence: a server's words in an error may echo a secret this run learned.
            let message = Redactor::global().redact(&f.message);
            crate::errln!("{}", if message.starts_with("error") { message } else { format!("error: {message}") });
            f.exit
        }
    }
}

/// `RUST_LOG` turns on library and harness logs on stderr, through the redacting writer.
fn init_tracing() {
    let Some(filter) = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()) else { return };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|e| {
        crate::errln!("warning: RUST_LOG `{filter}` is not a valid filter ({e}); using `info`");
        tracing_subscriber::EnvFilter::new("info")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(crate::secret::RedactingMakeWriter(Redactor::global()))
        .try_init();
}

async fn dispatch(cmd: Command, verbosity: Verbosity, cancel: Cancel) -> Result<Exit, Failure> {
    match cmd {
        Command::Run(args) => run::cmd_run(args, verbosity, cancel).await,
        Command::Check(args) => check::cmd_check(args),
        Command::Demo(args) => demo::run(args, verbosity, cancel).await,
        Command::Refgate(args) => refgate::serve_forever(args).await,
        Command::Cleanup(args) => cleanup::cmd_cleanup(args, verbosity, cancel).await,
        Command::Token(args) => session::cmd_token(args, verbosity, cancel).await,
        Command::Call(args) => session::cmd_call(args, verbosity, cancel).await,
        Command::Logout(args) => session::cmd_logout(args, verbosity, cancel).await,
        Command::Merge(args) => merge::cmd_merge(args),
        Command::Import(args) => import::cmd_import(args),
        Command::Init(args) => import::cmd_init(args),
        Command::Schema { kind } => {
            let schema = crate::load::schema::committed(&kind).ok_or_else(|| Failure::new(Exit::Usage, format!("no schema `{kind}`")))?;
            crate::outln!("{}", schema.trim_end());
            Ok(Exit::Ok)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "smokegate", &mut std::io::stdout());
            Ok(Exit::Ok)
        }
    }
}
