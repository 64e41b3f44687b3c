//! The edge: turns flags, environment and config into settings (CLI > env > config > defaults),
//! dispatches commands, prints top-level errors and maps them to exit codes. The only module,
//! with `cli`, that reads argv or the process environment.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as J;

use crate::cli::args::{CheckArgs, Cli, Command, GatewayArgs, RunArgs};
use crate::eval::template::{self, Scope, Templates};
use crate::exit;
use crate::http::client::{ClientSettings, HttpClient};
use crate::http::policy::{self, Gateway, GatewayUrlError};
use crate::load::config::{self, Config};
use crate::load::diag::SourceError;
use crate::load::suite::{self, Suite};
use crate::report::console::{Console, Verbosity};
use crate::report::event::{Event, EventSink, Reporter, RunSummary};
use crate::report::files::{FileReports, GithubOut, LogFile, Outputs};
use crate::report::live::Live;
use crate::run::journal::{self, Journal};
use crate::run::runner::{self, Cancel, RunCtx, RunOptions};
use crate::secret::Redactor;

/// A top-level failure: what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }

    fn sources(errors: &[SourceError]) -> Self {
        let text = errors.iter().map(|e| format!("error: {e}")).collect::<Vec<_>>().join("\n\n");
        Failure::new(exit::USAGE, text)
    }
}

/// The environment as UTF-8 pairs, for templates and settings. Entries that are not UTF-8 are
/// not dropped silently: [`env_raw`] keeps them for the policy, and a setting read from one is
/// an error naming the variable.
pub fn env_snapshot() -> Vec<(String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

/// Every variable, names and values as raw bytes read lossily: what the deny list decides on,
/// so a non-UTF-8 `*_SERVICE_URL` is refused like any other.
pub fn env_raw() -> Vec<(String, String)> {
    std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned())).collect()
}

/// Refuses a setting whose variable is set but not UTF-8 (instead of calling it missing).
fn require_utf8(name: &str) -> Result<(), Failure> {
    match std::env::var(name) {
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Failure::new(exit::USAGE, format!("{name} is set but is not valid UTF-8; set it to a URL of plain text")))
        }
        _ => Ok(()),
    }
}

fn env_get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

pub fn main(cli: Cli) -> i32 {
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
            return exit::USAGE;
        }
    };
    let result = rt.block_on(dispatch(cli.command, verbosity));
    match result {
        Ok(code) => code,
        Err(f) => {
            // The last line of defence: a server's words in an error may echo a secret this run learned.
            let message = Redactor::global().redact(&f.message);
            crate::errln!("{}", if message.starts_with("error") { message } else { format!("error: {message}") });
            f.code
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

async fn dispatch(cmd: Command, verbosity: Verbosity) -> Result<i32, Failure> {
    match cmd {
        Command::Run(args) => cmd_run(args, verbosity).await,
        Command::Check(args) => cmd_check(args),
        Command::Demo(args) => crate::cli::demo::run(args, verbosity).await,
        Command::Refgate(args) => super::refgate::serve_forever(args).await,
        Command::Cleanup(args) => cmd_cleanup(args, verbosity).await,
        Command::Token(args) => crate::cli::session::cmd_token(args, verbosity).await,
        Command::Call(args) => crate::cli::session::cmd_call(args, verbosity).await,
        Command::Logout(args) => crate::cli::session::cmd_logout(args, verbosity).await,
        Command::Merge(args) => cmd_merge(args),
        Command::Schema { kind } => {
            let schema = crate::load::schema::generate(&kind).ok_or_else(|| Failure::new(exit::USAGE, format!("no schema `{kind}`")))?;
            crate::outln!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            Ok(exit::OK)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "smokegate", &mut std::io::stdout());
            Ok(exit::OK)
        }
    }
}

fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() { vec![PathBuf::from("smoke-suites")] } else { paths.to_vec() }
}

