//! One step's evaluation order, written down: render the request → send → stub check → status →
//! fingerprint → captures → headers, JSON and body assertions → timing. Every assertion is
//! collected (one run shows every broken field); the failure class is chosen by precedence.

use serde_json::Value as J;

use crate::eval::matcher::{Matcher, short};
use crate::eval::template::{Scope, TemplateError, Templates};
use crate::http::client::{Outgoing, Response};
use crate::load::config::Fingerprint;
use crate::load::contract::{OpenApi, OpenApiCheck, Operation, Violation};
use crate::load::suite::{Body, Capture, CaptureSource, Step};
use crate::report::event::{AssertionResult, FailureClass};

/// Renders a step's request. The bearer token is added by the caller.
pub fn render_request(step: &Step, t: &Templates, scope: &Scope) -> Result<Outgoing, TemplateError> {
    let req = &step.request;
    let mut out = Outgoing::new(&req.method, &t.render_str(&req.path, scope)?);
    for (k, v) in &req.headers {
        out.headers.push((k.clone(), t.render_str(v, scope)?));
    }
    out.body = match &req.body {
        Body::None => None,
        Body::Json(v) => Some((serde_json::to_vec(&t.render_json(v, scope)?).unwrap_or_default(), "application/json")),
        Body::Raw(s) => Some((t.render_str(s, scope)?.into_bytes(), "text/plain; charset=utf-8")),
        Body::Form(fields) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields {
                form.append_pair(k, &t.render_str(v, scope)?);
            }
            Some((form.finish().into_bytes(), "application/x-www-form-urlencoded"))
        }
    };
    out.follow_redirects = req.follow_redirects;
    out.timeout = req.timeout;
    Ok(out)
}

/// What the response told us about the step.
#[derive(Debug, Default)]
pub struct Verdict {
    pub assertions: Vec<AssertionResult>,
    pub class: Option<FailureClass>,
    pub message: Option<String>,
    pub captures: Vec<(String, J)>,
}

impl Verdict {
    /// Records a failed check; the class with the highest precedence wins.
    pub fn fail(
        &mut self,
        class: FailureClass,
        what: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
        line: Option<usize>,
    ) {
        let a = AssertionResult { what: what.into(), expected: expected.into(), actual: actual.into(), passed: false, line };
        let msg = format!("{}: expected {}, got {}", a.what, a.expected, a.actual);
        if self.class.is_none_or(|c| rank(class) < rank(c)) {
            self.class = Some(class);
            self.message = Some(msg);
        }
        self.assertions.push(a);
    }

    pub fn pass(&mut self, what: impl Into<String>, expected: impl Into<String>, actual: impl Into<String>, line: Option<usize>) {
        self.assertions.push(AssertionResult { what: what.into(), expected: expected.into(), actual: actual.into(), passed: true, line });
    }
}

/// Lower wins: the class that says most about what is broken.
fn rank(c: FailureClass) -> u8 {
    match c {
        FailureClass::Stub => 0,
        FailureClass::OffGateway => 1,
        FailureClass::Auth => 2,
        FailureClass::ServerError => 3,
        FailureClass::BodyTooLarge => 4,
        FailureClass::InvalidResponse => 5,
        FailureClass::Capture => 6,
        FailureClass::Template => 7,
        // An assertion is the author's own word about what is wrong; the contract comes after.
        FailureClass::Schema => 9,
        _ => 8,
    }
}

/// Settings that shape evaluation, from the config.
pub struct EvalSettings<'a> {
    pub stub_phrases: &'a [String],
    pub fingerprint: Option<&'a Fingerprint>,
    /// The run's OpenAPI document, when the config names one.
    pub openapi: Option<&'a OpenApi>,
}

