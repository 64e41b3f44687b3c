//! A body as JSON and what a JSONPath selects in it, under the empty-selection rule the
//! matchers judge by. A step's body is kept as its text (`Doc`): a path walks it, parsing only
//! the members and items it visits, and the matchers read counts and types off the text, so
//! judging `$` of a 10 MB array never builds the array (bench/memory.sh).

use serde_json::Value as J;
use serde_json::value::RawValue;

use crate::eval::matcher::{Matcher, short_node};
use crate::eval::node::{self, Checked, Compact, Kind, Node};
use crate::load::jsonpath::{CompiledPath, Seg};

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

/// Parses a body as a tree; serde_json's recursion limit defuses nesting bombs. For answers
/// judged whole (auth answers, contracts, stubs); a step's paths walk a `Doc` instead.
pub fn parse_json(body: &[u8]) -> Result<J, NotJson> {
    if body.is_empty() {
        return Err(NotJson::Empty);
    }
    serde_json::from_slice::<Compact>(body)
        .map(|c| c.0)
        .map_err(|e| if std::str::from_utf8(body).is_err() { NotJson::Utf8 } else { NotJson::Syntax(e.to_string()) })
}

/// A body known to be JSON (its syntax and depth checked once), kept as its text: paths walk it
/// parsing only what they visit.
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    root: &'a RawValue,
}

/// Checks a body as JSON the way `parse_json` does (same errors), building nothing — or, with
/// `tree`, also building the whole body as a tree (for what judges it whole: contracts, the
/// stub check of a short body), which is then the one pass that checks it.
pub fn parse_doc(body: &[u8], tree: bool) -> Result<(Doc<'_>, Option<J>), NotJson> {
    let built = if tree { Some(parse_json(body)?) } else { None };
    if body.is_empty() {
        return Err(NotJson::Empty);
    }
    let text = std::str::from_utf8(body).map_err(|_| NotJson::Utf8)?;
    let syntax = |e: serde_json::Error| NotJson::Syntax(e.to_string());
    if built.is_none() {
        serde_json::from_str::<Checked>(text).map_err(syntax)?;
    }
    Ok((Doc { root: serde_json::from_str(text).map_err(syntax)? }, built))
}

/// What a JSONPath selected.
#[derive(Debug, Clone)]
pub enum Selected<'a> {
    /// A singular path found nothing there.
    Nothing,
    /// A singular path's node.
    Value(Node<'a>),
    /// A path that can select several nodes (wildcards, filters, slices, descendants): the
    /// selected nodes, possibly none.
    Nodes(Vec<Node<'a>>),
}

impl Selected<'_> {
    /// A matcher's judgement; multi-node selections follow the empty-selection rule.
    pub fn judge(&self, m: &Matcher) -> Result<(), crate::eval::matcher::Mismatch> {
        match self {
            Selected::Nothing => m.check(None),
            Selected::Value(n) => m.check_node(n),
            Selected::Nodes(nodes) => m.check_nodes(nodes),
        }
    }

    /// What was found, for a passing assertion's "actual".
    pub fn shown(&self) -> String {
        match self {
            Selected::Nothing => "nothing".into(),
            Selected::Value(n) => short_node(n),
            Selected::Nodes(nodes) => crate::eval::matcher::describe_nodes(nodes),
        }
    }

    /// A value worth using (a capture), copied out: not nothing, not `null`, not an empty
    /// selection.
    pub fn into_value(self) -> Option<J> {
        match self {
            Selected::Nothing => None,
            Selected::Value(n) if n.kind() == Kind::Null => None,
            Selected::Value(n) => Some(n.into_value()),
            Selected::Nodes(n) if n.is_empty() => None,
            Selected::Nodes(n) => Some(J::Array(n.into_iter().map(Node::into_value).collect())),
        }
    }
}

/// Evaluates a JSONPath on a body kept as text: the plain segments walk the text, the rest runs
/// as a query on a tree of each node they reached. A singular path yields its node; a path that
/// can select several nodes yields what it selected.
pub fn select<'a>(path: &CompiledPath, doc: Doc<'a>) -> Selected<'a> {
    let mut at: Vec<&'a RawValue> = vec![doc.root];
    for seg in &path.plain {
        at = match seg {
            Seg::Name(name) => at.into_iter().filter_map(|r| node::member(r, name)).collect(),
            Seg::Index(i) => at.into_iter().filter_map(|r| node::element(r, *i)).collect(),
            Seg::Wildcard => at
                .into_iter()
                .flat_map(|r| match node::members(r) {
                    m if m.is_empty() => node::items(r),
                    m => m.into_iter().map(|(_, v)| v).collect(),
                })
                .collect(),
        };
    }
    let nodes: Vec<Node<'a>> = match &path.rest {
        None => at.into_iter().map(Node::Raw).collect(),
        Some(q) => at
            .into_iter()
            .flat_map(|r| {
                let t = node::tree(r);
                q.query(&t).all().into_iter().cloned().map(Node::Owned).collect::<Vec<_>>()
            })
            .collect(),
    };
    if path.singular { nodes.into_iter().next().map_or(Selected::Nothing, Selected::Value) } else { Selected::Nodes(nodes) }
}

