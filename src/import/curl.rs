//! `smokegate import curl`: curl command lines (one per step; `\`-continued lines joined; `#`
//! comments skipped) into one suite. Shell variables (`$TOKEN`, `${BASE}`) become `env.*`
//! templates; an `Authorization: Bearer $X` header (or an ADR-style `with_auth curl …`
//! helper) becomes `auth: user`, since the run's user carries the token.

use serde_json::Value as J;

use super::draft::{Body, Step, Suite};
use super::{Import, Item, url};

/// One curl line with where it came from (`FILE:LINE` or `argument`).
pub struct Line {
    pub at: String,
    pub text: String,
}

/// Joins `\`-continued lines and drops blank and comment lines.
pub fn lines_of(file: &str, text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut cur: Option<Line> = None;
    for (n, raw) in text.lines().enumerate() {
        let t = raw.trim_end();
        let (body, continued) = match t.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (t, false),
        };
        match &mut cur {
            Some(l) => {
                l.text.push(' ');
                l.text.push_str(body.trim());
            }
            None if body.trim().is_empty() || body.trim_start().starts_with('#') => continue,
            None => cur = Some(Line { at: format!("{file}:{}", n + 1), text: body.trim().to_owned() }),
        }
        if !continued {
            out.extend(cur.take());
        }
    }
    out.extend(cur);
    out
}

/// The suite of the given lines, named `name`.
pub fn import(name: &str, lines: &[Line]) -> Import {
    let mut imp = Import::default();
    let mut suite = Suite { stem: super::stem_of(name), name: name.to_owned(), ..Suite::default() };
    suite.header.push("Imported from curl lines by `smokegate import curl`.".into());
    let mut origin: Option<String> = None;
    let mut uses_user = false;
    for line in lines {
        match step_of(line, &mut imp.items) {
            Ok((step, o)) => {
                if let (Some(first), false) = (&origin, o.is_empty())
                    && *first != o
                {
                    imp.failed.push((line.at.clone(), format!("`{o}` is another origin than `{first}`: one gateway per import")));
                    continue;
                }
                if !o.is_empty() {
                    origin.get_or_insert(o);
                }
                uses_user |= step.auth == Some("user");
                suite.steps.push(step);
            }
            Err(why) => imp.failed.push((line.at.clone(), why)),
        }
    }
    if uses_user {
        suite.header.push(
            "Steps that sent `Authorization: Bearer $…` run as `auth: user`: the run's user carries the token. Set the login \
             routes in smokegate.yaml (`auth:`), or `mode: service-account` with SMOKE_USERNAME/SMOKE_PASSWORD."
                .into(),
        );
        for s in &mut suite.steps {
            s.auth = s.auth.or(Some("none"));
            if s.auth == Some("user") {
                s.auth = None;
            }
        }
    } else {
        suite.auth = Some("none");
        for s in &mut suite.steps {
            s.auth = None;
        }
    }
    if let Some(o) = origin {
        suite.header.push(format!("Requests went to {o}; run with GATEWAY_BASE_URL pointing at the gateway in front of it."));
    }
    if !suite.steps.is_empty() {
        imp.suites.push(suite);
    }
    imp
}

/// `$NAME` and `${NAME}` as `{{ env.NAME }}`.
fn shell_vars(s: &str) -> String {
    static RE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)").expect("valid"));
    RE.replace_all(s, |c: &regex::Captures<'_>| format!("{{{{ env.{} }}}}", c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str())))
        .into_owned()
}

/// Options that change nothing smokegate sends (output, progress, verbosity).
const QUIET: &[&str] = &[
    "-s",
    "--silent",
    "-S",
    "--show-error",
    "-i",
    "--include",
    "-v",
    "--verbose",
    "--compressed",
    "-f",
    "--fail",
    "-sS",
    "-fsS",
    "-sSf",
    "-fsSL",
];
/// Options that take a value and change nothing smokegate sends.
const QUIET_VALUE: &[&str] = &["-o", "--output", "-w", "--write-out", "-m", "--max-time", "--connect-timeout", "--retry"];

/// A curl command line's options, as read.
#[derive(Default)]
struct Args {
    /// Sent with the run user's token (a helper in front of curl, or a token header).
    authed: bool,
    method: Option<String>,
    url: Option<String>,
    headers: Vec<String>,
    data: Vec<String>,
    json: Option<String>,
    get: bool,
    follow: bool,
    /// What was not converted: (what, why).
    notes: Vec<(String, String)>,
}

