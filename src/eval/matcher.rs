//! How matchers judge an actual value (their model and parser are `load::matcher`), and the
//! bounded descriptions failure messages use. Pure and synchronous.

use std::fmt;

use serde_json::Value as J;

use crate::eval::node::{Kind, Node};
use crate::eval::template::{Scope, Templates};
pub use crate::load::matcher::{Cmp, JsonType, Matcher, Pattern};

/// Why a value did not match, as expected-vs-actual text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, got {}", self.expected, self.actual)
    }
}
impl Matcher {
    /// Renders the templates inside expected values.
    pub fn render(&self, t: &Templates, scope: &Scope) -> Result<Matcher, crate::eval::template::TemplateError> {
        Ok(match self {
            Matcher::Equals(v) => Matcher::Equals(t.render_json(v, scope)?),
            Matcher::Contains(v) => Matcher::Contains(t.render_json(v, scope)?),
            // A template is compiled once it is rendered; a fixed pattern was compiled at load.
            Matcher::Matches(p) if p.re.is_none() => Matcher::Matches(Pattern::rendered(t.render_str(&p.text, scope)?)),
            Matcher::Compare(c, v) => Matcher::Compare(*c, t.render_json(v, scope)?),
            Matcher::OneOf(vs) => Matcher::OneOf(vs.iter().map(|v| t.render_json(v, scope)).collect::<Result<_, _>>()?),
            Matcher::Not(m) => Matcher::Not(Box::new(m.render(t, scope)?)),
            Matcher::All(ms) => Matcher::All(ms.iter().map(|m| m.render(t, scope)).collect::<Result<_, _>>()?),
            other => other.clone(),
        })
    }

    /// Judges `actual` (`None`: nothing at that path / no such header).
    pub fn check(&self, actual: Option<&J>) -> Result<(), Mismatch> {
        let got = || describe(actual);
        let fail = |expected: String| Err(Mismatch { expected, actual: got() });
        match self {
            Matcher::Exists(want) => match (actual.is_some(), *want) {
                (true, true) | (false, false) => Ok(()),
                (false, true) => fail("a value".into()),
                (true, false) => fail("no value".into()),
            },
            Matcher::Equals(want) => match actual {
                Some(a) if json_eq(a, want) => Ok(()),
                _ => fail(short(want)),
            },
            Matcher::Contains(want) => {
                if contains(actual, want) {
                    Ok(())
                } else {
                    fail(format!("something containing {}", short(want)))
                }
            }
            Matcher::Matches(p) => {
                let Some(re) = &p.re else {
                    let why = regex::Regex::new(&p.text).err().map_or_else(|| "a rendered template".to_owned(), |e| e.to_string());
                    return Err(Mismatch { expected: format!("a valid regex ({why})"), actual: got() });
                };
                match actual {
                    Some(J::String(s)) if re.is_match(s) => Ok(()),
                    _ => fail(format!("a string matching /{}/", p.text)),
                }
            }
            Matcher::Type(t) => match actual {
                Some(a) if t.holds(a) => Ok(()),
                _ => fail(format!("a value of type {}", t.name())),
            },
            Matcher::MinItems(n) => match actual.and_then(len) {
                Some(l) if l >= *n => Ok(()),
                _ => fail(format!("at least {n} item{}", if *n == 1 { "" } else { "s" })),
            },
            Matcher::MaxItems(n) => match actual.and_then(len) {
                Some(l) if l <= *n => Ok(()),
                _ => fail(format!("at most {n} item{}", if *n == 1 { "" } else { "s" })),
            },
            Matcher::Compare(cmp, bound) => {
                if compare(*cmp, bound, actual) {
                    Ok(())
                } else {
                    fail(format!("a number {} {}", cmp.symbol(), short(bound)))
                }
            }
            Matcher::OneOf(options) => match actual {
                Some(a) if options.iter().any(|o| json_eq(a, o)) => Ok(()),
                _ => fail(format!("one of {}", options.iter().map(short).collect::<Vec<_>>().join(", "))),
            },
            // `not` negates a judgement of a value that is there: over nothing it verified
            // nothing (write `exists: false` to assert absence), except `not: { exists: … }`.
            Matcher::Not(inner) if actual.is_none() && !matches!(**inner, Matcher::Exists(_)) => {
                fail(format!("a value that is not {}", inner.describe()))
            }
            Matcher::Not(inner) => match inner.check(actual) {
                Ok(()) => fail(format!("not {}", inner.describe())),
                Err(_) => Ok(()),
            },
            Matcher::All(ms) => {
                for m in ms {
                    m.check(actual)?;
                }
                Ok(())
            }
        }
    }

