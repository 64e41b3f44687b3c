//! The project config file (`smoke-suites/smokegate.yaml` or `--config`): gateway policy, auth
//! lifecycle routes, timeouts and the stub phrase list. Every key has a default, so a project
//! without a config file gets the ADR's behaviour.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use serde_json_path::JsonPath;

use crate::load::diag::{Pos, SourceError};
use crate::load::matcher::Matcher;
use crate::load::suite::{self, AuthMode, Body, Expect, RequestSpec, StatusPat, Step};
use crate::load::yaml::{self, Ctx, MapReader, Node};

#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from, if anywhere.
    pub file: Option<PathBuf>,
    pub gateway: GatewayConfig,
    pub auth: AuthConfig,
    pub connect_timeout: Option<Duration>,
    pub timeout: Option<Duration>,
    pub stub_phrases: Vec<String>,
    /// Names whose values are secrets, masked in every output like the token: environment
    /// variables, config and suite vars, captures.
    pub secrets: Vec<String>,
    pub vars: Vec<(String, serde_json::Value)>,
    /// Largest response body kept for assertions, in bytes.
    pub max_body_bytes: usize,
    /// `openapi:`: the document every response is checked against, as written and loaded.
    pub openapi: Option<(String, std::sync::Arc<crate::load::contract::OpenApi>)>,
    /// The file's text as read: journal entries and session caches carry it, so `cleanup` and
    /// `logout` finish an identity with the routes of the run that created it.
    pub text: Option<std::sync::Arc<str>>,
}

/// The config a journaled identity was created under, as that run read it (`None`: the
/// built-in routes). Parsed again, without its contracts, by whoever finishes the identity.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SavedConfig {
    pub file: Option<String>,
    pub text: String,
}

impl SavedConfig {
    /// The `auth` block it defines.
    pub fn auth(&self) -> Result<AuthConfig, SourceError> {
        match &self.file {
            None => Ok(AuthConfig::default()),
            Some(f) => parse_with(Path::new(f), &self.text, false).map(|c| c.auth).map_err(|e| e.with_source(&self.text)),
        }
    }

    pub fn describe(&self) -> String {
        self.file.as_ref().map_or_else(|| "the built-in routes".to_owned(), |f| format!("the config it was created with ({f})"))
    }
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub base_url: Option<String>,
    pub allow_http: bool,
    pub deny_env: Vec<String>,
    pub fingerprint: Option<Fingerprint>,
    pub request_id_header: String,
    pub upstream_headers: Vec<String>,
    pub ready_path: String,
}

#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub header: String,
    pub value: Option<Matcher>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthModeKind {
    Disposable,
    ServiceAccount,
    /// OAuth2 client credentials from an identity provider: no user is created or deleted.
    ClientCredentials,
    /// A static API key in a named header: no requests of its own at all.
    ApiKey,
}

