//! Command-line flags as parsed by clap. Raw values only: `app` resolves them with the
//! environment and the config file into settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "smokegate", version, about = "Gateway-first end-to-end smoke testing: every request travels the real client path.", after_help = crate::exit::Exit::help_table())]
pub struct Cli {
    /// More output: -v shows every request's breadcrumb.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only failures and the summary.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run suites against the gateway.
    Run(RunArgs),
    /// Validate suites and config offline: syntax, unknown keys, undefined variables, paths.
    Check(CheckArgs),
    /// Start the embedded reference gateway and run the bundled suites against it.
    Demo(DemoArgs),
    /// Run the embedded reference gateway on its own.
    Refgate(RefgateArgs),
    /// Delete test users left in the journal by interrupted or killed runs (and the cached session's).
    Cleanup(GatewayArgs),
    /// Mint or reuse a cached session for this gateway and show its claims, TTL and expiry.
    Token(TokenArgs),
    /// Send one request through the gateway with the cached session's token and a reqId.
    Call(CallArgs),
    /// Delete the cached session's user and the cache (idempotent).
    Logout(GatewayArgs),
    /// Combine the --json reports of shards into one JUnit file, one JSON report and one summary.
    Merge(MergeArgs),
    /// Turn Hurl files, a Postman collection or curl lines into suites.
    Import(ImportArgs),
    /// Write a starter folder: smokegate.yaml, a health suite and, from an OpenAPI document,
    /// a step per operation that can be called safely.
    Init(InitArgs),
    /// Print the JSON Schema of suite files, the config file or the JSON report.
    Schema {
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(crate::load::schema::KINDS))]
        kind: String,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// How to reach the gateway; shared by every command that talks to it.
#[derive(Debug, Args, Clone, Default)]
pub struct GatewayArgs {
    /// The gateway's base URL (overrides GATEWAY_BASE_URL).
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// Project config file (default: smokegate.yaml next to the suites).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Allow plain http:// to a host that is not loopback.
    #[arg(long)]
    pub allow_http: bool,
    /// Allow this denied environment variable (repeatable); logged.
    #[arg(long, value_name = "NAME")]
    pub allow_env: Vec<String>,
    /// Extra CA certificate(s), PEM.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Do not verify TLS certificates (loudly warned on every run).
    #[arg(long)]
    pub insecure: bool,
    /// Connect timeout [default: 500ms].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub connect_timeout: Option<std::time::Duration>,
    /// Total timeout per request [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Where the cleanup journal lives [default: $XDG_STATE_HOME/smokegate].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// Suite files or folders [default: ./smoke-suites].
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Only suites with this tag (repeatable; any matches).
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// Only suites or steps whose name contains this text.
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
    /// Start no new suite after the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Replay each passing authenticated safe request without valid credentials.
    #[arg(long)]
    pub auth_probes: bool,
    /// Do not delete the test user (debugging); it stays in the journal.
    #[arg(long)]
    pub keep_user: bool,
    /// Suites run concurrently [default: number of CPUs].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Run only shard K of N (e.g. 2/4): suites are assigned by a hash of their path, so every
    /// suite lands in exactly one shard and adding a suite never moves the others.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
    /// Before anything else, poll the readiness route (gateway.ready_path, default /health/ready)
    /// until it answers 2xx; exit 4 if it never does [default: 60s when given without a value].
    #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, default_missing_value = "60s", value_parser = humantime::parse_duration)]
    pub wait_ready: Option<std::time::Duration>,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub vars: VarArgs,
}

/// Variables from the command line: they override the config's and the suites' `vars`.
#[derive(Debug, Args, Clone, Default)]
pub struct VarArgs {
    /// A template variable, `NAME=VALUE` (repeatable); wins over config and suite `vars`.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub var: Vec<String>,
    /// Variables from a YAML or JSON mapping; `--var` wins over it.
    #[arg(long, value_name = "FILE")]
    pub vars_file: Option<PathBuf>,
}

/// Report files; GitHub Actions output is automatic when `GITHUB_ACTIONS=true`.
#[derive(Debug, Args, Clone, Default)]
pub struct ReportArgs {
    /// Write the machine-readable report (schema_version 1; schemas/report.schema.json).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write one self-contained HTML page: verdict, a waterfall of every request, failures with
    /// expected vs actual and their curl replay.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Stream every request's breadcrumb (and step results) as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Write every request of the run as a `curl` line that replays it through the gateway.
    #[arg(long, value_name = "FILE")]
    pub curl: Option<PathBuf>,
}

fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let (k, n) = s.split_once('/').ok_or("expected K/N, e.g. 1/4")?;
    let k: u32 = k.trim().parse().map_err(|_| format!("`{k}` is not a shard number"))?;
    let n: u32 = n.trim().parse().map_err(|_| format!("`{n}` is not a shard count"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("shard {k}/{n}: K must be between 1 and N"));
    }
    Ok((k, n))
}

#[derive(Debug, Args, Clone, Default)]
pub struct MergeArgs {
    /// JSON reports written by `smokegate run --json` (one per shard).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Write the combined JUnit XML here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the combined JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct TokenArgs {
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Print only the token, e.g. for `curl -H "Authorization: Bearer $(smokegate token --raw)"`
    /// (with the config's `auth.header` and `auth.scheme`; `smokegate token` shows the line).
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct CallArgs {
    /// HTTP method, e.g. GET.
    pub method: String,
    /// Path on the gateway, e.g. /api/orders (absolute URLs must be on the gateway's origin).
    pub path: String,
    /// JSON request body.
    #[arg(long, value_name = "BODY")]
    pub json: Option<String>,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub header: Vec<String>,
    /// Send without a token (and without logging in).
    #[arg(long)]
    pub anon: bool,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

#[derive(Debug, Args, Clone)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub from: ImportFrom,
}

#[derive(Debug, Subcommand, Clone)]
pub enum ImportFrom {
    /// One suite per Hurl file (`DIR/<file stem>.yaml`); a login whose token later requests
    /// send becomes the config's `auth` block.
    Hurl {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        out: OutArgs,
    },
    /// A Postman collection (v2.0 or v2.1): folders become suites, requests steps.
    Postman {
        #[arg(value_name = "COLLECTION.json")]
        collection: PathBuf,
        #[command(flatten)]
        out: OutArgs,
    },
    /// curl command lines: one step per line.
    Curl {
        /// A curl command line (quote it as one argument).
        #[arg(value_name = "'curl …'", required_unless_present = "file", conflicts_with = "file")]
        line: Option<String>,
        /// A file of curl lines (`\`-continued lines joined, `#` comments skipped).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        out: OutArgs,
    },
}

#[derive(Debug, Args, Clone)]
pub struct OutArgs {
    /// Where to write the suites.
    #[arg(short = 'o', long = "out", value_name = "DIR", default_value = "smoke-suites")]
    pub dir: PathBuf,
    /// Overwrite files that exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// An OpenAPI 3.0/3.1 document (YAML or JSON): a step per operation that can be called safely.
    #[arg(long, value_name = "DOC")]
    pub openapi: Option<PathBuf>,
    /// With --openapi: only the operations this run's JSON report did not exercise.
    #[arg(long, value_name = "REPORT.json", requires = "openapi")]
    pub only_missed: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct CheckArgs {
    /// Suite files or folders [default: ./smoke-suites].
    pub paths: Vec<PathBuf>,
    /// Project config file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The gateway's base URL, to check absolute URLs against (overrides GATEWAY_BASE_URL).
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// Also print the lifecycle steps a preset (`auth.cognito`) expands to, as config YAML to
    /// copy and change.
    #[arg(long)]
    pub explain_auth: bool,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct DemoArgs {
    /// Suites to run [default: the bundled smoke-suites].
    pub paths: Vec<PathBuf>,
    /// Reference gateway fault to switch on (see `smokegate refgate --help`).
    #[arg(long, value_name = "FAULT")]
    pub fault: Vec<String>,
    /// Also replay authenticated requests without valid credentials [default: on].
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub auth_probes: bool,
    /// Also write the run as one HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RefgateArgs {
    /// Gateway port (0: any free port).
    #[arg(long, default_value_t = 4000)]
    pub port: u16,
    /// Downstream service port (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub service_port: u16,
    /// Faults to switch on, comma-separated or repeated: auth-off, stub, empty, slow, 5xx,
    /// redirect-to-service, drop, short-ttl, no-delete, skew.
    #[arg(long, value_name = "FAULT", value_delimiter = ',')]
    pub faults: Vec<String>,
    /// Token lifetime [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub token_ttl: Option<std::time::Duration>,
    /// Extra latency added by the upstream service to every /api request.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub latency: Option<std::time::Duration>,
}
