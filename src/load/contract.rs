//! Contracts a response must meet besides a step's own `expect`: a JSON Schema file named by
//! the step (`expect.schema`), and the run's OpenAPI document (`openapi:` in the config) — its
//! operations, the statuses each lists, and their JSON response schemas. Both are loaded and
//! compiled here, before anything is sent; `eval::step` judges responses against them.
//!
//! Schemas are compiled by the `jsonschema` crate (drafts 2020-12, 2019-09, 7, 6, 4, chosen by
//! `$schema`; 2020-12 when absent), with remote and file references off: a contract check never
//! contacts anything. An OpenAPI document is read as plain YAML or JSON (see Cargo.toml for why)
//! and each response schema is compiled against the whole document, so `#/components/…`
//! references resolve; OpenAPI 3.0's `nullable: true` becomes a `"null"` type first.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value as J;

use crate::load::diag::{Pos, SourceError};
use crate::load::yaml;
use crate::report::event::OpenApiCoverage;

/// A schema that does not compile.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(String);

/// A compiled JSON Schema. Shared by every step that names the same file.
#[derive(Clone)]
pub struct Compiled(Arc<jsonschema::Validator>);

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Compiled(…)")
    }
}

/// One way a value breaks a schema: where (a JSON pointer into the body), which rule, and the
/// validator's words (which quote the offending value; the sanitizer sees them before output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub pointer: String,
    pub rule: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "{at}: {} (rule `{}`)", self.message, self.rule)
    }
}

/// How many violations a message names; the rest are counted.
const MAX_VIOLATIONS: usize = 3;
/// How much of the validator's words a message keeps (it quotes values, which may be large).
const MAX_MESSAGE: usize = 160;

pub fn compile(schema: &J) -> Result<Compiled, SchemaError> {
    jsonschema::validator_for(schema).map(|v| Compiled(Arc::new(v))).map_err(|e| SchemaError(e.to_string()))
}

impl Compiled {
    /// Every way `doc` breaks the schema (the first few; `total` counts them all).
    pub fn violations(&self, doc: &J) -> (Vec<Violation>, usize) {
        let mut shown = Vec::new();
        let mut total = 0;
        for e in self.0.iter_errors(doc) {
            total += 1;
            if shown.len() < MAX_VIOLATIONS {
                let schema_path = e.schema_path().to_string();
                let rule = schema_path.rsplit('/').next().unwrap_or_default().to_owned();
                let mut message = e.to_string();
                if message.chars().count() > MAX_MESSAGE {
                    message = format!("{}…", message.chars().take(MAX_MESSAGE).collect::<String>());
                }
                shown.push(Violation { pointer: e.instance_path().to_string(), rule, message });
            }
        }
        (shown, total)
    }
}

/// Reads a JSON or YAML document (a schema file, an OpenAPI document).
pub fn read_document(path: &Path) -> Result<J, SourceError> {
    let bytes = yaml::read_regular(path).map_err(|e| SourceError::new(path, Pos::default(), format!("cannot read: {e}")))?;
    let source = String::from_utf8(bytes).map_err(|_| SourceError::new(path, Pos::default(), "not valid UTF-8"))?;
    Ok(yaml::parse(path, &source).map_err(|e| e.with_source(&source))?.to_json())
}

/// An operation of the document a request matched (its index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation(usize);

/// One operation of the document: a method on a path template, and what it may answer.
struct OperationDoc {
    method: String,
    template: String,
    segments: Vec<Segment>,
    /// Status key as written (`200`, `2XX`, `default`) → JSON pointer to its JSON schema, if any.
    responses: Vec<(String, Option<String>)>,
}

enum Segment {
    Literal(String),
    Param,
}

