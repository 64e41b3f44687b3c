//! Settings, resolved once per command: flags > environment > config file > defaults, into
//! [`Settings`], and from there into the run context every command shares.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as J;

use super::args::{GatewayArgs, VarArgs};
use super::failure::Failure;
use crate::eval::template::{Scope, Templates};
use crate::exit::Exit;
use crate::http::client::{ClientSettings, HttpClient};
use crate::http::policy::{self, Gateway, GatewayUrlError};
use crate::load::config::{self, Admin, ClientCredentials, Config, Mode};
use crate::report::event::EventSink;
use crate::run::ctx::{Cancel, IdentityProvider, IdpError, Net, Output, RunCtx, RunOptions, ServiceEnv, Vars};
use crate::run::journal::{self, Journal};
use crate::secret::Redactor;

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
pub fn require_utf8(name: &str) -> Result<(), Failure> {
    match std::env::var(name) {
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Failure::new(Exit::Usage, format!("{name} is set but is not valid UTF-8; set it to a URL of plain text")))
        }
        _ => Ok(()),
    }
}

pub fn env_get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

pub fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
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
    resolve_gateway_if_set(flag, env, cfg, allow_http)?
        .ok_or_else(|| Failure::new(Exit::Usage, "no gateway: set GATEWAY_BASE_URL or pass --gateway URL"))
}

/// The gateway, when one is given at all (`check` works without one).
pub fn resolve_gateway_if_set(
    flag: Option<&str>,
    env: &[(String, String)],
    cfg: &Config,
    allow_http: bool,
) -> Result<Option<Gateway>, Failure> {
    let Some(raw) =
        flag.map(str::to_owned).or_else(|| env_get(env, "GATEWAY_BASE_URL").map(str::to_owned)).or_else(|| cfg.gateway.base_url.clone())
    else {
        return Ok(None);
    };
    parse_origin(&raw, allow_http || cfg.gateway.allow_http, "GATEWAY_BASE_URL").map(Some)
}

/// An origin smokegate may contact (the gateway, the identity provider): plain http off loopback
/// is the policy's refusal (exit 6), any other problem a usage error naming the setting.
fn parse_origin(raw: &str, allow_http: bool, setting: &str) -> Result<Gateway, Failure> {
    Gateway::parse(raw, allow_http).map_err(|e| match e {
        GatewayUrlError::PlainHttp(_) => Failure::new(Exit::Policy, format!("gateway-only policy: {setting}: {e}")),
        other => Failure::new(Exit::Usage, format!("{setting}: {other}")),
    })
}

/// Refuses environments that point smoke tests at services directly.
fn check_env(env: &[(String, String)], cfg: &Config, allowed: &[String]) -> Result<(), Failure> {
    let denied = policy::denied_env(env.iter().map(|(k, v)| (k.as_str(), v.as_str())), &cfg.gateway.deny_env, allowed);
    if denied.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        Exit::Policy,
        format!(
            "gateway-only policy: the environment points smoke tests at services directly: {}\n  smoke traffic must go through GATEWAY_BASE_URL; unset {}, or pass --allow-env NAME if it is not used by smoke tests",
            denied.join(", "),
            if denied.len() == 1 { "it" } else { "them" }
        ),
    ))
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
pub struct Settings {
    pub config: Config,
    pub gateway: Gateway,
    pub env: Vec<(String, String)>,
    pub client: ClientSettings,
    pub state_dir: PathBuf,
    pub warnings: Vec<String>,
    /// `--var`/`--vars-file`: literal values that win over config and suite `vars`.
    pub cli_vars: Vec<(String, J)>,
}

pub fn gateway_setup(args: &GatewayArgs, suite_paths: &[PathBuf]) -> Result<Settings, Failure> {
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
    Ok(Settings { config, gateway, env, client, state_dir, warnings, cli_vars: Vec::new() })
}