/// Judges one answer to `req`. The body the step sent matters: a stub phrase found in data
/// the step itself sent (a created order's own `note`) is data, never a stub.
pub fn evaluate(step: &Step, resp: &Response, t: &Templates, scope: &Scope, s: &EvalSettings<'_>, req: &Outgoing) -> Verdict {
    let mut v = Verdict::default();
    let e = &step.expect;
    let line = Some(step.pos.line);
    let sent = req.body.as_ref().map(|b| b.0.as_slice());

    // The body as JSON, parsed once, when an assertion, a capture or a contract needs it, or
    // when it is short enough to be a stub's answer.
    let wants_json = !e.json.is_empty() || step.capture.iter().any(|c| matches!(c.source, CaptureSource::Json(..)));
    // The request's operation in the run's OpenAPI document, looked up once per answer.
    let openapi = s.openapi.filter(|_| e.openapi).and_then(|a| a.operation(&req.method, &req.path).map(|op| (a, op)));
    let contract = e.schema.is_some() || openapi.is_some();
    let stub_check = !e.allow_stub && resp.status != 501;
    let small = looks_json(&resp.body) && resp.body.len() <= STUB_MAX;
    let json: Option<Result<J, NotJson>> = (wants_json || contract || (stub_check && small)).then(|| parse_json(&resp.body));
    let parsed = json.as_ref().and_then(|r| r.as_ref().ok());

    // A stub must never pass, whatever else matches.
    if !e.allow_stub {
        check_stub(&mut v, resp, parsed, s.stub_phrases, sent, line);
    }
    check_status(&mut v, step, resp);
    if let Some(fp) = s.fingerprint {
        check_header(&mut v, resp, &fp.header, fp.value.as_ref(), FailureClass::OffGateway, "gateway fingerprint", line);
    }
    if let (true, Some(Err(why))) = (wants_json, &json) {
        v.fail(FailureClass::InvalidResponse, "body", "JSON", why.to_string(), line);
    }
    let doc = parsed.filter(|_| wants_json);
    capture(&mut v, step, resp, doc);

    // Expected values may use captures of this very step.
    let mut scope = scope.clone();
    for (k, val) in &v.captures {
        scope.set_json(k.clone(), val);
    }
    check_assertions(&mut v, step, resp, doc, t, &scope);
    check_contracts(&mut v, step, resp, parsed, openapi);
    if let Some(max) = e.max_ms {
        let took = resp.total.as_millis() as u64;
        if took <= max {
            v.pass("max_ms", format!("<= {max} ms"), format!("{took} ms"), line);
        } else {
            v.fail(FailureClass::Assertion, "max_ms", format!("<= {max} ms"), format!("{took} ms"), line);
        }
    }
    v
}

/// The step's JSON Schema and the run's OpenAPI document: a violation fails as `schema`, with
/// the JSON pointer, the rule and the validator's words.
fn check_contracts(v: &mut Verdict, step: &Step, resp: &Response, doc: Option<&J>, openapi: Option<(&OpenApi, Operation)>) {
    let line = Some(step.pos.line);
    if let Some(schema) = &step.expect.schema {
        let what = format!("schema {}", schema.text);
        let at = Some(schema.pos.line);
        match doc.map(|d| schema.compiled.violations(d)) {
            None => v.fail(FailureClass::Schema, what, "a JSON body", "a body that is not JSON", at),
            Some((_, 0)) => v.pass(what, "a body that conforms", "conforms", at),
            Some((found, total)) => v.fail(FailureClass::Schema, what, "a body that conforms", violations_text(&found, total), at),
        }
    }
    let Some((api, op)) = openapi else { return };
    match api.check(op, resp.status, doc) {
        OpenApiCheck::Conforms { operation } => v.pass(format!("openapi {operation}"), "a conforming answer", "conforms", line),
        OpenApiCheck::UnlistedStatus { operation, listed } => v.fail(
            FailureClass::Schema,
            format!("openapi {operation}"),
            format!("a status the document lists ({})", listed.join(", ")),
            resp.status.to_string(),
            line,
        ),
        OpenApiCheck::NotJson { operation } => {
            v.fail(FailureClass::Schema, format!("openapi {operation}"), "a JSON body", "a body that is not JSON", line)
        }
        OpenApiCheck::Violates { operation, violations, total } => v.fail(
            FailureClass::Schema,
            format!("openapi {operation}"),
            format!("a body that conforms to its {} response", resp.status),
            violations_text(&violations, total),
            line,
        ),
    }
}

