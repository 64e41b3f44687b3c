//! The suite model (what a smoke suite says) and its loader (YAML or JSON files, folders).
//! Loading is pure and offline: no template is rendered and nothing is sent here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value as J;
use serde_json_path::JsonPath;

use crate::load::diag::{Pos, SourceError};
use crate::load::matcher::Matcher;
use crate::load::template_names::is_template;
use crate::load::yaml::{self, Ctx, MapReader, Node, Value};

/// Whether a step carries the run user's bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `Authorization: Bearer <jwt>` of the run's disposable (or service) user.
    User,
    /// No credentials: health checks and explicitly anonymous routes.
    None,
    /// The token of `auth.admin`, the identity that manages the disposable users.
    Admin,
}

impl AuthMode {
    fn decode(ctx: Ctx<'_>, node: &Node) -> Result<AuthMode, SourceError> {
        match ctx.str(node, "`auth`")? {
            "user" => Ok(AuthMode::User),
            "none" => Ok(AuthMode::None),
            "admin" => Ok(AuthMode::Admin),
            other => Err(ctx.err(node, format!("unknown auth mode `{other}`")).with_help("use `user`, `admin` or `none`")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Suite {
    pub file: PathBuf,
    pub name: String,
    pub tags: Vec<String>,
    pub auth: AuthMode,
    /// `None`: probes when `--auth-probes` asks; `Some(false)` opts the suite out of it.
    pub auth_probe: Option<bool>,
    /// In file order: later vars may use earlier ones.
    pub vars: Vec<(String, J)>,
    /// Where each of `vars` is written, for `check`.
    pub vars_pos: Vec<Pos>,
    /// Every capture any step of the file makes, kept when `--filter` drops steps: a teardown
    /// that needs one that was never made has nothing to tear down.
    pub capture_names: Vec<String>,
    pub steps: Vec<Step>,
    pub teardown: Vec<Step>,
    /// Later steps still run after a failed one (those that need a capture it never made fail
    /// as `capture`).
    pub continue_on_failure: bool,
}

impl Suite {
    /// Whether its authenticated reads are probed: its own `auth_probe`, else `--auth-probes`.
    pub fn probed(&self, flag: bool) -> bool {
        self.auth_probe.unwrap_or(flag)
    }

    /// True when any step of this suite runs with the user's token.
    pub fn needs_auth(&self) -> bool {
        self.steps.iter().chain(&self.teardown).any(|s| s.auth.unwrap_or(self.auth) != AuthMode::None)
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub pos: Pos,
    /// `None`: inherit the suite's.
    pub auth: Option<AuthMode>,
    pub auth_probe: Option<bool>,
    pub request: RequestSpec,
    pub expect: Expect,
    pub capture: Vec<Capture>,
    /// Re-send until `expect` holds (or `unless` does, or time runs out).
    pub eventually: Option<Eventually>,
}

/// `eventually: { within: 10s, every: 250ms, unless: { json: { $.status: failed } } }`.
#[derive(Debug, Clone)]
pub struct Eventually {
    pub within: Duration,
    pub every: Duration,
    /// A terminal state: when it holds, stop at once, red.
    pub unless: Option<Expect>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub method: String,
    /// Gateway-relative (`/api/orders?x=1`) or an absolute URL, possibly templated.
    pub path: String,
    pub path_pos: Pos,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub follow_redirects: bool,
    /// Overrides the run's total timeout for this request.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(J),
    Raw(String),
    /// `form:`: sent as `application/x-www-form-urlencoded`, in the order written.
    Form(Vec<(String, String)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPat {
    Code(u16),
    /// `2xx` → 2.
    Class(u16),
}

impl StatusPat {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusPat::Code(c) => c == status,
            StatusPat::Class(c) => status / 100 == c,
        }
    }

    pub fn text(self) -> String {
        match self {
            StatusPat::Code(c) => c.to_string(),
            StatusPat::Class(c) => format!("{c}xx"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Expect {
    /// `None`: any 2xx.
    pub status: Option<Vec<StatusPat>>,
    pub headers: Vec<HeaderCheck>,
    pub json: Vec<JsonCheck>,
    pub body: Option<Matcher>,
    pub max_ms: Option<u64>,
    pub allow_stub: bool,
    /// `schema: file.json`: a JSON Schema the body must satisfy (path relative to the suite).
    pub schema: Option<SchemaRef>,
    /// `openapi: false` opts the step out of the run's OpenAPI check.
    pub openapi: bool,
}

/// A JSON Schema file named by a step, loaded with the suite.
#[derive(Debug, Clone)]
pub struct SchemaRef {
    /// As written, for messages.
    pub text: String,
    pub path: PathBuf,
    pub compiled: crate::load::contract::Compiled,
    pub pos: Pos,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            status: None,
            headers: Vec::new(),
            json: Vec::new(),
            body: None,
            max_ms: None,
            allow_stub: false,
            schema: None,
            openapi: true,
        }
    }
}

impl Expect {
    pub fn status_ok(&self, status: u16) -> bool {
        match &self.status {
            Some(pats) => pats.iter().any(|p| p.matches(status)),
            None => (200..300).contains(&status),
        }
    }

    pub fn status_text(&self) -> String {
        match &self.status {
            Some(p) => p.iter().map(|p| p.text()).collect::<Vec<_>>().join(" or "),
            None => "2xx".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HeaderCheck {
    pub name: String,
    pub matcher: Matcher,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct JsonCheck {
    pub path_text: String,
    pub path: JsonPath,
    pub matcher: Matcher,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub source: CaptureSource,
    pub pos: Pos,
    /// `nullable: true`: a JSON `null` is a value worth keeping. Otherwise `null`, nothing, or an
    /// empty multi-node selection fails the step as `capture`.
    pub nullable: bool,
    /// `regex:` applied to the captured text: the first group, or the whole match without
    /// groups; no match fails the step as `capture`.
    pub regex: Option<regex::Regex>,
}

#[derive(Debug, Clone)]
pub enum CaptureSource {
    Json(String, JsonPath),
    Header(String),
    /// The whole body, as text.
    Body,
    /// The status code.
    Status,
}

pub const SUITE_KEYS: &[&str] = &["name", "tags", "auth", "auth_probe", "vars", "steps", "teardown", "continue_on_failure", "$schema"];
pub const STEP_KEYS: &[&str] = &["name", "request", "expect", "capture", "auth", "auth_probe", "follow_redirects", "eventually"];
pub const REQUEST_KEYS: &[&str] = &["method", "path", "url", "headers", "json", "body", "form", "follow_redirects", "timeout"];
pub const EXPECT_KEYS: &[&str] = &["status", "headers", "json", "body", "max_ms", "allow_stub", "schema", "openapi"];
pub const EVENTUALLY_KEYS: &[&str] = &["within", "every", "unless"];
pub const CAPTURE_KEYS: &[&str] = &["json", "header", "body", "status", "nullable", "regex"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Files in a suite folder that are not suites.
pub fn is_config_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(name, "smokegate.yaml" | "smokegate.yml" | "smokegate.json") || name.ends_with(".schema.json")
}

fn is_suite_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) && !is_config_file(path)
}

/// Expands files and folders (recursively, sorted) into suite files.
/// What discovery found: suite files in order, and what it passed over and why.
#[derive(Debug, Default)]
pub struct Discovered {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<String>,
}

/// Finds suite files. Only regular files are read (a FIFO or a device would block or never
/// end); each real folder is walked once and each real file loaded once, however many links
/// lead to them, so link loops end. A path given by name that is not a file or folder is an error.
pub fn discover(paths: &[PathBuf]) -> Result<Discovered, SourceError> {
    let mut d = Discovered::default();
    let mut seen_dirs = std::collections::HashSet::new();
    let mut seen_files = std::collections::HashSet::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|_| SourceError::new(p, Pos::default(), "no such file or folder"))?;
        if meta.is_dir() {
            walk(p, &mut d, &mut seen_dirs, &mut seen_files)
                .map_err(|e| SourceError::new(p, Pos::default(), format!("cannot read folder: {e}")))?;
        } else if meta.is_file() {
            if seen_files.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())) {
                d.files.push(p.clone());
            }
        } else {
            return Err(SourceError::new(p, Pos::default(), "not a regular file (a FIFO, socket or device is never read)"));
        }
    }
    Ok(d)
}

fn walk(
    dir: &Path,
    d: &mut Discovered,
    seen_dirs: &mut std::collections::HashSet<PathBuf>,
    seen_files: &mut std::collections::HashSet<PathBuf>,
) -> std::io::Result<()> {
    if !seen_dirs.insert(std::fs::canonicalize(dir)?) {
        d.skipped.push(format!("{}: a link to a folder already read", dir.display()));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') || n.starts_with('_'));
        if hidden {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&p) else {
            if is_suite_file(&p) {
                d.skipped.push(format!("{}: a broken link", p.display()));
            }
            continue;
        };
        if meta.is_dir() {
            walk(&p, d, seen_dirs, seen_files)?;
        } else if is_suite_file(&p) {
            if !meta.is_file() {
                d.skipped.push(format!("{}: not a regular file (a FIFO, socket or device is never read)", p.display()));
            } else if !seen_files.insert(std::fs::canonicalize(&p)?) {
                d.skipped.push(format!("{}: a link to a suite already loaded", p.display()));
            } else {
                d.files.push(p);
            }
        }
    }
    Ok(())
}

pub use crate::load::yaml::read_regular;

/// Reads and decodes one suite file.
pub fn load_file(path: &Path) -> Result<Suite, SourceError> {
    let bytes = read_regular(path).map_err(|e| SourceError::new(path, Pos::default(), format!("cannot read suite: {e}")))?;
    let source = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
        let col = upto.len() - upto.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) + 1;
        SourceError::new(path, Pos { line, col }, "suite is not valid UTF-8")
    })?;
    parse_suite(path, &source).map_err(|e| e.with_source(&source))
}

/// Decodes a suite from its text.
pub fn parse_suite(path: &Path, source: &str) -> Result<Suite, SourceError> {
    let root = yaml::parse(path, source)?;
    let ctx = Ctx { file: path };
    let mut m = ctx.map(&root, "the suite")?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("suite").to_owned();
    let name = match m.get("name") {
        Some(n) => ctx.text(n, "`name`")?,
        None => stem,
    };
    let tags = match m.get("tags") {
        Some(n) => ctx.list(n).into_iter().map(|t| ctx.text(t, "a tag")).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let auth = m.get("auth").map(|n| AuthMode::decode(ctx, n)).transpose()?.unwrap_or(AuthMode::User);
    let auth_probe = m.get("auth_probe").map(|n| ctx.bool(n, "`auth_probe`")).transpose()?;
    let continue_on_failure = m.get("continue_on_failure").map(|n| ctx.bool(n, "`continue_on_failure`")).transpose()?.unwrap_or(false);
    let (vars, vars_pos): (Vec<(String, J)>, Vec<Pos>) = match m.get("vars") {
        Some(n) => decode_vars_at(ctx, n)?.into_iter().map(|(k, v, p)| ((k, v), p)).unzip(),
        None => Default::default(),
    };
    let steps_node =
        m.get("steps").ok_or_else(|| {
            ctx.err(&root, "the suite has no `steps`").with_help(
                "add `steps:` with at least one step; if this file is not a suite (a compose file, a config), move it out of the suites folder or start its name with `_` or `.` (such files are skipped)",
            )
        })?;
    let steps = decode_steps(ctx, steps_node);
    let teardown = m.get("teardown").map_or(Ok(Vec::new()), |n| decode_steps(ctx, n));
    // Broken steps and broken teardown steps are reported together.
    let (steps, teardown) = match (steps, teardown) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
        (Err(mut a), Err(mut b)) => {
            let mut more = std::mem::take(&mut a.also).into_vec();
            let rest = std::mem::take(&mut b.also).into_vec();
            more.push(b);
            more.extend(rest);
            more.truncate(crate::load::diag::MAX_ERRORS - 1);
            a.also = more.into();
            return Err(a);
        }
    };
    if steps.is_empty() {
        return Err(ctx.err(steps_node, "`steps` is empty"));
    }
    m.finish(SUITE_KEYS)?;
    check_step_auth(path, auth, steps.iter().chain(&teardown))?;
    let capture_names = steps.iter().flat_map(|s: &Step| s.capture.iter().map(|c| c.name.clone())).collect();
    Ok(Suite {
        file: path.to_path_buf(),
        name,
        tags,
        auth,
        auth_probe,
        vars,
        vars_pos,
        capture_names,
        steps,
        teardown,
        continue_on_failure,
    })
}

/// What a step's auth cannot mean: its own Authorization header under `auth: user` (the run's
/// token would silently replace it), or `auth_probe: true` on a step a probe cannot replay
/// without its credential (`auth: none` sends none; probes replay the user's steps only).
fn check_step_auth<'a>(path: &Path, auth: AuthMode, steps: impl Iterator<Item = &'a Step>) -> Result<(), SourceError> {
    for st in steps {
        let mode = st.auth.unwrap_or(auth);
        if mode == AuthMode::User && st.request.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            return Err(SourceError::new(
                path,
                st.pos,
                format!("step `{}` sets its own Authorization header but runs with `auth: user`", st.name),
            )
            .with_help(
                "use `auth: none` on the step to send your own Authorization header; with `auth: user` smokegate sends the run's token",
            ));
        }
        let why = match mode {
            AuthMode::User => continue,
            AuthMode::Admin => "runs as `auth: admin` (probes replay the user's steps)",
            AuthMode::None => "sends no credential (`auth: none`)",
        };
        if st.auth_probe == Some(true) {
            return Err(SourceError::new(path, st.pos, format!("step `{}` asks for `auth_probe: true` but {why}", st.name))
                .with_help("a probe replays the step without the run's token; give the step `auth: user`, or drop `auth_probe`"));
        }
    }
    Ok(())
}

