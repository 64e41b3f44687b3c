//! Hurl's line-level syntax: `key: value` lines, and the tokens of a capture or assert line
//! (`jsonpath "$.items" count >= 2`).

use serde_json::Value as J;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A bare word: a query, filter or predicate name, an operator, `true`, a number.
    Word(String),
    /// `"…"` or `` `…` ``, unescaped.
    Str(String),
    /// `/…/`.
    Regex(String),
    /// `{{ … }}`, the expression inside.
    Template(String),
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// Splits an assert or capture expression into tokens; `#` outside a token ends the line.
pub fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some(&(i, c)) = it.peek() {
        match c {
            c if c.is_whitespace() => {
                it.next();
            }
            '#' => break,
            '"' | '`' => {
                it.next();
                out.push(Tok::Str(quoted(&mut it, c)?));
            }
            '/' => {
                it.next();
                out.push(Tok::Regex(regex_literal(&mut it)?));
            }
            _ if s[i..].starts_with("{{") => {
                let end = s[i..].find("}}").ok_or("an unclosed `{{`")?;
                out.push(Tok::Template(s[i + 2..i + end].trim().to_owned()));
                for _ in 0..s[i..i + end + 2].chars().count() {
                    it.next();
                }
            }
            _ => {
                let mut w = String::new();
                while let Some(&(_, ch)) = it.peek().filter(|(_, ch)| !ch.is_whitespace()) {
                    w.push(ch);
                    it.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

/// The rest of a `"…"` (or `` `…` ``) string after its opening `quote`, unescaped.
fn quoted(it: &mut Chars<'_>, quote: char) -> Result<String, String> {
    let mut text = String::new();
    while let Some((_, ch)) = it.next() {
        match ch {
            '\\' => text.push(escape(it)?),
            ch if ch == quote => return Ok(text),
            ch => text.push(ch),
        }
    }
    Err(format!("an unclosed {quote} string"))
}

/// One escape after `\`: `\n`, `\t`, `\u{1F600}`, or the character itself.
fn escape(it: &mut Chars<'_>) -> Result<char, String> {
    Ok(match it.next().map(|(_, e)| e) {
        Some('n') => '\n',
        Some('t') => '\t',
        Some('r') => '\r',
        Some('b') => '\u{8}',
        Some('f') => '\u{c}',
        Some('u') => {
            // The braces as their code points, so this file's braces stay balanced for tools.
            let rest: String = it.by_ref().take_while(|(_, c)| *c != '\u{7d}').map(|(_, c)| c).collect();
            let hex = rest.trim_start_matches('\u{7b}');
            u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).ok_or(format!("bad escape `\\u{rest}`"))?
        }
        Some(e) => e,
        None => return Err("a string ends in `\\`".into()),
    })
}

/// The rest of a `/…/` regex after its opening slash (`\/` is a slash).
fn regex_literal(it: &mut Chars<'_>) -> Result<String, String> {
    let mut text = String::new();
    while let Some((_, ch)) = it.next() {
        match ch {
            '\\' => match it.next().map(|(_, e)| e) {
                Some('/') => text.push('/'),
                Some(e) => {
                    text.push('\\');
                    text.push(e);
                }
                None => return Err("a regex ends in `\\`".into()),
            },
            '/' => return Ok(text),
            ch => text.push(ch),
        }
    }
    Err("an unclosed /regex/".into())
}

/// A token as a JSON value: a string, a number, `true`/`false`/`null`, or a template (as the
/// smokegate template text, which keeps the value's type when it is the whole string).
pub fn value(t: &Tok) -> Option<J> {
    match t {
        Tok::Str(s) => Some(J::String(templates(s))),
        Tok::Template(e) => Some(J::String(format!("{{{{ {} }}}}", expr(e)))),
        Tok::Word(w) => match w.as_str() {
            "true" => Some(J::Bool(true)),
            "false" => Some(J::Bool(false)),
            "null" => Some(J::Null),
            n => serde_json::from_str::<serde_json::Number>(n).ok().map(J::Number),
        },
        Tok::Regex(_) => None,
    }
}

/// A Hurl template expression in smokegate's terms: `newUuid` is `uuid`, names with `-` get `_`.
pub fn expr(e: &str) -> String {
    match e.trim() {
        "newUuid" => "uuid".into(),
        "newDate" => "run.started_at".into(),
        other => name(other),
    }
}

/// A Hurl variable name as a template name (`user-id` → `user_id`).
pub fn name(n: &str) -> String {
    n.trim().replace('-', "_")
}

/// Every `{{ x }}` in a text, in smokegate's spelling.
pub fn templates(s: &str) -> String {
    static RE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\{\{\s*([^}]*?)\s*\}\}").expect("valid"));
    RE.replace_all(s, |c: &regex::Captures<'_>| format!("{{{{ {} }}}}", expr(&c[1]))).into_owned()
}

/// The variable names a text's templates read.
pub fn variables(s: &str) -> Vec<String> {
    static RE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)").expect("valid"));
    RE.captures_iter(s).map(|c| name(&c[1])).collect()
}

/// `key: value` (the key may be quoted); `None` when the line is not one.
pub fn key_value(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    let (k, v) = if let Some(rest) = line.strip_prefix('"') {
        let end = rest.find('"')?;
        let (k, v) = (&rest[..end], rest[end + 1..].trim_start());
        (k.to_owned(), v.strip_prefix(':')?)
    } else {
        let (k, v) = line.split_once(':')?;
        if k.is_empty() || k.contains(char::is_whitespace) {
            return None;
        }
        (k.replace("\\:", ":"), v)
    };
    Some((k, strip_comment(v).trim().to_owned()))
}

/// A value without its trailing ` # comment` (a `#` inside quotes or a template stays).
fn strip_comment(v: &str) -> &str {
    let (mut quoted, mut prev_space) = (false, true);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted && prev_space => return &v[..i],
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    v
}

/// A header or form value: a quoted string unquoted, templates respelled.
pub fn text_value(v: &str) -> String {
    match tokens(v).ok().as_deref() {
        Some([Tok::Str(s)]) if v.trim_start().starts_with('"') => templates(s),
        _ => templates(v.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assert_lines_tokenize() {
        let t = tokens(r#"jsonpath "$.items[?(@.a == \"x\")]" count >= 2 # note"#).unwrap();
        assert_eq!(
            t,
            vec![
                Tok::Word("jsonpath".into()),
                Tok::Str("$.items[?(@.a == \"x\")]".into()),
                Tok::Word("count".into()),
                Tok::Word(">=".into()),
                Tok::Word("2".into())
            ]
        );
        let t = tokens(r"body matches /^ok \/ [0-9]+$/").unwrap();
        assert_eq!(t[2], Tok::Regex(r"^ok / [0-9]+$".into()));
        let t = tokens(r#"header "Location" == "{{base}}/x" "#).unwrap();
        assert_eq!(value(&t[3]), Some(J::String("{{ base }}/x".into())));
        assert_eq!(value(&tokens("{{ n }}").unwrap()[0]), Some(J::String("{{ n }}".into())));
        assert!(tokens(r#"jsonpath "$.x"#).is_err());
        assert_eq!(tokens("\"\\u{1F600}é\"").unwrap(), vec![Tok::Str("😀é".into())]);
    }

    #[test]
    fn key_values_and_names() {
        assert_eq!(key_value("Content-Type: application/json # c"), Some(("Content-Type".into(), "application/json".into())));
        assert_eq!(key_value("\"a b\": 1"), Some(("a b".into(), "1".into())));
        assert_eq!(key_value("no colon"), None);
        assert_eq!(templates("/{{user-id}}/{{newUuid}}"), "/{{ user_id }}/{{ uuid }}");
        assert_eq!(variables("{{a}} and {{ b-c }}"), vec!["a", "b_c"]);
    }
}