    /// Judges a node a path selected, as `check` judges its value, reading a count, a type or an
    /// array's items off the body's text instead of building it.
    pub fn check_node(&self, node: &Node<'_>) -> Result<(), Mismatch> {
        if let Node::Owned(v) = node {
            return self.check(Some(v));
        }
        let fail = |expected: String| Err(Mismatch { expected, actual: describe_node(node) });
        let items = |n: usize| format!("{n} item{}", plural(n));
        match self {
            Matcher::Exists(true) => Ok(()),
            Matcher::Exists(false) => fail("no value".into()),
            Matcher::Type(t) if t.holds_kind(node) => Ok(()),
            Matcher::Type(t) => fail(format!("a value of type {}", t.name())),
            Matcher::MinItems(n) => match node.size() {
                Some(l) if l >= *n => Ok(()),
                _ => fail(format!("at least {}", items(*n))),
            },
            Matcher::MaxItems(n) => match node.size() {
                Some(l) if l <= *n => Ok(()),
                _ => fail(format!("at most {}", items(*n))),
            },
            // An array's items one at a time, never the whole array.
            Matcher::Contains(want) if node.kind() == Kind::Array => {
                let found = node.items().unwrap_or_default().iter().any(|i| json_eq(&i.value(), want));
                if found { Ok(()) } else { fail(format!("something containing {}", short(want))) }
            }
            Matcher::Not(inner) => match inner.check_node(node) {
                Ok(()) => fail(format!("not {}", inner.describe())),
                Err(_) => Ok(()),
            },
            Matcher::All(ms) => ms.iter().try_for_each(|m| m.check_node(node)),
            other => other.check(Some(&node.value())),
        }
    }

    /// Judges what a multi-node JSONPath (wildcard, filter, slice, descendants) selected: the
    /// array of the selected nodes, judged in place (a 10 MB body is never copied to be judged).
    /// On an empty selection only the matchers that speak about emptiness can hold
    /// (`exists: false`, `max_items`, `min_items: 0`, `equals: []`, and `not: { exists: true }`);
    /// every other matcher fails, because it verified nothing.
    pub fn check_nodes(&self, nodes: &[Node<'_>]) -> Result<(), Mismatch> {
        let fail = |expected: String| {
            let actual = if nodes.is_empty() { "nothing selected (0 nodes)".to_owned() } else { describe_nodes(nodes) };
            Err(Mismatch { expected, actual })
        };
        let arrays_eq = |want: &[J]| want.len() == nodes.len() && want.iter().zip(nodes).all(|(w, n)| json_eq(&n.value(), w));
        if nodes.is_empty() {
            return match self {
                Matcher::Exists(true) => fail("at least one node".into()),
                Matcher::Exists(false) | Matcher::MaxItems(_) | Matcher::MinItems(0) => Ok(()),
                Matcher::Equals(J::Array(a)) if a.is_empty() => Ok(()),
                Matcher::Not(inner) => match &**inner {
                    Matcher::Exists(b) => Matcher::Exists(!*b).check_nodes(nodes),
                    other => fail(format!("a selected value that is not {}", other.describe())),
                },
                Matcher::All(ms) => ms.iter().try_for_each(|m| m.check_nodes(nodes)),
                other => fail(other.describe()),
            };
        }
        // The same judgements `check` makes of an array, without building one.
        let ok = match self {
            Matcher::Exists(want) => *want,
            Matcher::Equals(J::Array(want)) => arrays_eq(want),
            Matcher::Contains(want) => nodes.iter().any(|n| json_eq(&n.value(), want)),
            Matcher::Type(t) => *t == JsonType::Array,
            Matcher::MinItems(n) => nodes.len() >= *n,
            Matcher::MaxItems(n) => nodes.len() <= *n,
            Matcher::OneOf(options) => options.iter().any(|o| matches!(o, J::Array(a) if arrays_eq(a))),
            Matcher::Not(inner) => match inner.check_nodes(nodes) {
                Ok(()) => return fail(format!("not {}", inner.describe())),
                Err(_) => true,
            },
            Matcher::All(ms) => return ms.iter().try_for_each(|m| m.check_nodes(nodes)),
            // An array is never equal to a scalar or object, never a string or a number.
            Matcher::Equals(_) | Matcher::Matches(_) | Matcher::Compare(..) => false,
        };
        if ok { Ok(()) } else { fail(self.describe()) }
    }

    /// What this matcher wants, as text ("at least 1 item").
    pub fn describe(&self) -> String {
        match self.check(None) {
            Err(m) => m.expected,
            Ok(()) => match self {
                Matcher::Exists(false) => "no value".into(),
                Matcher::Not(inner) => format!("not {}", inner.describe()),
                _ => "anything".into(),
            },
        }
    }
}

impl JsonType {
    /// `holds` of a node, from its first byte (a number's value only for `integer`).
    fn holds_kind(self, n: &Node<'_>) -> bool {
        match (self, n.kind()) {
            (JsonType::Integer, Kind::Number) => self.holds(&n.value()),
            (JsonType::String, k) => k == Kind::String,
            (JsonType::Number, k) => k == Kind::Number,
            (JsonType::Boolean, k) => k == Kind::Bool,
            (JsonType::Array, k) => k == Kind::Array,
            (JsonType::Object, k) => k == Kind::Object,
            (JsonType::Null, k) => k == Kind::Null,
            (JsonType::Integer, _) => false,
        }
    }