pub fn decode_vars(ctx: Ctx<'_>, node: &Node) -> Result<Vec<(String, J)>, SourceError> {
    Ok(decode_vars_at(ctx, node)?.into_iter().map(|(k, v, _)| (k, v)).collect())
}

/// `vars` with the position of each value, for `check`'s messages.
pub fn decode_vars_at(ctx: Ctx<'_>, node: &Node) -> Result<Vec<(String, J, Pos)>, SourceError> {
    let mut m = ctx.map(node, "`vars`")?;
    let mut out = Vec::new();
    for (k, knode, v) in m.rest() {
        if !is_identifier(k) {
            return Err(ctx
                .err(knode, format!("`{k}` is not a valid variable name"))
                .with_help("use letters, digits and `_`, not starting with a digit"));
        }
        if crate::load::template_names::BUILTINS.contains(&k) {
            return Err(ctx.err(knode, format!("`{k}` is a built-in name and cannot be a variable")));
        }
        out.push((k.to_owned(), v.to_json(), v.pos));
    }
    Ok(out)
}

/// A template variable name: letters, digits and `_`, not starting with a digit.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Decodes every step, and reports every broken one (up to a limit), not only the first.
fn decode_steps(ctx: Ctx<'_>, node: &Node) -> Result<Vec<Step>, SourceError> {
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for n in ctx.seq(node, "`steps`")? {
        let one = ctx.map(n, "a step").and_then(|mut m| {
            let step = decode_step(ctx, n, &mut m)?;
            m.finish(STEP_KEYS)?;
            Ok(step)
        });
        match one {
            Ok(s) => steps.push(s),
            Err(e) => errors.push(e),
        }
    }
    match SourceError::many(errors) {
        Some(e) => Err(e),
        None => Ok(steps),
    }
}

