//! `smokegate import hurl FILE…`: one suite per file. A login — a request whose captured token
//! later goes out as `Authorization: Bearer {{ token }}` (any scheme, or a header of its own)
//! — becomes the config's `auth` block, shared by every file (Hurl asks each file to log in
//! again: hurl#2110), and the steps that sent the token run as `auth: user` without the
//! hand-written header.

mod convert;
mod lex;
mod parse;

use std::path::PathBuf;

use serde_json::Value as J;

use super::draft::{self, AuthDraft, Body, Step, Suite};
use super::{Import, Item};

/// A converted file: its suite, and for each step its source line.
struct File {
    name: String,
    suite: Suite,
    lines: Vec<usize>,
    vars: Vec<(String, J)>,
}

pub fn import(inputs: &[(PathBuf, Result<String, String>)]) -> Import {
    let mut imp = Import::default();
    let mut files = Vec::new();
    let mut secrets = Vec::new();
    for (path, text) in inputs {
        let name = path.display().to_string();
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                imp.failed.push((name, e.clone()));
                continue;
            }
        };
        match file(&name, path, text) {
            Ok((f, found)) => {
                imp.items.extend(found.items);
                secrets.extend(found.secrets);
                files.push(f);
            }
            Err((line, why)) => imp.failed.push((format!("{name}:{line}"), why)),
        }
    }
    imp.auth = login(&mut files, &mut imp.items);
    for mut f in files {
        finish(&mut f, imp.auth.as_ref());
        imp.suites.push(f.suite);
    }
    super::unique_stems(&mut imp.suites);
    secrets.sort();
    secrets.dedup();
    if !secrets.is_empty() {
        imp.config_extra.push(format!("# Hurl's `redact`: these captures are masked in every output.\nsecrets: [{}]", secrets.join(", ")));
    }
    imp
}

fn file(name: &str, path: &std::path::Path, text: &str) -> Result<(File, convert::Found), (usize, String)> {
    let entries = parse::entries(text)?;
    let mut cx = convert::Ctx { file: name, found: convert::Found::default() };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "hurl".into());
    let mut suite = Suite { stem: super::stem_of(&stem), name: stem.clone(), ..Suite::default() };
    suite.header.push(format!("Imported from {name} by `smokegate import hurl`."));
    let (mut origin, mut lines) = (None::<String>, Vec::new());
    for e in &entries {
        let (step, o) = convert::entry(&mut cx, e)?;
        if !o.is_empty() {
            match &origin {
                Some(first) if *first != o => {
                    return Err((e.line, format!("`{o}` is another origin than `{first}`: a suite talks to one gateway")));
                }
                Some(_) => {}
                None => origin = Some(o),
            }
        }
        suite.steps.push(step);
        lines.push(e.line);
    }
    if let Some(o) = origin {
        suite.header.push(format!("Its requests went to {o}: run it with GATEWAY_BASE_URL pointing at the gateway in front of it."));
    }
    let vars = std::mem::take(&mut cx.found.vars);
    Ok((File { name: name.to_owned(), suite, lines, vars }, cx.found))
}

/// How a step sends a capture as its credential: (header, scheme).
fn sends(step: &Step, var: &str) -> Option<(String, String)> {
    let t = format!("{{{{ {var} }}}}");
    step.headers.iter().find_map(|(k, v)| {
        let v = v.trim();
        if v == t {
            return Some((k.clone(), String::new()));
        }
        let (scheme, rest) = v.split_once(' ')?;
        (rest.trim() == t && !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            .then(|| (k.clone(), scheme.to_owned()))
    })
}

/// The first login of any file (a write whose JSONPath capture a later step sends as its
/// credential), taken out of its suite and made the `auth` block; the same login in other
/// files is taken out too.
fn login(files: &mut [File], items: &mut Vec<Item>) -> Option<AuthDraft> {
    let mut found = None;
    'files: for (fi, f) in files.iter().enumerate() {
        for (si, s) in f.suite.steps.iter().enumerate() {
            if s.method == "GET" {
                continue;
            }
            for (var, src) in &s.captures {
                let Some(path) = src.as_str() else { continue };
                let later = files
                    .iter()
                    .enumerate()
                    .flat_map(|(fj, g)| g.suite.steps.iter().enumerate().filter(move |(sj, _)| fj > fi || *sj > si));
                if let Some((header, scheme)) = later.map(|(_, st)| st).find_map(|st| sends(st, var)) {
                    found = Some((fi, si, var.clone(), path.to_owned(), header, scheme));
                    break 'files;
                }
            }
        }
    }
    let (fi, si, var, token, header, scheme) = found?;
    let mut step = files[fi].suite.steps[si].clone();
    let at = format!("{}:{}", files[fi].name, files[fi].lines[si]);
    let (method, path) = (step.method.clone(), step.path.clone());
    // The same login elsewhere is the same identity: one login for the run.
    for f in files.iter_mut() {
        let mut keep = Vec::new();
        for (n, s) in std::mem::take(&mut f.suite.steps).into_iter().enumerate() {
            if s.method == method && s.path == path {
                f.lines[n] = 0;
            } else {
                keep.push(s);
            }
        }
        f.lines.retain(|l| *l != 0);
        f.suite.steps = keep;
    }
    let mut comments = vec![format!("The login of {at}: every suite's user logs in once, here, and steps run as `auth: user`.")];
    let creds = draft::put_credentials(&mut step.body);
    comments.push(match creds {
        Some(true) => "mode service-account: set SMOKE_USERNAME and SMOKE_PASSWORD (the Hurl file had the credentials inline).".into(),
        Some(false) => "mode service-account: set SMOKE_USERNAME and SMOKE_PASSWORD (the Hurl file read them from variables).".into(),
        None => {
            items.push(Item::new(
                &at,
                "the login's credentials",
                "not found in its body: put `{{ user.email }}` and `{{ user.password }}` where they go",
            ));
            "mode service-account: the login's body holds no field named like a username and password; edit it.".into()
        }
    });
    comments.push("Where the API can create users, `mode: disposable` with a `create` step gives every run its own user.".into());
    step.name = "login".into();
    step.comments.clear();
    for f in files.iter_mut() {
        for s in &mut f.suite.steps {
            if let Some((h, _)) = sends(s, &var) {
                s.headers.retain(|(k, _)| *k != h);
                s.auth = Some("user");
            }
        }
    }
    let header = (!header.eq_ignore_ascii_case("authorization")).then_some(header);
    let scheme = (scheme != "Bearer").then_some(scheme);
    Some(AuthDraft { comments, mode: "service-account", login: step, token, scheme, header })
}