/// `auth.mode: client-credentials`: where and how the token is fetched. Values are templates
/// (`{{ env.SMOKE_CLIENT_SECRET }}`), rendered once per run.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scope: Option<String>,
    /// `auth_method: post`: the client's id and secret go in the form body, not HTTP Basic.
    pub in_body: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScope {
    /// One user for the whole run.
    Run,
    /// One user per suite.
    Suite,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub mode: AuthModeKind,
    /// Where `auth.mode` is written (the `auth` block's start when it is not), for `check`.
    pub mode_pos: Pos,
    pub scope: AuthScope,
    /// Template for the disposable identity's email.
    pub email: String,
    pub create: Step,
    pub login: Step,
    /// Where the JWT is in the login response: the first path that yields a string wins.
    pub token_paths: Vec<(String, JsonPath)>,
    pub cleanup: Step,
    /// How a deletion is proven. `None`: the user's login is refused with 401/403. A step:
    /// the deletion is proven when it passes (e.g. `GET /api/users/{{ user_id }}` → 404).
    pub verify: Option<Step>,
    pub refresh_margin: Duration,
    pub max_token_ttl: Duration,
    pub clock_skew_tolerance: Duration,
    pub credentials_file: Option<PathBuf>,
    /// Deadline for teardown and cleanup after an interrupt.
    pub cleanup_deadline: Duration,
    /// `client-credentials` only.
    pub client: Option<ClientCredentials>,
    /// `api-key` only: the header, and its value (a template).
    pub api_key: Option<(String, String)>,
    /// `login.token: { cookie: NAME }`: the login answers with a session cookie, not a token.
    pub token_cookie: Option<String>,
    /// `auth.header`: where a token goes (`Authorization` unless set; the API key's header in
    /// `api-key` mode).
    pub token_header: String,
    /// `auth.scheme`: what precedes the token in that header (`Bearer`; `JWT` for simplejwt,
    /// `Token` for DRF; `""` for a bare token).
    pub scheme: String,
    /// `login.token_type`: a JWT (claims read), an opaque token (no claims), or detected.
    pub token_type: TokenType,
    /// `auth.token_ttl`: how long an opaque token lives when its answer does not say.
    pub token_ttl: Option<Duration>,
    /// `login.refresh`: renew the token with a refresh token rather than a second login.
    pub refresh: Option<Refresh>,
    /// `auth.admin`: the identity that manages the disposable users.
    pub admin: Option<Admin>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenType {
    /// A JWT if it parses as one, else opaque.
    #[default]
    Detect,
    Jwt,
    Opaque,
}

/// `login.refresh`: a request (with `{{ refresh_token }}`) and where its answer holds the new
/// token and, optionally, the next refresh token.
#[derive(Debug, Clone)]
pub struct Refresh {
    pub step: Step,
    pub token_paths: Vec<(String, JsonPath)>,
    pub refresh_paths: Vec<(String, JsonPath)>,
    /// Where the first refresh token is in the login's answer ([`DEFAULT_REFRESH_PATHS`]).
    pub from_login: Vec<(String, JsonPath)>,
}

/// Where the refresh token is in a login's answer, when the login does not capture
/// `refresh_token` itself.
pub const DEFAULT_REFRESH_PATHS: &[&str] = &["$.refresh_token", "$.refreshToken", "$.refresh"];

/// `auth.admin`: a second identity, logged in when a lifecycle or suite step first runs as
/// `auth: admin`. Its credentials are read here, never journaled: an entry keeps the config,
/// which names the file or the variables.
#[derive(Debug, Clone)]
pub struct Admin {
    pub credentials: AdminCredentials,
    /// Its own login step; `None`: the user's, with the admin's credentials.
    pub login: Option<Step>,
    pub token_paths: Option<Vec<(String, JsonPath)>>,
}

#[derive(Debug, Clone)]
pub enum AdminCredentials {
    /// A JSON secret `{"username": …, "password": …}` (extra fields ignored).
    File(PathBuf),
    /// Templates, such as `{{ env.SMOKE_ADMIN_PASSWORD }}`.
    Given { username: String, password: String },
}

pub const DEFAULT_DENY_ENV: &[&str] = &["*_SERVICE_URL", "*_SVC_URL", "*_SERVICE_HOST", "*_UPSTREAM_URL"];
pub const DEFAULT_UPSTREAM_HEADERS: &[&str] = &["x-upstream", "x-served-by", "via", "server-timing"];
pub const DEFAULT_TOKEN_PATHS: &[&str] = &["$.token", "$.accessToken", "$.access_token", "$.jwt", "$.id_token"];
/// Matched as words (see `step::words`): "not_implemented", "NotImplementedError" and
/// "Not yet implemented." all match.
pub const DEFAULT_STUB_PHRASES: &[&str] = &["not implemented", "not yet implemented", "unimplemented", "notimplemented"];

pub const CONFIG_KEYS: &[&str] = &["$schema", "gateway", "auth", "timeouts", "stub_phrases", "secrets", "vars", "max_body", "openapi"];
/// The login step's keys beyond a step's, in the order the decoder reads them.
pub const LOGIN_KEYS: &[&str] = &["token", "token_type", "refresh"];
pub const ADMIN_KEYS: &[&str] = &["credentials_file", "username", "password", "login"];
pub const GATEWAY_KEYS: &[&str] =
    &["base_url", "allow_http", "deny_env", "fingerprint", "request_id_header", "upstream_headers", "ready_path"];
pub const AUTH_KEYS: &[&str] = &[
    "mode",
    "scope",
    "identity",
    "create",
    "login",
    "cleanup",
    "verify",
    "refresh_margin",
    "max_token_ttl",
    "clock_skew_tolerance",
    "credentials_file",
    "cleanup_deadline",
    "token_url",
    "client_id",
    "client_secret",
    "auth_method",
    "header",
    "value",
    "scheme",
    "token_ttl",
    "admin",
];

fn auth_step(name: &str, method: &str, path: &str, body: Body, status: &[u16], auth: AuthMode) -> Step {
    Step {
        name: name.into(),
        pos: Pos::default(),
        auth: Some(auth),
        auth_probe: Some(false),
        request: RequestSpec {
            method: method.into(),
            path: path.into(),
            path_pos: Pos::default(),
            headers: Vec::new(),
            body,
            follow_redirects: false,
            timeout: None,
        },
        expect: Expect { status: Some(status.iter().map(|s| StatusPat::Code(*s)).collect()), ..Expect::default() },
        capture: Vec::new(),
        eventually: None,
    }
}

fn credentials_body() -> Body {
    Body::Json(json!({ "email": "{{ user.email }}", "password": "{{ user.password }}" }))
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthModeKind::Disposable,
            mode_pos: Pos::default(),
            scope: AuthScope::Run,
            email: "smoke+{{ run.timestamp }}-{{ run.rand }}@example.test".into(),
            create: auth_step("create user", "POST", "/api/auth/V1/auth/create", credentials_body(), &[200, 201], AuthMode::None),
            login: auth_step("login", "POST", "/api/auth/V1/auth/login", credentials_body(), &[200], AuthMode::None),
            token_paths: DEFAULT_TOKEN_PATHS
                .iter()
                .map(|p| (p.to_string(), JsonPath::parse(p).expect("default paths are valid")))
                .collect(),
            cleanup: auth_step("delete user", "DELETE", "/api/auth/V1/auth/user", Body::None, &[200, 202, 204, 404, 410], AuthMode::User),
            verify: None,
            refresh_margin: Duration::from_secs(30),
            max_token_ttl: Duration::from_secs(3600),
            clock_skew_tolerance: Duration::from_secs(60),
            credentials_file: None,
            cleanup_deadline: Duration::from_secs(15),
            client: None,
            api_key: None,
            token_cookie: None,
            token_header: "Authorization".into(),
            scheme: "Bearer".into(),
            token_type: TokenType::Detect,
            token_ttl: None,
            refresh: None,
            admin: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            file: None,
            gateway: GatewayConfig {
                base_url: None,
                allow_http: false,
                deny_env: DEFAULT_DENY_ENV.iter().map(|s| s.to_string()).collect(),
                fingerprint: None,
                request_id_header: "x-request-id".into(),
                upstream_headers: DEFAULT_UPSTREAM_HEADERS.iter().map(|s| s.to_string()).collect(),
                ready_path: "/health/ready".into(),
            },
            auth: AuthConfig::default(),
            connect_timeout: None,
            timeout: None,
            stub_phrases: DEFAULT_STUB_PHRASES.iter().map(|s| s.to_string()).collect(),
            secrets: Vec::new(),
            vars: Vec::new(),
            max_body_bytes: 10 * 1024 * 1024,
            openapi: None,
            text: None,
        }
    }
}

