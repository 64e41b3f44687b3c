//! One Hurl entry as a step: request sections, options, the body, and the response's status,
//! headers, captures and asserts as expectations. What has no equivalent becomes an [`Item`].

use serde_json::{Value as J, json};

use super::lex::{self, Tok, key_value, text_value};
use super::parse::{Block, Entry, Line};
use crate::import::draft::{Body, Status, Step};
use crate::import::{Item, url};

/// What converting one entry found besides the step.
#[derive(Default)]
pub struct Found {
    pub items: Vec<Item>,
    /// `[Options] variable: name=value`.
    pub vars: Vec<(String, J)>,
    /// Captures marked `redact`.
    pub secrets: Vec<String>,
    /// Where each capture is written: (name, line).
    pub capture_lines: Vec<(String, usize)>,
}

pub struct Ctx<'a> {
    pub file: &'a str,
    pub found: Found,
}

impl Ctx<'_> {
    fn at(&self, line: usize) -> String {
        format!("{}:{line}", self.file)
    }

    fn item(&mut self, step: &mut Step, line: usize, what: &str, why: &str) {
        let item = Item::new(self.at(line), what, why);
        step.comments.push(item.comment());
        self.found.items.push(item);
    }
}

/// The entry as a step, and the origin its URL names (`""` for a template or a relative URL).
pub fn entry(cx: &mut Ctx<'_>, e: &Entry) -> Result<(Step, String), (usize, String)> {
    let (origin, path) = url::split(&e.url).map_err(|w| (e.line, w))?;
    let origin = if origin.starts_with("{{") || origin.contains("{{") { String::new() } else { origin };
    let mut step = Step::new(&e.method, &lex::templates(&path));
    request(cx, &mut step, &e.request);
    if let Some((line, status, resp)) = &e.response {
        step.status = Some(match status.as_str() {
            "*" => Status::Any,
            s => Status::Code(s.parse().map_err(|_| (*line, format!("`{s}` is not a status")))?),
        });
        response(cx, &mut step, resp);
    }
    Ok((step, origin))
}

fn pairs(cx: &mut Ctx<'_>, step: &mut Step, lines: &[Line]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for l in lines {
        match key_value(&l.text) {
            Some((k, v)) => out.push((lex::templates(&k), text_value(&v))),
            None => cx.item(step, l.n, &l.text, "not a `key: value` line"),
        }
    }
    out
}