/// `--vars-file` then `--var` (the later wins), checked like suite `vars`: names are
/// identifiers, not built-ins; a file's errors name its line and column.
pub fn cli_vars(args: &VarArgs) -> Result<Vec<(String, J)>, Failure> {
    let mut vars: Vec<(String, J)> = Vec::new();
    let mut set = |name: String, value: J| {
        vars.retain(|(k, _)| *k != name);
        vars.push((name, value));
    };
    if let Some(path) = &args.vars_file {
        let bytes = crate::load::suite::read_regular(path)
            .map_err(|e| Failure::new(Exit::Usage, format!("--vars-file {}: {e}", path.display())))?;
        let text =
            String::from_utf8(bytes).map_err(|_| Failure::new(Exit::Usage, format!("--vars-file {}: not valid UTF-8", path.display())))?;
        let root = crate::load::yaml::parse(path, &text).map_err(|e| Failure::sources(&[e.with_source(&text)]))?;
        let ctx = crate::load::yaml::Ctx { file: path };
        for (k, v) in crate::load::suite::decode_vars(ctx, &root).map_err(|e| Failure::sources(&[e.with_source(&text)]))? {
            set(k, v);
        }
    }
    for raw in &args.var {
        let Some((name, value)) = raw.split_once('=') else {
            return Err(Failure::new(Exit::Usage, format!("--var `{raw}`: expected NAME=VALUE")));
        };
        let name = name.trim();
        if !crate::load::suite::is_identifier(name) || crate::load::template_names::BUILTINS.contains(&name) {
            return Err(Failure::new(
                Exit::Usage,
                format!("--var `{name}`: not a variable name (letters, digits and `_`, not a built-in such as `run` or `env`)"),
            ));
        }
        set(name.to_owned(), J::String(value.to_owned()));
    }
    Ok(vars)
}

/// `client-credentials` (the mode's client, or the admin's): the token URL, rendered, and a
/// client for it (see [`IdentityProvider::new`]). `key` names the setting in messages.
fn identity_provider(
    setup: &Settings,
    client: Option<&ClientCredentials>,
    key: &str,
    templates: &Templates,
    scope: &Scope,
    run_id: &str,
) -> Result<Option<IdentityProvider>, Failure> {
    let Some(raw) = token_url(client, key, templates, scope)? else { return Ok(None) };
    IdentityProvider::new(&raw, setup.config.gateway.allow_http, &setup.gateway, setup.client.clone(), run_id)
        .map(Some)
        .map_err(|e| idp_failure(key, e))
}

/// `auth.identity_provider`, rendered: a client whose policy admits that origin alone. The one
/// origin besides the gateway: a client-credentials token URL elsewhere is refused.
fn declared_provider(
    setup: &Settings,
    idp: Option<&IdentityProvider>,
    templates: &Templates,
    scope: &Scope,
    run_id: &str,
) -> Result<Option<HttpClient>, Failure> {
    let Some((raw, _)) = &setup.config.auth.identity_provider else { return Ok(None) };
    let key = "auth.identity_provider";
    let url = templates.render_str(raw, scope).map_err(|e| Failure::new(Exit::Usage, format!("{key}: {e}")))?;
    let (gw, _) = IdentityProvider::check(&url, setup.config.gateway.allow_http, &setup.gateway).map_err(|e| idp_failure(key, e))?;
    if let Some(token_url) = idp.filter(|i| i.client.gateway.origin() != gw.origin()) {
        return Err(Failure::new(
            Exit::Policy,
            format!(
                "gateway-only policy: auth.token_url is on {}, but auth.identity_provider declares {}: the identity provider is one origin",
                token_url.client.gateway.origin(),
                gw.origin()
            ),
        ));
    }
    HttpClient::new(gw, setup.client.clone(), run_id).map(Some).map_err(|e| Failure::new(Exit::Usage, format!("{key}: {e}")))
}

/// A client's token URL, rendered.
fn token_url(client: Option<&ClientCredentials>, key: &str, templates: &Templates, scope: &Scope) -> Result<Option<String>, Failure> {
    client.map(|cc| templates.render_str(&cc.token_url, scope).map_err(|e| Failure::new(Exit::Usage, format!("{key}: {e}")))).transpose()
}

