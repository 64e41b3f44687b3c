//! `smokegate import postman COLLECTION.json` (v2.0 and v2.1): folders become suites (requests
//! outside a folder, the collection's own suite), requests steps, and the common test-script
//! patterns expectations and captures. `{{variables}}` become the collection's `vars`, captures
//! (what a script `set`s) or `env.*` (a Postman environment's). A bearer token that a request's
//! script sets becomes the `auth` block, that request the login. Every script line that was not
//! converted is listed.

use serde_json::{Value as J, json};

use super::draft::{self, AuthDraft, Body, Status, Step, Suite};
use super::{Import, Item, url};

/// One request with where it sits.
struct Req<'a> {
    folder: Option<String>,
    item: &'a J,
    /// The auth in force: the request's, else its folders', else the collection's.
    auth: Option<&'a J>,
}

pub fn import(file: &str, text: &str) -> Import {
    let mut imp = Import::default();
    let doc: J = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            imp.failed.push((file.to_owned(), format!("not JSON: {e}")));
            return imp;
        }
    };
    let schema = doc.pointer("/info/schema").and_then(J::as_str).unwrap_or_default();
    if !(schema.contains("v2.0") || schema.contains("v2.1")) || doc.get("item").and_then(J::as_array).is_none() {
        imp.failed.push((file.to_owned(), "not a Postman collection v2.0 or v2.1 (`info.schema`, `item`)".into()));
        return imp;
    }
    let name = doc.pointer("/info/name").and_then(J::as_str).unwrap_or("postman").to_owned();
    let mut reqs = Vec::new();
    walk(&doc["item"], None, doc.get("auth"), &mut reqs);
    let coll_vars = variables(&doc);
    let base = base_var(&reqs);
    // What scripts `set`: captures, read as plain variables.
    let captured: Vec<String> = reqs.iter().flat_map(|r| script(r.item, "test")).filter_map(|l| set_target(&l).map(|(n, _)| n)).collect();
    let names = Names { coll: coll_vars.iter().map(|(k, _)| k.clone()).collect(), captured };
    let login = login_of(&reqs, &names);
    let mut suites: Vec<Suite> = Vec::new();
    let mut users = false;
    for (n, r) in reqs.iter().enumerate() {
        let title = r.item.get("name").and_then(J::as_str).unwrap_or("request");
        let at = format!("{file} › {}{title}", r.folder.as_ref().map(|f| format!("{f} › ")).unwrap_or_default());
        let mut step = match step_of(r, &names, &at, &mut imp.items) {
            Ok(s) => s,
            Err(why) => {
                imp.failed.push((at, why));
                continue;
            }
        };
        if let Some((ln, token, _)) = &login
            && *ln == n
        {
            imp.auth = Some(auth_block(step, token, &at, &mut imp.items));
            continue;
        }
        let bearer = bearer_of(r.auth, &names);
        step.auth = match (&bearer, &login) {
            (Some(Bearer::Var(v)), Some((_, _, lv))) if v == lv => {
                users = true;
                None
            }
            (Some(Bearer::Var(_) | Bearer::Env(_)), _) if login.is_none() => {
                users = true;
                None
            }
            (Some(Bearer::Other(t)), _) => {
                let item = Item::new(&at, format!("auth type `{t}`"), "only bearer tokens map (to `auth: user`)");
                step.comments.push(item.comment());
                imp.items.push(item);
                Some("none")
            }
            _ => Some("none"),
        };
        let suite_name = r.folder.clone().unwrap_or_else(|| name.clone());
        match suites.iter_mut().find(|s| s.name == suite_name) {
            Some(s) => s.steps.push(step),
            None => suites.push(Suite { stem: super::stem_of(&suite_name), name: suite_name, steps: vec![step], ..Suite::default() }),
        }
    }
    // A bearer token from the environment with no login: the key mode sends it as it is.
    if imp.auth.is_none() && users {
        let env_token = reqs.iter().find_map(|r| match bearer_of(r.auth, &names) {
            Some(Bearer::Env(v)) => Some(v),
            _ => None,
        });
        match env_token {
            Some(v) => imp.config_extra.push(format!(
                "# The collection's bearer token came from the Postman environment's `{v}`: sent as it is.\nauth:\n  mode: api-key\n  header: Authorization\n  value: \"Bearer {{{{ env.{v} }}}}\""
            )),
            None => {
                for s in &mut suites {
                    for st in &mut s.steps {
                        st.auth = st.auth.or(Some("none"));
                    }
                }
            }
        }
    }
    for s in &mut suites {
        s.header.push(format!("Imported from {file} by `smokegate import postman`."));
        if base.is_some() {
            s.header.push(format!(
                "`{{{{{}}}}}` was the base URL: run with GATEWAY_BASE_URL pointing at the gateway.",
                base.clone().unwrap_or_default()
            ));
        }
        if s.steps.iter().all(|st| st.auth == Some("none")) {
            s.auth = Some("none");
            s.steps.iter_mut().for_each(|st| st.auth = None);
        }
        s.vars = coll_vars.iter().filter(|(k, _)| Some(k) != base.as_ref()).map(|(k, v)| (k.clone(), v.clone(), None)).collect();
        let env: Vec<String> = env_names(s);
        if !env.is_empty() {
            s.header.push(format!("Postman environment variables, read from the environment here: {}.", env.join(", ")));
        }
    }
    super::unique_stems(&mut suites);
    imp.suites = suites;
    imp
}

