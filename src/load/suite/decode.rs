//! One suite file's YAML (or JSON) into the model, every error at its file:line:col.

use super::*;
use std::path::Path;
use std::time::Duration;

use serde_json::Value as J;
use serde_json_path::JsonPath;

use crate::load::jsonpath;

use crate::load::diag::{Pos, SourceError};
use crate::load::matcher::Matcher;
use crate::load::template_names::is_template;
use crate::load::yaml::{self, Ctx, MapReader, Node, Value};

/// Decodes a suite from its text.
pub fn parse_suite(path: &Path, source: &str) -> Result<Suite, SourceError> {
    let root = yaml::parse(path, source)?;
    let ctx = Ctx { file: path };
    let mut m = ctx.map(&root, "the suite")?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("suite").to_owned();
    let name = match m.get("name") {
        Some(n) => ctx.text(n, "`name`")?,
        None => stem,
    };
    let tags = match m.get("tags") {
        Some(n) => ctx.list(n).into_iter().map(|t| ctx.text(t, "a tag")).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let auth = m.get("auth").map(|n| suite_auth(ctx, n)).transpose()?.unwrap_or(AuthMode::User);
    let auth_probe = m.get("auth_probe").map(|n| ctx.bool(n, "`auth_probe`")).transpose()?;
    let continue_on_failure = m.get("continue_on_failure").map(|n| ctx.bool(n, "`continue_on_failure`")).transpose()?.unwrap_or(false);
    let (vars, vars_pos): (Vec<(String, J)>, Vec<Pos>) = match m.get("vars") {
        Some(n) => decode_vars_at(ctx, n)?.into_iter().map(|(k, v, p)| ((k, v), p)).unzip(),
        None => Default::default(),
    };
    let steps_node =
        m.get("steps").ok_or_else(|| {
            ctx.err(&root, "the suite has no `steps`").with_help(
                "add `steps:` with at least one step; if this file is not a suite (a compose file, a config), move it out of the suites folder or start its name with `_` or `.` (such files are skipped)",
            )
        })?;
    let steps = decode_steps(ctx, steps_node);
    let teardown = m.get("teardown").map_or(Ok(Vec::new()), |n| decode_steps(ctx, n));
    // Broken steps and broken teardown steps are reported together.
    let (steps, teardown) = match (steps, teardown) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
        (Err(mut a), Err(mut b)) => {
            let mut more = std::mem::take(&mut a.also).into_vec();
            let rest = std::mem::take(&mut b.also).into_vec();
            more.push(b);
            more.extend(rest);
            more.truncate(crate::load::diag::MAX_ERRORS - 1);
            a.also = more.into();
            return Err(a);
        }
    };
    if steps.is_empty() {
        return Err(ctx.err(steps_node, "`steps` is empty"));
    }
    m.finish(SUITE_KEYS)?;
    check_step_auth(path, auth, steps.iter().chain(&teardown))?;
    let capture_names = steps.iter().flat_map(|s: &Step| s.capture.iter().map(|c| c.name.clone())).collect();
    Ok(Suite {
        file: path.to_path_buf(),
        name,
        tags,
        auth,
        auth_probe,
        vars,
        vars_pos,
        capture_names,
        steps,
        teardown,
        continue_on_failure,
    })
}

/// What a step's auth cannot mean: its own Authorization header under `auth: user` (the run's
/// token would silently replace it), or `auth_probe: true` on a step a probe cannot replay
/// without its credential (`auth: none` sends none; probes replay the user's steps only).
fn check_step_auth<'a>(path: &Path, auth: AuthMode, steps: impl Iterator<Item = &'a Step>) -> Result<(), SourceError> {
    for st in steps {
        let mode = st.auth.unwrap_or(auth);
        if mode == AuthMode::User && st.request.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            return Err(SourceError::new(
                path,
                st.pos,
                format!("step `{}` sets its own Authorization header but runs with `auth: user`", st.name),
            )
            .with_help(
                "use `auth: none` on the step to send your own Authorization header; with `auth: user` smokegate sends the run's token",
            ));
        }
        let why = match mode {
            AuthMode::User => continue,
            AuthMode::Admin => "runs as `auth: admin` (probes replay the user's steps)",
            AuthMode::None => "sends no credential (`auth: none`)",
            AuthMode::Aws => "is signed for AWS (`auth: aws`)",
        };
        if st.auth_probe == Some(true) {
            return Err(SourceError::new(path, st.pos, format!("step `{}` asks for `auth_probe: true` but {why}", st.name))
                .with_help("a probe replays the step without the run's token; give the step `auth: user`, or drop `auth_probe`"));
        }
    }
    Ok(())
}

