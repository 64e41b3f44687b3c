//! `smokegate init [--openapi DOC] [--only-missed REPORT.json]`: a starter folder. The config
//! is the built-in routes (to fill in) with `openapi:`; a health suite; and from the document
//! one step per operation that can be called safely — a GET or HEAD without required
//! parameters, or whose path parameters an earlier step's list answer captures — expecting the
//! documented success status. Writes are commented templates with their schema's required
//! fields: a starter never creates what it does not tear down.

use serde_json::{Value as J, json};

use super::draft::{Body, Status, Step, Suite};
use super::{Import, Item};
use crate::load::contract::OpenApi;

const METHODS: &[&str] = &["get", "head", "post", "put", "patch", "delete"];

pub fn init(api: Option<&OpenApi>, doc_path: Option<&str>, missed: Option<&[String]>) -> Import {
    let mut imp = Import::default();
    imp.config_extra.push(
        "# Starter config: the built-in auth routes below are the reference gateway's; change them to your\n\
         # gateway's create / login / delete routes (docs/src/auth.md), then `smokegate check`."
            .into(),
    );
    if let Some(p) = doc_path {
        imp.config_extra.push(format!("openapi: {}", super::draft::scalar(p)));
    }
    let defaults = crate::load::config::defaults_yaml();
    let auth_part = defaults.split("gateway:").next().unwrap_or_default().trim_end().to_owned();
    imp.config_extra.push(auth_part);
    let health_path = api.and_then(health_of).unwrap_or_else(|| "/health/ready".into());
    let mut health = Step::new("GET", &health_path);
    health.name = "the gateway is ready".into();
    health.status = Some(Status::Code(200));
    imp.suites.push(Suite {
        stem: "health".into(),
        name: "health".into(),
        header: vec!["The gateway answers its readiness route without a token.".into()],
        auth: Some("none"),
        steps: vec![health],
        ..Suite::default()
    });
    if let Some(api) = api {
        let suite = operations(api, missed, &mut imp.items);
        if suite.steps.is_empty() {
            // Nothing left that can be called safely: the writes are listed instead.
            for s in &suite.footer {
                imp.items.push(Item::new(
                    api.file.display().to_string(),
                    format!("{} {}", s.method, s.path),
                    "a write, or a route whose path parameters nothing captures: not written as a step",
                ));
            }
        } else {
            imp.suites.push(suite);
        }
    }
    imp
}

/// A GET path that looks like a health check, with the server's base path.
fn health_of(api: &OpenApi) -> Option<String> {
    let paths = api.document().get("paths")?.as_object()?;
    paths
        .iter()
        .find(|(p, item)| {
            item.get("get").is_some() && !p.contains("{") && ["health", "ready", "ping", "status"].iter().any(|h| p.contains(h))
        })
        .map(|(p, _)| format!("{}{p}", api.base_path()))
}

/// Resolves a local `$ref` (once per level).
fn resolve<'a>(doc: &'a J, v: &'a J) -> &'a J {
    let mut v = v;
    for _ in 0..8 {
        match v.get("$ref").and_then(J::as_str).and_then(|r| r.strip_prefix('#')).and_then(|p| doc.pointer(p)) {
            Some(t) => v = t,
            None => break,
        }
    }
    v
}

/// The first documented 2xx status.
fn success(op: &J) -> Option<Status> {
    let responses = op.get("responses")?.as_object()?;
    responses.keys().find_map(|k| match k.parse::<u16>() {
        Ok(s) if (200..300).contains(&s) => Some(Status::Code(s)),
        _ if k.eq_ignore_ascii_case("2XX") => Some(Status::Class("2xx".into())),
        _ => None,
    })
}

/// The required parameters of an operation (its own and its path item's): (name, in).
fn required(doc: &J, item: &J, op: &J) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for list in [item.get("parameters"), op.get("parameters")].into_iter().flatten() {
        for p in list.as_array().into_iter().flatten() {
            let p = resolve(doc, p);
            let (Some(name), Some(place)) = (p.get("name").and_then(J::as_str), p.get("in").and_then(J::as_str)) else { continue };
            if (place == "path" || p.get("required") == Some(&J::Bool(true))) && !out.iter().any(|(n, _)| n == name) {
                out.push((name.to_owned(), place.to_owned()));
            }
        }
    }
    out
}