struct Names {
    coll: Vec<String>,
    captured: Vec<String>,
}

impl Names {
    /// A Postman template expression in smokegate's terms.
    fn expr(&self, e: &str) -> Option<String> {
        let e = e.trim();
        Some(match e {
            "$guid" | "$randomUUID" => "uuid".into(),
            "$timestamp" => "run.timestamp".into(),
            "$isoTimestamp" => "run.started_at".into(),
            e if e.starts_with('$') => return None,
            e if self.coll.iter().any(|c| c == e) || self.captured.iter().any(|c| c == e) => e.replace('-', "_"),
            e => format!("env.{e}"),
        })
    }

    /// Every `{{ x }}` in a text respelled; `Err` names a dynamic variable with no equivalent.
    fn text(&self, s: &str) -> Result<String, String> {
        static RE: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new(r"\{\{\s*([^}]*?)\s*\}\}").expect("valid"));
        let mut bad = None;
        let out = RE.replace_all(s, |c: &regex::Captures<'_>| match self.expr(&c[1]) {
            Some(e) => format!("{{{{ {e} }}}}"),
            None => {
                bad = Some(c[1].to_owned());
                c[0].to_owned()
            }
        });
        match bad {
            Some(b) => Err(format!("the dynamic variable `{{{{{b}}}}}` has no equivalent")),
            None => Ok(out.into_owned()),
        }
    }
}

fn walk<'a>(items: &'a J, folder: Option<String>, auth: Option<&'a J>, out: &mut Vec<Req<'a>>) {
    for it in items.as_array().into_iter().flatten() {
        let own_auth = it.get("auth").filter(|a| !a.is_null()).or(auth);
        if let Some(children) = it.get("item") {
            let name = it.get("name").and_then(J::as_str).unwrap_or("folder");
            let path = match &folder {
                Some(f) => format!("{f} - {name}"),
                None => name.to_owned(),
            };
            walk(children, Some(path), own_auth, out);
        } else if it.get("request").is_some() {
            let auth = it.pointer("/request/auth").filter(|a| !a.is_null()).or(own_auth);
            out.push(Req { folder: folder.clone(), item: it, auth });
        }
    }
}

fn variables(doc: &J) -> Vec<(String, J)> {
    doc.get("variable")
        .and_then(J::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("disabled") != Some(&J::Bool(true)))
        .filter_map(|v| Some((v.get("key")?.as_str()?.to_owned(), v.get("value").cloned().unwrap_or(J::String(String::new())))))
        .collect()
}

/// The raw URL of a request (v2.1 `url.raw`, or v2.0's string).
fn raw_url(item: &J) -> Option<String> {
    let u = item.pointer("/request/url")?;
    u.as_str().map(str::to_owned).or_else(|| u.get("raw").and_then(J::as_str).map(str::to_owned))
}

