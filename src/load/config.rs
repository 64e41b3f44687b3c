//! The project config file (`smoke-suites/smokegate.yaml` or `--config`): gateway policy, auth
//! lifecycle routes, timeouts and the stub phrase list. Every key has a default, so a project
//! without a config file gets the ADR's behaviour.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::load::diag::{Pos, SourceError};
use crate::load::matcher::Matcher;
use crate::load::suite::{self, AuthMode, Body, Step};
use crate::load::yaml::{self, Ctx, Node};

pub use crate::load::auth::*;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from, if anywhere.
    pub file: Option<PathBuf>,
    pub gateway: GatewayConfig,
    pub auth: AuthConfig,
    pub connect_timeout: Option<Duration>,
    pub timeout: Option<Duration>,
    pub stub_phrases: StubPhrases,
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

pub const DEFAULT_DENY_ENV: &[&str] = &["*_SERVICE_URL", "*_SVC_URL", "*_SERVICE_HOST", "*_UPSTREAM_URL"];
pub const DEFAULT_UPSTREAM_HEADERS: &[&str] = &["x-upstream", "x-served-by", "via", "server-timing"];
/// Matched as words (see [`words`]): "not_implemented", "NotImplementedError" and
/// "Not yet implemented." all match.
pub const DEFAULT_STUB_PHRASES: &[&str] = &["not implemented", "not yet implemented", "unimplemented", "notimplemented"];

/// The phrases that mark a stub's answer, as written and as the words they are matched by,
/// normalized once at load (the stub check runs on every response).
#[derive(Debug, Clone)]
pub struct StubPhrases {
    written: Vec<String>,
    /// ` not implemented `: [`words`] with a space either side, so a match is whole words.
    padded: Vec<String>,
}

impl StubPhrases {
    pub fn new(written: Vec<String>) -> Self {
        let padded = written.iter().map(|p| format!(" {} ", words(p))).collect();
        StubPhrases { written, padded }
    }

    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// The first phrase (as written) whose words occur in `text`'s.
    pub fn found_in(&self, text: &str) -> Option<&str> {
        let text = format!(" {} ", words(text));
        self.padded.iter().position(|p| text.contains(p.as_str())).map(|i| self.written[i].as_str())
    }
}

/// Lower-case words: camelCase split, every run of non-alphanumerics one space.
pub fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev: Option<char> = None;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if prev.is_some_and(|p| p.is_lowercase() && c.is_uppercase()) {
                out.push(' ');
            }
            out.extend(c.to_lowercase());
        } else if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
        prev = Some(c);
    }
    out.trim_end().to_owned()
}

pub const GATEWAY_KEYS: &[&str] =
    &["base_url", "allow_http", "deny_env", "fingerprint", "request_id_header", "upstream_headers", "ready_path"];
pub const CONFIG_KEYS: &[&str] = &["$schema", "gateway", "auth", "timeouts", "stub_phrases", "secrets", "vars", "max_body", "openapi"];
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
            stub_phrases: StubPhrases::new(DEFAULT_STUB_PHRASES.iter().map(|s| s.to_string()).collect()),
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

