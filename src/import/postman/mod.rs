//! `smokegate import postman COLLECTION.json` (v2.0 and v2.1): folders become suites (requests
//! outside a folder, the collection's own suite), requests steps, and the common test-script
//! patterns expectations and captures. `{{variables}}` become the collection's `vars`, captures
//! (what a script `set`s) or `env.*` (a Postman environment's). A bearer token that a request's
//! script sets becomes the `auth` block, that request the login. Every script line that was not
//! converted is listed.

use serde_json::{Value as J, json};

use super::draft::{self, AuthDraft, Body, Step, Suite};
use super::{Import, Item, url};

mod script;
use script::{Subject, aliases, set_target, subject, tests};

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
        step.auth = step_auth(r, &names, login.as_ref().map(|(_, _, v)| v.as_str()), &at, &mut step.comments, &mut imp.items);
        users |= step.auth.is_none();
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
        if let Some(v) = env_token {
            imp.config_extra.push(format!(
                "# The collection's bearer token came from the Postman environment's `{v}`: sent as it is.\nauth:\n  mode: api-key\n  header: Authorization\n  value: \"Bearer {{{{ env.{v} }}}}\""
            ));
        }
    }
    for s in &mut suites {
        finish(s, file, base.as_deref(), &coll_vars);
    }
    super::unique_stems(&mut suites);
    imp.suites = suites;
    imp
}

/// How a request authenticates: `None` (the run's user) when it sends the bearer token the
/// login sets (or one from the environment), `auth: none` otherwise; other auth types listed.
fn step_auth(
    r: &Req<'_>,
    names: &Names,
    login_var: Option<&str>,
    at: &str,
    comments: &mut Vec<String>,
    items: &mut Vec<Item>,
) -> Option<&'static str> {
    match (bearer_of(r.auth, names), login_var) {
        (Some(Bearer::Var(v)), Some(lv)) if v == lv => None,
        // From the environment: the key mode sends it (see `import`).
        (Some(Bearer::Env(_)), None) => None,
        (Some(Bearer::Var(v)), _) => {
            let item = Item::new(
                at,
                format!("bearer token `{{{{{v}}}}}`"),
                "no request sets it: configure `auth` (e.g. `mode: api-key`) to send it",
            );
            comments.push(item.comment());
            items.push(item);
            Some("none")
        }
        (Some(Bearer::Other(t)), _) => {
            let item = Item::new(at, format!("auth type `{t}`"), "only bearer tokens map (to `auth: user`)");
            comments.push(item.comment());
            items.push(item);
            Some("none")
        }
        _ => Some("none"),
    }
}

/// A suite's header, default auth, variables, and the environment variables it reads.
fn finish(s: &mut Suite, file: &str, base: Option<&str>, coll_vars: &[(String, J)]) {
    s.header.push(format!("Imported from {file} by `smokegate import postman`."));
    if let Some(b) = base {
        s.header.push(format!("`{{{{{b}}}}}` was the base URL: run with GATEWAY_BASE_URL pointing at the gateway."));
    }
    if s.steps.iter().all(|st| st.auth == Some("none")) {
        s.auth = Some("none");
        s.steps.iter_mut().for_each(|st| st.auth = None);
    }
    s.vars = coll_vars.iter().filter(|(k, _)| Some(k.as_str()) != base).map(|(k, v)| (k.clone(), v.clone(), None)).collect();
    let env: Vec<String> = env_names(s);
    if !env.is_empty() {
        s.header.push(format!("Postman environment variables, read from the environment here: {}.", env.join(", ")));
    }
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
mod v2_0 {
    use super::*;
    use crate::import::draft::Status;

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
