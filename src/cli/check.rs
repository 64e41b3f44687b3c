//! `smokegate check`: offline validation of suites and config, templates included: every
//! variable a template reads must be definable where it is read.

use serde_json::Value as J;

use super::args::CheckArgs;
use super::failure::Failure;
use super::run::check_suite_origins;
use super::settings::{cli_vars, default_paths, env_get, env_snapshot, load_config, resolve_gateway_if_set};
use crate::eval::template::Templates;
use crate::exit::Exit;
use crate::http::policy::Gateway;
use crate::load::config::{Admin, AdminCredentials, Config, Mode, ServiceCredentials};
use crate::load::diag::{Pos, SourceError};
use crate::load::suite::{self, Suite};
use crate::load::template_names::{BUILTINS, REQUEST_FIELDS, RUN_FIELDS, USER_FIELDS, is_template};

/// `smokegate check`: offline validation.
pub fn cmd_check(args: CheckArgs) -> Result<Exit, Failure> {
    let paths = default_paths(&args.paths);
    let config = load_config(args.config.as_ref(), &paths)?;
    let (suites, skipped) = suite::load_all(&paths).map_err(|e| Failure::sources(&e))?;
    for s in &skipped {
        crate::errln!("warning: skipped {s}");
    }
    let env = env_snapshot();
    let extra = cli_vars(&args.vars)?;
    check_origins(&args, &suites, &config, &env)?;
    super::run::check_admin_steps(&suites, &config)?;
    let mut errors = Vec::new();
    let templates = Templates::new();
    // What the create and login capture is in scope for suites.
    let auth_caps: Vec<String> = config.auth.before_suites().iter().flat_map(|s| s.capture.iter().map(|c| c.name.clone())).collect();
    // The run sets up a user only when a suite needs one: otherwise `user.*` and the auth
    // steps' captures are never defined.
    let with_user = suites.iter().any(Suite::needs_auth);
    let gateway = resolve_gateway_if_set(args.gateway.as_deref(), &env, &config, true)?;
    check_auth_config(&config, &env, &extra, with_user, gateway.as_ref(), &mut errors);
    for s in &suites {
        let mut defined: Vec<String> = BUILTINS.iter().filter(|b| with_user || **b != "user").map(|b| b.to_string()).collect();
        // `token.claims.*` once the run's identity holds a token (every mode but `api-key`).
        if with_user && !matches!(config.auth.mode, Mode::ApiKey(_)) {
            defined.push("token".into());
        }
        defined.extend(config.vars.iter().map(|(k, _)| k.clone()));
        defined.extend(extra.iter().map(|(k, _)| k.clone()));
        defined.extend(s.vars.iter().map(|(k, _)| k.clone()));
        if with_user {
            defined.extend(auth_caps.iter().cloned());
        }
        // A teardown step may use what an earlier teardown step captured.
        defined.extend(s.steps.iter().chain(&s.teardown).flat_map(|st| st.capture.iter().map(|c| c.name.clone())));
        for (text, pos) in suite_templates(s) {
            let vars = match templates.variables(&text) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(SourceError::new(&s.file, pos, e.message));
                    continue;
                }
            };
            for var in vars {
                let problem = undefined_problem(&var, &text, &defined, &env);
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
    if args.explain_auth {
        explain_auth(&config);
    }
    let steps: usize = suites.iter().map(|s| s.steps.len() + s.teardown.len()).sum();
    crate::outln!(
        "ok: {} suite{}, {steps} steps{}",
        suites.len(),
        if suites.len() == 1 { "" } else { "s" },
        format!(", {}", config.source())
    );
    Ok(Exit::Ok)
}

/// The config's own auth steps and values: what `run` would fail on before its first step
/// (an unset `env.NAME` in a route, a variable no earlier step defines, a URL on an origin that
/// is neither the gateway nor the declared identity provider, a service account without
/// credentials).
fn check_auth_config(
    config: &Config,
    env: &[(String, String)],
    extra: &[(String, J)],
    with_user: bool,
    gateway: Option<&Gateway>,
    errors: &mut Vec<SourceError>,
) {
    let Some(file) = &config.file else { return };
    let a = &config.auth;
    let src = config.text.as_deref().unwrap_or_default();
    let templates = Templates::new();
    let mut defined: Vec<String> = BUILTINS.iter().map(|b| b.to_string()).collect();
    defined.extend(config.vars.iter().map(|(k, _)| k.clone()));
    defined.extend(extra.iter().map(|(k, _)| k.clone()));
    if a.admin.is_some() {
        defined.push("admin".into());
    }
    check_lifecycle(config, env, &defined, gateway, errors);
    let set = |k: &str| env_get(env, k).is_some_and(|v| !v.is_empty());
    if let (true, Mode::ServiceAccount { credentials: ServiceCredentials::Env, .. }) = (with_user, &a.mode) {
        for var in ["SMOKE_USERNAME", "SMOKE_PASSWORD"].into_iter().filter(|v| !set(v)) {
            errors.push(
                SourceError::new(file, a.mode_pos, format!("auth mode `service-account` needs {var}, which is not set here"))
                    .with_help("set SMOKE_USERNAME and SMOKE_PASSWORD, or point `auth.credentials_file` at a JSON secret")
                    .with_source(src),
            );
        }
    }
    let admin_templates = match &a.admin {
        Some(Admin::Login { credentials: AdminCredentials::File(f), .. }) => {
            if !f.is_file() {
                errors.push(
                    SourceError::new(file, a.mode_pos, format!("`auth.admin.credentials_file` {} does not exist", f.display()))
                        .with_source(src),
                );
            }
            vec![]
        }
        Some(Admin::Login { credentials: AdminCredentials::Given { username, password }, .. }) => {
            vec![("username", username), ("password", password)]
        }
        Some(Admin::Client { client, .. }) => {
            vec![("token_url", &client.token_url), ("client_id", &client.client_id), ("client_secret", &client.client_secret)]
        }
        Some(Admin::Token { value, .. }) => vec![("token", value)],
        Some(Admin::Login { credentials: AdminCredentials::AwsSecret(id), .. }) => vec![("credentials_secret.aws", id)],
        None => vec![],
    };
    {
        {
            for (key, t) in admin_templates {
                for var in templates.variables(t).unwrap_or_default() {
                    if let Some((msg, help)) = undefined_problem(&var, t, &defined, env) {
                        errors.push(
                            SourceError::new(file, a.mode_pos, format!("`auth.admin.{key}`: {msg}")).with_help(help).with_source(src),
                        );
                    }
                }
            }
        }
    }
    if let (true, Mode::ServiceAccount { credentials: ServiceCredentials::File(f), .. }) = (with_user, &a.mode)
        && !f.is_file()
    {
        errors.push(SourceError::new(file, a.mode_pos, format!("`auth.credentials_file` {} does not exist", f.display())).with_source(src));
    }
}

/// The lifecycle's steps in the order a run sends them, each seeing what the ones before it
/// captured (`token` after the login, `refresh_token` in the refresh); then the admin's, which
/// see the admin's captures only. Each URL must be on the gateway or the declared provider.
fn check_lifecycle(
    config: &Config,
    env: &[(String, String)],
    defined: &[String],
    gateway: Option<&Gateway>,
    errors: &mut Vec<SourceError>,
) {
    let (Some(file), a) = (&config.file, &config.auth) else { return };
    let src = config.text.as_deref().unwrap_or_default();
    let templates = Templates::new();
    let provider = declared_origin(config, env, errors);
    let login = a.login().map(|l| &l.step);
    let refresh = a.login().and_then(|l| l.refresh.as_ref()).map(|r| &r.step);
    let is = |st: &suite::Step, which: Option<&suite::Step>| which.is_some_and(|w| std::ptr::eq(st, w));
    // The user's steps in the order a run sends them, each seeing what the ones before it
    // captured; then the admin's, which see the admin's captures only.
    let groups = [(a.steps(), defined.to_vec()), (a.admin_steps(), defined.to_vec())];
    for (steps, mut defined) in groups {
        for st in steps {
            let mut here = defined.clone();
            if is(st, refresh) {
                here.push("refresh_token".into());
            }
            check_lifecycle_url(st, env, gateway, provider.as_ref(), file, src, errors);
            for (text, pos) in st.templates() {
                for var in templates.variables(&text).unwrap_or_default() {
                    if let Some((msg, help)) = undefined_problem(&var, &text, &here, env) {
                        errors
                            .push(SourceError::new(file, pos, format!("auth step `{}`: {msg}", st.name)).with_help(help).with_source(src));
                    }
                }
            }
            defined.extend(st.capture.iter().map(|c| c.name.clone()));
            if is(st, login) {
                defined.push("token".into());
            }
        }
    }
}

/// `auth.identity_provider`'s origin, when it can be known offline (no template, or one whose
/// variables are set here); a value that is not an http(s) URL is an error.
fn declared_origin(config: &Config, env: &[(String, String)], errors: &mut Vec<SourceError>) -> Option<url::Origin> {
    let (raw, pos) = config.auth.identity_provider.as_ref()?;
    let file = config.file.as_ref()?;
    let src = config.text.as_deref().unwrap_or_default();
    let text = render_offline(raw, env)?;
    match url::Url::parse(&text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u.origin()),
        _ => {
            errors.push(
                SourceError::new(file, *pos, format!("`auth.identity_provider` must be an http(s) URL, not `{text}`")).with_source(src),
            );
            None
        }
    }
}