/// The value at a path of a tree, as `Selected::into_value` takes it: for auth answers, which
/// are parsed whole.
pub fn value_at(path: &CompiledPath, doc: &J) -> Option<J> {
    let mut at: Vec<&J> = vec![doc];
    for seg in &path.plain {
        at = match seg {
            Seg::Name(name) => at.into_iter().filter_map(|v| v.as_object()?.get(name)).collect(),
            Seg::Index(i) => at
                .into_iter()
                .filter_map(|v| {
                    let a = v.as_array()?;
                    a.get(crate::load::jsonpath::position(a.len(), *i)?)
                })
                .collect(),
            Seg::Wildcard => at
                .into_iter()
                .flat_map(|v| match v {
                    J::Object(o) => o.values().collect(),
                    J::Array(a) => a.iter().collect(),
                    _ => Vec::new(),
                })
                .collect(),
        };
    }
    let nodes: Vec<&J> = match &path.rest {
        None => at,
        Some(q) => at.into_iter().flat_map(|v| q.query(v).all()).collect(),
    };
    if path.singular {
        nodes.first().filter(|v| !v.is_null()).map(|v| (*v).clone())
    } else if nodes.is_empty() {
        None
    } else {
        Some(J::Array(nodes.into_iter().cloned().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Walking the text selects what the query selects on the tree, node for node and in order.
    #[test]
    fn walking_the_text_selects_what_the_tree_query_does() {
        let body = r#"{"items":[{"id":"a","qty":2,"tags":["x"]},{"id":"b","qty":0},{"id":"c","qty":5,"tags":[]}],
            "a":{"b c":{"d":[10,20,30]}},"a":{"b c":{"d":[1,2,3]},"z":null},"n":null,"é":{"ü":1},"s":"text"}"#;
        let tree = parse_json(body.as_bytes()).unwrap();
        let (doc, _) = parse_doc(body.as_bytes(), false).unwrap();
        for text in [
            "$",
            "$.items",
            "$.items[*].id",
            "$.items[0].id",
            "$.items[-1].qty",
            "$.items[7]",
            "$.items[*].tags[*]",
            "$.a['b c'].d[1]",
            "$.a.z",
            "$.a.*",
            "$.*",
            "$[*]",
            "$.n",
            "$.é.ü",
            "$.s",
            "$.s.x",
            "$.items.id",
            "$.items[?@.qty > 1].id",
            "$..id",
            "$.items[0:2].id",
            "$.items[0,2].id",
            "$['items'][1]['id']",
            "$.a['b c'].d[?@ > 1]",
            "$.items[*]['id','qty']",
            "$ .items[0]",
        ] {
            let path = CompiledPath::parse(text).unwrap();
            let walked: Vec<J> = match select(&path, doc) {
                Selected::Nothing => vec![],
                Selected::Value(n) => vec![n.into_value()],
                Selected::Nodes(ns) => ns.into_iter().map(Node::into_value).collect(),
            };
            let query = serde_json_path::JsonPath::parse(text).unwrap();
            let queried: Vec<J> = query.query(&tree).all().into_iter().cloned().collect();
            assert_eq!(walked, queried, "{text}");
            // And on a tree, as auth answers are read, the same nodes.
            let expected = if path.singular {
                queried.first().filter(|v| !v.is_null()).cloned()
            } else {
                (!queried.is_empty()).then(|| J::Array(queried.clone()))
            };
            assert_eq!(value_at(&path, &tree), expected, "{text}");
        }
        let bomb = "[".repeat(100_000);
        for tree in [false, true] {
            assert_eq!(parse_doc(b"[1,", tree).unwrap_err(), parse_json(b"[1,").unwrap_err());
            assert_eq!(parse_doc(bomb.as_bytes(), tree).unwrap_err(), parse_json(bomb.as_bytes()).unwrap_err());
            assert_eq!(parse_doc(&[0xff], tree).unwrap_err(), NotJson::Utf8);
            assert_eq!(parse_doc(b"", tree).unwrap_err(), NotJson::Empty);
        }
        let (doc, tree) = parse_doc(b"  [1] ", true).unwrap();
        assert_eq!(tree, Some(serde_json::json!([1])));
        assert_eq!(select(&CompiledPath::parse("$[0]").unwrap(), doc).into_value(), Some(serde_json::json!(1)));
        assert_eq!(parse_doc(b"  [1] ", false).unwrap().1, None);
    }
}
