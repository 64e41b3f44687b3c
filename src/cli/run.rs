//! `smokegate run` (and the shared body of `smokegate demo`): load, select, shard, check the
//! suites against the gateway-only policy, build the reporters, run, finish the reports.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use super::args::RunArgs;
use super::failure::Failure;
use super::settings::{Settings, build_ctx, cli_vars, color_enabled, default_jobs, default_paths, env_get, gateway_setup};
use crate::exit::Exit;
use crate::http::policy::Gateway;
use crate::load::diag::SourceError;
use crate::load::suite::{self, Suite};
use crate::load::template_names::is_template;
use crate::report::console::{Console, Verbosity};
use crate::report::event::{EventSink, Reporter};
use crate::report::files::{CurlFile, FileReports, GithubOut, LogFile, Outputs};
use crate::report::live::Live;
use crate::run::ctx::{Cancel, RunCtx, RunOptions};
use crate::run::{runner, signal};
use crate::secret::Redactor;

/// `smokegate run`, and the shared body of `smokegate demo`.
pub async fn cmd_run(args: RunArgs, verbosity: Verbosity, cancel: Cancel) -> Result<Exit, Failure> {
    let paths = default_paths(&args.paths);
    let mut setup = gateway_setup(&args.gateway, &paths)?;
    setup.cli_vars = cli_vars(&args.vars)?;
    let (suites, skipped) = suite::load_all(&paths).map_err(|e| Failure::sources(&e))?;
    setup.warnings.extend(skipped.into_iter().map(|s| format!("skipped {s}")));
    check_suite_origins(&suites, &setup.gateway)?;
    check_admin_steps(&suites, &setup.config)?;
    let mut suites = select(suites, &args.tag, args.filter.as_deref());
    let selected_steps = suites.iter().map(|s| s.steps.len()).sum();
    if let Some((k, n)) = args.shard {
        suites.retain(|s| shard_of(&s.file, n) == k);
    }
    let jobs = args.jobs.unwrap_or_else(default_jobs).max(1);
    let redactor = Redactor::global();
    let reporters = reporters(&args, &setup, verbosity, jobs == 1 || suites.len() <= 1, &redactor)?;
    let sink = EventSink::new(reporters);
    let warnings = setup.warnings.clone();
    let opts = RunOptions {
        shard: args.shard,
        selected_steps,
        wait_ready: args.wait_ready,
        fail_fast: args.fail_fast,
        auth_probes: args.auth_probes,
        keep_user: args.keep_user,
        jobs,
        replays: args.reports.curl.is_some(),
    };
    let ctx = build_ctx(setup, sink, redactor, opts, cancel)?;
    Ok(execute(ctx, suites, warnings).await)
}

/// The console (with the live view on a terminal) and the report files asked for.
fn reporters(
    args: &RunArgs,
    setup: &Settings,
    verbosity: Verbosity,
    live: bool,
    redactor: &Redactor,
) -> Result<Vec<Box<dyn Reporter>>, Failure> {
    let color = color_enabled() && env_get(&setup.env, "CI").is_none();
    let view = (verbosity != Verbosity::Quiet
        && std::io::stderr().is_terminal()
        && env_get(&setup.env, "CI").is_none()
        && env_get(&setup.env, "TERM") != Some("dumb"))
    .then(Live::stderr);
    let console = Console::new(color, verbosity, redactor.clone(), live).with_live_view(view);
    let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(console)];
    let outputs = Outputs {
        json: args.reports.json.clone(),
        junit: args.reports.junit.clone(),
        html: args.reports.html.clone(),
        github: (env_get(&setup.env, "GITHUB_ACTIONS") == Some("true")).then(|| GithubOut {
            summary_file: env_get(&setup.env, "GITHUB_STEP_SUMMARY").map(PathBuf::from),
            workspace: env_get(&setup.env, "GITHUB_WORKSPACE").map(str::to_owned),
        }),
    };
    if outputs.any() {
        reporters.push(Box::new(FileReports::new(outputs, redactor.clone())));
    }
    if let Some(p) = &args.reports.log_file {
        let log =
            LogFile::create(p, redactor.clone()).map_err(|e| Failure::new(Exit::Usage, format!("--log-file {}: {e}", p.display())))?;
        reporters.push(Box::new(log));
    }
    if let Some(p) = &args.reports.curl {
        let curl = CurlFile::create(p, redactor.clone()).map_err(|e| Failure::new(Exit::Usage, format!("--curl {}: {e}", p.display())))?;
        reporters.push(Box::new(curl));
    }
    Ok(reporters)
}