impl Config {
    /// Which config is in use, for the header line of `run` and the summary of `check`.
    pub fn source(&self) -> String {
        self.file.as_ref().map_or_else(|| "built-in routes (no smokegate.yaml)".to_owned(), |f| format!("config {}", f.display()))
    }

    /// What a journal entry keeps of this config.
    pub fn saved(&self) -> SavedConfig {
        SavedConfig {
            // Absolute, so that a later command from another folder names the same file.
            file: self.file.as_ref().map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.clone()).display().to_string()),
            text: self.text.as_deref().unwrap_or_default().to_owned(),
        }
    }
}

/// The built-in auth routes and settings as the config that would set them: the README's
/// "Defaults" block is this text (a test keeps the two the same).
pub fn defaults_yaml() -> String {
    let a = AuthConfig::default();
    let step = |s: &Step| {
        let body = match &s.request.body {
            Body::Json(v) => {
                format!(", json: {}", serde_json::to_string(v).unwrap_or_default().replace("\":\"", "\": \"").replace("\",\"", "\", \""))
            }
            Body::Raw(t) => format!(", body: {t:?}"),
            Body::Form(f) => format!(", form: {{ {} }}", f.iter().map(|(k, v)| format!("{k}: {v:?}")).collect::<Vec<_>>().join(", ")),
            Body::None => String::new(),
        };
        let auth = if s.auth == Some(AuthMode::User) { "\n    auth: user" } else { "" };
        format!(
            "\n    request: {{ method: {}, path: {}{body} }}{auth}\n    expect: {{ status: [{}] }}",
            s.request.method,
            s.request.path,
            s.expect.status.as_ref().map(|p| p.iter().map(|p| p.text()).collect::<Vec<_>>().join(", ")).unwrap_or_else(|| "2xx".into())
        )
    };
    let d = |d: Duration| humantime::format_duration(d).to_string();
    format!(
        "auth:\n  mode: disposable\n  scope: run\n  identity:\n    email: \"{}\"\n  create:{}\n  login:{}\n    token: [{}]\n  cleanup:{}\n  # verify: none — the deletion is proven by a refused login (400/401/403, no token)\n  scheme: Bearer\n  header: Authorization\n  refresh_margin: {}\n  max_token_ttl: {}\n  clock_skew_tolerance: {}\n  cleanup_deadline: {}\ngateway:\n  deny_env: [{}]\n  request_id_header: x-request-id\n  upstream_headers: [{}]\n  ready_path: /health/ready\ntimeouts: {{ connect: 500ms, total: 10s }}\nstub_phrases: [{}]\nmax_body: 10MiB\n",
        a.email,
        step(&a.create),
        step(&a.login),
        DEFAULT_TOKEN_PATHS.join(", "),
        step(&a.cleanup),
        d(a.refresh_margin),
        d(a.max_token_ttl),
        d(a.clock_skew_tolerance),
        d(a.cleanup_deadline),
        DEFAULT_DENY_ENV.iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(", "),
        DEFAULT_UPSTREAM_HEADERS.join(", "),
        DEFAULT_STUB_PHRASES.iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(", "),
    )
}

/// Where to look for a config file when `--config` is not given: from each suite's folder up
/// to the repository root (the first folder holding `.git`), then `./smoke-suites`. The run's
/// header line names the file it found, or says that built-in routes are used.
pub fn find_default(suite_paths: &[PathBuf]) -> Option<PathBuf> {
    let in_dir = |dir: &Path| ["smokegate.yaml", "smokegate.yml", "smokegate.json"].iter().map(|n| dir.join(n)).find(|c| c.is_file());
    for p in suite_paths {
        let start = if p.is_dir() { p.clone() } else { p.parent().map(Path::to_path_buf).unwrap_or_default() };
        let start = if start.as_os_str().is_empty() { PathBuf::from(".") } else { start };
        let mut dir = std::fs::canonicalize(&start).unwrap_or(start.clone());
        loop {
            if let Some(found) = in_dir(&dir) {
                // Shown as found from where the user pointed, when it is below it.
                let rel = found.strip_prefix(std::fs::canonicalize(&start).unwrap_or_default()).ok().map(|r| start.join(r));
                return Some(rel.unwrap_or(found));
            }
            if dir.join(".git").exists() || !dir.pop() {
                break;
            }
        }
    }
    in_dir(Path::new("smoke-suites"))
}

pub fn load(path: &Path) -> Result<Config, SourceError> {
    let bytes = suite::read_regular(path).map_err(|e| SourceError::new(path, Pos::default(), format!("cannot read config: {e}")))?;
    let source = String::from_utf8(bytes).map_err(|_| SourceError::new(path, Pos::default(), "config is not valid UTF-8"))?;
    parse(path, &source).map_err(|e| e.with_source(&source))
}