/// Decodes the common keys of a step from `m`; the caller reads any extra keys and calls
/// `finish`. Used for suite steps and for the auth steps of the config.
pub fn decode_step<'a>(ctx: Ctx<'a>, node: &'a Node, m: &mut MapReader<'a>) -> Result<Step, SourceError> {
    let req_node = m.get("request").ok_or_else(|| ctx.err(node, "the step has no `request`").with_help("add `request: { path: /… }`"))?;
    let mut request = decode_request(ctx, req_node)?;
    if let Some(n) = m.get("follow_redirects") {
        request.follow_redirects = ctx.bool(n, "`follow_redirects`")?;
    }
    let name = match m.get("name") {
        Some(n) => ctx.text(n, "`name`")?,
        None => format!("{} {}", request.method, request.path),
    };
    let expect = match m.get("expect") {
        Some(n) => decode_expect(ctx, n)?,
        None => Expect::default(),
    };
    let capture = match m.get("capture") {
        Some(n) => decode_captures(ctx, n)?,
        None => Vec::new(),
    };
    let auth = m.get("auth").map(|n| AuthMode::decode(ctx, n)).transpose()?;
    let auth_probe = m.get("auth_probe").map(|n| ctx.bool(n, "`auth_probe`")).transpose()?;
    let eventually = m.get("eventually").map(|n| decode_eventually(ctx, n)).transpose()?;
    Ok(Step { name, pos: node.pos, auth, auth_probe, request, expect, capture, eventually })
}