/// The variable every URL starts with (`{{baseUrl}}/…`), which stands for the gateway.
fn base_var(reqs: &[Req<'_>]) -> Option<String> {
    let first = reqs
        .iter()
        .filter_map(|r| raw_url(r.item))
        .find_map(|u| u.strip_prefix("{{").and_then(|r| r.split_once("}}")).map(|(v, _)| v.trim().to_owned()))?;
    Some(first)
}

fn script(item: &J, listen: &str) -> Vec<String> {
    item.get("event")
        .and_then(J::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("listen").and_then(J::as_str) == Some(listen))
        .flat_map(|e| match e.pointer("/script/exec") {
            Some(J::Array(lines)) => lines.iter().filter_map(|l| l.as_str().map(str::to_owned)).collect::<Vec<_>>(),
            Some(J::String(s)) => s.lines().map(str::to_owned).collect(),
            _ => Vec::new(),
        })
        .collect()
}

enum Bearer {
    /// `{{ var }}`: a collection variable or one a script sets.
    Var(String),
    /// From the Postman environment.
    Env(String),
    /// Another auth type (basic, apikey, oauth2…).
    Other(String),
}

fn bearer_of(auth: Option<&J>, names: &Names) -> Option<Bearer> {
    let a = auth?;
    let t = a.get("type").and_then(J::as_str)?;
    if t == "noauth" {
        return None;
    }
    if t != "bearer" {
        return Some(Bearer::Other(t.to_owned()));
    }
    // v2.1: `[{key: token, value}]`; v2.0: `{token}`.
    let token = match a.get("bearer") {
        Some(J::Array(kv)) => {
            kv.iter().find(|p| p.get("key").and_then(J::as_str) == Some("token")).and_then(|p| p.get("value")).and_then(J::as_str)
        }
        Some(J::Object(o)) => o.get("token").and_then(J::as_str),
        _ => None,
    }?;
    let var = token.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim().to_owned();
    Some(if names.captured.contains(&var) || names.coll.contains(&var) { Bearer::Var(var) } else { Bearer::Env(var) })
}

/// `pm.environment.set("token", json.token)`: (name, expression).
fn set_target(line: &str) -> Option<(String, String)> {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"^pm\.(?:environment|collectionVariables|globals|variables)\.set\(\s*["']([\w-]+)["']\s*,\s*(.+?)\s*\)\s*;?$"#)
            .expect("valid")
    });
    let c = RE.captures(line.trim())?;
    Some((c[1].to_owned(), c[2].to_owned()))
}