pub fn parse(path: &Path, source: &str) -> Result<Config, SourceError> {
    parse_with(path, source, true)
}

/// `contracts: false` leaves the OpenAPI document unread (a saved config, parsed again where
/// that file may not be).
fn parse_with(path: &Path, source: &str, contracts: bool) -> Result<Config, SourceError> {
    let root = yaml::parse(path, source)?;
    let ctx = Ctx { file: path };
    let mut m = ctx.map(&root, "the config")?;
    let mut cfg = Config { file: Some(path.to_path_buf()), text: Some(source.into()), ..Config::default() };
    if let Some(g) = m.get("gateway") {
        decode_gateway(ctx, g, &mut cfg.gateway)?;
    }
    if let Some(a) = m.get("auth") {
        decode_auth(ctx, a, &mut cfg.auth)?;
    }
    if let Some(t) = m.get("timeouts") {
        let mut tm = ctx.map(t, "`timeouts`")?;
        cfg.connect_timeout = tm.get("connect").map(|n| ctx.duration(n, "`timeouts.connect`")).transpose()?;
        cfg.timeout = tm.get("total").map(|n| ctx.duration(n, "`timeouts.total`")).transpose()?;
        tm.finish(&["connect", "total"])?;
    }
    if let Some(s) = m.get("stub_phrases") {
        cfg.stub_phrases = ctx
            .seq(s, "`stub_phrases`")?
            .iter()
            .map(|n| ctx.text(n, "a stub phrase").map(|p| p.to_lowercase()))
            .collect::<Result<_, _>>()?;
    }
    if let Some(s) = m.get("secrets") {
        cfg.secrets = ctx.seq(s, "`secrets`")?.iter().map(|n| ctx.text(n, "a secret's name")).collect::<Result<_, _>>()?;
    }
    if let Some(v) = m.get("vars") {
        cfg.vars = suite::decode_vars(ctx, v)?;
    }
    if let Some(b) = m.get("max_body") {
        cfg.max_body_bytes = decode_size(ctx, b)?;
    }
    if let Some(o) = m.get("openapi").filter(|_| contracts) {
        let text = ctx.str(o, "`openapi`")?.to_owned();
        let doc = path.parent().unwrap_or(Path::new(".")).join(&text);
        let api = crate::load::contract::OpenApi::load(&doc).map_err(|e| ctx.err(o, format!("cannot use the OpenAPI document: {e}")))?;
        cfg.openapi = Some((text, std::sync::Arc::new(api)));
    }
    m.finish(CONFIG_KEYS)?;
    Ok(cfg)
}

fn decode_size(ctx: Ctx<'_>, node: &Node) -> Result<usize, SourceError> {
    if let Ok(n) = ctx.uint(node, "`max_body`") {
        return Ok(n as usize);
    }
    let text = ctx.str(node, "`max_body`")?;
    let t = text.trim();
    let (num, mult) = [("GiB", 1usize << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)]
        .iter()
        .find_map(|(suffix, m)| t.strip_suffix(suffix).map(|n| (n.trim(), *m)))
        .unwrap_or((t, 1));
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| ctx.err(node, format!("invalid size `{text}`")).with_help("write bytes, or e.g. `10MiB`"))
}

fn decode_gateway(ctx: Ctx<'_>, node: &Node, g: &mut GatewayConfig) -> Result<(), SourceError> {
    let mut m = ctx.map(node, "`gateway`")?;
    if let Some(n) = m.get("base_url") {
        g.base_url = Some(ctx.str(n, "`gateway.base_url`")?.to_owned());
    }
    if let Some(n) = m.get("allow_http") {
        g.allow_http = ctx.bool(n, "`gateway.allow_http`")?;
    }
    if let Some(n) = m.get("deny_env") {
        g.deny_env = ctx.seq(n, "`gateway.deny_env`")?.iter().map(|p| ctx.text(p, "a pattern")).collect::<Result<_, _>>()?;
    }
    if let Some(n) = m.get("fingerprint") {
        let mut fm = ctx.map(n, "`gateway.fingerprint`")?;
        let header = fm.get("header").ok_or_else(|| ctx.err(n, "`fingerprint` needs a `header`"))?;
        let header = ctx.str(header, "`fingerprint.header`")?.to_ascii_lowercase();
        let value = fm.get("value").map(|v| Matcher::from_node(ctx, v)).transpose()?;
        fm.finish(&["header", "value"])?;
        g.fingerprint = Some(Fingerprint { header, value });
    }
    if let Some(n) = m.get("request_id_header") {
        g.request_id_header = ctx.str(n, "`request_id_header`")?.to_ascii_lowercase();
    }
    if let Some(n) = m.get("upstream_headers") {
        g.upstream_headers = ctx
            .seq(n, "`upstream_headers`")?
            .iter()
            .map(|h| ctx.text(h, "a header name").map(|s| s.to_ascii_lowercase()))
            .collect::<Result<_, _>>()?;
    }
    if let Some(n) = m.get("ready_path") {
        g.ready_path = ctx.str(n, "`ready_path`")?.to_owned();
    }
    m.finish(GATEWAY_KEYS)
}

