//! A JSONPath as compiled at load: the leading run of plain segments (names, indices,
//! wildcards) that `eval::json` walks over a body kept as text, so a check of `$.items` on a
//! 10 MB body parses only what the path visits. What follows the plain run (descendants,
//! filters, slices, unions, escaped names) is a serde_json_path query of its own, run on each
//! node the walk reached. A path that is all plain segments (nearly every path a suite holds)
//! never goes through serde_json_path's parser: it accepts only what RFC 9535 accepts.

use serde_json_path::{JsonPath, ParseError};

/// One plain segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// `.name` or `['name']`.
    Name(String),
    /// `[3]`, `[-1]`.
    Index(i64),
    /// `.*` or `[*]`.
    Wildcard,
}

#[derive(Debug, Clone)]
pub struct CompiledPath {
    pub text: String,
    /// The leading plain segments.
    pub plain: Vec<Seg>,
    /// The rest as a query from `$`, run on each node `plain` reaches.
    pub rest: Option<JsonPath>,
    /// RFC 9535 singular: names and indices only, so it yields one node or nothing.
    pub singular: bool,
}

impl CompiledPath {
    pub fn parse(text: &str) -> Result<CompiledPath, ParseError> {
        let (plain, rest_at) = plain_prefix(text);
        let rest = &text[rest_at..];
        let singular = is_singular(text);
        if rest_at > 0 && rest.is_empty() {
            return Ok(CompiledPath { text: text.to_owned(), plain, rest: None, singular });
        }
        // The whole text is parsed for its verdict (and its error names the whole path). `$` +
        // any run of whole segments is a query; should the rest alone ever fail, the whole
        // query runs from the root, which is always right.
        let query = JsonPath::parse(text)?;
        let (plain, rest) = match JsonPath::parse(&format!("${rest}")) {
            Ok(q) => (plain, Some(q)),
            Err(_) => (Vec::new(), Some(query)),
        };
        Ok(CompiledPath { text: text.to_owned(), plain, rest, singular })
    }
}

/// The plain segments at the start of `text` and the byte offset where the rest begins.
fn plain_prefix(text: &str) -> (Vec<Seg>, usize) {
    let mut segs = Vec::new();
    let Some(mut s) = text.strip_prefix('$') else { return (segs, 0) };
    while let Some((seg, tail)) = plain_segment(s) {
        segs.push(seg);
        s = tail;
    }
    (segs, text.len() - s.len())
}

fn plain_segment(s: &str) -> Option<(Seg, &str)> {
    if let Some(t) = s.strip_prefix(".*") {
        return Some((Seg::Wildcard, t));
    }
    if let Some(t) = s.strip_prefix('.') {
        // RFC 9535 member-name-shorthand: ALPHA / "_" / non-ASCII, then also DIGIT.
        let first = t.chars().next()?;
        if !(first.is_ascii_alphabetic() || first == '_' || !first.is_ascii()) {
            return None;
        }
        let end = t.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())).unwrap_or(t.len());
        return Some((Seg::Name(t[..end].to_owned()), &t[end..]));
    }
    let inner = s.strip_prefix('[')?;
    let close = inner.find(']')?;
    let (body, tail) = (&inner[..close], &inner[close + 1..]);
    if body == "*" {
        return Some((Seg::Wildcard, tail));
    }
    for q in ['\'', '"'] {
        if let Some(name) = body.strip_prefix(q).and_then(|b| b.strip_suffix(q)) {
            // Escapes and the other quote are left to the query parser.
            return (!name.contains(['\\', '\'', '"']) && !name.chars().any(char::is_control)).then(|| (Seg::Name(name.to_owned()), tail));
        }
    }
    let digits = body.strip_prefix('-').unwrap_or(body);
    let canonical = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    if !canonical || body == "-0" {
        return None;
    }
    // RFC 9535 indices are I-JSON integers: beyond ±(2^53 − 1) the query parser refuses them.
    const MAX: u64 = (1 << 53) - 1;
    body.parse().ok().filter(|i: &i64| i.unsigned_abs() <= MAX).map(|i| (Seg::Index(i), tail))
}