    fn holds(self, v: &J) -> bool {
        match self {
            JsonType::String => v.is_string(),
            JsonType::Number => v.is_number(),
            JsonType::Integer => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
            JsonType::Boolean => v.is_boolean(),
            JsonType::Array => v.is_array(),
            JsonType::Object => v.is_object(),
            JsonType::Null => v.is_null(),
        }
    }
}

/// `contains`: a substring, an array element, or an object key.
fn contains(actual: Option<&J>, want: &J) -> bool {
    match (actual, want) {
        (Some(J::String(a)), J::String(w)) => a.contains(w.as_str()),
        (Some(J::Array(items)), w) => items.iter().any(|i| json_eq(i, w)),
        (Some(J::Object(map)), J::String(k)) => map.contains_key(k),
        _ => false,
    }
}

/// `gt`/`gte`/`lt`/`lte`: both sides numbers, and the comparison holds.
fn compare(cmp: Cmp, bound: &J, actual: Option<&J>) -> bool {
    let (Some(b), Some(a)) = (bound.as_f64(), actual.and_then(J::as_f64)) else { return false };
    match cmp {
        Cmp::Gt => a > b,
        Cmp::Gte => a >= b,
        Cmp::Lt => a < b,
        Cmp::Lte => a <= b,
    }
}

impl Cmp {
    fn symbol(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
        }
    }
}

fn len(v: &J) -> Option<usize> {
    match v {
        J::Array(a) => Some(a.len()),
        J::Object(o) => Some(o.len()),
        J::String(s) => Some(s.chars().count()),
        _ => None,
    }
}

/// JSON equality where `1` equals `1.0`.
pub fn json_eq(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x == y || x.as_f64().zip(y.as_f64()).is_some_and(|(x, y)| x == y),
        (J::Array(x), J::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y)),
        (J::Object(x), J::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w))),
        _ => a == b,
    }
}

/// How much of a value a message shows.
const SHORT_CHARS: usize = 120;