/// The config file: `--config`, else `smokegate.yaml` beside the suites, else defaults.
pub fn load_config(explicit: Option<&PathBuf>, suite_paths: &[PathBuf]) -> Result<Config, Failure> {
    let path = match explicit {
        Some(p) => Some(p.clone()),
        None => config::find_default(suite_paths),
    };
    match path {
        Some(p) => config::load(&p).map_err(|e| Failure::sources(&[e])),
        None => Ok(Config::default()),
    }
}

/// Resolves and validates the gateway URL (flag > env > config).
pub fn resolve_gateway(flag: Option<&str>, env: &[(String, String)], cfg: &Config, allow_http: bool) -> Result<Gateway, Failure> {
    let raw = flag
        .map(str::to_owned)
        .or_else(|| env_get(env, "GATEWAY_BASE_URL").map(str::to_owned))
        .or_else(|| cfg.gateway.base_url.clone())
        .ok_or_else(|| Failure::new(exit::USAGE, "no gateway: set GATEWAY_BASE_URL or pass --gateway URL"))?;
    Gateway::parse(&raw, allow_http || cfg.gateway.allow_http).map_err(|e| match e {
        GatewayUrlError::PlainHttp(_) => Failure::new(exit::POLICY, format!("gateway-only policy: {e}")),
        other => Failure::new(exit::USAGE, format!("GATEWAY_BASE_URL: {other}")),
    })
}

/// Refuses environments that point smoke tests at services directly.
fn check_env(env: &[(String, String)], cfg: &Config, allowed: &[String]) -> Result<(), Failure> {
    let denied = policy::denied_env(env.iter().map(|(k, v)| (k.as_str(), v.as_str())), &cfg.gateway.deny_env, allowed);
    if denied.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        exit::POLICY,
        format!(
            "gateway-only policy: the environment points smoke tests at services directly: {}\n  smoke traffic must go through GATEWAY_BASE_URL; unset {}, or pass --allow-env NAME if it is not used by smoke tests",
            denied.join(", "),
            if denied.len() == 1 { "it" } else { "them" }
        ),
    ))
}