fn idp_failure(key: &str, e: IdpError) -> Failure {
    match e {
        IdpError::Policy(e) => Failure::new(Exit::Policy, format!("gateway-only policy: {key}: {e}")),
        IdpError::Invalid(e) => Failure::new(Exit::Usage, format!("{key} {e}")),
    }
}

/// `SMOKE_USERNAME`/`SMOKE_PASSWORD` for service-account mode; other variables may hold any
/// bytes, only these two are read, and one that is not UTF-8 is named when it is needed.
fn service_env() -> ServiceEnv {
    let mut env = ServiceEnv::default();
    for name in ["SMOKE_USERNAME", "SMOKE_PASSWORD"] {
        match std::env::var(name) {
            Ok(v) => env.vars.push((name.to_owned(), v)),
            Err(std::env::VarError::NotUnicode(_)) => env.not_utf8.push(name.to_owned()),
            Err(std::env::VarError::NotPresent) => {}
        }
    }
    env
}

/// Builds the shared run context (templates, client, base scope).
pub fn build_ctx(setup: Settings, sink: EventSink, redactor: Redactor, opts: RunOptions, cancel: Cancel) -> Result<Arc<RunCtx>, Failure> {
    // Secrets known before the first request: credential-named environment values and the
    // config's `secrets:` names.
    redactor.add_env(setup.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for name in &setup.config.secrets {
        if let Some(v) = env_get(&setup.env, name) {
            redactor.add(&crate::secret::Secret::new(v));
        }
    }
    let run_id = uuid::Uuid::now_v7().to_string();
    let http =
        HttpClient::new(setup.gateway.clone(), setup.client.clone(), &run_id).map_err(|e| Failure::new(Exit::Usage, e.to_string()))?;
    let templates = Templates::new();
    let fields = run_fields(&run_id, &setup.gateway);
    let mut scope = Scope::default();
    scope.set_json("run", &J::Object(fields.clone()));
    scope.set_json("env", &J::Object(setup.env.iter().map(|(k, v)| (k.clone(), J::String(v.clone()))).collect()));
    let mut vars = serde_json::Map::new();
    for (name, value) in &setup.config.vars {
        let v = templates.render_json(value, &scope).map_err(|e| Failure::new(Exit::Usage, format!("config var `{name}`: {e}")))?;
        if let (true, Some(text)) = (setup.config.secrets.contains(name), v.as_str()) {
            redactor.add(&crate::secret::Secret::new(text));
        }
        scope.set_json(name.clone(), &v);
        vars.insert(name.clone(), v);
    }
    for (name, value) in &setup.cli_vars {
        if let (true, Some(text)) = (setup.config.secrets.contains(name) || crate::secret::is_secret_name(name), value.as_str()) {
            redactor.add(&crate::secret::Secret::new(text));
        }
        scope.set_json(name.clone(), value);
        vars.insert(name.clone(), value.clone());
    }
    scope.set_json("vars", &J::Object(vars));
    let client = match &setup.config.auth.mode {
        Mode::ClientCredentials { client, .. } => Some(client),
        _ => None,
    };
    let idp = identity_provider(&setup, client, "auth.token_url", &templates, &scope, &run_id)?;
    let provider = declared_provider(&setup, idp.as_ref(), &templates, &scope, &run_id)?;
    let admin = match &setup.config.auth.admin {
        Some(Admin::Client { client, .. }) => Some(client),
        _ => None,
    };
    // Checked here, before anything is sent (no client is built: the admin's session makes its
    // own from the config it runs under, a journal entry's in `cleanup`).
    if let Some(raw) = token_url(admin, "auth.admin.token_url", &templates, &scope)? {
        IdentityProvider::check(&raw, setup.config.gateway.allow_http, &setup.gateway)
            .map_err(|e| idp_failure("auth.admin.token_url", e))?;
    }
    Ok(Arc::new(RunCtx {
        run_id,
        config: setup.config,
        opts,
        cancel,
        service_env: service_env(),
        net: Net { http, idp, provider },
        vars: Vars { templates, run_fields: fields, base: scope, cli: setup.cli_vars },
        journal: Journal::new(&setup.state_dir),
        out: Output { sink, redactor },
        fetched_secrets: Default::default(),
    }))
}

pub fn color_enabled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