fn request(cx: &mut Ctx<'_>, step: &mut Step, b: &Block) {
    for h in &b.headers {
        match key_value(&h.text) {
            Some((k, v)) => step.headers.push((k, text_value(&v))),
            None => cx.item(step, h.n, &h.text, "not a `Name: value` header"),
        }
    }
    for (name, lines) in &b.sections {
        match name.text.as_str() {
            "Query" | "QueryStringParams" => {
                let q = pairs(cx, step, lines);
                step.path = url::with_query(&step.path, &q);
            }
            "Form" | "FormParams" => step.body = Body::Form(pairs(cx, step, lines)),
            "Cookies" => {
                let c = pairs(cx, step, lines);
                step.headers.push(("Cookie".into(), c.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")));
            }
            "BasicAuth" => {
                for (user, pass) in pairs(cx, step, lines) {
                    basic(cx, step, name.n, &user, &pass);
                }
            }
            "Options" => options(cx, step, lines),
            "Multipart" | "MultipartFormData" => {
                cx.item(step, name.n, &format!("[{}]", name.text), "multipart bodies are not supported yet")
            }
            other => cx.item(step, name.n, &format!("[{other}]"), "a response section in a request"),
        }
    }
    if let Some((n, text)) = &b.body {
        match body(text) {
            Ok(body) => {
                // The body's own content type is the harness's to set for `json:`/`form:`.
                if matches!(body, Body::Json(_)) {
                    step.headers.retain(|(k, v)| !(k.eq_ignore_ascii_case("content-type") && v.contains("json")));
                }
                step.body = body;
            }
            Err(why) => cx.item(step, *n, text.lines().next().unwrap_or_default(), &why),
        }
    }
}

fn basic(cx: &mut Ctx<'_>, step: &mut Step, line: usize, user: &str, pass: &str) {
    if user.contains("{{") || pass.contains("{{") {
        cx.item(
            step,
            line,
            "[BasicAuth] with templates",
            "send the `Authorization: Basic …` header yourself (templates cannot be base64-encoded)",
        );
        return;
    }
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    step.headers.push(("Authorization".into(), format!("Basic {b}")));
}

/// A request body: JSON (a `{{ x }}` at a value position becomes the string `"{{ x }}"`, which
/// smokegate sends with the value's type), a fenced or backtick string, or XML as raw text.
fn body(text: &str) -> Result<Body, String> {
    let t = text.trim();
    if let Some(fenced) = t.strip_prefix("```") {
        let (lang, rest) = fenced.split_once('\n').unwrap_or((fenced, ""));
        let content = rest.strip_suffix("```").unwrap_or(rest).trim_end_matches('\n');
        return match lang.split(',').next().unwrap_or_default().trim() {
            "json" => json_body(content),
            "" | "xml" | "csv" => Ok(Body::Raw(lex::templates(content))),
            "graphql" => Err("GraphQL bodies: send them as `json: { query: … }`".into()),
            other => Err(format!("a ```{other} body")),
        };
    }
    if let Some(inner) = t.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        return Ok(Body::Raw(lex::templates(inner)));
    }
    if ["base64,", "hex,", "file,"].iter().any(|p| t.starts_with(p)) {
        return Err("binary and file bodies are not supported".into());
    }
    if t.starts_with('<') {
        return Ok(Body::Raw(lex::templates(t)));
    }
    json_body(t)
}

fn json_body(text: &str) -> Result<Body, String> {
    crate::import::draft::json_template(&lex::templates(text)).map(Body::Json)
}

fn options(cx: &mut Ctx<'_>, step: &mut Step, lines: &[Line]) {
    let (mut retry, mut interval) = (None, None);
    for l in lines {
        let Some((k, v)) = key_value(&l.text) else {
            cx.item(step, l.n, &l.text, "not a `name: value` option");
            continue;
        };
        match k.as_str() {
            "location" | "location-trusted" => step.follow_redirects = v == "true",
            "max-redirs" => match v.parse::<i64>() {
                Ok(n) if (0..=5).contains(&n) => {}
                _ => cx.item(step, l.n, &format!("max-redirs: {v}"), "smokegate follows at most 5 redirects, on the gateway's origin"),
            },
            "retry" => retry = Some((l.n, v)),
            "retry-interval" => interval = Some(v),
            "variable" => match v.split_once('=') {
                Some((name, value)) => {
                    let value = lex::value(&Tok::Word(value.to_owned())).unwrap_or_else(|| J::String(lex::templates(value)));
                    cx.found.vars.push((lex::name(name), value));
                }
                None => cx.item(step, l.n, &l.text, "expected `variable: name=value`"),
            },
            "user" => match v.split_once(':') {
                Some((u, p)) => basic(cx, step, l.n, u, p),
                None => cx.item(step, l.n, "user", "expected `user: name:password`"),
            },
            "insecure" | "cacert" | "cert" | "key" => {
                cx.item(step, l.n, &k, "TLS settings are the run's: `smokegate run --insecure` or `--cacert FILE`")
            }
            "delay" => {
                // Milliseconds, or a duration (`2s`) as Hurl 4+ also takes.
                let d = if v.chars().all(|c| c.is_ascii_digit()) { format!("{v}ms") } else { v.clone() };
                match humantime::parse_duration(&d) {
                    Ok(_) => step.delay = Some(d),
                    Err(_) => cx.item(step, l.n, &format!("delay: {v}"), "not a duration"),
                }
            }
            "skip" if v == "true" => cx.item(step, l.n, "skip: true", "the entry is imported; remove the step to skip it"),
            _ => cx.item(step, l.n, &format!("{k}: {v}"), "no equivalent option"),
        }
    }
    if let Some((n, r)) = retry {
        let every =
            interval.map(|i| if i.chars().all(|c| c.is_ascii_digit()) { format!("{i}ms") } else { i }).unwrap_or_else(|| "1s".into());
        let every_ms = humantime::parse_duration(&every).map(|d| d.as_millis() as u64).unwrap_or(1000);
        match r.parse::<i64>() {
            Ok(count) if count > 0 => {
                let within = std::time::Duration::from_millis(every_ms.saturating_mul(count as u64 + 1).max(1));
                step.eventually = Some((humantime::format_duration(within).to_string().replace(' ', ""), every));
            }
            _ => cx.item(step, n, &format!("retry: {r}"), "an unbounded retry: give `eventually` a `within`"),
        }
    }
}

fn response(cx: &mut Ctx<'_>, step: &mut Step, b: &Block) {
    for h in &b.headers {
        match key_value(&h.text) {
            Some((k, v)) => {
                let m = lex::value(&lex::tokens(&v).ok().and_then(|t| t.into_iter().next()).unwrap_or(Tok::Word(v.clone())))
                    .filter(|_| v.trim_start().starts_with('"'))
                    .unwrap_or_else(|| J::String(text_value(&v)));
                let m = match m {
                    J::String(s) => J::String(s),
                    other => J::String(other.to_string()),
                };
                if let Err(k2) = step.add_header(&k, m) {
                    cx.item(step, h.n, &h.text, &format!("a second `{k2}` on the same header"));
                }
            }
            None => cx.item(step, h.n, &h.text, "not a `Name: value` header"),
        }
    }
    for (name, lines) in &b.sections {
        for l in lines {
            let r = match name.text.as_str() {
                "Captures" => capture(cx, step, l),
                "Asserts" => assert(step, l),
                other => Err(format!("a [{other}] section in a response")),
            };
            if let Err(why) = r {
                cx.item(step, l.n, &l.text, &why);
            }
        }
    }
    if let Some((n, text)) = &b.body {
        let r = match body(text) {
            Ok(Body::Json(v)) => step.add_json("$", json!({ "equals": v })).map_err(|k| format!("a second `{k}` on the body")),
            Ok(Body::Raw(t)) => step.add_body(J::String(t)).map_err(|k| format!("a second `{k}` on the body")),
            Ok(_) => Ok(()),
            Err(why) => Err(why),
        };
        if let Err(why) = r {
            cx.item(step, *n, text.lines().next().unwrap_or_default(), &why);
        }
    }
}

fn word(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    }
}

