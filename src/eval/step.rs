//! One step's evaluation order, written down: render the request → send → stub check → status →
//! fingerprint → captures → headers, JSON and body assertions → timing. Every assertion is
//! collected (one run shows every broken field); the failure class is chosen by precedence.

use serde_json::Value as J;

use crate::eval::matcher::{Matcher, short};
use crate::eval::node::{Kind, Node};
use crate::eval::template::{Scope, Templates};
use crate::http::client::{Outgoing, Response};

use crate::eval::json::{Doc, parse_doc};
pub use crate::eval::json::{NotJson, Selected, parse_json, select, value_at};
pub use crate::eval::stub::body_hint;
use crate::eval::stub::{STUB_MAX, looks_json, stub_phrase};
use crate::load::config::{Fingerprint, StubPhrases};
use crate::load::contract::{OpenApi, OpenApiCheck, Operation, Violation};
use crate::load::suite::{Capture, CaptureSource, Step};
use crate::report::event::{AssertionResult, FailureClass};

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
        FailureClass::Assertion => 8,
        FailureClass::Schema => 9,
        // Not decided by a response check (the transport, probes, the runner): ranked with the
        // assertions, and listed so that a new class is a compile error here until placed.
        FailureClass::Timeout
        | FailureClass::Connect
        | FailureClass::TooManyRedirects
        | FailureClass::AuthNotEnforced
        | FailureClass::Cancelled
        | FailureClass::NotRun
        | FailureClass::Unprobed => 8,
    }
}

/// Settings that shape evaluation, from the config.
pub struct EvalSettings<'a> {
    pub stub_phrases: &'a StubPhrases,
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
    let sent = req.body.as_ref().map(|b| &b.0[..]);

    // The body as JSON, parsed once, when an assertion, a capture or a contract needs it, or
    // when it is short enough to be a stub's answer.
    let wants_json = !e.json.is_empty() || step.capture.iter().any(|c| matches!(c.source, CaptureSource::Json(..)));
    // The request's operation in the run's OpenAPI document, looked up once per answer.
    let openapi = s.openapi.filter(|_| e.openapi).and_then(|a| a.operation(req.method.as_str(), &req.path).map(|op| (a, op)));
    let contract = e.schema.is_some() || openapi.is_some();
    let stub_check = !e.allow_stub && resp.status != 501;
    let small = looks_json(&resp.body) && resp.body.len() <= STUB_MAX;
    // A tree of the whole body only for what judges it whole: the stub check of a short body,
    // and the contracts.
    let whole = contract || (stub_check && small);
    let json = (wants_json || whole).then(|| parse_doc(&resp.body, whole));
    let (parsed, tree) = match &json {
        Some(Ok((doc, tree))) => (Some(*doc), tree.as_ref()),
        _ => (None, None),
    };

    // A stub must never pass, whatever else matches.
    if !e.allow_stub {
        check_stub(&mut v, resp, tree, s.stub_phrases, sent, line);
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
    check_contracts(&mut v, step, resp, tree, openapi);
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
fn check_stub(v: &mut Verdict, resp: &Response, doc: Option<&J>, phrases: &StubPhrases, sent: Option<&[u8]>, line: Option<usize>) {
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
fn capture(v: &mut Verdict, step: &Step, resp: &Response, doc: Option<Doc<'_>>) {
    for c in &step.capture {
        let (what, value) = match &c.source {
            CaptureSource::Json(path) => {
                (format!("capture {} ({})", c.name, path.text), doc.map(|d| select(path, d)).unwrap_or(Selected::Nothing))
            }
            CaptureSource::Header(h) => {
                let owned = resp.header(h).map(|h| Selected::Value(Node::Owned(J::String(h))));
                (format!("capture {} (header {h})", c.name), owned.unwrap_or(Selected::Nothing))
            }
            CaptureSource::Body => {
                let owned = J::String(String::from_utf8_lossy(&resp.body).into_owned());
                (format!("capture {} (body)", c.name), Selected::Value(Node::Owned(owned)))
            }
            CaptureSource::Status => (format!("capture {} (status)", c.name), Selected::Value(Node::Owned(J::from(resp.status)))),
        };
        let expected = if c.nullable { "a value (null allowed)" } else { "a value" };
        match value {
            // Nothing to report twice when the body was not JSON at all.
            _ if doc.is_none() && matches!(c.source, CaptureSource::Json(..)) => {}
            Selected::Value(n) if n.kind() == Kind::Null && !c.nullable => {
                v.fail(FailureClass::Capture, what, "a value (add `nullable: true` to accept null)", "null", Some(c.pos.line))
            }
            Selected::Value(n) => keep_capture(v, c, what, expected, n.into_value()),
            Selected::Nodes(nodes) if nodes.is_empty() => {
                v.fail(FailureClass::Capture, what, expected, "nothing selected (0 nodes)", Some(c.pos.line))
            }
            Selected::Nodes(nodes) => keep_capture(v, c, what, expected, J::Array(nodes.into_iter().map(Node::into_value).collect())),
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
fn check_assertions(v: &mut Verdict, step: &Step, resp: &Response, doc: Option<Doc<'_>>, t: &Templates, scope: &Scope) {
    let (e, line) = (&step.expect, Some(step.pos.line));
    for h in &e.headers {
        match h.matcher.render(t, scope) {
            Ok(m) => check_header(v, resp, &h.name, Some(&m), FailureClass::Assertion, &format!("header {}", h.name), Some(h.pos.line)),
            Err(err) => v.fail(FailureClass::Template, format!("header {}", h.name), "a renderable value", err.message, Some(h.pos.line)),
        }
    }
    if let Some(d) = doc {
        for check in &e.json {
            let selected = select(&check.path, d);
            match check.matcher.render(t, scope) {
                Ok(m) => match selected.judge(&m) {
                    Ok(()) => v.pass(&check.path.text, m.describe(), selected.shown(), Some(check.pos.line)),
                    Err(mis) => v.fail(FailureClass::Assertion, &check.path.text, mis.expected, mis.actual, Some(check.pos.line)),
                },
                Err(err) => v.fail(FailureClass::Template, &check.path.text, "a renderable value", err.message, Some(check.pos.line)),
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