/// The built-in auth routes and settings as the config that would set them: the book's
/// "Defaults" block is this text (a test keeps the two the same).
pub fn defaults_yaml() -> String {
    let a = AuthConfig::default();
    let Mode::Disposable { users, login } = &a.mode else { unreachable!("the default mode is disposable") };
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
        "auth:\n  mode: disposable\n  scope: run\n  identity:\n    email: \"{}\"\n  create:{}\n  login:{}\n    token: [{}]\n  cleanup:{}\n  # verify: none — the deletion is proven by a refused login (400/401/403, no token)\n  scheme: Bearer\n  header: Authorization\n  refresh_margin: {}\n  max_token_ttl: {}\n  clock_skew_tolerance: {}\n  cleanup_deadline: {}\n  rate_limit_wait: {}\ngateway:\n  deny_env: [{}]\n  request_id_header: x-request-id\n  upstream_headers: [{}]\n  ready_path: /health/ready\ntimeouts: {{ connect: 500ms, total: 10s }}\nstub_phrases: [{}]\nmax_body: 10MiB\n",
        users.email,
        step(&users.create[0]),
        step(&login.step),
        DEFAULT_TOKEN_PATHS.join(", "),
        step(&users.cleanup[0]),
        d(a.refresh_margin),
        d(a.max_token_ttl),
        d(a.clock_skew_tolerance),
        d(a.cleanup_deadline),
        d(a.rate_limit_wait),
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

/// [`parse`] without reading the OpenAPI document `openapi:` names (a config not yet where its
/// relative paths resolve).
pub fn parse_without_contracts(path: &Path, source: &str) -> Result<Config, SourceError> {
    parse_with(path, source, false)
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
        cfg.auth = crate::load::auth::decode_auth(ctx, a)?;
    }
    if let Some(t) = m.get("timeouts") {
        let mut tm = ctx.map(t, "`timeouts`")?;
        cfg.connect_timeout = tm.get("connect").map(|n| ctx.duration(n, "`timeouts.connect`")).transpose()?;
        cfg.timeout = tm.get("total").map(|n| ctx.duration(n, "`timeouts.total`")).transpose()?;
        tm.finish(&["connect", "total"])?;
    }
    if let Some(s) = m.get("stub_phrases") {
        cfg.stub_phrases = StubPhrases::new(
            ctx.seq(s, "`stub_phrases`")?
                .iter()
                .map(|n| ctx.text(n, "a stub phrase").map(|p| p.to_lowercase()))
                .collect::<Result<_, _>>()?,
        );
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The disposable mode's routes and login, which these tests' configs have.
    fn disposable(c: &Config) -> (&Users, &Login) {
        match &c.auth.mode {
            Mode::Disposable { users, login } => (users, login),
            other => panic!("not disposable: {other:?}"),
        }
    }

    /// The book documents the defaults as the code has them. `UPDATE_README=1 cargo test
    /// defaults_in_the_readme` rewrites the block after a change.
    #[test]
    fn defaults_in_the_readme_are_the_codes() {
        let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src/config.md");
        let readme = std::fs::read_to_string(&readme_path).unwrap();
        let (begin, end) = ("<!-- defaults:begin (generated from config::defaults_yaml) -->\n```yaml\n", "```\n<!-- defaults:end -->");
        let (Some(i), Some(j)) = (readme.find(begin), readme.find(end)) else { panic!("the README has no defaults block") };
        let fresh = defaults_yaml();
        // The defaults parse as a config and change nothing.
        let parsed = parse(Path::new("defaults.yaml"), &fresh).unwrap();
        assert_eq!(disposable(&parsed).0.cleanup[0].request.path, disposable(&Config::default()).0.cleanup[0].request.path);
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
        let Mode::ClientCredentials { client: cc, send } = &c.auth.mode else { panic!("{:?}", c.auth.mode) };
        assert_eq!(send, &Bearer::default());
        assert_eq!((cc.token_url.as_str(), cc.scope.as_deref(), cc.in_body), ("http://127.0.0.1:4103/token", Some("orders:read"), false));
        let c = parse(Path::new("smokegate.yaml"), include_str!("../../tests/fixtures/contract-api-key.yaml")).unwrap();
        assert!(
            matches!(&c.auth.mode, Mode::ApiKey(k) if k == &ApiKey { header: "X-Api-Key".into(), value: "{{ env.SMOKE_API_KEY }}".into() })
        );
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
        let Some(Admin::Login { credentials, login, token, .. }) = c.auth.admin.as_ref() else { panic!("{:?}", c.auth.admin) };
        assert!(matches!(credentials, AdminCredentials::File(f) if f == Path::new("/etc/smoke/../admin-secret.json")));
        assert_eq!(login.request.path, "/auth/jwt/login");
        assert!(matches!(token, TokenAt::Body { paths, .. } if paths[0].text == "$.access_token"));
        let users = disposable(&c).0;
        assert_eq!((users.cleanup[0].auth, users.verify[0].auth), (Some(AuthMode::Admin), Some(AuthMode::Admin)));
        let env = text.replace(
            "    credentials_file: ../admin-secret.json\n",
            "    username: \"{{ env.SMOKE_ADMIN_EMAIL }}\"\n    password: \"{{ env.SMOKE_ADMIN_PASSWORD }}\"\n",
        );
        let c = parse(Path::new("smokegate.yaml"), &env).unwrap();
        assert!(
            matches!(&c.auth.admin, Some(Admin::Login { credentials: AdminCredentials::Given { username, .. }, .. }) if username.contains("SMOKE_ADMIN_EMAIL"))
        );
        // Or a client of the identity provider, with no login of its own.
        let client = "auth:\n  admin:\n    token_url: https://idp.example/token\n    client_id: a\n    client_secret: b\n";
        let c = parse(Path::new("smokegate.yaml"), client).unwrap();
        assert!(
            matches!(&c.auth.admin, Some(Admin::Client { client, .. }) if client.token_url == "https://idp.example/token" && !client.in_body)
        );
        let e = parse(Path::new("smokegate.yaml"), &format!("{client}    login: {{ request: {{ path: /l }} }}\n")).unwrap_err();
        assert!(e.to_string().contains("has no `login`"), "{e}");
        let e = parse(Path::new("smokegate.yaml"), "auth:\n  admin: { token_url: https://idp.example/token }\n").unwrap_err();
        assert!(e.to_string().contains("needs `admin.client_id`"), "{e}");
        let e = parse(Path::new("smokegate.yaml"), "auth:\n  admin: { username: a }\n").unwrap_err();
        assert!(e.to_string().contains("needs `credentials_file` or `credentials_secret`, or both `username` and `password`"), "{e}");
        let e = parse(Path::new("smokegate.yaml"), "auth:\n  cleanup:\n    auth: admin\n    request: { method: DELETE, path: /u }\n")
            .unwrap_err();
        assert!(e.to_string().contains("`auth.admin` is not configured"), "{e}");
        let e = parse(Path::new("smokegate.yaml"), "auth:\n  login:\n    request: { path: /l }\n    token_type: magic\n").unwrap_err();
        assert!(e.to_string().contains("unknown token_type"), "{e}");
    }

    /// The identity-provider contract examples, verbatim: the 204 registration (a list of
    /// `after_login` steps, a static admin token), and the Cognito presets (signed admin calls
    /// at the pool's endpoint, declared as the identity provider; the secret's service user).
    #[test]
    fn the_identity_provider_contract_examples_load() {
        let c = parse(Path::new("smokegate.yaml"), include_str!("../../tests/fixtures/contract-register-204.yaml")).unwrap();
        let (users, login) = disposable(&c);
        assert_eq!((users.create.len(), login.after_login.len(), users.cleanup[0].auth), (1, 1, Some(AuthMode::Admin)));
        assert_eq!(login.after_login[0].capture[0].name, "user_id");
        assert!(matches!(&c.auth.admin, Some(Admin::Token { carry: Carry::Bearer(b), .. }) if *b == Bearer::default()));

        let c = parse(Path::new("smokegate.yaml"), include_str!("../../tests/fixtures/contract-cognito.yaml")).unwrap();
        let (users, login) = disposable(&c);
        let names: Vec<&str> = users.create.iter().chain(&users.cleanup).chain(&users.verify).map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["AdminCreateUser", "AdminSetUserPassword", "AdminDeleteUser", "AdminGetUser (gone)"]);
        assert!(users.create.iter().chain(&users.cleanup).chain(&users.verify).all(|s| s.auth == Some(AuthMode::Aws)));
        assert_eq!((login.step.name.as_str(), login.step.auth), ("InitiateAuth", Some(AuthMode::None)));
        assert!(matches!(&login.token, TokenAt::Body { paths, .. } if paths[0].text == "$.AuthenticationResult.AccessToken"));
        assert!(login.refresh.is_some());
        assert_eq!(c.auth.aws, Some(AwsSigning { region: "us-east-1".into(), service: "cognito-idp".into() }));
        assert!(c.auth.identity_provider.as_ref().is_some_and(|(t, _)| t.contains("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER")));
        assert!(c.auth.preset.as_ref().is_some_and(|p| p.contains("AdminDeleteUser")));
        // A key written beside the preset replaces the preset's.
        let own = "auth:\n  cognito: { user_pool_id: p, client_id: c, region: eu-west-1, token: id }\n  cleanup:\n    request: { method: DELETE, path: /u }\n";
        let c = parse(Path::new("smokegate.yaml"), own).unwrap();
        let (users, login) = disposable(&c);
        assert_eq!((users.cleanup[0].request.path.as_str(), users.create.len()), ("/u", 2));
        assert!(matches!(&login.token, TokenAt::Body { paths, .. } if paths[0].text == "$.AuthenticationResult.IdToken"));

        let c = parse(Path::new("smokegate.yaml"), include_str!("../../tests/fixtures/contract-cognito-service.yaml")).unwrap();
        let Mode::ServiceAccount { login, credentials } = &c.auth.mode else { panic!("{:?}", c.auth.mode) };
        assert_eq!(credentials, &ServiceCredentials::AwsSecret("{{ env.COGNITO_SERVICE_USER_SECRET_ARN }}".into()));
        assert!(matches!(&login.step.request.body, Body::Json(v) if v.to_string().contains("{{ user.username }}")));
        for (bad, says) in [
            ("auth:\n  cognito: { client_id: c }\n", "needs `region`"),
            ("auth:\n  cognito: { client_id: c, region: us-east-1 }\n", "needs `user_pool_id`"),
            ("auth:\n  cognito: { client_id: c, region: \"a b\" , user_pool_id: p }\n", "is a region"),
            ("auth:\n  mode: api-key\n  header: X-Key\n  value: k\n  cognito: { client_id: c, region: r }\n", "not `api-key`"),
            ("auth:\n  credentials_secret: { aws: x }\n", "needs `mode: service-account`"),
            ("auth:\n  create:\n    request: { path: /c }\n    auth: aws\n", "`auth.aws` is not configured"),
            ("auth:\n  create: []\n", "is an empty list"),
            (
                "auth:\n  login:\n    request: { path: /l }\n    refresh: { request: { path: /r }, auth: user }\n",
                "what gets the user's token",
            ),
            (
                "auth:\n  admin:\n    username: a\n    password: b\n    login: { request: { path: /l }, auth: admin }\n",
                "what gets the admin's token",
            ),
            ("auth:\n  admin: { token: t, username: u }\n", "does not go with it"),
        ] {
            let e = parse(Path::new("smokegate.yaml"), bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_auth_contract_example_loads() {
        let c = parse(Path::new("smokegate.yaml"), CONTRACT).unwrap();
        let a = &c.auth;
        let (users, login) = disposable(&c);
        assert_eq!(users.create[0].capture[0].name, "user_id");
        let TokenAt::Body { paths, send } = &login.token else { panic!("a cookie") };
        assert_eq!((paths.len(), paths[0].text.as_str(), send), (1, "$.accessToken", &Bearer::default()));
        assert_eq!(users.cleanup[0].request.path, "/api/auth/V1/auth/users/{{ user_id }}");
        assert_eq!(users.cleanup[0].auth, Some(AuthMode::User));
        assert!(login.step.expect.status_ok(200), "login keeps the default expectation");
        assert_eq!(a.refresh_margin, Duration::from_secs(30));
        assert_eq!(a.max_token_ttl, Duration::from_secs(3600));
    }

    #[test]
    fn defaults_follow_the_adr() {
        let c = Config::default();
        let (users, login) = disposable(&c);
        assert_eq!(users.create[0].request.path, "/api/auth/V1/auth/create");
        assert_eq!(users.cleanup[0].request.method, "DELETE");
        assert!(matches!(&login.token, TokenAt::Body { paths, .. } if paths.len() == 5));
        assert_eq!(c.gateway.deny_env.len(), 4);
    }

    #[test]
    fn bad_config_is_located() {
        let e = parse(Path::new("c.yaml"), "gateway:\n  alow_http: true\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
        assert_eq!(e.help.as_deref(), Some("did you mean `allow_http`?"));
        let e = parse(Path::new("c.yaml"), "auth:\n  mode: magic\n").unwrap_err();
        assert!(e.message.contains("unknown auth mode"));
        // An admin in a mode without a login of its own must say how it logs in.
        let e =
            parse(Path::new("c.yaml"), "auth:\n  mode: api-key\n  header: X-Api-Key\n  value: k\n  admin: { username: a, password: b }\n")
                .unwrap_err();
        assert!(e.message.contains("`auth.admin` needs its own `login` in auth mode `api-key`"), "{e}");
        let c = parse(Path::new("c.yaml"), "max_body: 2MiB\n").unwrap();
        assert_eq!(c.max_body_bytes, 2 << 20);
    }
}