pub fn decode_vars(ctx: Ctx<'_>, node: &Node) -> Result<Vec<(String, J)>, SourceError> {
    Ok(decode_vars_at(ctx, node)?.into_iter().map(|(k, v, _)| (k, v)).collect())
}

/// `vars` with the position of each value, for `check`'s messages.
pub fn decode_vars_at(ctx: Ctx<'_>, node: &Node) -> Result<Vec<(String, J, Pos)>, SourceError> {
    let mut m = ctx.map(node, "`vars`")?;
    let mut out = Vec::new();
    for (k, knode, v) in m.rest() {
        if !is_identifier(k) {
            return Err(ctx
                .err(knode, format!("`{k}` is not a valid variable name"))
                .with_help("use letters, digits and `_`, not starting with a digit"));
        }
        if crate::load::template_names::BUILTINS.contains(&k) {
            return Err(ctx.err(knode, format!("`{k}` is a built-in name and cannot be a variable")));
        }
        out.push((k.to_owned(), v.to_json(), v.pos));
    }
    Ok(out)
}

/// A template variable name: letters, digits and `_`, not starting with a digit.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A suite's or a suite step's `auth`: `aws` signs the config's lifecycle steps, never a suite
/// step (which goes through the gateway as a client's request would).
fn suite_auth(ctx: Ctx<'_>, node: &Node) -> Result<AuthMode, SourceError> {
    match AuthMode::decode(ctx, node)? {
        AuthMode::Aws => Err(ctx
            .err(node, "`auth: aws` signs the config's lifecycle steps (Cognito's admin calls), not a suite step")
            .with_help("a suite step runs as `user`, `admin` or `none`, through the gateway")),
        mode => Ok(mode),
    }
}

/// Decodes every step, and reports every broken one (up to a limit), not only the first.
fn decode_steps(ctx: Ctx<'_>, node: &Node) -> Result<Vec<Step>, SourceError> {
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for n in ctx.seq(node, "`steps`")? {
        let one = ctx.map(n, "a step").and_then(|mut m| {
            if let Some(a) = m.get("auth") {
                suite_auth(ctx, a)?;
            }
            let step = decode_step(ctx, n, &mut m)?;
            m.finish(STEP_KEYS)?;
            Ok(step)
        });
        match one {
            Ok(s) => steps.push(s),
            Err(e) => errors.push(e),
        }
    }
    match SourceError::many(errors) {
        Some(e) => Err(e),
        None => Ok(steps),
    }
}

/// Decodes the common keys of a step from `m`; the caller reads any extra keys and calls
/// `finish`. Used for suite steps and for the auth steps of the config.
pub fn decode_step<'a>(ctx: Ctx<'a>, node: &'a Node, m: &mut MapReader<'a>) -> Result<Step, SourceError> {
    let req_node = m.get("request").ok_or_else(|| ctx.err(node, "the step has no `request`").with_help("add `request: { path: /… }`"))?;
    let mut request = decode_request(ctx, req_node)?;
    if let Some(n) = m.get("follow_redirects") {
        request.follow_redirects = ctx.bool(n, "`follow_redirects`")?;
    }
    let name = match m.get("name") {
        Some(n) => ctx.text(n, "`name`")?,
        None => format!("{} {}", request.method, request.path),
    };
    let expect = match m.get("expect") {
        Some(n) => decode_expect(ctx, n)?,
        None => Expect::default(),
    };
    let capture = match m.get("capture") {
        Some(n) => decode_captures(ctx, n)?,
        None => Vec::new(),
    };
    let auth = m.get("auth").map(|n| AuthMode::decode(ctx, n)).transpose()?;
    let auth_probe = m.get("auth_probe").map(|n| ctx.bool(n, "`auth_probe`")).transpose()?;
    let eventually = m.get("eventually").map(|n| decode_eventually(ctx, n)).transpose()?;
    let delay = m.get("delay").map(|n| ctx.duration(n, "`delay`")).transpose()?;
    Ok(Step { name, pos: node.pos, auth, auth_probe, request, expect, capture, eventually, delay })
}