/// A compact description of a value for failure messages: serialized only as far as it is
/// shown, so describing a 10 MB body costs a few hundred bytes.
pub fn short(v: &J) -> String {
    /// Stops the serializer once enough is written.
    struct Capped(Vec<u8>);
    impl std::io::Write for Capped {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if self.0.len() > SHORT_CHARS * 4 {
                return Err(std::io::Error::other("enough"));
            }
            self.0.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Capped(Vec::new());
    let _ = serde_json::to_writer(&mut w, v);
    let s = String::from_utf8_lossy(&w.0);
    if s.chars().count() > SHORT_CHARS { format!("{}…", s.chars().take(SHORT_CHARS).collect::<String>()) } else { s.into_owned() }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn describe(v: Option<&J>) -> String {
    match v {
        None => "nothing (no value there)".into(),
        Some(J::Array(a)) => describe_list(a.len(), a.iter().map(short)),
        Some(v) => short(v),
    }
}

/// `describe` of a node, from its text.
fn describe_node(n: &Node<'_>) -> String {
    match n.items() {
        Some(items) => describe_nodes(&items),
        None => short_node(n),
    }
}

/// `short` of a node, shown from its text when it is too large to build.
pub fn short_node(n: &Node<'_>) -> String {
    let text = crate::eval::node::shown_text(n, SHORT_CHARS * 4, short);
    if text.chars().count() > SHORT_CHARS { format!("{}…", text.chars().take(SHORT_CHARS).collect::<String>()) } else { text }
}

/// `describe` of the array of selected nodes, copying only what is shown.
pub fn describe_nodes(nodes: &[Node<'_>]) -> String {
    describe_list(nodes.len(), nodes.iter().map(short_node))
}

/// "an array of N items: […]" from the items' short forms, taken only as far as they are shown.
fn describe_list(count: usize, shorts: impl Iterator<Item = String>) -> String {
    let mut shown = Vec::new();
    let mut len = 0;
    for one in shorts {
        len += one.len() + 1;
        shown.push(one);
        if len > SHORT_CHARS {
            break;
        }
    }
    let mut text = format!("[{}", shown.join(","));
    if shown.len() < count || text.chars().count() > SHORT_CHARS {
        text = format!("{}…", text.chars().take(SHORT_CHARS).collect::<String>());
    } else {
        text.push(']');
    }
    format!("an array of {count} item{}: {text}", plural(count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::diag::SourceError;
    use crate::load::yaml::Ctx;
    use serde_json::json;
    use std::path::Path;

    fn m(src: &str) -> Matcher {
        let node = crate::load::yaml::parse(Path::new("t.yaml"), src).unwrap();
        Matcher::from_node(Ctx { file: Path::new("t.yaml") }, &node).unwrap()
    }

    fn m_err(src: &str) -> SourceError {
        let node = crate::load::yaml::parse(Path::new("t.yaml"), src).unwrap();
        Matcher::from_node(Ctx { file: Path::new("t.yaml") }, &node).unwrap_err()
    }

    /// Every matcher, passing and failing.
    #[test]
    fn each_matcher_passes_and_fails() {
        let cases: &[(&str, J, J)] = &[
            ("smoke-1", json!("smoke-1"), json!("smoke-2")),
            ("{ equals: {a: 1} }", json!({"a": 1.0}), json!({"a": 2})),
            ("{ contains: json }", json!("application/json"), json!("text/html")),
            ("{ contains: 2 }", json!([1, 2]), json!([1, 3])),
            ("{ contains: id }", json!({"id": 1}), json!({"x": 1})),
            ("{ matches: '^ord-[0-9]+$' }", json!("ord-42"), json!("ord-x")),
            ("{ type: integer }", json!(3), json!(3.5)),
            ("{ type: string }", json!("x"), json!(1)),
            ("{ type: array }", json!([]), json!({})),
            ("{ type: null }", json!(null), json!(0)),
            ("{ min_items: 1 }", json!([1]), json!([])),
            ("{ max_items: 1 }", json!([1]), json!([1, 2])),
            ("{ gt: 1 }", json!(2), json!(1)),
            ("{ gte: 1 }", json!(1), json!(0.5)),
            ("{ lt: 1 }", json!(0), json!(1)),
            ("{ lte: 1 }", json!(1), json!(2)),
            ("{ one_of: [a, b] }", json!("b"), json!("c")),
            ("{ not: { equals: 0 } }", json!(1), json!(0)),
            ("{ type: array, min_items: 1 }", json!([0]), json!([])),
        ];
        for (src, good, bad) in cases {
            let matcher = m(src);
            assert!(matcher.check(Some(good)).is_ok(), "{src} should accept {good}");
            let mis = matcher.check(Some(bad)).expect_err(&format!("{src} should reject {bad}"));
            assert!(!mis.expected.is_empty() && !mis.actual.is_empty());
        }
    }

    /// A fixed `matches:` is compiled at load; a template once rendered, and a rendering that
    /// is not a regex fails the match rather than passing.
    #[test]
    fn regexes_compile_once_and_templates_when_rendered() {
        let fixed = m("{ matches: \"^a+$\" }");
        assert!(matches!(&fixed, Matcher::Matches(p) if p.re.is_some()));
        assert!(fixed.check(Some(&json!("aaa"))).is_ok() && fixed.check(Some(&json!("b"))).is_err());
        let templ = m("{ matches: \"^{{ x }}$\" }");
        assert!(matches!(&templ, Matcher::Matches(p) if p.re.is_none()));
        let mut scope = Scope::default();
        scope.set_json("x", &json!("b+"));
        let r = templ.render(&Templates::new(), &scope).unwrap();
        assert!(r.check(Some(&json!("bbb"))).is_ok() && r.check(Some(&json!("a"))).is_err());
        scope.set_json("x", &json!("("));
        let bad = templ.render(&Templates::new(), &scope).unwrap();
        assert!(bad.check(Some(&json!("("))).unwrap_err().expected.contains("a valid regex"));
    }

    #[test]
    fn exists_both_ways() {
        assert!(m("{ exists: true }").check(Some(&json!(null))).is_ok());
        assert!(m("{ exists: true }").check(None).is_err());
        assert!(m("{ exists: false }").check(None).is_ok());
        assert!(m("{ exists: false }").check(Some(&json!(1))).is_err());
    }

    /// An empty multi-node selection verifies nothing: only emptiness matchers hold.
    #[test]
    fn empty_selection_rule() {
        let empty: Vec<Node<'_>> = Vec::new();
        for src in ["{ exists: false }", "{ max_items: 0 }", "{ min_items: 0 }", "{ equals: [] }", "{ not: { exists: true } }"] {
            assert!(m(src).check_nodes(&empty).is_ok(), "{src} holds on an empty selection");
        }
        for src in [
            "{ exists: true }",
            "{ type: array }",
            "{ type: string }",
            "x",
            "{ contains: x }",
            "{ matches: '.*' }",
            "{ min_items: 1 }",
            "{ gt: 0 }",
            "{ one_of: [a] }",
            "{ not: { equals: x } }",
            "{ not: { exists: false } }",
            "{ exists: true, max_items: 3 }",
        ] {
            let mis = m(src).check_nodes(&empty).expect_err(src);
            assert_eq!(mis.actual, "nothing selected (0 nodes)", "{src}");
        }
        // A non-empty selection is judged as the array of nodes.
        let (one, two) = (Node::Owned(json!(1)), Node::Owned(json!(2)));
        assert!(m("{ exists: true }").check_nodes(std::slice::from_ref(&one)).is_ok());
        assert!(m("{ contains: 1 }").check_nodes(&[one.clone(), two.clone()]).is_ok());
        assert!(m("{ contains: 3 }").check_nodes(&[one, two]).is_err());
    }

    /// Judging nodes in place agrees with judging the array they make, for every matcher.
    #[test]
    fn nodes_are_judged_like_the_array_they_make() {
        let values = [json!([]), json!([1]), json!([1, 2]), json!(["a", "b"]), json!([{"id": 1}]), json!([null])];
        let matchers = [
            "{ exists: true }",
            "{ exists: false }",
            "{ equals: [1, 2] }",
            "{ equals: 1 }",
            "{ contains: 1 }",
            "{ contains: a }",
            "{ matches: a }",
            "{ type: array }",
            "{ type: string }",
            "{ min_items: 1 }",
            "{ min_items: 2 }",
            "{ max_items: 1 }",
            "{ gt: 0 }",
            "{ one_of: [[1], [1, 2]] }",
            "{ not: { contains: 2 } }",
            "{ type: array, max_items: 1 }",
            "[1, 2]",
        ];
        for v in &values {
            let nodes: Vec<Node<'_>> = v.as_array().unwrap().iter().cloned().map(Node::Owned).collect();
            for src in matchers {
                let mm = m(src);
                if nodes.is_empty() {
                    continue; // the empty-selection rule differs on purpose
                }
                assert_eq!(mm.check_nodes(&nodes).is_ok(), mm.check(Some(v)).is_ok(), "{src} on {v}");
            }
        }
    }

    #[test]
    fn short_never_serializes_more_than_it_shows() {
        let big = J::Array((0..100_000).map(|i| json!({"id": i})).collect());
        let s = short(&big);
        assert!(s.chars().count() <= 121 && s.ends_with('…'), "{s}");
        let nodes: Vec<Node<'_>> = big.as_array().unwrap().iter().cloned().map(Node::Owned).collect();
        assert!(describe_nodes(&nodes).starts_with("an array of 100000 items: [{\"id\":0},"));
        // The same from the text, building none of it.
        let text = serde_json::to_string(&big).unwrap();
        let raw: &serde_json::value::RawValue = serde_json::from_str(&text).unwrap();
        assert!(short_node(&Node::Raw(raw)).starts_with("[{\"id\":0},{\"id\":1}"));
        let mis = m("{ max_items: 1 }").check_node(&Node::Raw(raw)).unwrap_err();
        assert!(mis.actual.starts_with("an array of 100000 items: [{\"id\":0},"), "{}", mis.actual);
    }

    /// A node judged from its text is judged as its tree is: the same verdict and the same words,
    /// for every matcher, passing and failing.
    #[test]
    fn raw_nodes_are_judged_like_their_trees() {
        let values = [
            r#"[]"#,
            r#"[1, 2.0]"#,
            r#"["a","b"]"#,
            r#"[{"id":1}]"#,
            r#"[null]"#,
            r#"{}"#,
            r#"{"a":1,"a":2,"b":[1]}"#,
            r#""abc""#,
            r#""né""#,
            r#"3"#,
            r#"3.5"#,
            r#"-1e2"#,
            r#"true"#,
            r#"null"#,
            r#"{"id":"x","k":[1,2]}"#,
        ];
        let matchers = [
            "{ exists: true }",
            "{ exists: false }",
            "{ equals: [1, 2] }",
            "{ equals: 1 }",
            "{ equals: {a: 2, b: [1]} }",
            "{ contains: 1 }",
            "{ contains: a }",
            "{ contains: id }",
            "{ matches: b }",
            "{ type: array }",
            "{ type: integer }",
            "{ type: number }",
            "{ type: object }",
            "{ type: null }",
            "{ type: boolean }",
            "{ type: string }",
            "{ min_items: 1 }",
            "{ min_items: 2 }",
            "{ max_items: 1 }",
            "{ gt: 0 }",
            "{ lte: 3 }",
            "{ one_of: [[1, 2], 3] }",
            "{ not: { contains: 2 } }",
            "{ not: { type: array } }",
            "{ type: array, max_items: 1 }",
            "[1, 2]",
        ];
        for text in values {
            let raw: &serde_json::value::RawValue = serde_json::from_str(text).unwrap();
            let tree: J = serde_json::from_str(text).unwrap();
            for src in matchers {
                let mm = m(src);
                assert_eq!(mm.check_node(&Node::Raw(raw)), mm.check(Some(&tree)), "{src} on {text}");
            }
            assert_eq!(short_node(&Node::Raw(raw)), short(&tree), "{text}");
        }
    }

    #[test]
    fn not_over_nothing_is_not_a_pass() {
        assert!(m("{ not: { equals: failed } }").check(None).is_err());
        assert!(m("{ not: { equals: failed } }").check(Some(&json!("done"))).is_ok());
        assert!(m("{ not: { exists: true } }").check(None).is_ok());
        assert!(m("{ not: { exists: false } }").check(None).is_err());
    }

    #[test]
    fn empty_data_is_named_in_the_mismatch() {
        let mis = m("{ min_items: 1 }").check(Some(&json!([]))).unwrap_err();
        assert_eq!(mis.expected, "at least 1 item");
        assert!(mis.actual.starts_with("an array of 0 items"), "{}", mis.actual);
    }

    #[test]
    fn typos_and_bad_values_are_located_errors() {
        let e = m_err("{ contians: x }");
        assert_eq!(e.help.as_deref(), Some("did you mean `contains`?"));
        assert!(m_err("{ type: strng }").message.contains("unknown type"));
        assert!(m_err("{ matches: '(' }").message.contains("invalid regex"));
        assert!(m_err("{ gt: abc }").message.contains("number"));
        assert!(m_err("{ min_items: -1 }").message.contains("non-negative"));
        assert!(m_err("{}").message.contains("empty matcher"));
    }

    #[test]
    fn templates_in_expected_values_render() {
        let t = Templates::new();
        let mut s = Scope::default();
        s.set("sku", "smoke-9");
        s.set("n", 5);
        let r = m("'{{ sku }}'").render(&t, &s).unwrap();
        assert!(r.check(Some(&json!("smoke-9"))).is_ok());
        let r = m("'{{ n }}'").render(&t, &s).unwrap();
        assert!(r.check(Some(&json!(5))).is_ok(), "native types survive rendering");
    }
}
