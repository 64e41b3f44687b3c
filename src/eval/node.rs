//! A JSON node as the body's own text (`Raw`), read only as far as it is asked: its type from its
//! first byte, its length by counting, a member or an element by skipping the rest. A node is
//! built into a tree (`value`) only when a matcher compares it whole, which for the nodes paths
//! select is small; the 10 MB array behind `$` is counted, never built.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value as J;
use serde_json::value::RawValue;

/// A selected node: the body's text, or a value a query built (filters and descendants run on a
/// tree of the node they start from).
#[derive(Debug, Clone)]
pub enum Node<'a> {
    Raw(&'a RawValue),
    Owned(J),
}

/// What a node's first byte says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl<'a> Node<'a> {
    /// The node as a tree (built for a raw node).
    pub fn value(&self) -> Cow<'_, J> {
        match self {
            Node::Raw(r) => Cow::Owned(tree(r)),
            Node::Owned(v) => Cow::Borrowed(v),
        }
    }

    pub fn into_value(self) -> J {
        match self {
            Node::Raw(r) => tree(r),
            Node::Owned(v) => v,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Node::Raw(r) => raw_kind(r),
            Node::Owned(v) => match v {
                J::Null => Kind::Null,
                J::Bool(_) => Kind::Bool,
                J::Number(_) => Kind::Number,
                J::String(_) => Kind::String,
                J::Array(_) => Kind::Array,
                J::Object(_) => Kind::Object,
            },
        }
    }

    /// Items of an array, members of an object, characters of a string.
    pub fn size(&self) -> Option<usize> {
        match (self, self.kind()) {
            (Node::Raw(r), Kind::Array) => serde_json::from_str::<Count>(r.get()).ok().map(|c| c.0),
            (Node::Raw(r), Kind::Object) => Some(members(r).len()),
            (_, Kind::String | Kind::Array | Kind::Object) => match &*self.value() {
                J::String(s) => Some(s.chars().count()),
                J::Array(a) => Some(a.len()),
                J::Object(o) => Some(o.len()),
                _ => None,
            },
            _ => None,
        }
    }

    /// An array's items, as nodes of the same text (`None`: not an array).
    pub fn items(&self) -> Option<Vec<Node<'_>>> {
        match self {
            Node::Raw(r) => (raw_kind(r) == Kind::Array).then(|| items(r).into_iter().map(Node::Raw).collect()),
            Node::Owned(J::Array(a)) => Some(a.iter().cloned().map(Node::Owned).collect()),
            Node::Owned(_) => None,
        }
    }
}

/// A raw node's text is at most this long to be shown by building it (exactly as a tree
/// prints); a longer one is shown from its text.
const BUILD_TO_SHOW: usize = 64 * 1024;

/// The text `short` would print of the node, without building a large one: its text up to
/// `cap` bytes with the blanks between tokens dropped.
pub fn shown_text(n: &Node<'_>, cap: usize, short: impl Fn(&J) -> String) -> String {
    match n {
        Node::Raw(r) if r.get().len() > BUILD_TO_SHOW => compact_prefix(r.get(), cap),
        other => short(&other.value()),
    }
}

fn compact_prefix(text: &str, cap: usize) -> String {
    let mut out = String::with_capacity(cap + 4);
    let (mut in_str, mut escaped) = (false, false);
    for c in text.chars() {
        if out.len() >= cap {
            break;
        }
        match (in_str, c) {
            (false, ' ' | '\n' | '\r' | '\t') => continue,
            (false, '"') => in_str = true,
            (true, '\\') if !escaped => {
                escaped = true;
                out.push(c);
                continue;
            }
            (true, '"') if !escaped => in_str = false,
            _ => {}
        }
        escaped = false;
        out.push(c);
    }
    out
}

fn raw_kind(r: &RawValue) -> Kind {
    // The opening bytes as strings: the structure tool counts braces in char literals.
    const QUOTE: u8 = b"\""[0];
    const ARRAY: u8 = b"["[0];
    const OBJECT: u8 = b"{"[0];
    match r.get().as_bytes().first().copied() {
        Some(b'n') => Kind::Null,
        Some(b't' | b'f') => Kind::Bool,
        Some(QUOTE) => Kind::String,
        Some(ARRAY) => Kind::Array,
        Some(OBJECT) => Kind::Object,
        _ => Kind::Number,
    }
}

/// A raw node built as a tree. The node's text was checked as JSON (syntax and depth) when its
/// body was, so building it cannot fail; `null` stands in should it ever.
pub fn tree(r: &RawValue) -> J {
    serde_json::from_str::<Compact>(r.get()).map_or(J::Null, |c| c.0)
}

/// An array's items (empty for anything else).
pub fn items(r: &RawValue) -> Vec<&RawValue> {
    if raw_kind(r) != Kind::Array {
        return Vec::new();
    }
    serde_json::from_str(r.get()).unwrap_or_default()
}