impl OperationDoc {
    fn matches(&self, method: &str, segments: &[&str]) -> bool {
        self.method == method
            && self.segments.len() == segments.len()
            && self.segments.iter().zip(segments).all(|(s, p)| match s {
                Segment::Literal(l) => l == p,
                Segment::Param => !p.is_empty(),
            })
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    /// The response entry for a status: exact, then its class (`2XX`), then `default`.
    fn response_for(&self, status: u16) -> Option<&(String, Option<String>)> {
        let exact = status.to_string();
        let class = format!("{}XX", status / 100);
        self.responses
            .iter()
            .find(|(k, _)| *k == exact)
            .or_else(|| self.responses.iter().find(|(k, _)| k.eq_ignore_ascii_case(&class)))
            .or_else(|| self.responses.iter().find(|(k, _)| k == "default"))
    }
}

/// What a response's check against the document found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenApiCheck {
    /// The operation's answer conforms (or it lists the status without a JSON schema).
    Conforms { operation: String },
    /// The document does not list this status for the operation.
    UnlistedStatus { operation: String, listed: Vec<String> },
    /// The body is not JSON, but the document gives a JSON schema for it.
    NotJson { operation: String },
    /// The body breaks the operation's schema for this status.
    Violates { operation: String, violations: Vec<Violation>, total: usize },
}

/// An OpenAPI 3.0 or 3.1 document, ready to check responses and to count what a run exercised.
pub struct OpenApi {
    pub file: PathBuf,
    pub version: String,
    doc: J,
    /// The path part of the first server URL (`/api` of `https://x/api`), tried when a path
    /// does not match as sent.
    base_path: String,
    ops: Vec<OperationDoc>,
    compiled: Mutex<HashMap<String, Compiled>>,
    exercised: Mutex<BTreeSet<usize>>,
    unmatched: Mutex<BTreeSet<String>>,
}

impl fmt::Debug for OpenApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenApi({}, {} operations)", self.file.display(), self.ops.len())
    }
}

/// What a JSON pointer must escape to be a URI fragment (`{id}` in a path template).
const FRAGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'%');

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

impl OpenApi {
    pub fn load(path: &Path) -> Result<OpenApi, SourceError> {
        let mut doc = read_document(path)?;
        let err = |msg: String| SourceError::new(path, Pos::default(), msg);
        let version = doc.get("openapi").and_then(J::as_str).unwrap_or_default().to_owned();
        if !(version.starts_with("3.0") || version.starts_with("3.1")) {
            return Err(err(format!("not an OpenAPI 3.0 or 3.1 document (`openapi: {version}`)")));
        }
        if version.starts_with("3.0") {
            nullable_to_type(&mut doc);
        }
        let base_path = doc
            .pointer("/servers/0/url")
            .and_then(J::as_str)
            .and_then(|u| url::Url::parse(u).ok().map(|u| u.path().to_owned()).or_else(|| u.starts_with('/').then(|| u.to_owned())))
            .map(|p| p.trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let ops = operations(&doc).map_err(err)?;
        let api = OpenApi {
            file: path.to_path_buf(),
            version,
            doc,
            base_path,
            ops,
            compiled: Mutex::default(),
            exercised: Mutex::default(),
            unmatched: Mutex::default(),
        };
        // Every response schema compiles now, so a broken document fails before anything is sent.
        for op in &api.ops {
            for (status, pointer) in &op.responses {
                if let Some(p) = pointer {
                    api.validator(p).map_err(|e| err(format!("{} {status}: the response schema does not compile: {e}", op.name())))?;
                }
            }
        }
        Ok(api)
    }

    pub fn operations(&self) -> usize {
        self.ops.len()
    }

    /// The document as read (3.0's `nullable` already in JSON Schema terms), for `init`.
    pub fn document(&self) -> &J {
        &self.doc
    }

    /// The path of the first server URL (`/api` of `https://x/api`), `""` without one.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    fn validator(&self, pointer: &str) -> Result<Compiled, SchemaError> {
        if let Some(v) = self.compiled.lock().ok().and_then(|c| c.get(pointer).cloned()) {
            return Ok(v);
        }
        // The whole document is the root, so `#/components/…` resolves; `$ref` picks the schema.
        let mut root = self.doc.clone();
        if let J::Object(m) = &mut root {
            m.insert("$ref".into(), J::String(format!("#{}", percent_encoding::utf8_percent_encode(pointer, FRAGMENT))));
            m.insert("$schema".into(), J::String("https://json-schema.org/draft/2020-12/schema".into()));
        }
        let v = compile(&root)?;
        if let Ok(mut c) = self.compiled.lock() {
            c.insert(pointer.to_owned(), v.clone());
        }
        Ok(v)
    }