/// The request whose script sets the variable the bearer token reads: (index, token path, var).
fn login_of(reqs: &[Req<'_>], names: &Names) -> Option<(usize, String, String)> {
    let vars: Vec<String> = reqs
        .iter()
        .filter_map(|r| match bearer_of(r.auth, names) {
            Some(Bearer::Var(v)) => Some(v),
            _ => None,
        })
        .collect();
    for (n, r) in reqs.iter().enumerate() {
        let lines = script(r.item, "test");
        let aliases = aliases(&lines);
        for l in &lines {
            if let Some((var, expr)) = set_target(l)
                && vars.contains(&var)
                && let Some(Subject::Json(path)) = subject(&expr, &aliases)
            {
                return Some((n, path, var));
            }
        }
    }
    None
}

/// `var json = pm.response.json();` names.
fn aliases(lines: &[String]) -> Vec<String> {
    static RE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^(?:var|let|const)\s+(\w+)\s*=\s*pm\.response\.json\(\)\s*;?$").expect("valid"));
    lines.iter().filter_map(|l| RE.captures(l.trim()).map(|c| c[1].to_owned())).collect()
}

enum Subject {
    Status,
    Time,
    Header(String),
    Body,
    Json(String),
    /// `json.items.length`: the count of what the path holds.
    Length(String),
}

/// What a script expression reads: `pm.response.code`, `json.a.b[0]`, `pm.response.json().x`…
fn subject(expr: &str, aliases: &[String]) -> Option<Subject> {
    let e = expr.trim();
    match e {
        "pm.response.code" | "pm.response.status" => return Some(Subject::Status),
        "pm.response.responseTime" => return Some(Subject::Time),
        "pm.response.text()" => return Some(Subject::Body),
        _ => {}
    }
    static HEADER: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r#"^pm\.response\.headers\.get\(\s*["']([^"']+)["']\s*\)$"#).expect("valid"));
    if let Some(c) = HEADER.captures(e) {
        return Some(Subject::Header(c[1].to_owned()));
    }
    let rest = e
        .strip_prefix("pm.response.json()")
        .or_else(|| aliases.iter().find_map(|a| e.strip_prefix(a.as_str()).filter(|r| r.is_empty() || r.starts_with(['.', '[']))))?;
    let (rest, length) = match rest.strip_suffix(".length") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let path = js_path(rest)?;
    Some(if length { Subject::Length(path) } else { Subject::Json(path) })
}

/// `.a.b[0]["c-d"]` as `$.a.b[0]['c-d']`.
fn js_path(rest: &str) -> Option<String> {
    static SEG: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r#"^(?:\.([A-Za-z_$][\w$]*)|\[(\d+)\]|\[\s*["']([^"']+)["']\s*\])"#).expect("valid"));
    let mut path = String::from("$");
    let mut r = rest;
    while !r.is_empty() {
        let c = SEG.captures(r)?;
        if let Some(m) = c.get(1) {
            path.push('.');
            path.push_str(m.as_str());
        } else if let Some(m) = c.get(2) {
            path.push_str(&format!("[{}]", m.as_str()));
        } else if let Some(m) = c.get(3) {
            path.push_str(&format!("['{}']", m.as_str()));
        }
        r = &r[c[0].len()..];
    }
    Some(path)
}

fn step_of(r: &Req<'_>, names: &Names, at: &str, items: &mut Vec<Item>) -> Result<Step, String> {
    let req = &r.item["request"];
    let method = req.get("method").and_then(J::as_str).unwrap_or("GET").to_ascii_uppercase();
    let raw = raw_url(r.item).ok_or("the request has no URL")?;
    let (_, path) = url::split(&raw)?;
    let path = names.text(&path)?;
    let mut step = Step::new(&method, &path);
    step.name = r.item.get("name").and_then(J::as_str).unwrap_or(&step.name).to_owned();
    let mut note = |step: &mut Step, what: &str, why: &str| {
        let item = Item::new(at, what, why);
        step.comments.push(item.comment());
        items.push(item);
    };
    for h in req.get("header").and_then(J::as_array).into_iter().flatten() {
        if h.get("disabled") == Some(&J::Bool(true)) {
            continue;
        }
        let (Some(k), Some(v)) = (h.get("key").and_then(J::as_str), h.get("value").and_then(J::as_str)) else { continue };
        step.headers.push((k.to_owned(), names.text(v)?));
    }
    if let Some(b) = req.get("body").filter(|b| !b.is_null()) {
        match b.get("mode").and_then(J::as_str).unwrap_or_default() {
            "raw" => {
                let text = names.text(b.get("raw").and_then(J::as_str).unwrap_or_default())?;
                let lang = b.pointer("/options/raw/language").and_then(J::as_str).unwrap_or_default();
                let json_header = step.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.contains("json"));
                step.body = match draft::json_template(&text) {
                    Ok(v) if lang == "json" || json_header => {
                        step.headers.retain(|(k, v)| !(k.eq_ignore_ascii_case("content-type") && v.contains("json")));
                        Body::Json(v)
                    }
                    _ if text.is_empty() => Body::None,
                    _ => Body::Raw(text),
                };
            }
            "urlencoded" => {
                let mut pairs = Vec::new();
                for p in
                    b.get("urlencoded").and_then(J::as_array).into_iter().flatten().filter(|p| p.get("disabled") != Some(&J::Bool(true)))
                {
                    let k = p.get("key").and_then(J::as_str).unwrap_or_default();
                    pairs.push((k.to_owned(), names.text(p.get("value").and_then(J::as_str).unwrap_or_default())?));
                }
                step.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
                step.body = Body::Form(pairs);
            }
            "graphql" => {
                let q = b.pointer("/graphql/query").and_then(J::as_str).unwrap_or_default();
                let vars =
                    b.pointer("/graphql/variables").and_then(J::as_str).and_then(|v| draft::json_template(&names.text(v).ok()?).ok());
                let mut body = json!({ "query": names.text(q)? });
                if let Some(v) = vars {
                    body["variables"] = v;
                }
                step.body = Body::Json(body);
            }
            "formdata" => note(&mut step, "a form-data body", "multipart bodies are not supported yet"),
            "file" => note(&mut step, "a file body", "bodies read from files are not supported"),
            other => note(&mut step, &format!("body mode `{other}`"), "unknown body mode"),
        }
    }
    if !script(r.item, "prerequest").iter().all(|l| l.trim().is_empty() || l.trim().starts_with("//")) {
        note(&mut step, "the pre-request script", "scripts do not run: set what it computes as `vars`");
    }
    tests(&mut step, &script(r.item, "test"), names, at, items);
    Ok(step)
}

