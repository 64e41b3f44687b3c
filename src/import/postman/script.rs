//! A request's test script: the common `pm.*` patterns as expectations and captures, every
//! other line listed.

use serde_json::{Value as J, json};

use super::Names;
use crate::import::Item;
use crate::import::draft::{self, Status, Step};

/// `pm.environment.set("token", json.token)`: (name, expression).
pub(super) fn set_target(line: &str) -> Option<(String, String)> {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"^pm\.(?:environment|collectionVariables|globals|variables)\.set\(\s*["']([\w-]+)["']\s*,\s*(.+?)\s*\)\s*;?$"#)
            .expect("valid")
    });
    let c = RE.captures(line.trim())?;
    Some((c[1].to_owned(), c[2].to_owned()))
}

/// `var json = pm.response.json();` names.
pub(super) fn aliases(lines: &[String]) -> Vec<String> {
    static RE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^(?:var|let|const)\s+(\w+)\s*=\s*pm\.response\.json\(\)\s*;?$").expect("valid"));
    lines.iter().filter_map(|l| RE.captures(l.trim()).map(|c| c[1].to_owned())).collect()
}

pub(super) enum Subject {
    Status,
    Time,
    Header(String),
    Body,
    Json(String),
    /// `json.items.length`: the count of what the path holds.
    Length(String),
}

/// What a script expression reads: `pm.response.code`, `json.a.b[0]`, `pm.response.json().x`…
pub(super) fn subject(expr: &str, aliases: &[String]) -> Option<Subject> {
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
pub(super) fn js_path(rest: &str) -> Option<String> {
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

/// The test script's lines as expectations and captures; every other line is listed.
pub(super) fn tests(step: &mut Step, lines: &[String], names: &Names, at: &str, items: &mut Vec<Item>) {
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

pub(super) fn line(step: &mut Step, t: &str, aliases: &[String], names: &Names) -> Result<(), String> {
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
    expectation(step, &c, aliases, names)
}

/// `pm.expect(SUBJECT).to[.not][.be…].VERB(ARG)` as a matcher on the subject.
pub(super) fn expectation(step: &mut Step, c: &regex::Captures<'_>, aliases: &[String], names: &Names) -> Result<(), String> {
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
    let subject = subject(&c[1], aliases).ok_or("the subject is not a response value")?;
    apply(step, subject, m, verb, negated)
}

/// A matcher on what the script's subject reads: the status, the time, a header, the body or
/// a JSON path (or its length).
pub(super) fn apply(step: &mut Step, subject: Subject, m: J, verb: &str, negated: bool) -> Result<(), String> {
    let negate = |m: J| -> J {
        if !negated || matches!(verb, "exist" | "exists" | "empty") {
            return m;
        }
        json!({ "not": if m.is_object() { m } else { json!({ "equals": m }) } })
    };
    let clash = |k: String| format!("a second `{k}` on the same value");
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