/// Absolute URLs in suites must be on the gateway's origin.
fn check_suite_origins(suites: &[Suite], gw: &Gateway) -> Result<(), Failure> {
    let mut errors = Vec::new();
    for s in suites {
        for st in s.steps.iter().chain(&s.teardown) {
            let p = &st.request.path;
            if template::is_template(p) {
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
    f.code = exit::POLICY;
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

/// `run.*` for templates.
pub fn run_fields(run_id: &str, gateway: &Gateway) -> serde_json::Map<String, J> {
    let now = chrono::Utc::now();
    let rand: String = (0..6).map(|_| b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::random_range(0..36)] as char).collect();
    let mut m = serde_json::Map::new();
    m.insert("id".into(), J::String(run_id.to_owned()));
    m.insert("timestamp".into(), J::String(now.format("%Y%m%dT%H%M%SZ").to_string()));
    m.insert("started_at".into(), J::String(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    m.insert("rand".into(), J::String(rand));
    m.insert("gateway".into(), J::String(gateway.base_url()));
    m
}

/// Settings shared by every command that talks to the gateway.
pub struct GatewaySetup {
    pub config: Config,
    pub gateway: Gateway,
    pub env: Vec<(String, String)>,
    pub client: ClientSettings,
    pub state_dir: PathBuf,
    pub warnings: Vec<String>,
}

pub fn gateway_setup(args: &GatewayArgs, suite_paths: &[PathBuf]) -> Result<GatewaySetup, Failure> {
    let env = env_snapshot();
    let config = load_config(args.config.as_ref(), suite_paths)?;
    if args.gateway.is_none() {
        require_utf8("GATEWAY_BASE_URL")?;
    }
    let gateway = resolve_gateway(args.gateway.as_deref(), &env, &config, args.allow_http)?;
    check_env(&env_raw(), &config, &args.allow_env)?;
    let mut warnings = Vec::new();
    for name in &args.allow_env {
        warnings.push(format!("--allow-env {name}: this variable is allowed despite the gateway-only policy"));
    }
    if args.insecure {
        warnings.push("--insecure: TLS certificates are NOT verified; a man in the middle could read the test user's token".into());
    }
    let client = ClientSettings {
        connect_timeout: args.connect_timeout.or(config.connect_timeout).unwrap_or(Duration::from_millis(500)),
        timeout: args.timeout.or(config.timeout).unwrap_or(Duration::from_secs(10)),
        request_id_header: config.gateway.request_id_header.clone(),
        upstream_headers: config.gateway.upstream_headers.clone(),
        max_body_bytes: config.max_body_bytes,
        cacert: args.cacert.clone(),
        insecure: args.insecure,
    };
    let state_dir = args.state_dir.clone().unwrap_or_else(journal::default_state_dir);
    Ok(GatewaySetup { config, gateway, env, client, state_dir, warnings })
}

/// Builds the shared run context (templates, client, base scope).
pub fn build_ctx(setup: GatewaySetup, sink: EventSink, redactor: Redactor, opts: RunOptions) -> Result<Arc<RunCtx>, Failure> {
    // Secrets known before the first request: credential-named environment values and the
    // config's `secrets:` names.
    redactor.add_env(setup.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for name in &setup.config.secrets {
        if let Some(v) = env_get(&setup.env, name) {
            redactor.add(&crate::secret::Secret::new(v));
        }
    }
    let run_id = uuid::Uuid::now_v7().to_string();
    let http = HttpClient::new(setup.gateway.clone(), setup.client, &run_id).map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    let templates = Templates::new();
    let fields = run_fields(&run_id, &setup.gateway);
    let mut scope = Scope::default();
    scope.set_json("run", &J::Object(fields.clone()));
    scope.set_json("env", &J::Object(setup.env.iter().map(|(k, v)| (k.clone(), J::String(v.clone()))).collect()));
    let mut vars = serde_json::Map::new();
    for (name, value) in &setup.config.vars {
        let v = templates.render_json(value, &scope).map_err(|e| Failure::new(exit::USAGE, format!("config var `{name}`: {e}")))?;
        if let (true, Some(text)) = (setup.config.secrets.contains(name), v.as_str()) {
            redactor.add(&crate::secret::Secret::new(text));
        }
        scope.set_json(name.clone(), &v);
        vars.insert(name.clone(), v);
    }
    scope.set_json("vars", &J::Object(vars));
    Ok(Arc::new(RunCtx {
        run_id,
        run_fields: fields,
        http,
        templates,
        sink,
        redactor,
        config: setup.config,
        base_scope: scope,
        journal: Some(Journal::new(&setup.state_dir)),
        cancel: Cancel::default(),
        opts,
    }))
}

pub fn color_enabled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `smokegate run`, and the shared body of `smokegate demo`.
pub async fn cmd_run(args: RunArgs, verbosity: Verbosity) -> Result<i32, Failure> {
    let paths = default_paths(&args.paths);
    let mut setup = gateway_setup(&args.gateway, &paths)?;
    let (suites, skipped) = suite::load_all(&paths).map_err(|e| Failure::sources(&e))?;
    setup.warnings.extend(skipped.into_iter().map(|s| format!("skipped {s}")));
    check_suite_origins(&suites, &setup.gateway)?;
    let mut suites = select(suites, &args.tag, args.filter.as_deref());
    let selected_steps = suites.iter().map(|s| s.steps.len()).sum();
    if let Some((k, n)) = args.shard {
        suites.retain(|s| shard_of(&s.file, n) == k);
    }
    let jobs = args.jobs.unwrap_or_else(default_jobs).max(1);
    let redactor = Redactor::global();
    let live = jobs == 1 || suites.len() <= 1;
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
            LogFile::create(p, redactor.clone()).map_err(|e| Failure::new(exit::USAGE, format!("--log-file {}: {e}", p.display())))?;
        reporters.push(Box::new(log));
    }
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
    };
    let ctx = build_ctx(setup, sink.clone(), redactor, opts)?;
    Ok(execute(ctx, suites, warnings).await)
}

/// Runs selected suites on a built context, emits the final events, returns the exit code.
pub async fn execute(ctx: Arc<RunCtx>, suites: Vec<Suite>, warnings: Vec<String>) -> i32 {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let sink = ctx.sink.clone();
    sink.emit(Event::RunStarted {
        run_id: ctx.run_id.clone(),
        gateway: ctx.http.gateway.base_url(),
        suites: suites.len(),
        version: env!("CARGO_PKG_VERSION"),
        config: ctx.config.source(),
    });
    sink.emit(Event::SuitesPlanned(suites.iter().map(|s| s.file.display().to_string()).collect()));
    for w in warnings {
        sink.emit(Event::Warning(w));
    }
    let n_suites = suites.len();
    let no_steps = suites.iter().map(|s| s.steps.len()).sum::<usize>() == 0;
    if !no_steps {
        crate::run::signal::install(ctx.cancel.clone(), ctx.config.auth.cleanup_deadline);
    }
    let mut not_ready = None;
    if let (Some(timeout), false) = (ctx.opts.wait_ready, no_steps) {
        match runner::wait_ready(&ctx, timeout).await {
            Ok(took) => sink.emit(Event::Info(format!("gateway ready after {:.1} s", took.as_secs_f64()))),
            Err(e) => not_ready = Some(e),
        }
    }
    let outcome = if no_steps || not_ready.is_some() { runner::RunOutcome::default() } else { runner::run(ctx.clone(), suites).await };
    let mut code = outcome.exit_code();
    if not_ready.is_some() {
        code = if ctx.cancel.interrupt.is_cancelled() { exit::INTERRUPTED } else { exit::GATEWAY_UNREACHABLE };
    }
    let error = if let Some(e) = &not_ready {
        Some(format!("--wait-ready: the gateway is {e}"))
    } else if let Some(e) = &outcome.bootstrap_error {
        Some(format!("auth bootstrap failed: {e}"))
    } else if n_suites == 0 && ctx.opts.shard.is_some() && ctx.opts.selected_steps > 0 {
        // A shard can legitimately be empty when there are fewer suites than runners.
        code = exit::OK;
        None
    } else if outcome.passed + outcome.failed == 0 && !outcome.interrupted {
        Some("no steps ran: nothing was tested (check the paths, --tag and --filter)".into())
    } else {
        None
    };
    sink.emit(Event::RunFinished(RunSummary {
        run_id: ctx.run_id.clone(),
        gateway: ctx.http.gateway.base_url(),
        started_at,
        duration_ms: crate::http::client::ms(started.elapsed()),
        passed: outcome.passed,
        failed: outcome.failed,
        skipped: outcome.skipped,
        suites: n_suites,
        interrupted: outcome.interrupted,
        exit_code: code,
        error,
    }));
    if let Err(e) = sink.finish() {
        for line in e.to_string().lines() {
            crate::errln!("error: cannot write a report: {line}");
        }
        return if code == exit::OK { exit::REPORT_FAILED } else { code };
    }
    code
}

/// `smokegate check`: offline validation.
fn cmd_check(args: CheckArgs) -> Result<i32, Failure> {
    let paths = default_paths(&args.paths);
    let config = load_config(args.config.as_ref(), &paths)?;
    let (suites, skipped) = suite::load_all(&paths).map_err(|e| Failure::sources(&e))?;
    for s in &skipped {
        crate::errln!("warning: skipped {s}");
    }
    let env = env_snapshot();
    let gw_raw =
        args.gateway.clone().or_else(|| env_get(&env, "GATEWAY_BASE_URL").map(str::to_owned)).or_else(|| config.gateway.base_url.clone());
    if let Some(raw) = gw_raw {
        let gw = resolve_gateway(Some(&raw), &env, &config, true)?;
        check_suite_origins(&suites, &gw)?;
    } else {
        // Without a gateway, any absolute URL is suspicious: say so.
        for s in &suites {
            for st in s.steps.iter().chain(&s.teardown) {
                if st.request.path.starts_with("http") {
                    crate::errln!(
                        "warning: {}:{}: step `{}` uses an absolute URL; it must be on the gateway's origin",
                        s.file.display(),
                        st.request.path_pos.line,
                        st.name
                    );
                }
            }
        }
    }
    let mut errors = Vec::new();
    let templates = Templates::new();
    let auth_caps: Vec<String> =
        [&config.auth.create, &config.auth.login].iter().flat_map(|s| s.capture.iter().map(|c| c.name.clone())).collect();
    for s in &suites {
        let mut defined: Vec<String> = template::BUILTINS.iter().map(|b| b.to_string()).collect();
        defined.extend(config.vars.iter().map(|(k, _)| k.clone()));
        defined.extend(s.vars.iter().map(|(k, _)| k.clone()));
        defined.extend(auth_caps.iter().cloned());
        defined.extend(s.steps.iter().flat_map(|st| st.capture.iter().map(|c| c.name.clone())));
        for (text, pos) in suite_templates(s) {
            let vars = match templates.variables(&text) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(SourceError::new(&s.file, pos, e.message));
                    continue;
                }
            };
            for var in vars {
                let mut parts = var.splitn(2, '.');
                let top = parts.next().unwrap_or_default();
                let attr = parts.next().map(|a| a.split('.').next().unwrap_or(a));
                let problem = if !defined.iter().any(|d| d == top) {
                    let hint =
                        crate::load::diag::did_you_mean(top, defined.iter().map(String::as_str)).map(|d| format!("did you mean `{d}`?"));
                    Some((
                        format!("`{top}` can never be defined here"),
                        hint.unwrap_or_else(|| "define it under `vars:` or capture it in an earlier step".into()),
                    ))
                } else if let (Some(a), "run") = (attr, top) {
                    (!template::RUN_FIELDS.contains(&a))
                        .then(|| (format!("`run.{a}` does not exist"), format!("run has: {}", template::RUN_FIELDS.join(", "))))
                } else if let (Some(a), "request") = (attr, top) {
                    (!template::REQUEST_FIELDS.contains(&a))
                        .then(|| (format!("`request.{a}` does not exist"), format!("request has: {}", template::REQUEST_FIELDS.join(", "))))
                } else if let (Some(a), "user") = (attr, top) {
                    (!template::USER_FIELDS.contains(&a))
                        .then(|| (format!("`user.{a}` does not exist"), format!("user has: {}", template::USER_FIELDS.join(", "))))
                } else if let (Some(a), "env") = (attr, top) {
                    // An unset variable fails the run (the step or the whole suite, for `vars`):
                    // say so now, unless the template gives a default.
                    (env_get(&env, a).is_none() && !text.contains("default")).then(|| {
                        (
                            format!("environment variable `{a}` is not set here; the run would fail as `template`"),
                            format!("set {a}, or give a default: `{{{{ env.{a} | default('…') }}}}`"),
                        )
                    })
                } else {
                    None
                };
                if let Some((msg, help)) = problem {
                    let src = std::fs::read_to_string(&s.file).unwrap_or_default();
                    errors.push(SourceError::new(&s.file, pos, msg).with_help(help).with_source(&src));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(Failure::sources(&errors));
    }
    let steps: usize = suites.iter().map(|s| s.steps.len() + s.teardown.len()).sum();
    crate::outln!(
        "ok: {} suite{}, {steps} steps{}",
        suites.len(),
        if suites.len() == 1 { "" } else { "s" },
        format!(", {}", config.source())
    );
    Ok(exit::OK)
}

/// Every template string of a suite with the position to blame.
fn suite_templates(s: &Suite) -> Vec<(String, crate::load::diag::Pos)> {
    let mut out = Vec::new();
    fn walk(v: &J, pos: crate::load::diag::Pos, out: &mut Vec<(String, crate::load::diag::Pos)>) {
        match v {
            J::String(t) if template::is_template(t) => out.push((t.clone(), pos)),
            J::Array(a) => a.iter().for_each(|x| walk(x, pos, out)),
            J::Object(o) => o.iter().for_each(|(k, x)| {
                if template::is_template(k) {
                    out.push((k.clone(), pos));
                }
                walk(x, pos, out)
            }),
            _ => {}
        }
    }
    for ((_, v), pos) in s.vars.iter().zip(&s.vars_pos) {
        walk(v, *pos, &mut out);
    }
    for st in s.steps.iter().chain(&s.teardown) {
        walk(&J::String(st.request.path.clone()), st.request.path_pos, &mut out);
        for (_, v) in &st.request.headers {
            walk(&J::String(v.clone()), st.pos, &mut out);
        }
        match &st.request.body {
            suite::Body::Json(v) => walk(v, st.pos, &mut out),
            suite::Body::Raw(t) => walk(&J::String(t.clone()), st.pos, &mut out),
            suite::Body::None => {}
        }
        for j in &st.expect.json {
            for t in j.matcher.templates() {
                out.push((t, j.pos));
            }
        }
        for h in &st.expect.headers {
            for t in h.matcher.templates() {
                out.push((t, h.pos));
            }
        }
    }
    out
}

/// `smokegate cleanup`: replays the teardown of every journaled record, then deletes (and
/// proves deleted) every journaled identity. An unreadable entry is left in place and makes the
/// command fail: what it described may still exist.
async fn cmd_cleanup(args: GatewayArgs, verbosity: Verbosity) -> Result<i32, Failure> {
    let paths = default_paths(&[]);
    let setup = gateway_setup(&args, &paths)?;
    let journal = Journal::new(&setup.state_dir);
    journal.sweep_temporaries();
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
    let ctx = build_ctx(setup, sink, redactor, RunOptions { jobs: 1, ..RunOptions::default() })?;
    crate::run::signal::install(ctx.cancel.clone(), ctx.config.auth.cleanup_deadline);
    let mut done = 0;
    let here = |gw: &str, what: &str| {
        if gw != origin {
            crate::outln!("skipped {what} (created behind {gw}, not {origin})");
        }
        gw == origin
    };
    let mut records: Vec<_> = records.into_iter().filter(|r| here(&r.gateway, &r.describe())).collect();
    let mut tally = Tally::default();
    for entry in entries.into_iter().filter(|e| here(&e.gateway, &e.email)) {
        // What the user owns first: deleting it needs the user's token.
        let email = entry.email.clone();
        let (owned, rest): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.owner.as_deref() == Some(email.as_str()));
        records = rest;
        clean_identity(&ctx, entry, owned, &mut tally).await;
    }
    clean_orphan_records(&ctx, records, &mut tally).await;
    done += tally.done;
    left += tally.left;
    // The cached session of `smokegate token` is a test user too.
    let store = crate::cli::session::SessionStore::new(&state_dir);
    let (session_code, removed) = crate::cli::session::logout(&ctx, &store, false).await?;
    done += removed;
    if session_code != exit::OK {
        left += 1;
    }
    crate::outln!("cleanup: {done} removed, {left} left");
    Ok(if left > 0 || session_code != exit::OK { exit::CLEANUP_FAILED } else { exit::OK })
}

/// What `cleanup` removed and what it had to leave.
#[derive(Default)]
struct Tally {
    done: usize,
    left: usize,
}

/// Replays the records a journaled identity owns, then deletes and verifies the identity (kept
/// while any of its records is left: only its token can delete them).
async fn clean_identity(ctx: &Arc<RunCtx>, entry: journal::Entry, owned: Vec<journal::RecordEntry>, t: &mut Tally) {
    let identity = crate::run::auth::Identity { email: entry.email.clone(), password: crate::secret::Secret::new(entry.password.clone()) };
    let auth = crate::run::auth::Auth::new(ctx.clone(), identity, None);
    let email = entry.email.clone();
    auth.adopt(entry);
    let mut owned_left = 0;
    for rec in owned {
        match runner::replay_record(ctx, &rec, Some(&auth)).await {
            Ok(()) => t.done += 1,
            Err(_) => owned_left += 1,
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
async fn clean_orphan_records(ctx: &Arc<RunCtx>, records: Vec<journal::RecordEntry>, t: &mut Tally) {
    let service = match ctx.config.auth.mode {
        config::AuthModeKind::ServiceAccount => runner::make_auth(ctx, None).ok(),
        config::AuthModeKind::Disposable => None,
    };
    for rec in records {
        let auth = match (&rec.owner, &service) {
            (None, _) => None,
            (Some(o), Some(svc)) if *o == svc.identity.email => Some(svc),
            (Some(o), _) => {
                t.left += 1;
                crate::errln!("left {}: it needs the token of {o}, which is not in the journal", rec.describe());
                continue;
            }
        };
        match runner::replay_record(ctx, &rec, auth).await {
            Ok(()) => t.done += 1,
            Err(_) => t.left += 1,
        }
    }
}

/// `smokegate merge`: shard reports in, one JUnit file, one JSON report and one summary out.
fn cmd_merge(args: crate::cli::args::MergeArgs) -> Result<i32, Failure> {
    let mut reports = Vec::new();
    for path in &args.reports {
        let text = std::fs::read_to_string(path).map_err(|e| Failure::new(exit::USAGE, format!("{}: {e}", path.display())))?;
        let v: J = serde_json::from_str(&text)
            .map_err(|e| Failure::new(exit::USAGE, format!("{}:{}:{}: not a JSON report: {e}", path.display(), e.line(), e.column())))?;
        if v.get("schema_version") != Some(&J::from(crate::report::model::SCHEMA_VERSION)) {
            return Err(Failure::new(
                exit::USAGE,
                format!("{}: expected a smokegate report with schema_version {}", path.display(), crate::report::model::SCHEMA_VERSION),
            ));
        }
        let r: crate::report::model::Report =
            serde_json::from_value(v).map_err(|e| Failure::new(exit::USAGE, format!("{}: not a smokegate report: {e}", path.display())))?;
        reports.push(r);
    }
    let merged = crate::report::model::merge(reports).ok_or_else(|| Failure::new(exit::USAGE, "no reports to merge"))?;
    let redactor = Redactor::global();
    let written = crate::report::files::write_report(&merged, args.json.as_ref(), args.junit.as_ref(), &redactor);
    let r = &merged.run;
    for f in merged.failures() {
        crate::outln!(
            "✗ {} › {} · {} · reqId {} · at {}:{}",
            f.suite,
            f.name,
            f.failure_class.map_or("failed", |c| c.as_str()),
            f.request_id().unwrap_or("-"),
            f.file,
            f.line
        );
    }
    for l in &merged.cleanup.left {
        crate::outln!("cleanup failed: {} was left behind: {}", l.what(), l.reason);
    }
    crate::outln!(
        "merged {} reports: {} passed, {} failed, {} skipped · {} suites · exit {}",
        args.reports.len(),
        r.passed,
        r.failed,
        r.skipped,
        r.suites,
        r.exit_code
    );
    let env = env_snapshot();
    if env_get(&env, "GITHUB_ACTIONS") == Some("true")
        && let Some(p) = env_get(&env, "GITHUB_STEP_SUMMARY")
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| Failure::new(exit::USAGE, format!("GITHUB_STEP_SUMMARY {p}: {e}")))?;
        let _ = f.write_all(redactor.redact(&crate::report::github::summary(&merged)).as_bytes());
    }
    if let Err(e) = written {
        for line in e.to_string().lines() {
            crate::errln!("error: cannot write the merged report: {line}");
        }
        return Ok(if r.exit_code == exit::OK { exit::REPORT_FAILED } else { r.exit_code });
    }
    Ok(r.exit_code)
}