/// The property of a list answer's items that holds `param` (`param` itself, or `id`).
fn list_property(doc: &J, op: &J, param: &str) -> Option<String> {
    let responses = op.get("responses")?.as_object()?;
    let ok = responses.iter().find(|(k, _)| k.starts_with('2'))?.1;
    let ok = resolve(doc, ok);
    let content = ok.get("content")?.as_object()?;
    let schema = content.iter().find(|(k, _)| k.contains("json"))?.1.get("schema")?;
    let schema = resolve(doc, schema);
    let items = resolve(doc, schema.get("items")?);
    let props = items.get("properties")?.as_object()?;
    [param, "id"].iter().find(|p| props.contains_key(**p)).map(|p| (*p).to_owned())
}

fn needs_user(doc: &J, op: &J) -> bool {
    match op.get("security").or_else(|| doc.get("security")) {
        Some(J::Array(a)) => !a.is_empty() && !a.iter().any(|r| r.as_object().is_some_and(|o| o.is_empty())),
        _ => false,
    }
}

/// A value of a schema's type, for a commented body template.
fn placeholder(doc: &J, schema: &J, depth: usize) -> J {
    let s = resolve(doc, schema);
    if let Some(e) = s.get("example") {
        return e.clone();
    }
    if let Some(first) = s.get("enum").and_then(J::as_array).and_then(|a| a.first()) {
        return first.clone();
    }
    let ty = match s.get("type") {
        Some(J::Array(a)) => a.iter().find_map(|t| t.as_str().filter(|t| *t != "null")).unwrap_or("string"),
        Some(J::String(t)) => t.as_str(),
        _ if s.get("properties").is_some() => "object",
        _ => "string",
    };
    match ty {
        "integer" | "number" => json!(0),
        "boolean" => json!(false),
        "array" => json!([]),
        "object" if depth < 3 => {
            let mut o = serde_json::Map::new();
            let req: Vec<&str> = s.get("required").and_then(J::as_array).into_iter().flatten().filter_map(J::as_str).collect();
            for (k, v) in s.get("properties").and_then(J::as_object).into_iter().flatten() {
                if req.contains(&k.as_str()) {
                    o.insert(k.clone(), placeholder(doc, v, depth + 1));
                }
            }
            J::Object(o)
        }
        "object" => json!({}),
        _ => json!("…"),
    }
}

fn operations(api: &OpenApi, missed: Option<&[String]>, items: &mut Vec<Item>) -> Suite {
    let doc = api.document();
    let title = doc.pointer("/info/title").and_then(J::as_str).unwrap_or("api");
    let mut suite = Suite { stem: super::stem_of(title), name: title.to_owned(), ..Suite::default() };
    suite
        .header
        .push(format!("Starter steps from {} by `smokegate init`: one per operation that can be called safely.", api.file.display()));
    suite.header.push("Writes are commented out at the end: fill in their bodies and a teardown before enabling them.".into());
    // Captures the list steps make, for the item routes after them: param → capture name.
    let mut captured: Vec<(String, String)> = Vec::new();
    let mut pending: Vec<(String, String, &J, &J)> = Vec::new();
    let paths = doc.get("paths").and_then(J::as_object).cloned().unwrap_or_default();
    for (template, item) in &paths {
        for m in METHODS {
            let Some(op) = item.get(*m) else { continue };
            let name = format!("{} {template}", m.to_ascii_uppercase());
            if missed.is_some_and(|ms| !ms.contains(&name)) {
                continue;
            }
            pending.push((m.to_string(), template.clone(), item, op));
        }
    }
    // Routes without parameters first, so item routes can use what their lists captured.
    pending.sort_by_key(|(_, t, _, _)| t.matches("{").count());
    let mut any_user = false;
    for (m, template, item, op) in pending {
        let (step, callable) = step_for(api, &m, &template, item, op, &paths, &mut captured, items);
        if callable {
            any_user |= step.auth == Some("user");
            suite.steps.push(step);
        } else {
            suite.footer.push(step);
        }
    }
    // The suite's default is the user's token when a step needs one, else none.
    let steps = suite.steps.iter_mut().chain(suite.footer.iter_mut());
    if any_user {
        steps.for_each(|s| s.auth = if s.auth == Some("user") { None } else { s.auth });
    } else {
        suite.auth = Some("none");
        steps.for_each(|s| s.auth = if s.auth == Some("none") { None } else { s.auth });
    }
    suite
}