/// The test script's lines as expectations and captures; every other line is listed.
fn tests(step: &mut Step, lines: &[String], names: &Names, at: &str, items: &mut Vec<Item>) {
    let aliases = aliases(lines);
    static SKIP: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(?:pm\.test\(.*(?:function\s*\(\s*\)|\(\s*\)\s*=>)\s*\{|\}\s*\)\s*;?|\}|//.*|(?:var|let|const)\s+\w+\s*=\s*pm\.response\.json\(\)\s*;?)$").expect("valid")
    });
    for l in lines {
        let t = l.trim();
        if t.is_empty() || SKIP.is_match(t) {
            continue;
        }
        if let Err(why) = line(step, t, &aliases, names) {
            let item = Item::new(at, t, why);
            step.comments.push(item.comment());
            items.push(item);
        }
    }
}

fn line(step: &mut Step, t: &str, aliases: &[String], names: &Names) -> Result<(), String> {
    static STATUS: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^pm\.response\.to\.have\.status\(\s*(\d{3})\s*\)\s*;?$").expect("valid"));
    static OK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^pm\.response\.to\.(?:be|have)\.(ok|success|created|accepted|notFound|unauthorized|forbidden)\s*;?$")
            .expect("valid")
    });
    static HAS_HEADER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"^pm\.response\.to\.have\.header\(\s*["']([^"']+)["']\s*(?:,\s*["']([^"']*)["']\s*)?\)\s*;?$"#).expect("valid")
    });
    static EXPECT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^pm\.expect\((.+?)\)\.to((?:\.(?:not|be|been|is|that|which|and|has|have|with|deep|an?))*)\.(\w+)(?:\((.*)\))?\s*;?$",
        )
        .expect("valid")
    });
    if let Some(c) = STATUS.captures(t) {
        step.status = Some(Status::Code(c[1].parse().map_err(|_| "not a status")?));
        return Ok(());
    }
    if let Some(c) = OK.captures(t) {
        step.status = Some(match &c[1] {
            "ok" => Status::Code(200),
            "created" => Status::Code(201),
            "accepted" => Status::Code(202),
            "notFound" => Status::Code(404),
            "unauthorized" => Status::Code(401),
            "forbidden" => Status::Code(403),
            _ => Status::Class("2xx".into()),
        });
        return Ok(());
    }
    if let Some(c) = HAS_HEADER.captures(t) {
        let m = c.get(2).map_or(json!({ "exists": true }), |v| J::String(v.as_str().to_owned()));
        return step.add_header(&c[1], m).map_err(|k| format!("a second `{k}` on the header"));
    }
    if let Some((var, expr)) = set_target(t) {
        let src = match subject(&expr, aliases) {
            Some(Subject::Json(p)) => J::String(p),
            Some(Subject::Header(h)) => json!({ "header": h }),
            Some(Subject::Body) => json!({ "body": true }),
            Some(Subject::Status) => json!({ "status": true }),
            _ => return Err("only values of the response (its JSON, a header, the body, the status) are captured".into()),
        };
        step.captures.push((var.replace('-', "_"), src));
        return Ok(());
    }
    let Some(c) = EXPECT.captures(t) else { return Err("no equivalent".into()) };
    let negated = c[2].contains(".not");
    let (chain, verb, arg) = (&c[2], &c[3], c.get(4).map(|m| m.as_str().trim()));
    let value = || -> Result<J, String> {
        let a = arg.ok_or("no value")?;
        let a = a.replace('\'', "\"");
        draft::json_template(&names.text(&a)?).map_err(|_| format!("`{a}` is not a literal value"))
    };
    let m = match verb {
        "eql" | "equal" | "equals" | "eq" => match value()? {
            v @ (J::Array(_) | J::Object(_)) => json!({ "equals": v }),
            v => v,
        },
        "include" | "includes" | "contain" | "contains" => json!({ "contains": value()? }),
        "above" | "gt" | "greaterThan" => json!({ "gt": value()? }),
        "below" | "lt" | "lessThan" => json!({ "lt": value()? }),
        "least" | "gte" => json!({ "gte": value()? }),
        "most" | "lte" => json!({ "lte": value()? }),
        "oneOf" => json!({ "one_of": value()? }),
        "match" => {
            let a = arg.ok_or("no regex")?;
            let re = a.strip_prefix('/').and_then(|r| r.rsplit_once('/')).map(|(r, _)| r.to_owned()).ok_or("`match` needs a /regex/")?;
            json!({ "matches": re })
        }
        "exist" | "exists" => json!({ "exists": !negated }),
        "empty" => {
            if negated {
                json!({ "min_items": 1 })
            } else {
                json!({ "max_items": 0 })
            }
        }
        "true" => J::Bool(true),
        "false" => J::Bool(false),
        "null" => J::Null,
        "lengthOf" => {
            let n = value()?.as_u64().ok_or("lengthOf takes a number")?;
            json!({ "min_items": n, "max_items": n })
        }
        "a" | "an" if chain.ends_with(".be") || chain.ends_with(".is") || chain.is_empty() => {
            let ty = value()?;
            let ty = match ty.as_str() {
                Some("string" | "number" | "boolean" | "array" | "object" | "null") => ty,
                _ => return Err(format!("the type {ty} has no equivalent")),
            };
            json!({ "type": ty })
        }
        other => return Err(format!("`.{other}` has no equivalent")),
    };
    let negate = |m: J| -> J {
        if !negated || matches!(verb, "exist" | "exists" | "empty") {
            return m;
        }
        json!({ "not": if m.is_object() { m } else { json!({ "equals": m }) } })
    };
    let clash = |k: String| format!("a second `{k}` on the same value");
    let subject = subject(&c[1], aliases).ok_or("the subject is not a response value")?;
    match subject {
        Subject::Status => match (negated, &m) {
            (false, J::Number(n)) => {
                step.status = Some(Status::Code(n.as_u64().and_then(|n| u16::try_from(n).ok()).ok_or("not a status")?));
                Ok(())
            }
            (false, J::Object(o)) if o.contains_key("one_of") => {
                let codes: Option<Vec<u16>> =
                    o["one_of"].as_array().map(|a| a.iter().filter_map(|v| v.as_u64().and_then(|n| u16::try_from(n).ok())).collect());
                step.status = Some(Status::List(codes.ok_or("oneOf takes a list of statuses")?));
                Ok(())
            }
            _ => Err("only an expected status (or oneOf them) maps".into()),
        },
        Subject::Time => match m.get("lt").or_else(|| m.get("lte")).and_then(J::as_u64) {
            Some(ms) if !negated => {
                step.max_ms = Some(if m.get("lt").is_some() { ms.saturating_sub(1) } else { ms });
                Ok(())
            }
            _ => Err("only `responseTime` below a number maps (to `max_ms`)".into()),
        },
        Subject::Header(h) => step.add_header(&h, negate(m)).map_err(clash),
        Subject::Body => step.add_body(negate(m)).map_err(clash),
        Subject::Json(p) => step.add_json(&p, negate(m)).map_err(clash),
        Subject::Length(p) => {
            let counted = match (&m, verb) {
                (J::Number(n), _) => json!({ "min_items": n, "max_items": n }),
                (_, "above" | "gt" | "greaterThan") => json!({ "min_items": m["gt"].as_u64().ok_or("a number")? + 1 }),
                (_, "least" | "gte") => json!({ "min_items": m["gte"] }),
                (_, "below" | "lt" | "lessThan") => json!({ "max_items": m["lt"].as_u64().ok_or("a number")?.saturating_sub(1) }),
                (_, "most" | "lte") => json!({ "max_items": m["lte"] }),
                _ => return Err("this comparison of a length has no equivalent".into()),
            };
            step.add_json(&p, negate(counted)).map_err(clash)
        }
    }
}