fn string(t: Option<&Tok>) -> Option<String> {
    match t {
        Some(Tok::Str(s)) => Some(lex::templates(s)),
        _ => None,
    }
}

/// `name: query [filters] [redact]`.
fn capture(cx: &mut Ctx<'_>, step: &mut Step, l: &Line) -> Result<(), String> {
    let (name, expr) = l.text.split_once(':').ok_or("not a `name: query` capture")?;
    let name = lex::name(name);
    let mut toks = lex::tokens(expr)?;
    if word(toks.last()) == Some("redact") {
        toks.pop();
        cx.found.secrets.push(name.clone());
    }
    let (query, rest) = toks.split_first().ok_or("an empty capture")?;
    let (mut src, rest) = match (word(Some(query)), rest) {
        (Some("jsonpath"), [p, rest @ ..]) => (J::String(string(Some(p)).ok_or("jsonpath needs a \"path\"")?), rest),
        (Some("header"), [h, rest @ ..]) => (json!({ "header": string(Some(h)).ok_or("header needs a \"name\"")? }), rest),
        (Some("regex"), [r, rest @ ..]) => (json!({ "body": true, "regex": regex_of(r)? }), rest),
        (Some("body"), rest) => (json!({ "body": true }), rest),
        (Some("status"), rest) => (json!({ "status": true }), rest),
        (Some(q), _) => return Err(unsupported_query(q)),
        _ => return Err("not a capture query".into()),
    };
    match rest {
        [] => {}
        [f, nth] if word(Some(f)) == Some("nth") && src.is_string() => {
            src = J::String(format!("{}[{}]", src.as_str().unwrap_or_default(), token_text(nth)))
        }
        [f, r] if word(Some(f)) == Some("regex") && src.get("regex").is_none() => {
            let re = regex_of(r)?;
            src = match src {
                J::String(p) => json!({ "json": p, "regex": re }),
                J::Object(mut o) => {
                    o.insert("regex".into(), J::String(re));
                    J::Object(o)
                }
                other => other,
            };
        }
        _ => return Err("filters other than `nth N` and `regex` have no equivalent in a capture".into()),
    }
    cx.found.capture_lines.push((name.clone(), l.n));
    step.captures.push((name, src));
    Ok(())
}

fn token_text(t: &Tok) -> String {
    match t {
        Tok::Word(w) | Tok::Str(w) | Tok::Regex(w) => w.clone(),
        Tok::Template(e) => format!("{{{{ {e} }}}}"),
    }
}

fn regex_of(t: &Tok) -> Result<String, String> {
    match t {
        Tok::Regex(r) => Ok(r.clone()),
        Tok::Str(s) => Ok(lex::templates(s)),
        _ => Err("a regex is \"…\" or /…/".into()),
    }
}