fn decode_eventually(ctx: Ctx<'_>, node: &Node) -> Result<Eventually, SourceError> {
    let mut m = ctx.map(node, "`eventually`")?;
    let within_node = m
        .get("within")
        .ok_or_else(|| ctx.err(node, "`eventually` needs `within`").with_help("e.g. `eventually: { within: 10s, every: 250ms }`"))?;
    let within = ctx.duration(within_node, "`within`")?;
    let every = m.get("every").map(|n| ctx.duration(n, "`every`")).transpose()?.unwrap_or(Duration::from_millis(250));
    if within.is_zero() || every.is_zero() || every > within {
        return Err(ctx.err(node, "`eventually` needs `within` > 0 and 0 < `every` ≤ `within`"));
    }
    let unless = m.get("unless").map(|n| decode_expect(ctx, n)).transpose()?;
    m.finish(EVENTUALLY_KEYS)?;
    Ok(Eventually { within, every, unless, pos: node.pos })
}

fn decode_request(ctx: Ctx<'_>, node: &Node) -> Result<RequestSpec, SourceError> {
    let mut m = ctx.map(node, "`request`")?;
    let method = match m.get("method") {
        Some(n) => {
            let raw = ctx.str(n, "`method`")?;
            let up = raw.to_ascii_uppercase();
            if !METHODS.contains(&up.as_str()) {
                return Err(ctx.err(n, format!("unknown HTTP method `{raw}`")).with_help(format!("one of: {}", METHODS.join(", "))));
            }
            up
        }
        None => "GET".into(),
    };
    let path_node = match (m.get("path"), m.get("url")) {
        (Some(p), None) | (None, Some(p)) => p,
        (Some(_), Some(u)) => return Err(ctx.err(u, "a request has either `path` or `url`, not both")),
        (None, None) => return Err(ctx.err(node, "the request has no `path`").with_help("add `path: /api/…` (relative to the gateway)")),
    };
    let path = ctx.str(path_node, "`path`")?.to_owned();
    check_path_shape(ctx, path_node, &path)?;
    let mut headers = Vec::new();
    if let Some(h) = m.get("headers") {
        let mut hm = ctx.map(h, "`headers`")?;
        for (k, knode, v) in hm.rest() {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                return Err(ctx.err(knode, format!("`{k}` is not a valid header name")));
            }
            headers.push((k.to_owned(), ctx.text(v, "a header value")?));
        }
    }
    let body = match (m.get("json"), m.get("body"), m.get("form")) {
        (Some(j), None, None) => Body::Json(j.to_json()),
        (None, Some(b), None) => Body::Raw(ctx.text(b, "`body`")?),
        (None, None, Some(f)) => {
            let mut fm = ctx.map(f, "`form`")?;
            let mut fields = Vec::new();
            for (k, _, v) in fm.rest() {
                fields.push((k.to_owned(), ctx.text(v, "a form value")?));
            }
            Body::Form(fields)
        }
        (None, None, None) => Body::None,
        _ => return Err(ctx.err(node, "a request has one of `json`, `body` or `form`, not several")),
    };
    let follow_redirects = m.get("follow_redirects").map(|n| ctx.bool(n, "`follow_redirects`")).transpose()?.unwrap_or(false);
    let timeout = m.get("timeout").map(|n| ctx.duration(n, "`timeout`")).transpose()?;
    m.finish(REQUEST_KEYS)?;
    Ok(RequestSpec { method, path, path_pos: path_node.pos, headers, body, follow_redirects, timeout })
}