/// An object's member values, in the order a tree keeps them: a repeated key keeps its first
/// place and its last value, as serde_json's own map does.
pub fn members(r: &RawValue) -> Vec<(String, &RawValue)> {
    if raw_kind(r) != Kind::Object {
        return Vec::new();
    }
    serde_json::Deserializer::from_str(r.get()).deserialize_map(Members).unwrap_or_default()
}

/// The value of member `name` (the last, when the key repeats), reading no other value.
pub fn member<'a>(r: &'a RawValue, name: &str) -> Option<&'a RawValue> {
    if raw_kind(r) != Kind::Object {
        return None;
    }
    serde_json::Deserializer::from_str(r.get()).deserialize_map(Member(name)).ok().flatten()
}

/// Item `i` of an array (negative: from the end).
pub fn element(r: &RawValue, i: i64) -> Option<&RawValue> {
    let all = items(r);
    all.get(crate::load::jsonpath::position(all.len(), i)?).copied()
}

struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(String, &'de RawValue)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<(String, &'de RawValue)> = Vec::new();
        let mut seen = std::collections::HashMap::new();
        while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
            match seen.get(&k) {
                Some(&i) => out[i] = (k, v),
                None => {
                    seen.insert(k.clone(), out.len());
                    out.push((k, v));
                }
            }
        }
        Ok(out)
    }
}

struct Member<'n>(&'n str);

impl<'de> Visitor<'de> for Member<'_> {
    type Value = Option<&'de RawValue>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is) = map.next_key_seed(KeyIs(self.0))? {
            if is {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// A key seed that only says whether the key is `name`, allocating nothing for an unescaped key.
struct KeyIs<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// Counts an array's items without keeping any.
struct Count(usize);

impl<'de> serde::Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A full parse that keeps nothing: syntax, and the nesting depth serde_json's recursion limit
/// allows, checked once for the whole body (walking raw text checks neither).
pub struct Checked;

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<IgnoredAny, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

/// A JSON value built with exact-size objects and arrays. serde_json's own `Value` grows each
/// object's map as keys arrive, which reserves room for about twice the keys. The parser, and
/// its recursion limit, are serde_json's.
pub struct Compact(pub J);

impl<'de> serde::Deserialize<'de> for Compact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CompactVisitor).map(Compact)
    }
}

struct CompactVisitor;

impl<'de> Visitor<'de> for CompactVisitor {
    type Value = J;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
        let mut items = Vec::new();
        while let Some(Compact(v)) = seq.next_element()? {
            items.push(v);
        }
        items.shrink_to_fit();
        Ok(J::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
        let mut entries: Vec<(String, J)> = Vec::new();
        while let Some((k, Compact(v))) = map.next_entry::<String, Compact>()? {
            entries.push((k, v));
        }
        // Built from an exact-size iterator: the map reserves what it holds. A repeated key
        // keeps its last value, as serde_json's own does.
        Ok(J::Object(entries.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn reads_what_is_asked_and_agrees_with_the_tree() {
        let r = raw(r#"{"a":[1,{"b":2},"x"],"a":[3],"k":"v\"w","n":null}"#);
        assert_eq!(member(r, "a").map(RawValue::get), Some("[3]"), "the last of a repeated key");
        assert_eq!(member(r, "k").map(tree), Some(J::from("v\"w")));
        assert!(member(r, "zz").is_none());
        assert_eq!(
            members(r).iter().map(|(k, v)| (k.as_str(), v.get())).collect::<Vec<_>>(),
            [("a", "[3]"), ("k", r#""v\"w""#), ("n", "null")]
        );
        assert_eq!(Node::Raw(r).size(), Some(3), "distinct keys, as the tree counts them");
        let arr = raw(r#"[1, {"b": 2}, "x"]"#);
        assert_eq!(element(arr, -1).map(RawValue::get), Some(r#""x""#));
        assert!(element(arr, 3).is_none() && element(arr, -4).is_none());
        assert_eq!(Node::Raw(arr).size(), Some(3));
        assert_eq!(Node::Raw(raw(r#""né""#)).size(), Some(2));
        assert_eq!(Node::Raw(raw("12")).size(), None);
        assert_eq!(Node::Raw(arr).kind(), Kind::Array);
        assert_eq!(Node::Raw(raw("-1")).kind(), Kind::Number);
        assert!(member(arr, "a").is_none());
        assert!(items(r).is_empty());
    }

    #[test]
    fn a_large_node_is_shown_from_its_text() {
        assert_eq!(compact_prefix("[ 1, {\"a b\" : \"x \\\" y\"} ]", 100), "[1,{\"a b\":\"x \\\" y\"}]");
        assert_eq!(compact_prefix("[1, 2, 3]", 3), "[1,");
    }
}