fn decode_auth(ctx: Ctx<'_>, node: &Node, a: &mut AuthConfig) -> Result<(), SourceError> {
    let mut m = ctx.map(node, "`auth`")?;
    a.mode_pos = node.pos;
    if let Some(n) = m.get("mode") {
        a.mode_pos = n.pos;
        a.mode = match ctx.str(n, "`auth.mode`")? {
            "disposable" => AuthModeKind::Disposable,
            "service-account" => AuthModeKind::ServiceAccount,
            "client-credentials" => AuthModeKind::ClientCredentials,
            "api-key" => AuthModeKind::ApiKey,
            other => {
                return Err(ctx
                    .err(n, format!("unknown auth mode `{other}`"))
                    .with_help("use `disposable`, `service-account`, `client-credentials` or `api-key`"));
            }
        };
    }
    let oauth_scope = if a.mode == AuthModeKind::ClientCredentials { m.get("scope") } else { None };
    if let Some(n) = m.get("scope").filter(|_| oauth_scope.is_none()) {
        a.scope = match ctx.str(n, "`auth.scope`")? {
            "run" => AuthScope::Run,
            "suite" => AuthScope::Suite,
            other => return Err(ctx.err(n, format!("unknown auth scope `{other}`")).with_help("use `run` or `suite`")),
        };
    }
    if let Some(n) = m.get("identity") {
        let mut im = ctx.map(n, "`auth.identity`")?;
        if let Some(e) = im.get("email") {
            a.email = ctx.str(e, "`identity.email`")?.to_owned();
        }
        im.finish(&["email"])?;
    }
    if let Some(n) = m.get("create") {
        a.create = auth_step_from(ctx, n, &a.create, &[])?.0;
    }
    if let Some(n) = m.get("login") {
        decode_login(ctx, n, a)?;
    }
    if let Some(n) = m.get("cleanup") {
        a.cleanup = auth_step_from(ctx, n, &a.cleanup, &[])?.0;
    }
    if let Some(n) = m.get("verify") {
        let default = auth_step("verify deletion", "GET", "/", Body::None, &[401, 403, 404, 410], AuthMode::None);
        a.verify = Some(auth_step_from(ctx, n, &default, &[])?.0);
    }
    if let Some(n) = m.get("refresh_margin") {
        a.refresh_margin = ctx.duration(n, "`refresh_margin`")?;
    }
    if let Some(n) = m.get("max_token_ttl") {
        a.max_token_ttl = ctx.duration(n, "`max_token_ttl`")?;
    }
    if let Some(n) = m.get("clock_skew_tolerance") {
        a.clock_skew_tolerance = ctx.duration(n, "`clock_skew_tolerance`")?;
    }
    if let Some(n) = m.get("credentials_file") {
        let p = PathBuf::from(ctx.str(n, "`credentials_file`")?);
        // Relative to the config file, like every other path in it.
        a.credentials_file = Some(if p.is_relative() { ctx.file.parent().unwrap_or(Path::new(".")).join(p) } else { p });
    }
    if let Some(n) = m.get("cleanup_deadline") {
        a.cleanup_deadline = ctx.duration(n, "`cleanup_deadline`")?;
    }
    if let Some(n) = m.get("token_ttl") {
        a.token_ttl = Some(ctx.duration(n, "`token_ttl`")?);
    }
    if let Some(n) = m.get("admin") {
        a.admin = Some(decode_admin(ctx, n, &a.login)?);
    }
    admin_is_there(ctx, a)?;
    decode_provider(ctx, node, &mut m, a, oauth_scope)?;
    m.finish(AUTH_KEYS)
}

/// `auth.login`: its step, where the token is (`token`, `token_type`) and how it is renewed
/// (`refresh`).
fn decode_login(ctx: Ctx<'_>, n: &Node, a: &mut AuthConfig) -> Result<(), SourceError> {
    let (step, extra) = auth_step_from(ctx, n, &a.login, LOGIN_KEYS)?;
    a.login = step;
    let (token, token_type, refresh) = (extra[0], extra[1], extra[2]);
    if let Some(t) = token.filter(|t| matches!(t.value, crate::load::yaml::Value::Map(_))) {
        // `token: { cookie: sid }`: the login answers with a session cookie.
        let mut tm = ctx.map(t, "`login.token`")?;
        let c = tm.get("cookie").ok_or_else(|| ctx.err(t, "`login.token` is a JSONPath, a list of them, or `{ cookie: NAME }`"))?;
        a.token_cookie = Some(ctx.str(c, "`token.cookie`")?.to_owned());
        tm.finish(&["cookie"])?;
    } else if let Some(t) = token {
        a.token_paths = token_paths(ctx, t, "`login.token`")?;
    }
    if let Some(t) = token_type {
        a.token_type = match ctx.str(t, "`login.token_type`")? {
            "jwt" => TokenType::Jwt,
            "opaque" => TokenType::Opaque,
            other => {
                return Err(ctx.err(t, format!("unknown token_type `{other}`")).with_help("use `jwt` or `opaque` (default: detected)"));
            }
        };
    }
    if let Some(r) = refresh {
        let default = auth_step("refresh", "POST", "/", Body::None, &[200], AuthMode::None);
        let (step, extra) = auth_step_from(ctx, r, &default, &["token", "refresh_token"])?;
        let token = extra[0].map(|t| token_paths(ctx, t, "`refresh.token`")).transpose()?.unwrap_or_else(|| a.token_paths.clone());
        let next = extra[1].map(|t| token_paths(ctx, t, "`refresh.refresh_token`")).transpose()?.unwrap_or_default();
        let from_login =
            DEFAULT_REFRESH_PATHS.iter().map(|p| (p.to_string(), JsonPath::parse(p).expect("default paths are valid"))).collect();
        a.refresh = Some(Refresh { step, token_paths: token, refresh_paths: next, from_login });
    }
    Ok(())
}

