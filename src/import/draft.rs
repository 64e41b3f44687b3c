//! What an importer builds — suites, steps and an auth block — and how it is written: YAML that
//! reads like a hand-written suite (block style for the parts a person edits, flow style for
//! short values, comments where the user must act).

use serde_json::Value as J;

/// One suite file to write.
#[derive(Debug, Default)]
pub struct Suite {
    /// The file stem (`DIR/<stem>.yaml`).
    pub stem: String,
    pub name: String,
    /// Comments at the top of the file (where it came from, what to do).
    pub header: Vec<String>,
    /// The suite's default `auth` (`none` when no step needs a user).
    pub auth: Option<&'static str>,
    /// Variables with, optionally, a comment on their line.
    pub vars: Vec<(String, J, Option<String>)>,
    pub steps: Vec<Step>,
    /// Commented-out steps after the steps (writes to fill in), written as YAML comments.
    pub footer: Vec<Step>,
}

#[derive(Debug, Default, Clone)]
pub struct Step {
    pub name: String,
    /// Comments above the step: what was not converted, with the source line.
    pub comments: Vec<String>,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub auth: Option<&'static str>,
    pub follow_redirects: bool,
    pub status: Option<Status>,
    pub expect_headers: Vec<(String, J)>,
    /// JSONPath → matcher (a literal, or a mapping of matcher keys).
    pub json: Vec<(String, J)>,
    pub body_matcher: Option<J>,
    pub max_ms: Option<u64>,
    pub captures: Vec<(String, J)>,
    /// `eventually: { within, every }`.
    pub eventually: Option<(String, String)>,
    /// `delay: 500ms`.
    pub delay: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub enum Body {
    #[default]
    None,
    Json(J),
    Form(Vec<(String, String)>),
    Raw(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Code(u16),
    List(Vec<u16>),
    /// `2xx`, `4xx`…
    Class(String),
    /// Any status (Hurl's `HTTP *`).
    Any,
}

/// The `auth` block an importer derived (a login whose token later steps send).
#[derive(Debug, Clone)]
pub struct AuthDraft {
    pub comments: Vec<String>,
    pub mode: &'static str,
    /// The login step: request, expectations and captures.
    pub login: Step,
    /// Where its token is (a JSONPath).
    pub token: String,
    /// `auth.scheme` when not `Bearer`, `auth.header` when not `Authorization`.
    pub scheme: Option<String>,
    pub header: Option<String>,
}

impl Step {
    pub fn new(method: &str, path: &str) -> Step {
        Step {
            name: format!("{method} {}", path.split('?').next().unwrap_or(path)),
            method: method.into(),
            path: path.into(),
            ..Step::default()
        }
    }

    /// Adds a matcher for a JSONPath, merged with one already there (several keys must all
    /// hold). `Err` with the clashing key when both say the same thing differently.
    pub fn add_json(&mut self, path: &str, m: J) -> Result<(), String> {
        match self.json.iter_mut().find(|(p, _)| p == path) {
            Some((_, old)) => merge(old, m),
            None => {
                self.json.push((path.to_owned(), m));
                Ok(())
            }
        }
    }

    pub fn add_header(&mut self, name: &str, m: J) -> Result<(), String> {
        match self.expect_headers.iter_mut().find(|(h, _)| h.eq_ignore_ascii_case(name)) {
            Some((_, old)) => merge(old, m),
            None => {
                self.expect_headers.push((name.to_owned(), m));
                Ok(())
            }
        }
    }

    pub fn add_body(&mut self, m: J) -> Result<(), String> {
        match &mut self.body_matcher {
            Some(old) => merge(old, m),
            None => {
                self.body_matcher = Some(m);
                Ok(())
            }
        }
    }

    /// How many checks it makes (status, headers, JSON, body, duration), for the summary.
    pub fn assertions(&self) -> usize {
        let keys = |m: &J| m.as_object().map_or(1, |o| o.len().max(1));
        usize::from(self.status.is_some())
            + self.expect_headers.iter().map(|(_, m)| keys(m)).sum::<usize>()
            + self.json.iter().map(|(_, m)| keys(m)).sum::<usize>()
            + self.body_matcher.as_ref().map_or(0, keys)
            + usize::from(self.max_ms.is_some())
    }
}

/// A literal as a matcher mapping: `{ equals: x }`.
fn as_map(m: J) -> serde_json::Map<String, J> {
    match m {
        J::Object(o) if o.keys().all(|k| crate::load::matcher::MATCHER_KEYS.contains(&k.as_str())) => o,
        other => [("equals".to_owned(), other)].into_iter().collect(),
    }
}

fn merge(old: &mut J, new: J) -> Result<(), String> {
    let mut a = as_map(std::mem::take(old));
    for (k, v) in as_map(new) {
        match a.get(&k) {
            Some(prev) if *prev != v => {
                *old = J::Object(a);
                return Err(k);
            }
            _ => {
                a.insert(k, v);
            }
        }
    }
    *old = J::Object(a);
    Ok(())
}

/// JSON text whose templates may stand outside strings (`"qty": {{ n }}`, as Hurl and Postman
/// write them): those are quoted (smokegate sends a string that is one template with the
/// value's type), then the text is parsed.
pub fn json_template(text: &str) -> Result<J, String> {
    static BARE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r#"(^|[:\[,]\s*)(\{\{[^}"]*\}\})"#).expect("valid"));
    let quoted = BARE.replace_all(text, |c: &regex::Captures<'_>| format!("{}\"{}\"", &c[1], &c[2]));
    serde_json::from_str(&quoted).map_err(|e| format!("the JSON body does not parse: {e}"))
}

/// Puts `{{ user.email }}`/`{{ user.password }}` where the login's body has a username and a
/// password. `Some(inline)`: found (and whether the file had them as literals).
pub fn put_credentials(body: &mut Body) -> Option<bool> {
    let user_key = |k: &str| {
        ["username", "user", "email", "login", "user_name", "username_or_email", "mail", "identifier"]
            .contains(&k.to_ascii_lowercase().as_str())
    };
    let pass_key = |k: &str| ["password", "pass", "passwd", "pwd", "secret"].contains(&k.to_ascii_lowercase().as_str());
    let mut seen = (false, false, false);
    let mut put = |k: &str, v: &mut String| {
        if user_key(k) || pass_key(k) {
            seen.2 |= !v.contains("{{");
            if user_key(k) {
                seen.0 = true;
                *v = "{{ user.email }}".into();
            } else {
                seen.1 = true;
                *v = "{{ user.password }}".into();
            }
        }
    };
    match body {
        Body::Json(J::Object(o)) => {
            for (k, v) in o.iter_mut() {
                match v {
                    J::String(s) => put(k, s),
                    J::Object(inner) => {
                        for (k2, v2) in inner.iter_mut() {
                            if let J::String(s) = v2 {
                                put(k2, s);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Body::Form(f) => f.iter_mut().for_each(|(k, v)| put(k, v)),
        _ => {}
    }
    (seen.0 && seen.1).then_some(seen.2)
}

// ------------------------------------------------------------------------------- writing

/// A YAML scalar for a string: plain when it cannot be read as anything else, else a JSON
/// string (a JSON string is a YAML double-quoted scalar).
pub fn scalar(s: &str) -> String {
    // Words, paths and simple JSONPaths (`$.a.b`), with single inner spaces (`list orders`).
    let plain = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '/' || c == '$')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./- $".contains(c))
        && !s.ends_with(' ')
        && !s.contains("  ")
        && (!s.starts_with('$') || !s.contains(' '))
        && !["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"].contains(&s.to_ascii_lowercase().as_str());
    if plain { s.to_owned() } else { serde_json::to_string(s).unwrap_or_default() }
}

/// A JSON value in YAML flow style (`{ a: 1, b: [x, y] }`).
pub fn flow(v: &J) -> String {
    match v {
        J::String(s) => scalar(s),
        J::Array(a) => format!("[{}]", a.iter().map(flow).collect::<Vec<_>>().join(", ")),
        J::Object(o) if o.is_empty() => "{}".into(),
        J::Object(o) => format!("{{ {} }}", o.iter().map(|(k, v)| format!("{}: {}", scalar(k), flow(v))).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn comment_lines(out: &mut String, indent: &str, lines: &[String]) {
    for c in lines {
        for l in c.lines() {
            out.push_str(&format!("{indent}# {l}\n"));
        }
    }
}

fn status_text(s: &Status) -> String {
    match s {
        Status::Code(c) => c.to_string(),
        Status::List(l) => format!("[{}]", l.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")),
        Status::Class(c) => format!("\"{c}\""),
        Status::Any => "[\"1xx\", \"2xx\", \"3xx\", \"4xx\", \"5xx\"]   # any status".into(),
    }
}

/// A step as YAML, each line prefixed by `indent` (the first with `- `).
pub fn write_step(out: &mut String, indent: &str, s: &Step) {
    comment_lines(out, indent, &s.comments);
    let i = format!("{indent}  ");
    out.push_str(&format!("{indent}- name: {}\n", scalar(&s.name)));
    if let Some(a) = s.auth {
        out.push_str(&format!("{i}auth: {a}\n"));
    }
    write_request(out, &i, s);
    write_expect(out, &i, s);
    if !s.captures.is_empty() {
        out.push_str(&format!("{i}capture:\n"));
        for (name, src) in &s.captures {
            out.push_str(&format!("{i}  {}: {}\n", scalar(name), flow(src)));
        }
    }
    if let Some((within, every)) = &s.eventually {
        out.push_str(&format!("{i}eventually: {{ within: {within}, every: {every} }}\n"));
    }
    if let Some(d) = &s.delay {
        out.push_str(&format!("{i}delay: {d}\n"));
    }
}

fn write_request(out: &mut String, i: &str, s: &Step) {
    out.push_str(&format!("{i}request:\n"));
    if s.method != "GET" {
        out.push_str(&format!("{i}  method: {}\n", s.method));
    }
    out.push_str(&format!("{i}  path: {}\n", scalar(&s.path)));
    if !s.headers.is_empty() {
        out.push_str(&format!("{i}  headers:\n"));
        for (k, v) in &s.headers {
            out.push_str(&format!("{i}    {}: {}\n", scalar(k), scalar(v)));
        }
    }
    match &s.body {
        Body::None => {}
        Body::Json(v) => out.push_str(&format!("{i}  json: {}\n", flow(v))),
        Body::Form(f) => {
            let pairs: Vec<String> = f.iter().map(|(k, v)| format!("{}: {}", scalar(k), scalar(v))).collect();
            out.push_str(&format!("{i}  form: {{ {} }}\n", pairs.join(", ")));
        }
        Body::Raw(t) => out.push_str(&format!("{i}  body: {}\n", scalar(t))),
    }
    if s.follow_redirects {
        out.push_str(&format!("{i}  follow_redirects: true\n"));
    }
}

fn write_expect(out: &mut String, i: &str, s: &Step) {
    let any = s.status.is_some() || !s.expect_headers.is_empty() || !s.json.is_empty() || s.body_matcher.is_some() || s.max_ms.is_some();
    if !any {
        return;
    }
    out.push_str(&format!("{i}expect:\n"));
    if let Some(st) = &s.status {
        out.push_str(&format!("{i}  status: {}\n", status_text(st)));
    }
    if !s.expect_headers.is_empty() {
        out.push_str(&format!("{i}  headers:\n"));
        for (k, m) in &s.expect_headers {
            out.push_str(&format!("{i}    {}: {}\n", scalar(k), flow(m)));
        }
    }
    if !s.json.is_empty() {
        out.push_str(&format!("{i}  json:\n"));
        for (p, m) in &s.json {
            out.push_str(&format!("{i}    {}: {}\n", scalar(p), flow(m)));
        }
    }
    if let Some(b) = &s.body_matcher {
        out.push_str(&format!("{i}  body: {}\n", flow(b)));
    }
    if let Some(ms) = s.max_ms {
        out.push_str(&format!("{i}  max_ms: {ms}\n"));
    }
}

impl Suite {
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        comment_lines(&mut out, "", &self.header);
        out.push_str(&format!("name: {}\n", scalar(&self.name)));
        if let Some(a) = self.auth {
            out.push_str(&format!("auth: {a}\n"));
        }
        if !self.vars.is_empty() {
            out.push_str("vars:\n");
            for (k, v, c) in &self.vars {
                let c = c.as_ref().map(|c| format!("   # {c}")).unwrap_or_default();
                out.push_str(&format!("  {}: {}{c}\n", scalar(k), flow(v)));
            }
        }
        out.push_str("steps:\n");
        for (n, s) in self.steps.iter().enumerate() {
            if n > 0 {
                out.push('\n');
            }
            write_step(&mut out, "  ", s);
        }
        if self.steps.is_empty() {
            out.push_str("  []\n");
        }
        for s in &self.footer {
            let mut step = String::new();
            write_step(&mut step, "  ", s);
            out.push('\n');
            for l in step.lines() {
                // Comment lines stay comments; the step's own lines are commented out.
                match l.trim_start().strip_prefix("# ") {
                    Some(c) => out.push_str(&format!("  # {c}\n")),
                    None => out.push_str(&format!("  # {}\n", &l[2.min(l.len())..])),
                }
            }
        }
        out
    }

    pub fn requests(&self) -> usize {
        self.steps.len()
    }
}

impl AuthDraft {
    /// The `auth:` block of a config file.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        comment_lines(&mut out, "", &self.comments);
        out.push_str(&format!("auth:\n  mode: {}\n", self.mode));
        if let Some(s) = &self.scheme {
            out.push_str(&format!("  scheme: {}\n", scalar(s)));
        }
        if let Some(h) = &self.header {
            out.push_str(&format!("  header: {}\n", scalar(h)));
        }
        out.push_str("  login:\n");
        let mut step = String::new();
        write_step(&mut step, "  ", &self.login);
        // A login is a mapping, not a list item: its `- ` becomes indentation.
        let step = step.replacen("  - name:", "    name:", 1);
        out.push_str(&step);
        out.push_str(&format!("    token: {}\n", scalar(&self.token)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_are_quoted_unless_plain() {
        assert_eq!(scalar("orders"), "orders");
        assert_eq!(scalar("/api/orders"), "/api/orders");
        assert_eq!(scalar("list orders"), "list orders");
        assert_eq!(scalar("$.items"), "$.items");
        for s in ["yes", "1", "{{ x }}", "$.a[0]", "a: b", "", "x #y", "é", "-a", "a ", "$ x", "~"] {
            let q = scalar(s);
            assert!(q.starts_with('"'), "{s} → {q}");
            assert_eq!(serde_json::from_str::<String>(&q).unwrap(), s);
        }
    }

    #[test]
    fn matchers_on_one_path_merge_and_clashes_are_named() {
        let mut s = Step::new("GET", "/x");
        s.add_json("$.a", json!(1)).unwrap();
        s.add_json("$.a", json!({"gt": 0})).unwrap();
        assert_eq!(s.json[0].1, json!({"equals": 1, "gt": 0}));
        assert_eq!(s.add_json("$.a", json!({"gt": 5})), Err("gt".into()));
        assert_eq!(s.assertions(), 2);
    }
}