/// The suite's default auth, its variables, and what it needs from the command line.
fn finish(f: &mut File, auth: Option<&AuthDraft>) {
    let users = f.suite.steps.iter().any(|s| s.auth == Some("user"));
    if users {
        for s in &mut f.suite.steps {
            s.auth = if s.auth == Some("user") { None } else { Some("none") };
        }
    } else {
        f.suite.auth = Some("none");
    }
    f.suite.vars = f.vars.iter().map(|(k, v)| (k.clone(), v.clone(), None)).collect();
    // What the file reads that it never defines: Hurl's `--variable`s.
    let mut defined: Vec<String> = ["run", "env", "user", "uuid", "request", "vars"].iter().map(|s| s.to_string()).collect();
    defined.extend(f.vars.iter().map(|(k, _)| k.clone()));
    if let Some(a) = auth {
        defined.extend(a.login.captures.iter().map(|(k, _)| k.clone()));
    }
    let mut needs = Vec::new();
    for s in &f.suite.steps {
        for var in step_variables(s) {
            if !defined.contains(&var) && !needs.contains(&var) {
                needs.push(var);
            }
        }
        defined.extend(s.captures.iter().map(|(k, _)| k.clone()));
    }
    if !needs.is_empty() {
        let flags: Vec<String> = needs.iter().map(|n| format!("--var {n}=…")).collect();
        f.suite
            .header
            .push(format!("It reads variables Hurl took from `--variable`: pass {} (text), or `--vars-file FILE` (typed, like Hurl's `--variables-file`), to `smokegate check` and `run`.", flags.join(" ")));
    }
}

fn step_variables(s: &Step) -> Vec<String> {
    let mut texts = vec![s.path.clone()];
    texts.extend(s.headers.iter().map(|(_, v)| v.clone()));
    match &s.body {
        Body::Json(v) => texts.push(v.to_string()),
        Body::Form(f) => texts.extend(f.iter().map(|(_, v)| v.clone())),
        Body::Raw(t) => texts.push(t.clone()),
        Body::None => {}
    }
    texts.extend(s.json.iter().map(|(_, m)| m.to_string()));
    texts.extend(s.expect_headers.iter().map(|(_, m)| m.to_string()));
    texts.extend(s.body_matcher.iter().map(J::to_string));
    texts.iter().flat_map(|t| lex::variables(t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_becomes_the_auth_block_once_for_every_file() {
        let login = "POST https://api.example.com/api/login\n{\"username\": \"alice\", \"password\": \"s3cret\"}\nHTTP 200\n[Captures]\ntoken: jsonpath \"$.accessToken\"\n\n";
        let a = format!(
            "{login}GET https://api.example.com/api/orders\nAuthorization: Bearer {{{{token}}}}\nHTTP 200\n[Asserts]\njsonpath \"$\" count >= 0\n"
        );
        let b = format!("{login}GET https://api.example.com/health\nHTTP 200\n");
        let imp = import(&[(PathBuf::from("a.hurl"), Ok(a)), (PathBuf::from("b.hurl"), Ok(b))]);
        assert!(imp.failed.is_empty(), "{:?}", imp.failed);
        let auth = imp.auth.as_ref().unwrap();
        assert_eq!((auth.token.as_str(), auth.scheme.as_deref()), ("$.accessToken", None));
        assert_eq!(auth.login.body, Body::Json(serde_json::json!({"username": "{{ user.email }}", "password": "{{ user.password }}"})));
        assert!(!auth.to_yaml().contains("s3cret"), "the inline password is not written");
        assert_eq!(imp.suites[0].steps.len(), 1);
        assert!(imp.suites[0].steps[0].headers.is_empty() && imp.suites[0].steps[0].auth.is_none());
        assert_eq!((imp.suites[1].steps.len(), imp.suites[1].auth), (1, Some("none")));
        let other = import(&[(PathBuf::from("c.hurl"), Ok("GET https://a/x\nGET https://b/y\n".into()))]);
        assert_eq!(other.failed[0].0, "c.hurl:2");
    }
}