fn step_of(line: &Line, items: &mut Vec<Item>) -> Result<(Step, String), String> {
    let args = parse_args(&line.text)?;
    let mut step = Step::default();
    for (what, why) in &args.notes {
        note(items, &mut step, &line.at, what, why);
    }
    build(args, step, &line.at, items)
}

fn note(items: &mut Vec<Item>, step: &mut Step, at: &str, what: &str, why: &str) {
    let item = Item::new(at, what, why);
    step.comments.push(item.comment());
    items.push(item);
}

fn parse_args(text: &str) -> Result<Args, String> {
    let words = shell_words::split(text).map_err(|e| format!("not a shell command line: {e}"))?;
    let mut words = words.into_iter().peekable();
    let mut a = Args::default();
    // An ADR-style helper in front of curl (`with_auth curl …`) adds the user's token.
    while let Some(w) = words.next_if(|w| w != "curl") {
        a.authed |= w.contains("auth");
    }
    if words.next().as_deref() != Some("curl") {
        return Err("not a curl command".into());
    }
    while let Some(w) = words.next() {
        // `--header=X` and `-HX` forms.
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            // The option letter is ASCII, so byte 2 is a character boundary.
            _ if w.len() > 2 && w.starts_with('-') && !w.starts_with("--") && b"XHdbuF".contains(&w.as_bytes()[1]) => {
                (w[..2].to_owned(), Some(w[2..].to_owned()))
            }
            _ => (w.clone(), None),
        };
        let mut val = || inline.clone().map_or_else(|| words.next().ok_or_else(|| format!("`{flag}` needs a value")), Ok);
        option(&mut a, &flag, &w, &mut val)?;
    }
    Ok(a)
}

/// One option (and its value, through `val`) into `a`.
fn option(a: &mut Args, flag: &str, word: &str, val: &mut dyn FnMut() -> Result<String, String>) -> Result<(), String> {
    let mut note = |what: String, why: &str| a.notes.push((what, why.to_owned()));
    match flag {
        "-X" | "--request" => a.method = Some(val()?.to_ascii_uppercase()),
        "-H" | "--header" => a.headers.push(val()?),
        "-d" | "--data" | "--data-raw" | "--data-binary" | "--data-ascii" => {
            let d = val()?;
            match d.strip_prefix('@') {
                Some(file) => note(format!("{flag} @{file}"), "a body read from a file: paste it as `json:` or `body:`"),
                None => a.data.push(d),
            }
        }
        "--data-urlencode" => {
            let d = val()?;
            let (k, v) = d.split_once('=').unwrap_or(("", &d));
            let enc: String = ::url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
            a.data.push(if k.is_empty() { enc } else { format!("{k}={enc}") });
        }
        "--json" => a.json = Some(val()?),
        "-F" | "--form" => {
            let f = val()?;
            note(format!("-F {f}"), "multipart bodies are not supported yet");
        }
        "-u" | "--user" => {
            use base64::Engine;
            let cred = val()?;
            a.headers.push(format!("Authorization: Basic {}", base64::engine::general_purpose::STANDARD.encode(cred.as_bytes())));
            note("-u USER:PASSWORD".into(), "sent as an `Authorization: Basic` header; move the credentials to the environment");
        }
        "-b" | "--cookie" => {
            let c = val()?;
            if c.contains('=') {
                a.headers.push(format!("Cookie: {c}"));
            } else {
                note(format!("-b {c}"), "a cookie jar file: cookies are not kept between steps");
            }
        }
        "-L" | "--location" => a.follow = true,
        "-G" | "--get" => a.get = true,
        "--url" => a.url = Some(val()?),
        "-k" | "--insecure" => note("-k".into(), "TLS verification is one setting for the run: pass `--insecure` to `smokegate run`"),
        f if QUIET.contains(&f) => {}
        f if QUIET_VALUE.contains(&f) => {
            val()?;
        }
        f if f.starts_with('-') => note(f.to_owned(), "no equivalent in a suite step"),
        _ => a.url = Some(word.to_owned()),
    }
    Ok(())
}