    fn find(&self, method: &str, path: &str) -> Option<usize> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let try_path = |p: &str| {
            let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
            self.ops.iter().position(|op| op.matches(method, &segs))
        };
        try_path(path).or_else(|| {
            let rest = path.strip_prefix(&self.base_path).filter(|r| !self.base_path.is_empty() && r.starts_with('/'))?;
            try_path(rest)
        })
    }

    /// The operation for a request, found once per answer; a request the document has no
    /// operation for is counted as unmatched.
    pub fn operation(&self, method: &str, path: &str) -> Option<Operation> {
        let found = self.find(method, path);
        if found.is_none()
            && let Ok(mut u) = self.unmatched.lock()
        {
            u.insert(format!("{method} {}", path.split('?').next().unwrap_or_default()));
        }
        found.map(Operation)
    }

    /// Judges one answer to `op`: `body` is the response parsed as JSON, when it is JSON.
    pub fn check(&self, op: Operation, status: u16, body: Option<&J>) -> OpenApiCheck {
        let i = op.0;
        if let Ok(mut e) = self.exercised.lock() {
            e.insert(i);
        }
        let op = &self.ops[i];
        let operation = op.name();
        let Some((_, pointer)) = op.response_for(status) else {
            return OpenApiCheck::UnlistedStatus { operation, listed: op.responses.iter().map(|(k, _)| k.clone()).collect() };
        };
        let Some(pointer) = pointer else { return OpenApiCheck::Conforms { operation } };
        let Some(body) = body else { return OpenApiCheck::NotJson { operation } };
        match self.validator(pointer) {
            Ok(v) => match v.violations(body) {
                (_, 0) => OpenApiCheck::Conforms { operation },
                (violations, total) => OpenApiCheck::Violates { operation, violations, total },
            },
            // Compiled at load already; a failure here would be a bug, and is not a pass.
            Err(e) => OpenApiCheck::Violates {
                operation,
                violations: vec![Violation { pointer: String::new(), rule: "compile".into(), message: e.to_string() }],
                total: 1,
            },
        }
    }

    /// `file` as the config names it.
    pub fn coverage(&self, file: String) -> OpenApiCoverage {
        let exercised = self.exercised.lock().map(|e| e.clone()).unwrap_or_default();
        OpenApiCoverage {
            file,
            exercised: exercised.len(),
            total: self.ops.len(),
            missed: self.ops.iter().enumerate().filter(|(i, _)| !exercised.contains(i)).map(|(_, o)| o.name()).collect(),
            unmatched: self.unmatched.lock().map(|u| u.iter().cloned().collect()).unwrap_or_default(),
        }
    }
}

/// The document's operations, with the JSON pointer of each response's JSON schema.
fn operations(doc: &J) -> Result<Vec<OperationDoc>, String> {
    let Some(paths) = doc.get("paths").and_then(J::as_object) else { return Err("the document has no `paths`".into()) };
    let mut ops = Vec::new();
    for (template, item) in paths {
        let Some(item) = item.as_object() else { continue };
        for (method, op) in item.iter().filter(|(m, _)| METHODS.contains(&m.as_str())) {
            let base = format!("/paths/{}/{method}", escape(template));
            let mut responses = Vec::new();
            for (status, resp) in op.get("responses").and_then(J::as_object).into_iter().flatten() {
                let rbase = format!("{base}/responses/{}", escape(status));
                let resp = match resp.get("$ref").and_then(J::as_str) {
                    // A shared response (`#/components/responses/…`): follow it once.
                    Some(r) => match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
                        Some(target) => (target, r.trim_start_matches('#').to_owned()),
                        None => return Err(format!("{method} {template} {status}: `{r}` does not resolve")),
                    },
                    None => (resp, rbase),
                };
                let (resp, rbase) = resp;
                let json = resp.get("content").and_then(J::as_object).and_then(|c| {
                    c.keys()
                        .find(|k| k.starts_with("application/json") || k.ends_with("+json"))
                        .map(|k| format!("{rbase}/content/{}/schema", escape(k)))
                });
                let json = json.filter(|p| doc.pointer(p).is_some());
                responses.push((status.clone(), json));
            }
            let segments = template
                .trim_start_matches('/')
                .split('/')
                .map(|s| if s.starts_with('{') && s.ends_with('}') { Segment::Param } else { Segment::Literal(s.to_owned()) })
                .collect();
            ops.push(OperationDoc { method: method.to_ascii_uppercase(), template: template.clone(), segments, responses });
        }
    }
    Ok(ops)
}