/// One operation as a step, and whether it can be called safely (else it is a commented
/// template: a write, or a read whose path parameters nothing before it captures).
#[expect(clippy::too_many_arguments, reason = "the operation, its document and what earlier steps captured")]
fn step_for(
    api: &OpenApi,
    m: &str,
    template: &str,
    item: &J,
    op: &J,
    paths: &serde_json::Map<String, J>,
    captured: &mut Vec<(String, String)>,
    items: &mut Vec<Item>,
) -> (Step, bool) {
    let doc = api.document();
    let method = m.to_ascii_uppercase();
    let mut path = format!("{}{template}", api.base_path());
    let mut step = Step::new(&method, &path);
    step.name = op
        .get("summary")
        .and_then(J::as_str)
        .or_else(|| op.get("operationId").and_then(J::as_str))
        .map_or(step.name.clone(), str::to_owned);
    step.status = success(op);
    step.auth = Some(if needs_user(doc, op) { "user" } else { "none" });
    let safe = method == "GET" || method == "HEAD";
    let (mut unresolved, mut query) = (Vec::new(), Vec::new());
    for (p, place) in &required(doc, item, op) {
        match (place.as_str(), captured.iter().find(|(q, _)| q == p)) {
            ("path", Some((_, cap))) => path = path.replace(&format!("{{{p}}}"), &format!("{{{{ {cap} }}}}")),
            // A read with a required query parameter is still safe: sent with the schema's
            // example (or a placeholder), to be set to a real value.
            ("query", _) => query.push((p.clone(), parameter_value(doc, item, op, p))),
            _ => unresolved.push(format!("{p} ({place})")),
        }
    }
    if !query.is_empty() {
        let names: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
        step.comments.push(format!("{}: placeholder values from the document; set real ones", names.join(", ")));
        path = super::url::with_query(&path, &query);
    }
    step.path = path;
    if safe && unresolved.is_empty() {
        // A list whose items hold an id: capture the first, for the item routes.
        if let Some((p, prop)) = paths_params(paths)
            .into_iter()
            .filter(|p| !captured.iter().any(|(q, _)| q == p))
            .find_map(|p| list_property(doc, op, &p).map(|prop| (p, prop)))
        {
            let cap = super::stem_of(&p).replace('-', "_");
            step.captures.push((cap.clone(), J::String(format!("$[0].{prop}"))));
            step.json.push(("$".into(), json!({ "min_items": 1 })));
            captured.push((p, cap));
        }
        return (step, true);
    }
    if safe {
        let item = Item::new(
            format!("{} {method} {template}", api.file.display()),
            "required parameters",
            format!("{} — fill them in", unresolved.join(", ")),
        );
        step.comments.push(item.comment());
        items.push(item);
    } else {
        step.comments.push(format!("{method} {template}: a write; give it a teardown before enabling it"));
        let json = op.pointer("/requestBody/content").and_then(J::as_object).and_then(|c| c.iter().find(|(k, _)| k.contains("json")));
        if let Some(schema) = json.and_then(|(_, v)| v.get("schema")) {
            step.body = Body::Json(placeholder(doc, schema, 0));
        }
    }
    (step, false)
}

/// A value for a query parameter: its example, its schema's example or enum, or a placeholder
/// of its type.
fn parameter_value(doc: &J, item: &J, op: &J, name: &str) -> String {
    let params = [item.get("parameters"), op.get("parameters")].into_iter().flatten().filter_map(J::as_array).flatten();
    let p = params.map(|p| resolve(doc, p)).find(|p| p.get("name").and_then(J::as_str) == Some(name));
    let v = p.and_then(|p| p.get("example").cloned().or_else(|| p.get("schema").map(|s| placeholder(doc, s, 0))));
    match v {
        Some(J::String(s)) if s != "…" => s,
        Some(J::String(_)) | None => "smoke".into(),
        Some(other) => other.to_string(),
    }
}

/// Every path parameter name in the document, in order.
fn paths_params(paths: &serde_json::Map<String, J>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in paths.keys() {
        for seg in t.split('/') {
            if let Some(p) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
                && !out.iter().any(|q| q == p)
            {
                out.push(p.to_owned());
            }
        }
    }
    out
}