fn violations_text(found: &[Violation], total: usize) -> String {
    let mut text = found.iter().map(Violation::to_string).collect::<Vec<_>>().join("; ");
    if total > found.len() {
        text.push_str(&format!("; and {} more", total - found.len()));
    }
    text
}

/// 501, or an error body that says "not implemented" (in words, wherever a stub says it).
fn check_stub(v: &mut Verdict, resp: &Response, doc: Option<&J>, phrases: &[String], sent: Option<&[u8]>, line: Option<usize>) {
    if resp.status == 501 {
        v.fail(FailureClass::Stub, "stub", "a real handler", "501 Not Implemented", line);
    } else if let Some(phrase) = stub_phrase(&resp.body, doc, phrases, sent) {
        v.fail(FailureClass::Stub, "stub", "a real handler", format!("an error body saying \"{phrase}\""), line);
    }
}

/// The status, classed by what a wrong one says: refused (`auth`), broken (`5xx`), or wrong.
fn check_status(v: &mut Verdict, step: &Step, resp: &Response) {
    let (e, line) = (&step.expect, Some(step.pos.line));
    let status_text = e.status_text();
    if e.status_ok(resp.status) {
        v.pass("status", status_text, resp.status.to_string(), line);
    } else {
        let class = match resp.status {
            401 | 403 => FailureClass::Auth,
            500..=599 => FailureClass::ServerError,
            _ => FailureClass::Assertion,
        };
        v.fail(class, "status", status_text, format!("{}{}", resp.status, body_hint(&resp.body)), line);
    }
}

/// The step's captures, from the JSON body or a header; a capture of nothing (or of null,
/// unless `nullable`) fails.
fn capture(v: &mut Verdict, step: &Step, resp: &Response, doc: Option<&J>) {
    for c in &step.capture {
        let owned;
        let (what, value) = match &c.source {
            CaptureSource::Json(text, path) => {
                (format!("capture {} ({text})", c.name), doc.map(|d| select(path, text, d)).unwrap_or(Selected::Nothing))
            }
            CaptureSource::Header(h) => {
                owned = resp.header(h).map(J::String);
                (format!("capture {} (header {h})", c.name), owned.as_ref().map_or(Selected::Nothing, Selected::Value))
            }
            CaptureSource::Body => {
                owned = Some(J::String(String::from_utf8_lossy(&resp.body).into_owned()));
                (format!("capture {} (body)", c.name), owned.as_ref().map_or(Selected::Nothing, Selected::Value))
            }
            CaptureSource::Status => {
                owned = Some(J::from(resp.status));
                (format!("capture {} (status)", c.name), owned.as_ref().map_or(Selected::Nothing, Selected::Value))
            }
        };
        let expected = if c.nullable { "a value (null allowed)" } else { "a value" };
        match value {
            // Nothing to report twice when the body was not JSON at all.
            _ if doc.is_none() && matches!(c.source, CaptureSource::Json(..)) => {}
            Selected::Value(J::Null) if !c.nullable => {
                v.fail(FailureClass::Capture, what, "a value (add `nullable: true` to accept null)", "null", Some(c.pos.line))
            }
            Selected::Value(val) => keep_capture(v, c, what, expected, val.clone()),
            Selected::Nodes(nodes) if nodes.is_empty() => {
                v.fail(FailureClass::Capture, what, expected, "nothing selected (0 nodes)", Some(c.pos.line))
            }
            Selected::Nodes(nodes) => keep_capture(v, c, what, expected, J::Array(nodes.into_iter().cloned().collect())),
            Selected::Nothing => v.fail(FailureClass::Capture, what, expected, "nothing", Some(c.pos.line)),
        }
    }
}