/// Paths must be gateway-relative (`/…`) or absolute http(s) URLs (whose origin the gateway
/// policy checks). A template at the start is judged once rendered.
fn check_path_shape(ctx: Ctx<'_>, node: &Node, path: &str) -> Result<(), SourceError> {
    if path.starts_with('/') || path.starts_with("{{") {
        if path.starts_with("//") {
            return Err(ctx
                .err(node, format!("`{path}` is a scheme-relative URL"))
                .with_help("write a path relative to the gateway, like `/api/orders`"));
        }
        return Ok(());
    }
    if path.starts_with("http://") || path.starts_with("https://") {
        if !is_template(path) {
            url::Url::parse(path).map_err(|e| ctx.err(node, format!("invalid URL `{path}`: {e}")))?;
        }
        return Ok(());
    }
    Err(ctx
        .err(node, format!("`{path}` is not a gateway-relative path"))
        .with_help("paths start with `/` and are sent to GATEWAY_BASE_URL"))
}

fn decode_expect(ctx: Ctx<'_>, node: &Node) -> Result<Expect, SourceError> {
    let mut m = ctx.map(node, "`expect`")?;
    let mut e = Expect { openapi: true, ..Expect::default() };
    if let Some(s) = m.get("status") {
        e.status = Some(ctx.list(s).into_iter().map(|n| decode_status(ctx, n)).collect::<Result<_, _>>()?);
    }
    if let Some(h) = m.get("headers") {
        let mut hm = ctx.map(h, "`expect.headers`")?;
        for (k, knode, v) in hm.rest() {
            e.headers.push(HeaderCheck { name: k.to_ascii_lowercase(), matcher: header_matcher(ctx, v)?, pos: knode.pos });
        }
    }
    if let Some(j) = m.get("json") {
        let mut jm = ctx.map(j, "`expect.json`")?;
        for (k, knode, v) in jm.rest() {
            let path = parse_jsonpath(ctx, knode, k)?;
            e.json.push(JsonCheck { path_text: k.to_owned(), path, matcher: Matcher::from_node(ctx, v)?, pos: knode.pos });
        }
    }
    if let Some(b) = m.get("body") {
        e.body = Some(Matcher::from_node(ctx, b)?);
    }
    e.max_ms = m.get("max_ms").map(|n| ctx.uint(n, "`max_ms`")).transpose()?;
    e.allow_stub = m.get("allow_stub").map(|n| ctx.bool(n, "`allow_stub`")).transpose()?.unwrap_or(false);
    e.openapi = m.get("openapi").map(|n| ctx.bool(n, "`openapi`")).transpose()?.unwrap_or(true);
    e.schema = m.get("schema").map(|n| load_schema(ctx, n)).transpose()?;
    m.finish(EXPECT_KEYS)?;
    Ok(e)
}