fn unsupported_query(q: &str) -> String {
    match q {
        "xpath" => "no XPath in smokegate (HTML/XML bodies): use `body: { matches: … }`".into(),
        "cookie" => "cookies are not kept or queried: assert the `Set-Cookie` header".into(),
        "certificate" => "TLS certificates are not queried".into(),
        "url" | "redirects" => "the redirect chain is not queried: `follow_redirects` and assert the last answer".into(),
        "bytes" | "sha256" | "md5" => "bodies are judged as text or JSON, not as bytes or digests".into(),
        "variable" | "ip" | "version" => format!("`{q}` has no equivalent"),
        other => format!("unknown query `{other}`"),
    }
}

/// `query [filters] predicate` as an expectation of the step.
fn assert(step: &mut Step, l: &Line) -> Result<(), String> {
    let toks = lex::tokens(&l.text)?;
    let (query, rest) = toks.split_first().ok_or("an empty assert")?;
    let clash = |k: String| format!("a second `{k}` on the same value: split it into another step");
    match (word(Some(query)), rest) {
        (Some("status"), rest) => match predicate(rest)? {
            J::Number(n) => {
                step.status = Some(Status::Code(n.as_u64().and_then(|n| u16::try_from(n).ok()).ok_or("not a status")?));
                Ok(())
            }
            _ => Err("only `status == N` maps to `expect.status`".into()),
        },
        (Some("header"), [h, rest @ ..]) => {
            let name = string(Some(h)).ok_or("header needs a \"name\"")?;
            let m = predicate(rest)?;
            step.add_header(&name, m).map_err(clash)
        }
        (Some("jsonpath"), [p, rest @ ..]) => {
            let mut path = string(Some(p)).ok_or("jsonpath needs a \"path\"")?;
            let mut rest = rest;
            if let (Some("nth"), [n, after @ ..]) = (word(rest.first()), rest.get(1..).unwrap_or_default()) {
                path = format!("{path}[{}]", token_text(n));
                rest = after;
            }
            let m = match word(rest.first()) {
                Some("count") => count(&rest[1..])?,
                _ => predicate(rest)?,
            };
            step.add_json(&path, m).map_err(clash)
        }
        (Some("body"), rest) => {
            let m = match word(rest.first()) {
                Some("count") => return Err("`body count` has no equivalent".into()),
                _ => predicate(rest)?,
            };
            step.add_body(m).map_err(clash)
        }
        (Some("regex"), [r, rest @ ..]) => {
            let re = regex_of(r)?;
            match rest {
                [w] if word(Some(w)) == Some("exists") => step.add_body(json!({ "matches": re })).map_err(clash),
                _ => Err("only `regex … exists` maps (as `body: { matches: … }`); capture the group and compare it in a later step".into()),
            }
        }
        (Some("duration"), [op, n]) => {
            let ms = match lex::value(n) {
                Some(J::Number(n)) => n.as_u64().ok_or("not a number of milliseconds")?,
                _ => return Err("duration is compared with a number of milliseconds".into()),
            };
            step.max_ms = Some(match word(Some(op)) {
                Some("<") => ms.saturating_sub(1),
                Some("<=") => ms,
                _ => return Err("only `duration < N` and `<= N` map (to `max_ms`)".into()),
            });
            Ok(())
        }
        (Some(q), _) => Err(unsupported_query(q)),
        _ => Err("not an assert query".into()),
    }
}

/// `count OP N` as item-count matchers.
fn count(rest: &[Tok]) -> Result<J, String> {
    let (op, n) = match rest {
        [op, n] => (word(Some(op)).unwrap_or_default(), lex::value(n).and_then(|v| v.as_u64()).ok_or("count is compared with a number")?),
        _ => return Err("`count` needs `== N`, `>= N`, …".into()),
    };
    Ok(match op {
        "==" => json!({ "min_items": n, "max_items": n }),
        ">=" => json!({ "min_items": n }),
        ">" => json!({ "min_items": n + 1 }),
        "<=" => json!({ "max_items": n }),
        "<" if n > 0 => json!({ "max_items": n - 1 }),
        _ => return Err(format!("`count {op} {n}` has no equivalent")),
    })
}