/// Runs the selected suites on a built context, then finishes the reports: a report that
/// cannot be written turns a green run into exit 7 (a red run keeps its own code).
pub async fn execute(ctx: Arc<RunCtx>, suites: Vec<Suite>, warnings: Vec<String>) -> Exit {
    if suites.iter().any(|s| !s.steps.is_empty()) {
        signal::install(ctx.cancel.clone(), ctx.config.auth.cleanup_deadline, ctx.out.sink.clone());
    }
    let exit = runner::execute(ctx.clone(), suites, warnings).await;
    match ctx.out.sink.finish() {
        Ok(()) => exit,
        Err(e) => {
            for line in e.0 {
                crate::errln!("error: cannot write a report: {line}");
            }
            exit.worst(Exit::ReportFailed)
        }
    }
}

/// Absolute URLs in suites must be on the gateway's origin.
/// Steps that run as `auth: admin` need `auth.admin` in the config: said before anything is sent.
pub fn check_admin_steps(suites: &[Suite], config: &crate::load::config::Config) -> Result<(), Failure> {
    if config.auth.admin.is_some() {
        return Ok(());
    }
    let errors: Vec<SourceError> = suites
        .iter()
        .flat_map(|s| {
            s.steps
                .iter()
                .chain(&s.teardown)
                .filter(|st| st.auth.unwrap_or(s.auth) == crate::load::suite::AuthMode::Admin)
                .map(move |st| (s, st))
        })
        .map(|(s, st)| {
            SourceError::new(&s.file, st.pos, format!("step `{}` runs as `auth: admin`, but the config has no `auth.admin`", st.name))
                .with_help(format!(
                    "add `auth.admin` to {}",
                    config.file.as_ref().map_or("smokegate.yaml".into(), |f| f.display().to_string())
                ))
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(Failure::sources(&errors)) }
}

pub fn check_suite_origins(suites: &[Suite], gw: &Gateway) -> Result<(), Failure> {
    let mut errors = Vec::new();
    for s in suites {
        for st in s.steps.iter().chain(&s.teardown) {
            let p = &st.request.path;
            if is_template(p) {
                // Checked when rendered: a rendered path that leaves the gateway fails as `off-gateway`.
                continue;
            }
            if let Err(e) = gw.resolve(p) {
                let help = if p.starts_with('/') {
                    "smoke requests stay under the gateway's base path; remove the `..` segments".to_owned()
                } else {
                    format!(
                        "smoke requests go through the gateway only; write the path relative to it, e.g. `{}`",
                        url::Url::parse(p).map(|u| u.path().to_owned()).unwrap_or_else(|_| "/api/…".into())
                    )
                };
                errors.push(
                    SourceError::new(&s.file, st.request.path_pos, format!("gateway-only policy: step `{}` targets {}", st.name, e))
                        .with_help(help)
                        .with_source(&std::fs::read_to_string(&s.file).unwrap_or_default()),
                );
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let mut f = Failure::sources(&errors);
    f.exit = Exit::Policy;
    Err(f)
}

fn select(mut suites: Vec<Suite>, tags: &[String], filter: Option<&str>) -> Vec<Suite> {
    if !tags.is_empty() {
        suites.retain(|s| s.tags.iter().any(|t| tags.contains(t)));
    }
    if let Some(f) = filter.map(str::to_lowercase) {
        suites = suites
            .into_iter()
            .filter_map(|mut s| {
                if s.name.to_lowercase().contains(&f) {
                    return Some(s);
                }
                s.steps.retain(|st| st.name.to_lowercase().contains(&f));
                (!s.steps.is_empty()).then_some(s)
            })
            .collect();
    }
    suites
}

/// The 1-based shard a suite file belongs to: a hash of its path as given (`./` and `\`
/// normalised), so every runner of a CI matrix computes the same split.
pub fn shard_of(file: &std::path::Path, n: u32) -> u32 {
    use sha2::Digest;
    let text = file.to_string_lossy().replace('\\', "/");
    let text = text.trim_start_matches("./");
    let h = sha2::Sha256::digest(text.as_bytes());
    let v = u64::from_be_bytes(h[..8].try_into().unwrap_or_default());
    (v % u64::from(n)) as u32 + 1
}