/// `expect.schema`: a JSON Schema file (JSON or YAML), relative to the suite's folder, loaded
/// and compiled now so a broken schema is an error at file:line:col before anything is sent.
fn load_schema(ctx: Ctx<'_>, node: &Node) -> Result<SchemaRef, SourceError> {
    let text = ctx.str(node, "`schema`")?.to_owned();
    let path = ctx.file.parent().unwrap_or(Path::new(".")).join(&text);
    let doc = crate::load::contract::read_document(&path).map_err(|e| ctx.err(node, format!("cannot load schema: {e}")))?;
    let compiled = crate::load::contract::compile(&doc)
        .map_err(|e| ctx.err(node, format!("schema {} is not a valid JSON Schema: {e}", path.display())))?;
    Ok(SchemaRef { text, path, compiled, pos: node.pos })
}

/// Header values are text: a literal number compares with the header's text.
fn header_matcher(ctx: Ctx<'_>, node: &Node) -> Result<Matcher, SourceError> {
    match &node.value {
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => Ok(Matcher::Equals(J::String(node.scalar_text()))),
        _ => Matcher::from_node(ctx, node),
    }
}

fn decode_status(ctx: Ctx<'_>, node: &Node) -> Result<StatusPat, SourceError> {
    match &node.value {
        Value::Int(i) if (100..=599).contains(i) => Ok(StatusPat::Code(*i as u16)),
        // `status: "201"` means 201: a quoted code is still a code.
        Value::Str(s) if s.parse::<u16>().is_ok_and(|c| (100..=599).contains(&c)) => Ok(StatusPat::Code(s.parse().unwrap_or(0))),
        // Bytes, not a slice of the text: "€" is three bytes and one character.
        Value::Str(s) if s.len() == 3 && s.as_bytes()[1..].eq_ignore_ascii_case(b"xx") && matches!(s.as_bytes()[0], b'1'..=b'5') => {
            Ok(StatusPat::Class(u16::from(s.as_bytes()[0] - b'0')))
        }
        _ => Err(ctx
            .err(
                node,
                format!("invalid status `{}`: expected an HTTP status code (100–599), a list of them, or a class", node.scalar_text()),
            )
            .with_help("use a code like 201, a list like [200, 204], or a class like \"2xx\"")),
    }
}

pub fn parse_jsonpath(ctx: Ctx<'_>, node: &Node, text: &str) -> Result<JsonPath, SourceError> {
    JsonPath::parse(text).map_err(|e| {
        let help = match bracket_form(text) {
            Some(fixed) => format!("a name with `-` or other punctuation needs the bracket form: `{fixed}`"),
            None => "JSONPath (RFC 9535) starts with `$`, e.g. `$.items[0].id`".to_owned(),
        };
        ctx.err(node, format!("invalid JSONPath `{text}`: {e}")).with_help(help)
    })
}

/// `$.headers.X-Request-Id` → `$.headers['X-Request-Id']`, when that is what parses.
fn bracket_form(text: &str) -> Option<String> {
    if !text.starts_with('$') {
        return None;
    }
    let mut out = String::from("$");
    for seg in text[1..].split('.').skip(1) {
        if seg.is_empty() {
            return None;
        }
        let (name, rest) = seg.find('[').map_or((seg, ""), |i| seg.split_at(i));
        if name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            out.push('.');
            out.push_str(name);
        } else {
            out.push_str(&format!("['{}']", name.replace('\'', "\\'")));
        }
        out.push_str(rest);
    }
    (out != text && JsonPath::parse(&out).is_ok()).then_some(out)
}

