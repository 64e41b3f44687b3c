//! The suite model (what a smoke suite says) and its loader (YAML or JSON files, folders):
//! `discover` finds the files, `decode` reads one into the model. Loading is pure and
//! offline: no template is rendered and nothing is sent here.

mod decode;
mod discover;

pub use decode::*;
pub use discover::*;

use std::path::PathBuf;
use std::time::Duration;

use crate::load::jsonpath::CompiledPath;
use serde_json::Value as J;

use crate::load::diag::{Pos, SourceError};
use crate::load::matcher::Matcher;
use crate::load::yaml::{Ctx, Node};

/// Whether a step carries the run user's bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `Authorization: Bearer <jwt>` of the run's disposable (or service) user.
    User,
    /// No credentials: health checks and explicitly anonymous routes.
    None,
    /// The token of `auth.admin`, the identity that manages the disposable users.
    Admin,
    /// Signed with AWS Signature Version 4 (`auth.aws`): lifecycle steps only (Cognito's admin
    /// calls); a suite step goes through the gateway as a client would.
    Aws,
}

impl AuthMode {
    fn decode(ctx: Ctx<'_>, node: &Node) -> Result<AuthMode, SourceError> {
        match ctx.str(node, "`auth`")? {
            "user" => Ok(AuthMode::User),
            "none" => Ok(AuthMode::None),
            "admin" => Ok(AuthMode::Admin),
            "aws" => Ok(AuthMode::Aws),
            other => Err(ctx
                .err(node, format!("unknown auth mode `{other}`"))
                .with_help("use `user`, `admin`, `none` or (lifecycle steps) `aws`")),
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

/// Every template string in `v`, keys included, blamed on `pos`.
pub fn walk_templates(v: &J, pos: Pos, out: &mut Vec<(String, Pos)>) {
    use crate::load::template_names::is_template;
    match v {
        J::String(t) if is_template(t) => out.push((t.clone(), pos)),
        J::Array(a) => a.iter().for_each(|x| walk_templates(x, pos, out)),
        J::Object(o) => o.iter().for_each(|(k, x)| {
            if is_template(k) {
                out.push((k.clone(), pos));
            }
            walk_templates(x, pos, out)
        }),
        _ => {}
    }
}

impl Step {
    /// Every template of the step (its request and its expectations), with where it is written.
    pub fn templates(&self) -> Vec<(String, Pos)> {
        let mut out = Vec::new();
        walk_templates(&J::String(self.request.path.clone()), self.request.path_pos, &mut out);
        for (_, v) in &self.request.headers {
            walk_templates(&J::String(v.clone()), self.pos, &mut out);
        }
        match &self.request.body {
            Body::Json(v) => walk_templates(v, self.pos, &mut out),
            Body::Raw(t) => walk_templates(&J::String(t.clone()), self.pos, &mut out),
            Body::Form(f) => f.iter().for_each(|(_, v)| walk_templates(&J::String(v.clone()), self.pos, &mut out)),
            Body::None => {}
        }
        for j in &self.expect.json {
            out.extend(j.matcher.templates().into_iter().map(|t| (t, j.pos)));
        }
        for h in &self.expect.headers {
            out.extend(h.matcher.templates().into_iter().map(|t| (t, h.pos)));
        }
        out
    }
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
    /// `delay`: wait this long before the step's first request (Hurl's `[Options] delay`).
    pub delay: Option<Duration>,
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
    /// Typed once at load: a hop or a retry never parses it again.
    pub method: reqwest::Method,
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

    /// `201` or `2xx`, as `text` writes it.
    pub fn parse(text: &str) -> Option<StatusPat> {
        match text.strip_suffix("xx") {
            Some(class) => class.parse().ok().filter(|c| (1..=5).contains(c)).map(StatusPat::Class),
            None => text.parse().ok().filter(|c| (100..=599).contains(c)).map(StatusPat::Code),
        }
    }
}

/// Written as its text (`"2xx"`, `"204"`): the journal's format.
impl serde::Serialize for StatusPat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl<'de> serde::Deserialize<'de> for StatusPat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        StatusPat::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a status or a status class")))
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
    pub path: CompiledPath,
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
    Json(CompiledPath),
    Header(String),
    /// The whole body, as text.
    Body,
    /// The status code.
    Status,
}

pub const SUITE_KEYS: &[&str] = &["name", "tags", "auth", "auth_probe", "vars", "steps", "teardown", "continue_on_failure", "$schema"];
pub const STEP_KEYS: &[&str] = &["name", "request", "expect", "capture", "auth", "auth_probe", "follow_redirects", "eventually", "delay"];
pub const REQUEST_KEYS: &[&str] = &["method", "path", "url", "headers", "json", "body", "form", "follow_redirects", "timeout"];
pub const EXPECT_KEYS: &[&str] = &["status", "headers", "json", "body", "max_ms", "allow_stub", "schema", "openapi"];
pub const EVENTUALLY_KEYS: &[&str] = &["within", "every", "unless"];
pub const CAPTURE_KEYS: &[&str] = &["json", "header", "body", "status", "nullable", "regex"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The suite contract of issue #2, verbatim (also run by tests/core.rs and validated by the
    /// schema tests).
    const CONTRACT: &str = include_str!("../../../tests/fixtures/contract-suite.yaml");
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

    #[test]
    fn status_patterns_read_back_what_they_write() {
        for p in [StatusPat::Code(204), StatusPat::Code(404), StatusPat::Class(2), StatusPat::Class(5)] {
            assert_eq!(StatusPat::parse(&p.text()), Some(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<StatusPat>(&json).unwrap(), p, "{json}");
        }
        for bad in ["", "2x", "6xx", "0xx", "99", "600", "abc", "2XX", "€"] {
            assert_eq!(StatusPat::parse(bad), None, "{bad}");
        }
        assert!(serde_json::from_str::<StatusPat>("\"7xx\"").unwrap_err().to_string().contains("not a status"));
    }
}