/// `auth: admin` on a lifecycle step names an identity that must be configured.
fn admin_is_there(ctx: Ctx<'_>, a: &AuthConfig) -> Result<(), SourceError> {
    for st in [&a.create, &a.login, &a.cleanup].into_iter().chain(a.verify.as_ref()) {
        if st.auth == Some(AuthMode::Admin) && a.admin.is_none() {
            return Err(SourceError::new(
                ctx.file,
                st.pos,
                format!("auth step `{}` runs as `auth: admin`, but `auth.admin` is not configured", st.name),
            )
            .with_help("add `auth.admin` with `credentials_file` (or `username` and `password`) and, if its login differs, `login`"));
        }
    }
    Ok(())
}

/// A list of JSONPaths (or one) where a token is in an answer.
fn token_paths(ctx: Ctx<'_>, node: &Node, what: &str) -> Result<Vec<(String, JsonPath)>, SourceError> {
    ctx.list(node)
        .into_iter()
        .map(|p| {
            let text = ctx.str(p, what)?;
            Ok((text.to_owned(), suite::parse_jsonpath(ctx, p, text)?))
        })
        .collect()
}

/// `auth.admin`: where its credentials come from and how it logs in (the user's login step,
/// with the admin's credentials in `user.*` and `admin.*`, unless it has its own).
fn decode_admin(ctx: Ctx<'_>, node: &Node, user_login: &Step) -> Result<Admin, SourceError> {
    let mut m = ctx.map(node, "`auth.admin`")?;
    let file = m.get("credentials_file").map(|n| ctx.str(n, "`admin.credentials_file`")).transpose()?;
    let username = m.get("username").map(|n| ctx.text(n, "`admin.username`")).transpose()?;
    let password = m.get("password").map(|n| ctx.text(n, "`admin.password`")).transpose()?;
    let credentials = match (file, username, password) {
        (Some(f), None, None) => {
            let p = PathBuf::from(f);
            // Relative to the config file, like every other path in it.
            AdminCredentials::File(if p.is_relative() { ctx.file.parent().unwrap_or(Path::new(".")).join(p) } else { p })
        }
        (None, Some(username), Some(password)) => AdminCredentials::Given { username, password },
        _ => {
            return Err(ctx
                .err(node, "`auth.admin` needs `credentials_file`, or both `username` and `password`")
                .with_help("e.g. `username: \"{{ env.SMOKE_ADMIN_EMAIL }}\"` and `password: \"{{ env.SMOKE_ADMIN_PASSWORD }}\"`"));
        }
    };
    let (login, token_paths) = match m.get("login") {
        Some(n) => {
            let default = Step { name: "admin login".into(), ..user_login.clone() };
            let (step, extra) = auth_step_from(ctx, n, &default, &["token"])?;
            (Some(step), extra[0].map(|t| token_paths(ctx, t, "`admin.login.token`")).transpose()?)
        }
        None => (None, None),
    };
    m.finish(ADMIN_KEYS)?;
    Ok(Admin { credentials, login, token_paths })
}

/// `auth.header` must be a header name; `auth.scheme` one word, for token modes, and neither for
/// a session cookie.
fn check_token_header(
    ctx: Ctx<'_>,
    node: &Node,
    a: &mut AuthConfig,
    header: Option<&str>,
    scheme: Option<&Node>,
) -> Result<(), SourceError> {
    if let Some(h) = header
        && reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err()
    {
        return Err(ctx.err(node, format!("`{h}` is not a valid header name")));
    }
    if let Some(n) = scheme {
        let text = ctx.str(n, "`auth.scheme`")?;
        if a.mode == AuthModeKind::ApiKey {
            return Err(ctx
                .err(n, "`auth.scheme` does not apply to `api-key` mode: the key is sent as `value` renders")
                .with_help("write the scheme into `value`, e.g. `value: \"Key {{ env.SMOKE_API_KEY }}\"`"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ctx.err(n, format!("`auth.scheme` must be one word (e.g. `Bearer`, `JWT`, `Token`) or \"\", not {text:?}")));
        }
        a.scheme = text.to_owned();
    }
    if a.token_cookie.is_some() && (scheme.is_some() || header.is_some()) {
        return Err(ctx.err(
            scheme.unwrap_or(node),
            "`auth.scheme` and `auth.header` do not apply to a session cookie (`login.token: { cookie: … }`)",
        ));
    }
    Ok(())
}

/// The keys of `client-credentials` and `api-key`: required by their mode, refused by others.
fn decode_provider<'a>(
    ctx: Ctx<'a>,
    node: &Node,
    m: &mut MapReader<'a>,
    a: &mut AuthConfig,
    scope: Option<&Node>,
) -> Result<(), SourceError> {
    let text = |m: &mut MapReader<'a>, key: &str| -> Result<Option<String>, SourceError> {
        m.get(key).map(|n| ctx.text(n, &format!("`auth.{key}`"))).transpose()
    };
    let (token_url, client_id, client_secret) = (text(m, "token_url")?, text(m, "client_id")?, text(m, "client_secret")?);
    let auth_method = m.get("auth_method");
    let (header, value) = (text(m, "header")?, text(m, "value")?);
    let scheme = m.get("scheme");
    check_token_header(ctx, node, a, header.as_deref(), scheme)?;
    let mode = a.mode;
    let need = |what: &str| ctx.err(node, format!("auth mode `{}` needs `{what}`", mode_name(mode)));
    match a.mode {
        AuthModeKind::ClientCredentials => {
            let in_body = match auth_method.map(|n| ctx.str(n, "`auth_method`")).transpose()? {
                None | Some("basic") => false,
                Some("post") => true,
                Some(other) => {
                    return Err(ctx
                        .err(auth_method.unwrap_or(node), format!("unknown auth_method `{other}`"))
                        .with_help("use `basic` (the default) or `post`"));
                }
            };
            if let Some(h) = &header {
                a.token_header = h.clone();
            }
            a.client = Some(ClientCredentials {
                token_url: token_url.ok_or_else(|| need("token_url"))?,
                client_id: client_id.ok_or_else(|| need("client_id"))?,
                client_secret: client_secret.ok_or_else(|| need("client_secret"))?,
                scope: scope.map(|n| ctx.text(n, "`auth.scope`")).transpose()?,
                in_body,
            });
        }
        AuthModeKind::ApiKey => {
            let header = header.ok_or_else(|| need("header"))?;
            a.api_key = Some((header, value.ok_or_else(|| need("value"))?));
        }
        _ => {
            if let Some(h) = header {
                a.token_header = h;
            }
            let method = auth_method.map(|_| String::new());
            let stray = [
                ("token_url", &token_url),
                ("client_id", &client_id),
                ("client_secret", &client_secret),
                ("auth_method", &method),
                ("value", &value),
            ];
            if let Some((key, _)) = stray.iter().find(|(_, v)| v.is_some()) {
                return Err(ctx
                    .err(node, format!("`auth.{key}` belongs to another auth mode"))
                    .with_help("set `mode: client-credentials` or `mode: api-key`"));
            }
        }
    }
    Ok(())
}