/// A JSON pointer token (RFC 6901).
fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// OpenAPI 3.0's `nullable: true` in JSON Schema terms: `"null"` is one more allowed type.
fn nullable_to_type(v: &mut J) {
    match v {
        J::Object(m) => {
            if m.get("nullable") == Some(&J::Bool(true)) {
                m.remove("nullable");
                match m.get_mut("type") {
                    Some(J::String(t)) => {
                        let t = std::mem::take(t);
                        m.insert("type".into(), J::Array(vec![J::String(t), J::String("null".into())]));
                    }
                    Some(J::Array(ts)) => ts.push(J::String("null".into())),
                    _ => {}
                }
            }
            m.values_mut().for_each(nullable_to_type);
        }
        J::Array(a) => a.iter_mut().for_each(nullable_to_type),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DOC: &str = r##"
openapi: 3.0.3
servers: [{ url: "http://localhost/api" }]
paths:
  /orders/{id}:
    get:
      responses:
        "200":
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Order" }
        "404": { description: gone }
  /orders:
    get:
      responses:
        "2XX":
          content: { application/json: { schema: { type: array, items: { $ref: "#/components/schemas/Order" } } } }
components:
  schemas:
    Order:
      type: object
      required: [id, qty]
      properties:
        id: { type: string }
        qty: { type: integer, minimum: 1 }
        note: { type: string, nullable: true }
"##;

    /// The operation for a request that the document has, judged.
    fn check(a: &OpenApi, method: &str, path: &str, status: u16, body: Option<&J>) -> OpenApiCheck {
        a.check(a.operation(method, path).expect("a known operation"), status, body)
    }

    fn api() -> OpenApi {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("openapi.yaml");
        std::fs::write(&f, DOC).unwrap();
        OpenApi::load(&f).unwrap()
    }

    #[test]
    fn responses_conform_or_name_the_pointer_and_the_rule() {
        let a = api();
        let ok = json!({"id": "o1", "qty": 2, "note": null});
        assert_eq!(check(&a, "GET", "/orders/o1", 200, Some(&ok)), OpenApiCheck::Conforms { operation: "GET /orders/{id}".into() });
        let OpenApiCheck::Violates { violations, total, .. } = check(&a, "GET", "/orders/o1", 200, Some(&json!({"id": "o1", "qty": "2"})))
        else {
            panic!("a string qty violates")
        };
        assert_eq!(total, 1);
        assert_eq!((violations[0].pointer.as_str(), violations[0].rule.as_str()), ("/qty", "type"));
        // A class key and the server's base path.
        assert!(matches!(check(&a, "GET", "/api/orders", 200, Some(&json!([ok]))), OpenApiCheck::Conforms { .. }));
        assert!(matches!(check(&a, "GET", "/orders", 200, Some(&json!([{"id": "x", "qty": 0}]))), OpenApiCheck::Violates { .. }));
    }

    #[test]
    fn unlisted_statuses_unmatched_paths_and_coverage() {
        let a = api();
        assert!(matches!(check(&a, "GET", "/orders/o1", 500, None), OpenApiCheck::UnlistedStatus { .. }));
        assert!(matches!(check(&a, "GET", "/orders/o1", 404, None), OpenApiCheck::Conforms { .. }), "listed without a schema");
        assert!(matches!(check(&a, "GET", "/orders/o1", 200, None), OpenApiCheck::NotJson { .. }));
        assert_eq!(a.operation("DELETE", "/orders/o1"), None, "unmatched");
        let c = a.coverage("openapi.yaml".into());
        assert_eq!((c.exercised, c.total), (1, 2));
        assert_eq!(c.missed, ["GET /orders"]);
        assert_eq!(c.unmatched, ["DELETE /orders/o1"]);
    }

    #[test]
    fn broken_documents_are_errors_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("openapi.yaml");
        std::fs::write(&f, "openapi: 2.0\npaths: {}\n").unwrap();
        assert!(OpenApi::load(&f).err().unwrap().to_string().contains("not an OpenAPI 3.0 or 3.1 document"));
        std::fs::write(
            &f,
            "openapi: 3.1.0\npaths:\n  /x:\n    get:\n      responses:\n        '200': { $ref: '#/components/responses/Nope' }\n",
        )
        .unwrap();
        assert!(OpenApi::load(&f).err().unwrap().to_string().contains("does not resolve"));
        assert!(compile(&json!({"type": 12})).is_err());
    }
}