/// The position an index selects in an array of `len` items (`-1` is the last), if any: the one
/// reading, for a body's text and for a tree.
pub fn position(len: usize, i: i64) -> Option<usize> {
    if i < 0 { len.checked_sub(i.unsigned_abs() as usize) } else { usize::try_from(i).ok().filter(|&at| at < len) }
}

/// RFC 9535 singular queries use only name and index selectors.
pub fn is_singular(path: &str) -> bool {
    let mut in_quote: Option<char> = None;
    let mut prev = ' ';
    for c in path.chars() {
        match in_quote {
            Some(q) if c == q && prev != '\\' => in_quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => in_quote = Some(c),
                '*' | '?' | ':' | ',' => return false,
                '.' if prev == '.' => return false,
                _ => {}
            },
        }
        prev = c;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> (Vec<Seg>, Option<String>) {
        let p = CompiledPath::parse(text).unwrap();
        (p.plain, p.rest.map(|q| q.to_string()))
    }

    #[test]
    fn singular_paths() {
        assert!(is_singular("$.a.b[0]"));
        assert!(is_singular("$['a.b']"));
        assert!(is_singular("$['x*y']"));
        assert!(!is_singular("$.items[*].id"));
        assert!(!is_singular("$..id"));
        assert!(!is_singular("$.items[?@.x == 1]"));
        assert!(!is_singular("$.items[0:2]"));
    }

    #[test]
    fn the_plain_run_and_the_rest() {
        use Seg::*;
        assert_eq!(split("$"), (vec![], None));
        assert_eq!(
            split("$.a['b c'][0][-1].*[*]._x1"),
            (vec![Name("a".into()), Name("b c".into()), Index(0), Index(-1), Wildcard, Wildcard, Name("_x1".into())], None)
        );
        assert_eq!(split("$.prix€.n"), (vec![Name("prix€".into()), Name("n".into())], None));
        let (plain, rest) = split("$.items[?@.qty > 1].id");
        assert_eq!(plain, vec![Name("items".into())]);
        assert!(rest.unwrap().starts_with("$[?"));
        for (text, plain) in [("$..id", 0), ("$.a[0:2]", 1), ("$.a[0,1]", 1), ("$['a\\'b']", 0), ("$ .a", 0)] {
            let (p, rest) = split(text);
            assert_eq!(p.len(), plain, "{text}");
            assert!(rest.is_some(), "{text}");
        }
    }

    /// A path compiled without the query parser is one the query parser accepts, and a path it
    /// refuses is refused: the plain run never lets through what RFC 9535 does not.
    #[test]
    fn plain_paths_are_exactly_valid_queries() {
        let max = (1i64 << 53) - 1;
        let texts: Vec<String> = [
            "$",
            "$.a",
            "$._",
            "$.a1_b",
            "$.é",
            "$.prix€.n",
            "$.*",
            "$[*]",
            "$[0]",
            "$[-1]",
            "$['a b']",
            "$[\"x\"]",
            "$['']",
            "$.a[*].b[3]",
            "$.1a",
            "$.a-b",
            "$[01]",
            "$[-0]",
            "$[+1]",
            "$[ 0]",
            "$['a\\'b']",
            "$.a.",
            "$..a",
            "$a",
            "",
            "a",
            "$[]",
            "$['a",
            "$[\"a']",
            "$.a[0:1]",
            "$[?@]",
            "$.\u{7f}",
            "$['\u{7f}']",
            "$['\t']",
        ]
        .iter()
        .map(|t| t.to_string())
        .chain([format!("$[{max}]"), format!("$[-{max}]"), format!("$[{}]", max + 1), format!("$[-{}]", max + 1)])
        .chain([format!("$[{}]", i64::MIN), format!("$[{}]", i64::MAX), "$[99999999999999999999]".to_owned()])
        .collect();
        for text in &texts {
            let ours = CompiledPath::parse(text);
            let theirs = JsonPath::parse(text);
            assert_eq!(ours.is_ok(), theirs.is_ok(), "{text:?}: ours {:?}, theirs {:?}", ours.as_ref().err(), theirs.as_ref().err());
        }
    }
}
