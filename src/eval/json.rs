//! A body as JSON (compact, bomb-proof) and what a JSONPath selects in it, under the
//! empty-selection rule the matchers judge by.

use serde_json::Value as J;

use crate::eval::matcher::{Matcher, short};

/// Why a body is not JSON, as a failure message says it ("got an empty body").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotJson {
    #[error("an empty body")]
    Empty,
    #[error("invalid UTF-8")]
    Utf8,
    #[error("invalid JSON ({0})")]
    Syntax(String),
}

/// Parses a body as JSON; serde_json's recursion limit defuses nesting bombs.
pub fn parse_json(body: &[u8]) -> Result<J, NotJson> {
    if body.is_empty() {
        return Err(NotJson::Empty);
    }
    serde_json::from_slice::<Compact>(body)
        .map(|c| c.0)
        .map_err(|e| if std::str::from_utf8(body).is_err() { NotJson::Utf8 } else { NotJson::Syntax(e.to_string()) })
}

/// A JSON value built with exact-size objects and arrays. serde_json's own `Value` grows each
/// object's map as keys arrive, which reserves room for about twice the keys: on a 10 MB array
/// of small objects that is a third of the parsed document (see `bench/memory.sh`). The
/// parser, and its recursion limit, are serde_json's.
struct Compact(J);

impl<'de> serde::Deserialize<'de> for Compact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CompactVisitor).map(Compact)
    }
}

struct CompactVisitor;

impl<'de> serde::de::Visitor<'de> for CompactVisitor {
    type Value = J;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<J, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J, E> {
        Ok(J::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J, E> {
        Ok(J::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<J, E> {
        Ok(serde_json::Number::from_f64(v).map_or(J::Null, J::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<J, E> {
        Ok(J::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<J, E> {
        Ok(J::String(v))
    }
    fn visit_unit<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_none<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
        let mut items = Vec::new();
        while let Some(Compact(v)) = seq.next_element()? {
            items.push(v);
        }
        items.shrink_to_fit();
        Ok(J::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
        let mut entries: Vec<(String, J)> = Vec::new();
        while let Some((k, Compact(v))) = map.next_entry::<String, Compact>()? {
            entries.push((k, v));
        }
        // Built from an exact-size iterator: the map reserves what it holds. A repeated key
        // keeps its last value, as serde_json's own does.
        Ok(J::Object(entries.into_iter().collect()))
    }
}

/// What a JSONPath selected, borrowed from the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Selected<'a> {
    /// A singular path found nothing there.
    Nothing,
    /// A singular path's node.
    Value(&'a J),
    /// A path that can select several nodes (wildcards, filters, slices, descendants): the
    /// selected nodes, possibly none.
    Nodes(Vec<&'a J>),
}

impl Selected<'_> {
    /// A matcher's judgement; multi-node selections follow the empty-selection rule.
    pub fn judge(&self, m: &Matcher) -> Result<(), crate::eval::matcher::Mismatch> {
        match self {
            Selected::Nothing => m.check(None),
            Selected::Value(v) => m.check(Some(v)),
            Selected::Nodes(nodes) => m.check_nodes(nodes),
        }
    }

    /// What was found, for a passing assertion's "actual".
    pub fn shown(&self) -> String {
        match self {
            Selected::Nothing => "nothing".into(),
            Selected::Value(v) => short(v),
            Selected::Nodes(nodes) => crate::eval::matcher::describe_nodes(nodes),
        }
    }

    /// A value worth using (a token, a capture), copied out: not nothing, not `null`, not an
    /// empty selection.
    pub fn into_value(self) -> Option<J> {
        match self {
            Selected::Value(J::Null) | Selected::Nothing => None,
            Selected::Value(v) => Some(v.clone()),
            Selected::Nodes(n) if n.is_empty() => None,
            Selected::Nodes(n) => Some(J::Array(n.into_iter().cloned().collect())),
        }
    }
}

/// Evaluates a JSONPath. A singular path yields its node; a path that can select several nodes
/// (wildcards, filters, slices, descendants) yields what it selected.
pub fn select<'a>(path: &serde_json_path::JsonPath, text: &str, doc: &'a J) -> Selected<'a> {
    let nodes = path.query(doc).all();
    if is_singular(text) { nodes.first().map_or(Selected::Nothing, |n| Selected::Value(n)) } else { Selected::Nodes(nodes) }
}

/// RFC 9535 singular queries use only name and index selectors.
fn is_singular(path: &str) -> bool {
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
    fn the_compact_parse_is_serde_jsons_value() {
        let text = r#"{"b":1,"a":[1,2.5,-3,"x",null,true,{"k":{}}],"b":2,"big":18446744073709551615}"#;
        let ours = parse_json(text.as_bytes()).unwrap();
        let theirs: J = serde_json::from_str(text).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours.as_object().unwrap().keys().collect::<Vec<_>>(), ["b", "a", "big"], "key order kept");
    }

    #[test]
    fn json_bombs_are_invalid_not_a_crash() {
        let bomb = "[".repeat(100_000);
        assert!(parse_json(bomb.as_bytes()).unwrap_err().to_string().contains("invalid JSON"));
        assert_eq!(parse_json(&[0xff, 0xfe]).unwrap_err(), NotJson::Utf8);
        assert_eq!(parse_json(b"").unwrap_err().to_string(), "an empty body");
    }
}