fn decode_eventually(ctx: Ctx<'_>, node: &Node) -> Result<Eventually, SourceError> {
    let mut m = ctx.map(node, "`eventually`")?;
    let within_node = m
        .get("within")
        .ok_or_else(|| ctx.err(node, "`eventually` needs `within`").with_help("e.g. `eventually: { within: 10s, every: 250ms }`"))?;
    let within = ctx.duration(within_node, "`within`")?;
    let every = m.get("every").map(|n| ctx.duration(n, "`every`")).transpose()?.unwrap_or(Duration::from_millis(250));
    if within.is_zero() || every.is_zero() || every > within {
        return Err(ctx.err(node, "`eventually` needs `within` > 0 and 0 < `every` ≤ `within`"));
    }
    let unless = m.get("unless").map(|n| decode_expect(ctx, n)).transpose()?;
    m.finish(EVENTUALLY_KEYS)?;
    Ok(Eventually { within, every, unless, pos: node.pos })
}

fn decode_request(ctx: Ctx<'_>, node: &Node) -> Result<RequestSpec, SourceError> {
    let mut m = ctx.map(node, "`request`")?;
    let method = match m.get("method") {
        Some(n) => {
            let raw = ctx.str(n, "`method`")?;
            let up = raw.to_ascii_uppercase();
            if !METHODS.contains(&up.as_str()) {
                return Err(ctx.err(n, format!("unknown HTTP method `{raw}`")).with_help(format!("one of: {}", METHODS.join(", "))));
            }
            reqwest::Method::from_bytes(up.as_bytes()).map_err(|_| ctx.err(n, format!("unknown HTTP method `{raw}`")))?
        }
        None => reqwest::Method::GET,
    };
    let path_node = match (m.get("path"), m.get("url")) {
        (Some(p), None) | (None, Some(p)) => p,
        (Some(_), Some(u)) => return Err(ctx.err(u, "a request has either `path` or `url`, not both")),
        (None, None) => return Err(ctx.err(node, "the request has no `path`").with_help("add `path: /api/…` (relative to the gateway)")),
    };
    let path = ctx.str(path_node, "`path`")?.to_owned();
    check_path_shape(ctx, path_node, &path)?;
    let mut headers = Vec::new();
    if let Some(h) = m.get("headers") {
        let mut hm = ctx.map(h, "`headers`")?;
        for (k, knode, v) in hm.rest() {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                return Err(ctx.err(knode, format!("`{k}` is not a valid header name")));
            }
            headers.push((k.to_owned(), ctx.text(v, "a header value")?));
        }
    }
    let body = match (m.get("json"), m.get("body"), m.get("form")) {
        (Some(j), None, None) => Body::Json(j.to_json()),
        (None, Some(b), None) => Body::Raw(ctx.text(b, "`body`")?),
        (None, None, Some(f)) => {
            let mut fm = ctx.map(f, "`form`")?;
            let mut fields = Vec::new();
            for (k, _, v) in fm.rest() {
                fields.push((k.to_owned(), ctx.text(v, "a form value")?));
            }
            Body::Form(fields)
        }
        (None, None, None) => Body::None,
        _ => return Err(ctx.err(node, "a request has one of `json`, `body` or `form`, not several")),
    };
    let follow_redirects = m.get("follow_redirects").map(|n| ctx.bool(n, "`follow_redirects`")).transpose()?.unwrap_or(false);
    let timeout = m.get("timeout").map(|n| ctx.duration(n, "`timeout`")).transpose()?;
    m.finish(REQUEST_KEYS)?;
    Ok(RequestSpec { method, path, path_pos: path_node.pos, headers, body, follow_redirects, timeout })
}