pub fn decode_captures(ctx: Ctx<'_>, node: &Node) -> Result<Vec<Capture>, SourceError> {
    let mut m = ctx.map(node, "`capture`")?;
    let mut out = Vec::new();
    for (name, knode, v) in m.rest() {
        if !is_identifier(name) {
            return Err(ctx.err(knode, format!("`{name}` is not a valid capture name")));
        }
        let mut nullable = false;
        let mut regex = None;
        let source = match &v.value {
            Value::Str(p) => CaptureSource::Json(p.clone(), parse_jsonpath(ctx, v, p)?),
            Value::Map(_) => {
                let mut cm = ctx.map(v, "a capture")?;
                if let Some(n) = cm.get("nullable") {
                    nullable = ctx.bool(n, "`nullable`")?;
                }
                if let Some(n) = cm.get("regex") {
                    let text = ctx.str(n, "`regex`")?;
                    regex = Some(regex::Regex::new(text).map_err(|e| ctx.err(n, format!("invalid regex `{text}`: {e}")))?);
                }
                let flag = |cm: &mut MapReader<'_>, key: &str| -> Result<Option<bool>, SourceError> {
                    cm.get(key).map(|n| ctx.bool(n, &format!("`{key}`"))).transpose()
                };
                let (json, header) = (cm.get("json"), cm.get("header"));
                let (body, status) = (flag(&mut cm, "body")?, flag(&mut cm, "status")?);
                let src = match (json, header, body, status) {
                    (Some(j), None, None, None) => {
                        let p = ctx.str(j, "`json`")?;
                        CaptureSource::Json(p.to_owned(), parse_jsonpath(ctx, j, p)?)
                    }
                    (None, Some(h), None, None) => CaptureSource::Header(ctx.str(h, "`header`")?.to_ascii_lowercase()),
                    (None, None, Some(true), None) => CaptureSource::Body,
                    (None, None, None, Some(true)) => CaptureSource::Status,
                    _ => {
                        return Err(ctx.err(v, "a capture takes one of `json: $.path`, `header: Name`, `body: true` or `status: true`"));
                    }
                };
                cm.finish(CAPTURE_KEYS)?;
                src
            }
            _ => return Err(ctx.err(v, "a capture is a JSONPath like `$.id` or `{ header: Location }`")),
        };
        out.push(Capture { name: name.to_owned(), source, pos: knode.pos, nullable, regex });
    }
    Ok(out)
}

/// A mapping with `openapi:` and no `steps:`: an OpenAPI document, not a suite.
fn is_openapi_document(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    let Ok(root) = yaml::parse(path, &text) else { return false };
    matches!(root.to_json(), J::Object(m) if m.contains_key("openapi") && !m.contains_key("steps"))
}

/// Every JSON Schema file a suite names (`expect.schema`, also inside `eventually.unless`).
fn schema_files(suites: &[Suite]) -> std::collections::HashSet<PathBuf> {
    let expects = suites
        .iter()
        .flat_map(|s| s.steps.iter().chain(&s.teardown))
        .flat_map(|st| std::iter::once(&st.expect).chain(st.eventually.as_ref().and_then(|e| e.unless.as_ref())));
    expects.filter_map(|e| e.schema.as_ref()).filter_map(|r| std::fs::canonicalize(&r.path).ok()).collect()
}