pub fn mode_name(mode: AuthModeKind) -> &'static str {
    mode.name()
}

/// What each mode does, asked of the mode rather than matched on where it matters.
impl AuthModeKind {
    pub fn name(self) -> &'static str {
        match self {
            AuthModeKind::Disposable => "disposable",
            AuthModeKind::ServiceAccount => "service-account",
            AuthModeKind::ClientCredentials => "client-credentials",
            AuthModeKind::ApiKey => "api-key",
        }
    }

    /// It creates (and so must delete and journal) a user per run.
    pub fn creates_users(self) -> bool {
        matches!(self, AuthModeKind::Disposable)
    }

    /// Its identity logs in through the gateway's login route.
    pub fn logs_in(self) -> bool {
        matches!(self, AuthModeKind::Disposable | AuthModeKind::ServiceAccount)
    }

    /// Its token comes from the identity provider (OAuth2 client credentials).
    pub fn from_identity_provider(self) -> bool {
        matches!(self, AuthModeKind::ClientCredentials)
    }

    /// It sends a static key, and has no token at all.
    pub fn sends_a_key(self) -> bool {
        matches!(self, AuthModeKind::ApiKey)
    }
}

/// An auth step: like a suite step, but `expect` defaults to the built-in one and the step keeps
/// the default auth mode unless it says otherwise. Returns the `extra` keys' nodes, in order.
fn auth_step_from<'a>(ctx: Ctx<'a>, node: &'a Node, default: &Step, extra: &[&str]) -> Result<(Step, Vec<Option<&'a Node>>), SourceError> {
    let mut m = ctx.map(node, "an auth step")?;
    let has_expect = m.keys().any(|k| k == "expect");
    let has_name = m.keys().any(|k| k == "name");
    let mut step = suite::decode_step(ctx, node, &mut m)?;
    let extra_node: Vec<Option<&'a Node>> = extra.iter().map(|k| m.get(k)).collect();
    let mut known: Vec<&str> = suite::STEP_KEYS.to_vec();
    known.extend_from_slice(extra);
    m.finish(&known)?;
    if !has_expect {
        step.expect = default.expect.clone();
    }
    if !has_name {
        step.name = default.name.clone();
    }
    if step.auth.is_none() {
        step.auth = default.auth;
    }
    Ok((step, extra_node))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The README documents the defaults as the code has them. `UPDATE_README=1 cargo test
    /// defaults_in_the_readme` rewrites the block after a change.
    #[test]
    fn defaults_in_the_readme_are_the_codes() {
        let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&readme_path).unwrap();
        let (begin, end) = ("<!-- defaults:begin (generated from config::defaults_yaml) -->\n```yaml\n", "```\n<!-- defaults:end -->");
        let (Some(i), Some(j)) = (readme.find(begin), readme.find(end)) else { panic!("the README has no defaults block") };
        let fresh = defaults_yaml();
        // The defaults parse as a config and change nothing.
        let parsed = parse(Path::new("defaults.yaml"), &fresh).unwrap();
        assert_eq!(parsed.auth.cleanup.request.path, AuthConfig::default().cleanup.request.path);
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!("{}{fresh}{}", &readme[..i + begin.len()], &readme[j..]);
            std::fs::write(&readme_path, updated).unwrap();
            return;
        }
        assert!(readme[i + begin.len()..j] == fresh, "README defaults are stale: run `UPDATE_README=1 cargo test defaults_in_the_readme`");
    }

    /// The auth config contract of issue #3, verbatim (also run by tests/auth.rs and validated
    /// by the schema tests).
    pub(crate) const CONTRACT: &str = include_str!("../../tests/fixtures/contract-auth.yaml");
    #[test]
    fn the_token_provider_contract_examples_load() {
        let c = parse(Path::new("smokegate.yaml"), include_str!("../../tests/fixtures/contract-client-credentials.yaml")).unwrap();
        let cc = c.auth.client.as_ref().unwrap();
        assert_eq!(c.auth.mode, AuthModeKind::ClientCredentials);
        assert_eq!((cc.token_url.as_str(), cc.scope.as_deref(), cc.in_body), ("http://127.0.0.1:4103/token", Some("orders:read"), false));
        let c = parse(Path::new("smokegate.yaml"), include_str!("../../tests/fixtures/contract-api-key.yaml")).unwrap();
        assert_eq!(c.auth.api_key, Some(("X-Api-Key".into(), "{{ env.SMOKE_API_KEY }}".into())));
        let e = parse(Path::new("smokegate.yaml"), "auth:\n  mode: api-key\n  header: X-Api-Key\n").unwrap_err();
        assert!(e.to_string().contains("auth mode `api-key` needs `value`"), "{e}");
        let e = parse(Path::new("smokegate.yaml"), "auth:\n  auth_method: post\n").unwrap_err();
        assert!(e.to_string().contains("`auth.auth_method` belongs to another auth mode"), "{e}");
        let e = parse(Path::new("smokegate.yaml"), "auth:\n  token_url: http://x/token\n").unwrap_err();
        assert!(e.to_string().contains("`auth.token_url` belongs to another auth mode"), "{e}");
    }

    /// The admin contract example of the admin/opaque/refresh issue, verbatim, and its variant
    /// with the admin's credentials from the environment.
    #[test]
    fn the_admin_contract_example_loads() {
        let text = include_str!("../../tests/fixtures/contract-admin.yaml");
        let c = parse(Path::new("/etc/smoke/smokegate.yaml"), text).unwrap();
        let admin = c.auth.admin.as_ref().unwrap();
        assert!(matches!(&admin.credentials, AdminCredentials::File(f) if f == Path::new("/etc/smoke/../admin-secret.json")));
        assert_eq!(admin.login.as_ref().unwrap().request.path, "/auth/jwt/login");
        assert_eq!(admin.token_paths.as_ref().unwrap()[0].0, "$.access_token");
        assert_eq!((c.auth.cleanup.auth, c.auth.verify.as_ref().unwrap().auth), (Some(AuthMode::Admin), Some(AuthMode::Admin)));
        let env = text.replace(
            "    credentials_file: ../admin-secret.json\n",
            "    username: \"{{ env.SMOKE_ADMIN_EMAIL }}\"\n    password: \"{{ env.SMOKE_ADMIN_PASSWORD }}\"\n",
        );
        let c = parse(Path::new("smokegate.yaml"), &env).unwrap();
        assert!(
            matches!(&c.auth.admin.as_ref().unwrap().credentials, AdminCredentials::Given { username, .. } if username.contains("SMOKE_ADMIN_EMAIL"))
        );
        let e = parse(Path::new("smokegate.yaml"), "auth:\n  admin: { username: a }\n").unwrap_err();
        assert!(e.to_string().contains("needs `credentials_file`, or both `username` and `password`"), "{e}");
        let e = parse(Path::new("smokegate.yaml"), "auth:\n  cleanup:\n    auth: admin\n    request: { method: DELETE, path: /u }\n")
            .unwrap_err();
        assert!(e.to_string().contains("`auth.admin` is not configured"), "{e}");
        let e = parse(Path::new("smokegate.yaml"), "auth:\n  login:\n    request: { path: /l }\n    token_type: magic\n").unwrap_err();
        assert!(e.to_string().contains("unknown token_type"), "{e}");
    }

    #[test]
    fn the_auth_contract_example_loads() {
        let c = parse(Path::new("smokegate.yaml"), CONTRACT).unwrap();
        let a = &c.auth;
        assert_eq!(a.mode, AuthModeKind::Disposable);
        assert_eq!(a.create.capture[0].name, "user_id");
        assert_eq!(a.token_paths.len(), 1);
        assert_eq!(a.token_paths[0].0, "$.accessToken");
        assert_eq!(a.cleanup.request.path, "/api/auth/V1/auth/users/{{ user_id }}");
        assert_eq!(a.cleanup.auth, Some(AuthMode::User));
        assert!(a.login.expect.status_ok(200), "login keeps the default expectation");
        assert_eq!(a.refresh_margin, Duration::from_secs(30));
        assert_eq!(a.max_token_ttl, Duration::from_secs(3600));
    }

    #[test]
    fn defaults_follow_the_adr() {
        let c = Config::default();
        assert_eq!(c.auth.create.request.path, "/api/auth/V1/auth/create");
        assert_eq!(c.auth.cleanup.request.method, "DELETE");
        assert_eq!(c.auth.token_paths.len(), 5);
        assert_eq!(c.gateway.deny_env.len(), 4);
    }

    #[test]
    fn bad_config_is_located() {
        let e = parse(Path::new("c.yaml"), "gateway:\n  alow_http: true\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
        assert_eq!(e.help.as_deref(), Some("did you mean `allow_http`?"));
        let e = parse(Path::new("c.yaml"), "auth:\n  mode: magic\n").unwrap_err();
        assert!(e.message.contains("unknown auth mode"));
        let c = parse(Path::new("c.yaml"), "max_body: 2MiB\n").unwrap();
        assert_eq!(c.max_body_bytes, 2 << 20);
    }
}