/// Keeps a captured value, through the capture's `regex` when it has one: the first group (or
/// the whole match without groups) of the value's text; no match fails as `capture`.
fn keep_capture(v: &mut Verdict, c: &Capture, what: String, expected: &str, val: J) {
    let line = Some(c.pos.line);
    let Some(re) = &c.regex else {
        v.pass(what, expected, "captured", line);
        v.captures.push((c.name.clone(), val));
        return;
    };
    let text = match &val {
        J::String(s) => s.clone(),
        other => other.to_string(),
    };
    let found = re.captures(&text).and_then(|m| m.get(1).or_else(|| m.get(0))).map(|m| m.as_str().to_owned());
    match found {
        Some(part) => {
            v.pass(what, format!("a value matching /{re}/"), "captured", line);
            v.captures.push((c.name.clone(), J::String(part)));
        }
        None => v.fail(FailureClass::Capture, what, format!("a value matching /{re}/"), short(&val), line),
    }
}

/// `headers`, `json` and `body` assertions, each with its expected value rendered in `scope`.
fn check_assertions(v: &mut Verdict, step: &Step, resp: &Response, doc: Option<&J>, t: &Templates, scope: &Scope) {
    let (e, line) = (&step.expect, Some(step.pos.line));
    for h in &e.headers {
        match h.matcher.render(t, scope) {
            Ok(m) => check_header(v, resp, &h.name, Some(&m), FailureClass::Assertion, &format!("header {}", h.name), Some(h.pos.line)),
            Err(err) => v.fail(FailureClass::Template, format!("header {}", h.name), "a renderable value", err.message, Some(h.pos.line)),
        }
    }
    if let Some(d) = doc {
        for check in &e.json {
            let selected = select(&check.path, &check.path_text, d);
            match check.matcher.render(t, scope) {
                Ok(m) => match selected.judge(&m) {
                    Ok(()) => v.pass(&check.path_text, m.describe(), selected.shown(), Some(check.pos.line)),
                    Err(mis) => v.fail(FailureClass::Assertion, &check.path_text, mis.expected, mis.actual, Some(check.pos.line)),
                },
                Err(err) => v.fail(FailureClass::Template, &check.path_text, "a renderable value", err.message, Some(check.pos.line)),
            }
        }
    }
    if let Some(m) = &e.body {
        match std::str::from_utf8(&resp.body) {
            Err(_) => v.fail(FailureClass::InvalidResponse, "body", "UTF-8 text", "invalid UTF-8", line),
            Ok(text) => match m.render(t, scope) {
                Ok(m) => match m.check(Some(&J::String(text.to_owned()))) {
                    Ok(()) => v.pass("body", m.describe(), "ok", line),
                    Err(mis) => v.fail(FailureClass::Assertion, "body", mis.expected, mis.actual, line),
                },
                Err(err) => v.fail(FailureClass::Template, "body", "a renderable value", err.message, line),
            },
        }
    }
}

fn check_header(v: &mut Verdict, resp: &Response, name: &str, m: Option<&Matcher>, class: FailureClass, what: &str, line: Option<usize>) {
    let actual = resp.header(name).map(J::String);
    let default = Matcher::Exists(true);
    let m = m.unwrap_or(&default);
    // Header values are text; the matcher sees them as JSON strings.
    match m.check(actual.as_ref()) {
        Ok(()) => v.pass(what, m.describe(), actual.as_ref().map_or("nothing".into(), short), line),
        Err(mis) => v.fail(class, what, mis.expected, mis.actual, line),
    }
}