/// A template rendered with nothing but the environment (`None` when it reads anything else).
fn render_offline(text: &str, env: &[(String, String)]) -> Option<String> {
    let mut scope = crate::eval::template::Scope::default();
    scope.set_json("env", &J::Object(env.iter().map(|(k, v)| (k.clone(), J::String(v.clone()))).collect()));
    Templates::new().render_str(text, &scope).ok()
}

/// A lifecycle step's `url:` must be on the gateway's origin or the declared identity
/// provider's, as `run` requires. Decided where the origin is literal and the gateway known;
/// templated origins are checked when the run renders them.
fn check_lifecycle_url(
    st: &suite::Step,
    env: &[(String, String)],
    gateway: Option<&Gateway>,
    provider: Option<&url::Origin>,
    file: &std::path::Path,
    src: &str,
    errors: &mut Vec<SourceError>,
) {
    let path = &st.request.path;
    if path.starts_with('/') {
        return;
    }
    // A templated URL is judged when it renders offline (from the environment: the Cognito
    // preset's endpoint); one that needs the run's values is judged by `run`.
    let rendered = if is_template(path) { render_offline(path, env) } else { Some(path.clone()) };
    let Some(url) = rendered.and_then(|p| url::Url::parse(&p).ok()) else { return };
    if is_template(url.host_str().unwrap_or_default()) {
        return;
    }
    let origin = url.origin();
    if provider == Some(&origin) || gateway.is_some_and(|g| g.check(&url).is_ok()) {
        return;
    }
    if gateway.is_none() && provider.is_none() {
        crate::errln!(
            "warning: {}:{}: auth step `{}` sends to {}: it must be the gateway's origin, or declared as `auth.identity_provider`",
            file.display(),
            st.request.path_pos.line,
            st.name,
            origin.ascii_serialization()
        );
        return;
    }
    let help = match provider {
        Some(p) => format!("the identity provider is {}; only the gateway and it are contacted", p.ascii_serialization()),
        None => format!("declare it: `auth.identity_provider: {}`", origin.ascii_serialization()),
    };
    errors.push(
        SourceError::new(
            file,
            st.request.path_pos,
            format!(
                "auth step `{}` sends to {}, which is neither the gateway nor the declared identity provider: `run` would refuse it (off-gateway)",
                st.name,
                origin.ascii_serialization()
            ),
        )
        .with_help(help)
        .with_source(src),
    );
}