/// Loads every suite under `paths`; returns all errors, one per bad file, and what discovery
/// passed over (for warnings). Contracts kept beside the suites are not suites: the JSON Schemas
/// a loaded suite names, and OpenAPI documents. Any other file that does not load is an error.
pub fn load_all(paths: &[PathBuf]) -> Result<(Vec<Suite>, Vec<String>), Vec<SourceError>> {
    let found = discover(paths).map_err(|e| vec![e])?;
    let mut suites = Vec::new();
    let mut failed = Vec::new();
    for f in found.files {
        match load_file(&f) {
            Ok(s) => suites.push(s),
            Err(e) => failed.push((f, e)),
        }
    }
    let named = schema_files(&suites);
    let contract = |f: &Path| std::fs::canonicalize(f).is_ok_and(|c| named.contains(&c)) || is_openapi_document(f);
    let errors: Vec<SourceError> = failed.into_iter().filter(|(f, _)| !contract(f)).map(|(_, e)| e).collect();
    if errors.is_empty() { Ok((suites, found.skipped)) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The suite contract of issue #2, verbatim (also run by tests/core.rs and validated by the
    /// schema tests).
    const CONTRACT: &str = include_str!("../../tests/fixtures/contract-suite.yaml");
    fn parse(src: &str) -> Result<Suite, SourceError> {
        parse_suite(Path::new("orders.yaml"), src)
    }

    #[test]
    fn schemas_a_suite_names_and_openapi_documents_are_not_suites_but_other_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("schemas")).unwrap();
        // A plain JSON Schema without `$schema`, named by the suite.
        std::fs::write(d.join("schemas/order.json"), r#"{"type": "object"}"#).unwrap();
        std::fs::write(d.join("api.yaml"), "openapi: 3.1.0\npaths: {}\n").unwrap();
        std::fs::write(d.join("s.yaml"), "steps:\n  - request: { path: /x }\n    expect: { schema: schemas/order.json }\n").unwrap();
        let (suites, _) = load_all(&[d.to_path_buf()]).unwrap();
        assert_eq!(suites.len(), 1);
        // A suite that forgot its steps is still an error, `$schema` key or not.
        std::fs::write(d.join("broken.yaml"), "$schema: ../schemas/suite.schema.json\nname: broken\n").unwrap();
        let errors = load_all(&[d.to_path_buf()]).unwrap_err();
        assert!(errors.len() == 1 && errors[0].to_string().contains("no `steps`"), "{errors:?}");
        // A schema nothing names is not silently passed over either.
        std::fs::remove_file(d.join("broken.yaml")).unwrap();
        std::fs::write(d.join("s.yaml"), "steps:\n  - request: { path: /x }\n").unwrap();
        assert!(load_all(&[d.to_path_buf()]).is_err());
    }

    #[test]
    fn the_contract_example_loads() {
        let s = parse(CONTRACT).unwrap();
        assert_eq!(s.name, "orders");
        assert_eq!(s.tags, ["orders", "critical"]);
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.teardown.len(), 1);
        let create = &s.steps[0];
        assert_eq!(create.request.method, "POST");
        assert_eq!(create.pos.line, 7);
        assert!(matches!(create.request.body, Body::Json(_)));
        assert_eq!(create.expect.status, Some(vec![StatusPat::Code(201)]));
        assert_eq!(create.expect.json.len(), 2);
        assert_eq!(create.capture[0].name, "order_id");
        assert!(s.needs_auth());
        assert!(s.teardown[0].expect.status_ok(404));
    }

    #[test]
    fn errors_point_at_the_key() {
        let e = parse("steps:\n  - request: { path: /a }\n    expcet: { status: 200 }\n").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (3, 5));
        assert_eq!(e.help.as_deref(), Some("did you mean `expect`?"));

        let e = parse("steps:\n  - request: { path: api/a }\n").unwrap_err();
        assert!(e.message.contains("not a gateway-relative path"), "{e}");

        let e = parse("steps:\n  - request: { path: /a }\n    expect: { status: 99 }\n").unwrap_err();
        assert!(e.message.contains("invalid status") && e.message.contains("expected an HTTP status code"), "{e}");
        let s = parse("steps:\n  - request: { path: /a }\n    expect: { status: \"201\" }\n").unwrap();
        assert!(s.steps[0].expect.status_ok(201));

        let e = parse("steps:\n  - request: { path: /a }\n    expect: { json: { $.headers.X-Request-Id: x } }\n").unwrap_err();
        assert_eq!(e.help.as_deref(), Some("a name with `-` or other punctuation needs the bracket form: `$.headers['X-Request-Id']`"));

        let e = parse("steps:\n  - request: { path: /a }\n    expect: { json: { 'items': 1 } }\n").unwrap_err();
        assert!(e.message.contains("invalid JSONPath"), "{e}");

        let e = parse("steps: []\n").unwrap_err();
        assert!(e.message.contains("empty"), "{e}");

        let e = parse("name: x\n").unwrap_err();
        assert!(e.message.contains("no `steps`"), "{e}");

        let e = parse("steps:\n  - request: { method: FETCH, path: /a }\n").unwrap_err();
        assert!(e.message.contains("unknown HTTP method"), "{e}");
    }

    #[test]
    fn status_classes_and_defaults() {
        let s = parse(
            "auth: none\nsteps:\n  - request: { path: /health/live }\n  - request: { path: /x }\n    expect: { status: [\"2xx\", 404] }\n",
        )
        .unwrap();
        assert!(!s.needs_auth());
        assert!(s.steps[0].expect.status_ok(204) && !s.steps[0].expect.status_ok(302));
        assert_eq!(s.steps[0].name, "GET /health/live");
        assert!(s.steps[1].expect.status_ok(201) && s.steps[1].expect.status_ok(404) && !s.steps[1].expect.status_ok(500));
    }

    #[test]
    fn header_captures_and_redirect_flags() {
        let s = parse("steps:\n  - request: { path: /a, follow_redirects: true }\n    capture: { loc: { header: Location } }\n").unwrap();
        assert!(s.steps[0].request.follow_redirects);
        assert!(matches!(&s.steps[0].capture[0].source, CaptureSource::Header(h) if h == "location"));
    }
}