/// Why an answer does not show the gateway's fingerprint (`None`: it does). Readiness and the
/// check before the first write use it; steps judge it with their other headers.
pub fn lacks_fingerprint(fp: &Fingerprint, resp: &Response) -> Option<String> {
    let actual = resp.header(&fp.header).map(J::String);
    let default = Matcher::Exists(true);
    let m = fp.value.as_ref().unwrap_or(&default);
    m.check(actual.as_ref())
        .err()
        .map(|mis| format!("the gateway fingerprint `{}` is {} (expected {})", fp.header, mis.actual, mis.expected))
}

/// Why a body is not JSON, as a failure message says it ("got an empty body").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotJson {
    #[error("an empty body")]
    Empty,
    #[error("invalid UTF-8")]
    Utf8,
    #[error("invalid JSON ({0})")]
    Syntax(String),
}

/// Parses a body as JSON; serde_json's recursion limit defuses nesting bombs.
pub fn parse_json(body: &[u8]) -> Result<J, NotJson> {
    if body.is_empty() {
        return Err(NotJson::Empty);
    }
    serde_json::from_slice::<Compact>(body)
        .map(|c| c.0)
        .map_err(|e| if std::str::from_utf8(body).is_err() { NotJson::Utf8 } else { NotJson::Syntax(e.to_string()) })
}

/// A JSON value built with exact-size objects and arrays. serde_json's own `Value` grows each
/// object's map as keys arrive, which reserves room for about twice the keys: on a 10 MB array
/// of small objects that is a third of the parsed document (see `bench/memory.sh`). The
/// parser, and its recursion limit, are serde_json's.
struct Compact(J);

impl<'de> serde::Deserialize<'de> for Compact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CompactVisitor).map(Compact)
    }
}

struct CompactVisitor;