/// `check --explain-auth`: what a preset expands to, as the `auth` block's keys a user would
/// write (it loads as written: keys beside `cognito` replace the preset's).
fn explain_auth(config: &Config) {
    match &config.auth.preset {
        Some(text) => {
            crate::outln!("# auth.cognito expands to these keys of `auth` (write any of them beside `cognito` to change it):");
            for line in text.lines() {
                crate::outln!("  {line}");
            }
        }
        None => crate::outln!("# no preset: the lifecycle is the config's own `auth` block ({})", config.source()),
    }
}

/// Every template string of a suite with the position to blame.
fn suite_templates(s: &Suite) -> Vec<(String, Pos)> {
    let mut out = Vec::new();
    for ((_, v), pos) in s.vars.iter().zip(&s.vars_pos) {
        suite::walk_templates(v, *pos, &mut out);
    }
    for st in s.steps.iter().chain(&s.teardown) {
        out.extend(st.templates());
    }
    out
}

/// What is wrong with `var` in template `text`, as (message, help), if it can never render.
fn undefined_problem(var: &str, text: &str, defined: &[String], env: &[(String, String)]) -> Option<(String, String)> {
    let mut parts = var.splitn(2, '.');
    let top = parts.next().unwrap_or_default();
    let attr = parts.next().map(|a| a.split('.').next().unwrap_or(a));
    if !defined.iter().any(|d| d == top) {
        let hint = crate::load::diag::did_you_mean(top, defined.iter().map(String::as_str)).map(|d| format!("did you mean `{d}`?"));
        return Some((
            format!("`{top}` can never be defined here"),
            hint.unwrap_or_else(|| "define it under `vars:` or capture it in an earlier step".into()),
        ));
    }
    let fields = |name: &str, known: &[&str]| {
        (format!("`{name}.{}` does not exist", attr.unwrap_or_default()), format!("{name} has: {}", known.join(", ")))
    };
    match (attr, top) {
        (Some(a), "run") => (!RUN_FIELDS.contains(&a)).then(|| fields("run", RUN_FIELDS)),
        (Some(a), "request") => (!REQUEST_FIELDS.contains(&a)).then(|| fields("request", REQUEST_FIELDS)),
        (Some(a), "user") => (!USER_FIELDS.contains(&a)).then(|| fields("user", USER_FIELDS)),
        // An unset variable fails the run (the step or the whole suite, for `vars`): say so
        // now, unless the template gives a default.
        (Some(a), "env") => (env_get(env, a).is_none() && !text.contains("default")).then(|| {
            (
                format!("environment variable `{a}` is not set here; the run would fail as `template`"),
                format!("set {a}, or give a default: `{{{{ env.{a} | default('…') }}}}`"),
            )
        }),
        _ => None,
    }
}

/// Absolute URLs against the gateway's origin when one is known; a warning for each otherwise.
fn check_origins(args: &CheckArgs, suites: &[Suite], config: &Config, env: &[(String, String)]) -> Result<(), Failure> {
    if let Some(gw) = resolve_gateway_if_set(args.gateway.as_deref(), env, config, true)? {
        check_suite_origins(suites, &gw)?;
    } else {
        // Without a gateway, any absolute URL is suspicious: say so.
        for s in suites {
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
    Ok(())
}