/// A predicate (with an optional `not`) as a matcher.
fn predicate(rest: &[Tok]) -> Result<J, String> {
    let (negated, rest) = match rest.split_first() {
        Some((t, r)) if word(Some(t)) == Some("not") => (true, r),
        _ => (false, rest),
    };
    let (op, args) = rest.split_first().ok_or("no predicate")?;
    let op = word(Some(op)).ok_or("no predicate")?;
    let arg = || -> Result<J, String> {
        match args {
            [a] => lex::value(a).ok_or_else(|| format!("`{op}` needs a value")),
            _ => Err(format!("`{op}` takes one value")),
        }
    };
    let text_arg = || -> Result<String, String> {
        match arg()? {
            J::String(s) if !s.contains("{{") => Ok(s),
            J::String(_) => Err(format!("`{op}` with a template has no equivalent (regexes are not rendered)")),
            _ => Err(format!("`{op}` compares with a string")),
        }
    };
    let m = match op {
        "==" => match arg()? {
            v @ (J::Array(_) | J::Object(_)) => json!({ "equals": v }),
            v => v,
        },
        "!=" => {
            let v = arg()?;
            // `not !=` is `==`.
            return Ok(if negated { json!({ "equals": v }) } else { json!({ "not": { "equals": v } }) });
        }
        ">" => json!({ "gt": arg()? }),
        ">=" => json!({ "gte": arg()? }),
        "<" => json!({ "lt": arg()? }),
        "<=" => json!({ "lte": arg()? }),
        "contains" | "includes" => json!({ "contains": arg()? }),
        "startsWith" => json!({ "matches": format!("^{}", regex::escape(&text_arg()?)) }),
        "endsWith" => json!({ "matches": format!("{}$", regex::escape(&text_arg()?)) }),
        "matches" => match args {
            [t @ (Tok::Regex(_) | Tok::Str(_))] => json!({ "matches": regex_of(t)? }),
            _ => return Err("`matches` needs \"…\" or /…/".into()),
        },
        "exists" => return Ok(json!({ "exists": !negated })),
        "isEmpty" => return Ok(if negated { json!({ "min_items": 1 }) } else { json!({ "max_items": 0 }) }),
        "isString" => json!({ "type": "string" }),
        "isInteger" => json!({ "type": "integer" }),
        "isFloat" | "isNumber" => json!({ "type": "number" }),
        "isBoolean" => json!({ "type": "boolean" }),
        "isList" => json!({ "type": "array" }),
        "isObject" => json!({ "type": "object" }),
        other => return Err(format!("the predicate `{other}` has no equivalent")),
    };
    Ok(if negated { json!({ "not": m_for_not(m) }) } else { m })
}

/// `not` takes a matcher: a literal is `{ equals: … }`.
fn m_for_not(m: J) -> J {
    match m {
        J::Object(_) => m,
        other => json!({ "equals": other }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<J, String> {
        predicate(&lex::tokens(s).unwrap())
    }

    #[test]
    fn predicates_map_to_matchers() {
        assert_eq!(p("== 3").unwrap(), json!(3));
        assert_eq!(p("== \"a\"").unwrap(), json!("a"));
        assert_eq!(p("!= 3").unwrap(), json!({"not": {"equals": 3}}));
        assert_eq!(p("not == 3").unwrap(), json!({"not": {"equals": 3}}));
        assert_eq!(p(">= 2").unwrap(), json!({"gte": 2}));
        assert_eq!(p("startsWith \"a.b\"").unwrap(), json!({"matches": "^a\\.b"}));
        assert_eq!(p("endsWith \"z\"").unwrap(), json!({"matches": "z$"}));
        assert_eq!(p("matches /^\\d+$/").unwrap(), json!({"matches": "^\\d+$"}));
        assert_eq!(p("not exists").unwrap(), json!({"exists": false}));
        assert_eq!(p("isInteger").unwrap(), json!({"type": "integer"}));
        assert_eq!(p("not isEmpty").unwrap(), json!({"min_items": 1}));
        assert_eq!(p("not contains \"x\"").unwrap(), json!({"not": {"contains": "x"}}));
        assert_eq!(p("== {{ id }}").unwrap(), json!("{{ id }}"));
        assert!(p("isIpv4").is_err());
        assert!(p("startsWith \"{{ x }}\"").is_err());
        assert_eq!(count(&lex::tokens("== 2").unwrap()).unwrap(), json!({"min_items": 2, "max_items": 2}));
        assert_eq!(count(&lex::tokens("> 0").unwrap()).unwrap(), json!({"min_items": 1}));
    }

    #[test]
    fn json_bodies_with_bare_templates_parse() {
        assert_eq!(
            json_body("{\"qty\": {{n}}, \"a\": [{{ x }}, 1], \"s\": \"{{s}}\"}").unwrap(),
            Body::Json(json!({"qty": "{{ n }}", "a": ["{{ x }}", 1], "s": "{{ s }}"}))
        );
        assert_eq!(body("```json\n{\"a\": 1}\n```").unwrap(), Body::Json(json!({"a": 1})));
        assert_eq!(body("`hello {{name}}`").unwrap(), Body::Raw("hello {{ name }}".into()));
        assert!(body("base64,AAA=;").is_err());
    }
}