/// Paths must be gateway-relative (`/…`) or absolute http(s) URLs (whose origin the gateway
/// policy checks). A template at the start is judged once rendered.
fn check_path_shape(ctx: Ctx<'_>, node: &Node, path: &str) -> Result<(), SourceError> {
    if path.starts_with('/') || path.starts_with("{{") {
        if path.starts_with("//") {
            return Err(ctx
                .err(node, format!("`{path}` is a scheme-relative URL"))
                .with_help("write a path relative to the gateway, like `/api/orders`"));
        }
        return Ok(());
    }
    if path.starts_with("http://") || path.starts_with("https://") {
        if !is_template(path) {
            url::Url::parse(path).map_err(|e| ctx.err(node, format!("invalid URL `{path}`: {e}")))?;
        }
        return Ok(());
    }
    Err(ctx
        .err(node, format!("`{path}` is not a gateway-relative path"))
        .with_help("paths start with `/` and are sent to GATEWAY_BASE_URL"))
}

fn decode_expect(ctx: Ctx<'_>, node: &Node) -> Result<Expect, SourceError> {
    let mut m = ctx.map(node, "`expect`")?;
    let mut e = Expect { openapi: true, ..Expect::default() };
    if let Some(s) = m.get("status") {
        e.status = Some(ctx.list(s).into_iter().map(|n| decode_status(ctx, n)).collect::<Result<_, _>>()?);
    }
    if let Some(h) = m.get("headers") {
        let mut hm = ctx.map(h, "`expect.headers`")?;
        for (k, knode, v) in hm.rest() {
            e.headers.push(HeaderCheck { name: k.to_ascii_lowercase(), matcher: header_matcher(ctx, v)?, pos: knode.pos });
        }
    }
    if let Some(j) = m.get("json") {
        let mut jm = ctx.map(j, "`expect.json`")?;
        for (k, knode, v) in jm.rest() {
            let path = parse_jsonpath(ctx, knode, k)?;
            e.json.push(JsonCheck { path, matcher: Matcher::from_node(ctx, v)?, pos: knode.pos });
        }
    }
    if let Some(b) = m.get("body") {
        e.body = Some(Matcher::from_node(ctx, b)?);
    }
    e.max_ms = m.get("max_ms").map(|n| ctx.uint(n, "`max_ms`")).transpose()?;
    e.allow_stub = m.get("allow_stub").map(|n| ctx.bool(n, "`allow_stub`")).transpose()?.unwrap_or(false);
    e.openapi = m.get("openapi").map(|n| ctx.bool(n, "`openapi`")).transpose()?.unwrap_or(true);
    e.schema = m.get("schema").map(|n| load_schema(ctx, n)).transpose()?;
    m.finish(EXPECT_KEYS)?;
    Ok(e)
}

/// `expect.schema`: a JSON Schema file (JSON or YAML), relative to the suite's folder, loaded
/// and compiled now so a broken schema is an error at file:line:col before anything is sent.
fn load_schema(ctx: Ctx<'_>, node: &Node) -> Result<SchemaRef, SourceError> {
    let text = ctx.str(node, "`schema`")?.to_owned();
    let path = ctx.file.parent().unwrap_or(Path::new(".")).join(&text);
    let doc = crate::load::contract::read_document(&path).map_err(|e| ctx.err(node, format!("cannot load schema: {e}")))?;
    let compiled = crate::load::contract::compile(&doc)
        .map_err(|e| ctx.err(node, format!("schema {} is not a valid JSON Schema: {e}", path.display())))?;
    Ok(SchemaRef { text, path, compiled, pos: node.pos })
}

/// Header values are text: a literal number compares with the header's text.
fn header_matcher(ctx: Ctx<'_>, node: &Node) -> Result<Matcher, SourceError> {
    match &node.value {
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => Ok(Matcher::Equals(J::String(node.scalar_text()))),
        _ => Matcher::from_node(ctx, node),
    }
}

fn decode_status(ctx: Ctx<'_>, node: &Node) -> Result<StatusPat, SourceError> {
    match &node.value {
        Value::Int(i) if (100..=599).contains(i) => Ok(StatusPat::Code(*i as u16)),
        // `status: "201"` means 201: a quoted code is still a code.
        Value::Str(s) if s.parse::<u16>().is_ok_and(|c| (100..=599).contains(&c)) => Ok(StatusPat::Code(s.parse().unwrap_or(0))),
        // Bytes, not a slice of the text: "€" is three bytes and one character.
        Value::Str(s) if s.len() == 3 && s.as_bytes()[1..].eq_ignore_ascii_case(b"xx") && matches!(s.as_bytes()[0], b'1'..=b'5') => {
            Ok(StatusPat::Class(u16::from(s.as_bytes()[0] - b'0')))
        }
        _ => Err(ctx
            .err(
                node,
                format!("invalid status `{}`: expected an HTTP status code (100–599), a list of them, or a class", node.scalar_text()),
            )
            .with_help("use a code like 201, a list like [200, 204], or a class like \"2xx\"")),
    }
}