fn auth_block(mut step: Step, token: &str, at: &str, items: &mut Vec<Item>) -> AuthDraft {
    step.name = "login".into();
    let mut comments = vec![format!("The login of {at}: its script set the bearer token the collection sends.")];
    let found = draft::put_credentials(&mut step.body);
    comments.push(match found {
        Some(_) => "mode service-account: set SMOKE_USERNAME and SMOKE_PASSWORD.".into(),
        None => {
            items.push(Item::new(
                at,
                "the login's credentials",
                "not found in its body: put `{{ user.email }}` and `{{ user.password }}` where they go",
            ));
            "mode service-account: the login's body holds no field named like a username and password; edit it.".into()
        }
    });
    comments.push("Where the API can create users, `mode: disposable` with a `create` step gives every run its own user.".into());
    AuthDraft { comments, mode: "service-account", login: step, token: token.to_owned(), scheme: None, header: None }
}

/// The `env.*` names a suite reads.
fn env_names(s: &Suite) -> Vec<String> {
    static RE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\{\{ env\.([\w-]+) \}\}").expect("valid"));
    let mut out: Vec<String> = Vec::new();
    for st in &s.steps {
        let mut texts = vec![st.path.clone()];
        texts.extend(st.headers.iter().map(|(_, v)| v.clone()));
        if let Body::Json(v) = &st.body {
            texts.push(v.to_string());
        }
        if let Body::Form(f) = &st.body {
            texts.extend(f.iter().map(|(_, v)| v.clone()));
        }
        for t in texts {
            for c in RE.captures_iter(&t) {
                if !out.contains(&c[1].to_owned()) {
                    out.push(c[1].to_owned());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_paths_and_subjects() {
        assert_eq!(js_path(".a.b[0][\"c-d\"]").as_deref(), Some("$.a.b[0]['c-d']"));
        let al = vec!["json".to_owned()];
        assert!(matches!(subject("json.items.length", &al), Some(Subject::Length(p)) if p == "$.items"));
        assert!(matches!(subject("pm.response.json().id", &al), Some(Subject::Json(p)) if p == "$.id"));
        assert!(matches!(subject("pm.response.headers.get('Location')", &al), Some(Subject::Header(h)) if h == "Location"));
        assert!(subject("other.x", &al).is_none());
        assert_eq!(set_target("pm.environment.set(\"token\", json.token);"), Some(("token".into(), "json.token".into())));
    }
}

#[cfg(test)]
mod v2_0 {
    use super::*;

    /// v2.0 writes a URL as a string and a bearer token as an object.
    #[test]
    fn a_v2_0_collection_imports() {
        let text = r#"{
          "info": { "name": "Old", "schema": "https://schema.getpostman.com/json/collection/v2.0.0/collection.json" },
          "auth": { "type": "bearer", "bearer": { "token": "{{API_TOKEN}}" } },
          "item": [ { "name": "me", "request": { "method": "GET", "url": "https://api.example.com/api/me?x={{$guid}}" },
                      "event": [ { "listen": "test", "script": { "exec": "pm.response.to.have.status(200);\npm.expect(pm.response.json().name).to.eql(\"a\");" } } ] } ]
        }"#;
        let imp = import("old.json", text);
        assert!(imp.failed.is_empty() && imp.items.is_empty(), "{:?} {:?}", imp.failed, imp.items);
        let s = &imp.suites[0].steps[0];
        assert_eq!((s.path.as_str(), s.status.clone()), ("/api/me?x={{ uuid }}", Some(Status::Code(200))));
        assert_eq!(s.json, vec![("$.name".to_owned(), J::String("a".into()))]);
        // A token from the environment and no login: sent as it is, by the key mode.
        assert!(imp.config_text().unwrap().contains("value: \"Bearer {{ env.API_TOKEN }}\""), "{:?}", imp.config_text());
        assert!(import("x.json", "{\"info\": {}}").failed[0].1.contains("not a Postman collection"));
    }
}