/// The step the options describe, and the origin its URL names (`""` for a variable).
fn build(a: Args, mut out: Step, at: &str, items: &mut Vec<Item>) -> Result<(Step, String), String> {
    let raw_url = a.url.ok_or("no URL")?;
    let (origin, mut path) = url::split(&shell_vars(&raw_url))?;
    let origin = if origin.contains("{{") { String::new() } else { origin };
    let mut headers = a.headers;
    let content_type = |h: &String| h.to_ascii_lowercase().starts_with("content-type:");
    let mut body = Body::None;
    if let Some(j) = a.json {
        headers.retain(|h| !content_type(h));
        body = json_body(&shell_vars(&j));
    } else if !a.data.is_empty() {
        let joined = shell_vars(&a.data.join("&"));
        if a.get {
            path = format!("{path}{}{joined}", if path.contains('?') { '&' } else { '?' });
        } else if headers.iter().any(|h| content_type(h) && h.to_ascii_lowercase().contains("json")) {
            headers.retain(|h| !content_type(h));
            body = json_body(&joined);
        } else {
            headers.retain(|h| !h.to_ascii_lowercase().starts_with("content-type: application/x-www-form-urlencoded"));
            body = form_body(&joined);
        }
    }
    let method = a.method.unwrap_or_else(|| if matches!(body, Body::None) { "GET".into() } else { "POST".into() });
    let mut step = Step { comments: std::mem::take(&mut out.comments), follow_redirects: a.follow, body, ..Step::new(&method, &path) };
    let mut authed = a.authed;
    for h in headers {
        let Some((k, v)) = h.split_once(':') else {
            note(items, &mut step, at, &format!("-H {h}"), "not a `Name: value` header");
            continue;
        };
        let (k, v) = (k.trim().to_owned(), shell_vars(v.trim()));
        if k.eq_ignore_ascii_case("authorization") && v.contains("{{ env.") && !v.starts_with("Basic") {
            // The hand-made token header: the run's user sends its own.
            authed = true;
            continue;
        }
        step.headers.push((k, v));
    }
    step.auth = Some(if authed { "user" } else { "none" });
    Ok((step, origin))
}

/// A JSON body (a template at a value position stays a string); text that is not JSON is sent
/// raw.
fn json_body(text: &str) -> Body {
    match serde_json::from_str::<J>(text) {
        Ok(v) => Body::Json(v),
        Err(_) => Body::Raw(text.to_owned()),
    }
}

fn form_body(text: &str) -> Body {
    let pairs: Option<Vec<(String, String)>> = text
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=')?;
            let dec = |s: &str| ::url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
            Some((dec(k)?, dec(v)?))
        })
        .collect();
    match pairs {
        Some(p) if !p.is_empty() => Body::Form(p),
        _ => Body::Raw(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> (Import, Step) {
        let imp = import("t", &lines_of("t.sh", text));
        let s = imp.suites.first().map(|s| s.steps[0].clone()).unwrap_or_default();
        (imp, s)
    }

    #[test]
    fn curl_lines_become_steps() {
        let (imp, s) = one(
            "curl -sS -X POST https://api.example.com/api/orders \\\n  -H 'Content-Type: application/json' \\\n  -H \"Authorization: Bearer $TOKEN\" \\\n  -d '{\"sku\": \"a\", \"qty\": 1}'\n",
        );
        assert!(imp.failed.is_empty() && imp.items.is_empty(), "{:?} {:?}", imp.failed, imp.items);
        assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/api/orders"));
        assert_eq!(s.body, Body::Json(json!({"sku": "a", "qty": 1})));
        assert!(s.headers.is_empty() && s.auth.is_none(), "the token header is the run's user's: {:?}", s.headers);
        let (_, s) = one("curl --json '{\"a\":1}' http://h/x");
        assert_eq!((s.method.as_str(), s.body.clone()), ("POST", Body::Json(json!({"a": 1}))));
        let (_, s) = one("curl -G -d q=1 -d r=two http://h/search -L");
        assert_eq!((s.path.as_str(), s.follow_redirects), ("/search?q=1&r=two", true));
        let (_, s) = one("curl -d 'a=1&b=two%20words' http://h/f -b 'sid=x'");
        assert_eq!(s.body, Body::Form(vec![("a".into(), "1".into()), ("b".into(), "two words".into())]));
        assert_eq!(s.headers, vec![("Cookie".into(), "sid=x".into())]);
        let (imp, s) = one("curl -F file=@a.png http://h/upload");
        assert_eq!(imp.items.len(), 1);
        assert!(s.comments[0].contains("multipart"), "{:?}", s.comments);
        let (imp, _) = one("curl http://a/x\ncurl http://b/y\n");
        assert_eq!(imp.failed.len(), 1, "a second origin is refused");
        assert!(imp.failed[0].0.ends_with(":2"));
        let (imp, _) = one("wget http://a/x\n");
        assert_eq!(imp.failed[0].1, "not a curl command");
    }
}