pub fn parse_jsonpath(ctx: Ctx<'_>, node: &Node, text: &str) -> Result<jsonpath::CompiledPath, SourceError> {
    jsonpath::CompiledPath::parse(text).map_err(|e| {
        let help = match bracket_form(text) {
            Some(fixed) => format!("a name with `-` or other punctuation needs the bracket form: `{fixed}`"),
            None => "JSONPath (RFC 9535) starts with `$`, e.g. `$.items[0].id`".to_owned(),
        };
        ctx.err(node, format!("invalid JSONPath `{text}`: {e}")).with_help(help)
    })
}

/// `$.headers.X-Request-Id` → `$.headers['X-Request-Id']`, when that is what parses.
fn bracket_form(text: &str) -> Option<String> {
    if !text.starts_with('$') {
        return None;
    }
    let mut out = String::from("$");
    for seg in text[1..].split('.').skip(1) {
        if seg.is_empty() {
            return None;
        }
        let (name, rest) = seg.find('[').map_or((seg, ""), |i| seg.split_at(i));
        if name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            out.push('.');
            out.push_str(name);
        } else {
            out.push_str(&format!("['{}']", name.replace('\'', "\\'")));
        }
        out.push_str(rest);
    }
    (out != text && JsonPath::parse(&out).is_ok()).then_some(out)
}

pub fn decode_captures(ctx: Ctx<'_>, node: &Node) -> Result<Vec<Capture>, SourceError> {
    let mut m = ctx.map(node, "`capture`")?;
    let mut out = Vec::new();
    for (name, knode, v) in m.rest() {
        if !is_identifier(name) {
            return Err(ctx.err(knode, format!("`{name}` is not a valid capture name")));
        }
        let mut nullable = false;
        let mut regex = None;
        let source = match &v.value {
            Value::Str(p) => CaptureSource::Json(parse_jsonpath(ctx, v, p)?),
            Value::Map(_) => {
                let mut cm = ctx.map(v, "a capture")?;
                if let Some(n) = cm.get("nullable") {
                    nullable = ctx.bool(n, "`nullable`")?;
                }
                if let Some(n) = cm.get("regex") {
                    let text = ctx.str(n, "`regex`")?;
                    regex = Some(regex::Regex::new(text).map_err(|e| ctx.err(n, format!("invalid regex `{text}`: {e}")))?);
                }
                let flag = |cm: &mut MapReader<'_>, key: &str| -> Result<Option<bool>, SourceError> {
                    cm.get(key).map(|n| ctx.bool(n, &format!("`{key}`"))).transpose()
                };
                let (json, header) = (cm.get("json"), cm.get("header"));
                let (body, status) = (flag(&mut cm, "body")?, flag(&mut cm, "status")?);
                let src = match (json, header, body, status) {
                    (Some(j), None, None, None) => {
                        let p = ctx.str(j, "`json`")?;
                        CaptureSource::Json(parse_jsonpath(ctx, j, p)?)
                    }
                    (None, Some(h), None, None) => CaptureSource::Header(ctx.str(h, "`header`")?.to_ascii_lowercase()),
                    (None, None, Some(true), None) => CaptureSource::Body,
                    (None, None, None, Some(true)) => CaptureSource::Status,
                    _ => {
                        return Err(ctx.err(v, "a capture takes one of `json: $.path`, `header: Name`, `body: true` or `status: true`"));
                    }
                };
                cm.finish(CAPTURE_KEYS)?;
                src
            }
            _ => return Err(ctx.err(v, "a capture is a JSONPath like `$.id` or `{ header: Location }`")),
        };
        out.push(Capture { name: name.to_owned(), source, pos: knode.pos, nullable, regex });
    }
    Ok(out)
}