impl<'de> serde::de::Visitor<'de> for CompactVisitor {
    type Value = J;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<J, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J, E> {
        Ok(J::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J, E> {
        Ok(J::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<J, E> {
        Ok(serde_json::Number::from_f64(v).map_or(J::Null, J::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<J, E> {
        Ok(J::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<J, E> {
        Ok(J::String(v))
    }
    fn visit_unit<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_none<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
        let mut items = Vec::new();
        while let Some(Compact(v)) = seq.next_element()? {
            items.push(v);
        }
        items.shrink_to_fit();
        Ok(J::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
        let mut entries: Vec<(String, J)> = Vec::new();
        while let Some((k, Compact(v))) = map.next_entry::<String, Compact>()? {
            entries.push((k, v));
        }
        // Built from an exact-size iterator: the map reserves what it holds. A repeated key
        // keeps its last value, as serde_json's own does.
        Ok(J::Object(entries.into_iter().collect()))
    }
}

/// What a JSONPath selected, borrowed from the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Selected<'a> {
    /// A singular path found nothing there.
    Nothing,
    /// A singular path's node.
    Value(&'a J),
    /// A path that can select several nodes (wildcards, filters, slices, descendants): the
    /// selected nodes, possibly none.
    Nodes(Vec<&'a J>),
}

impl Selected<'_> {
    /// A matcher's judgement; multi-node selections follow the empty-selection rule.
    pub fn judge(&self, m: &Matcher) -> Result<(), crate::eval::matcher::Mismatch> {
        match self {
            Selected::Nothing => m.check(None),
            Selected::Value(v) => m.check(Some(v)),
            Selected::Nodes(nodes) => m.check_nodes(nodes),
        }
    }

    /// What was found, for a passing assertion's "actual".
    pub fn shown(&self) -> String {
        match self {
            Selected::Nothing => "nothing".into(),
            Selected::Value(v) => short(v),
            Selected::Nodes(nodes) => crate::eval::matcher::describe_nodes(nodes),
        }
    }

    /// A value worth using (a token, a capture), copied out: not nothing, not `null`, not an
    /// empty selection.
    pub fn into_value(self) -> Option<J> {
        match self {
            Selected::Value(J::Null) | Selected::Nothing => None,
            Selected::Value(v) => Some(v.clone()),
            Selected::Nodes(n) if n.is_empty() => None,
            Selected::Nodes(n) => Some(J::Array(n.into_iter().cloned().collect())),
        }
    }
}

/// Evaluates a JSONPath. A singular path yields its node; a path that can select several nodes
/// (wildcards, filters, slices, descendants) yields what it selected.
pub fn select<'a>(path: &serde_json_path::JsonPath, text: &str, doc: &'a J) -> Selected<'a> {
    let nodes = path.query(doc).all();
    if is_singular(text) { nodes.first().map_or(Selected::Nothing, |n| Selected::Value(n)) } else { Selected::Nodes(nodes) }
}

/// RFC 9535 singular queries use only name and index selectors.
fn is_singular(path: &str) -> bool {
    let mut in_quote: Option<char> = None;
    let mut prev = ' ';
    for c in path.chars() {
        match in_quote {
            Some(q) if c == q && prev != '\\' => in_quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => in_quote = Some(c),
                '*' | '?' | ':' | ',' => return false,
                '.' if prev == '.' => return false,
                _ => {}
            },
        }
        prev = c;
    }
    true
}

/// Looks for a stub's answer: the whole body when it is text, or, when it is JSON, a bare string
/// or the error-shaped fields of the top-level object (`error`, `message`, `detail`, `code`,
/// `status`, …, and everything beneath them). Never other data fields, and never a string the
/// step itself sent. Matching is case- and punctuation-insensitive and splits camelCase, so
/// "Not yet implemented", `not_implemented` and `NotImplementedError` all read as words.
/// Stubs answer short messages: a larger JSON document is data.
const STUB_MAX: usize = 64 * 1024;

fn looks_json(body: &[u8]) -> bool {
    // An object, an array or a string.
    body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| b"{[\"".contains(b))
}

/// `doc` is the body parsed as JSON, when it is JSON (the caller parses it once for everyone).
fn stub_phrase<'a>(body: &[u8], doc: Option<&J>, phrases: &'a [String], sent: Option<&[u8]>) -> Option<&'a str> {
    if body.is_empty() || phrases.is_empty() || (looks_json(body) && body.len() > STUB_MAX) {
        return None;
    }
    let sent = sent.map(String::from_utf8_lossy).unwrap_or_default();
    let mut candidates: Vec<String> = Vec::new();
    match doc {
        Some(J::String(s)) => candidates.push(s.clone()),
        Some(J::Object(map)) => {
            for (k, v) in map {
                if is_error_key(k) {
                    collect_strings(v, &mut candidates);
                }
            }
        }
        Some(_) => {}
        // Only the first 64 KiB: stubs answer short messages, and this runs on every response.
        None => candidates.push(String::from_utf8_lossy(&body[..body.len().min(STUB_MAX)]).into_owned()),
    }
    let phrases_norm: Vec<String> = phrases.iter().map(|p| format!(" {} ", words(p))).collect();
    for c in candidates {
        if !sent.is_empty() && (sent.contains(&c) || sent.contains(&J::String(c.clone()).to_string())) {
            continue;
        }
        let text = format!(" {} ", words(&c));
        if let Some(i) = phrases_norm.iter().position(|p| text.contains(p.as_str())) {
            return Some(&phrases[i]);
        }
    }
    None
}

/// Keys that hold an error's words (problem+json, framework error envelopes, gRPC gateways).
fn is_error_key(key: &str) -> bool {
    let k: String = key.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    ["error", "exception", "fault"].iter().any(|w| k.contains(w))
        || ["message", "msg", "detail", "details", "title", "reason", "status", "statusmessage", "code", "type"].contains(&k.as_str())
}

fn collect_strings(v: &J, out: &mut Vec<String>) {
    match v {
        J::String(s) => out.push(s.clone()),
        J::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        J::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
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

/// A short excerpt of an error body, to show next to an unexpected status.
pub fn body_hint(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(160)]).replace(['\n', '\r'], " ");
    let text = text.trim();
    if text.is_empty() { String::new() } else { format!(" ({text}{})", if body.len() > 160 { "…" } else { "" }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_paths() {
        assert!(is_singular("$.a.b[0]"));
        assert!(is_singular("$['a.b']"));
        assert!(is_singular("$['x*y']"));
        assert!(!is_singular("$.items[*].id"));
        assert!(!is_singular("$..id"));
        assert!(!is_singular("$.items[?@.x == 1]"));
        assert!(!is_singular("$.items[0:2]"));
    }

    /// The stub check as `evaluate` runs it: on the body and its parse.
    fn stub<'a>(body: &[u8], phrases: &'a [String], sent: Option<&[u8]>) -> Option<&'a str> {
        let doc = parse_json(body).ok();
        stub_phrase(body, doc.as_ref(), phrases, sent)
    }

    #[test]
    fn stub_phrases_match_error_shaped_bodies_in_any_spelling() {
        let phrases: Vec<String> = crate::load::config::DEFAULT_STUB_PHRASES.iter().map(|s| s.to_string()).collect();
        for body in [
            &br#"{"error":"Not Implemented yet"}"#[..],
            br#"{"message":"Not yet implemented"}"#,
            br#"{"code":"not_implemented"}"#,
            br#"{"error":{"type":"NotImplementedError","detail":"x"}}"#,
            br#"{"errors":[{"msg":"NOT_IMPLEMENTED"}]}"#,
            br#""notImplemented""#,
            b"501: Unimplemented",
            b"<h1>Not Implemented</h1>",
            br#"{"title":"Method not implemented."}"#,
        ] {
            assert!(stub(body, &phrases, None).is_some(), "{}", String::from_utf8_lossy(body));
        }
        for body in [
            &br#"{"ok":true}"#[..],
            br#"{"id":"ord-1","note":"gift wrap not implemented in v1"}"#,
            br#"[{"message":"not implemented"}]"#,
            br#"{"items":[{"error":"not implemented"}]}"#,
            b"implemented nothing",
        ] {
            assert_eq!(stub(body, &phrases, None), None, "{}", String::from_utf8_lossy(body));
        }
        // Words the step sent itself are data, even in a message field.
        let sent = br#"{"message":"gift wrap not implemented in v1"}"#;
        assert_eq!(stub(br#"{"message":"gift wrap not implemented in v1"}"#, &phrases, Some(sent)), None);
        assert!(stub(br#"{"message":"not implemented"}"#, &phrases, Some(b"{}")).is_some());
    }

    #[test]
    fn words_split_camel_case_and_punctuation() {
        assert_eq!(words("NotImplementedError"), "not implemented error");
        assert_eq!(words("NOT_IMPLEMENTED"), "not implemented");
        assert_eq!(words("  Not-yet   implemented!! "), "not yet implemented");
    }

    #[test]
    fn the_compact_parse_is_serde_jsons_value() {
        let text = r#"{"b":1,"a":[1,2.5,-3,"x",null,true,{"k":{}}],"b":2,"big":18446744073709551615}"#;
        let ours = parse_json(text.as_bytes()).unwrap();
        let theirs: J = serde_json::from_str(text).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours.as_object().unwrap().keys().collect::<Vec<_>>(), ["b", "a", "big"], "key order kept");
    }

    #[test]
    fn json_bombs_are_invalid_not_a_crash() {
        let bomb = "[".repeat(100_000);
        assert!(parse_json(bomb.as_bytes()).unwrap_err().to_string().contains("invalid JSON"));
        assert_eq!(parse_json(&[0xff, 0xfe]).unwrap_err(), NotJson::Utf8);
        assert_eq!(parse_json(b"").unwrap_err().to_string(), "an empty body");
    }
}
