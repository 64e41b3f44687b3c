//! A YAML (and therefore JSON) document as a tree whose every node knows its line and column,
//! plus the strict readers the suite and config loaders decode it with.
//!
//! We decode by hand from this tree rather than through serde so that every error names the
//! file, line and column of the offending node, unknown keys get "did you mean", and no
//! `untagged` guesswork blurs what the user wrote.

use std::path::Path;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::load::diag::{Pos, SourceError, did_you_mean};

mod fast;

/// Deeper documents are refused: they are never legitimate suites and would make recursive
/// consumers overflow the stack.
pub const MAX_DEPTH: usize = 64;
/// Upper bound on nodes, counting alias expansions (defuses "billion laughs").
pub const MAX_NODES: usize = 200_000;
/// Upper bound on the text of all scalars, counting alias expansions: few nodes can still be
/// gigabytes when one long string is aliased many times.
pub const MAX_TEXT_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to JSON. Map keys that are not strings are written as their YAML text.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(entries.iter().map(|(k, v)| (k.scalar_text(), v.to_json())).collect()),
        }
    }

    /// The text of a scalar as the user would read it.
    pub fn scalar_text(&self) -> String {
        match &self.value {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => s.clone(),
            Value::Seq(_) => "[…]".into(),
            Value::Map(_) => "{…}".into(),
        }
    }
}

/// Parses a whole document. An empty file is an empty mapping.
///
/// The common part of YAML is read by the fast path, the rest (and every error) by yaml-rust2.
/// Debug builds read every document the fast path takes with both and insist on the same tree:
/// the whole test suite is a differential test of the fast path.
pub fn parse(file: &Path, source: &str) -> Result<Node, SourceError> {
    match fast::parse(source) {
        Some(node) => {
            #[cfg(debug_assertions)]
            if let Some(general) = general(file, source).ok().filter(|g| !same(g, &node)) {
                panic!("the YAML fast path read {} differently from yaml-rust2:\nfast: {node:?}\ngeneral: {general:?}", file.display());
            }
            Ok(node)
        }
        None => general(file, source),
    }
}

/// The tree of two readings is the same: values (a NaN is a NaN) and positions.
#[cfg(any(test, debug_assertions))]
fn same(a: &Node, b: &Node) -> bool {
    a.pos == b.pos
        && match (&a.value, &b.value) {
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
            (Value::Seq(x), Value::Seq(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
            (Value::Map(x), Value::Map(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
            }
            (x, y) => x == y,
        }
}

/// A plain scalar's value by YAML's core schema, as yaml-rust2 resolves it.
fn plain(text: &str) -> Value {
    match yaml_rust2::Yaml::from_str(text) {
        yaml_rust2::Yaml::Null => Value::Null,
        yaml_rust2::Yaml::Boolean(b) => Value::Bool(b),
        yaml_rust2::Yaml::Integer(i) => Value::Int(i),
        yaml_rust2::Yaml::Real(r) => r.parse::<f64>().map_or(Value::Str(r), Value::Float),
        yaml_rust2::Yaml::String(s) => Value::Str(s),
        _ => Value::Str(text.to_owned()),
    }
}

/// The general parser: yaml-rust2's events, built into a tree within the budgets.
fn general(file: &Path, source: &str) -> Result<Node, SourceError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(source);
    if let Err(e) = parser.load(&mut builder, false) {
        let m = e.marker();
        return Err(SourceError::new(file, pos(m), format!("invalid YAML: {}", e.info())).with_source(source));
    }
    if let Some((p, msg)) = builder.error {
        return Err(SourceError::new(file, p, msg).with_source(source));
    }
    Ok(builder.root.unwrap_or(Node { pos: Pos { line: 1, col: 1 }, value: Value::Map(Vec::new()) }))
}

fn pos(m: &Marker) -> Pos {
    Pos { line: m.line().max(1), col: m.col() + 1 }
}

enum Frame {
    Seq(Node, usize),
    /// A mapping under construction and the key waiting for its value.
    Map(Node, Option<Node>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    /// Each anchor's node with its size (nodes, text bytes), so an alias is priced before it is copied.
    anchors: std::collections::HashMap<usize, (Node, usize, usize)>,
    /// Text bytes of every scalar so far, aliases expanded.
    bytes: usize,
    nodes: usize,
    error: Option<(Pos, String)>,
    done: bool,
}

/// (nodes, scalar text bytes) of a subtree.
fn size(n: &Node) -> (usize, usize) {
    match &n.value {
        Value::Seq(items) => items.iter().map(size).fold((1, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        Value::Map(entries) => entries.iter().fold((1, 0), |a, (k, v)| {
            let (k, v) = (size(k), size(v));
            (a.0 + k.0 + v.0, a.1 + k.1 + v.1)
        }),
        Value::Str(s) => (1, s.len()),
        _ => (1, 8),
    }
}

impl Builder {
    fn fail(&mut self, p: Pos, msg: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some((p, msg.into()));
        }
    }

    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let (nodes, bytes) = size(&node);
            self.anchors.insert(anchor, (node.clone(), nodes, bytes));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
                self.done = true;
            }
            Some(Frame::Seq(seq, _)) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, key, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if let Value::Map(entries) = &mut map.value {
                        entries.push((k, node));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() || self.done && !matches!(ev, Event::StreamEnd | Event::DocumentEnd) {
            return;
        }
        let p = pos(&mark);
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.fail(
                p,
                format!(
                    "document too large: more than {MAX_NODES} nodes (about 15,000 steps); the limit keeps a suite's memory bounded — split it into several files, each has its own budget"
                ),
            );
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                self.bytes += text.len();
                if self.bytes > MAX_TEXT_BYTES {
                    self.fail(p, format!("document too large: more than {} MiB of text", MAX_TEXT_BYTES >> 20));
                    return;
                }
                let value = if style == TScalarStyle::Plain { plain(&text) } else { Value::Str(text) };
                self.push_value(Node { pos: p, value }, anchor);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(p, format!("document nested too deeply (more than {MAX_DEPTH} levels)"));
                    return;
                }
                if matches!(ev, Event::SequenceStart(..)) {
                    self.stack.push(Frame::Seq(Node { pos: p, value: Value::Seq(Vec::new()) }, anchor));
                } else {
                    self.stack.push(Frame::Map(Node { pos: p, value: Value::Map(Vec::new()) }, None, anchor));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq(node, anchor)) | Some(Frame::Map(node, _, anchor)) => self.push_value(node, anchor),
                None => self.fail(p, "unbalanced YAML structure"),
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((node, nodes, bytes)) => {
                    // Priced before it is copied: the copy is what would exhaust memory.
                    self.nodes += nodes;
                    self.bytes += bytes;
                    if self.nodes > MAX_NODES {
                        self.fail(p, format!("document too large: aliases expand to more than {MAX_NODES} nodes"));
                        return;
                    }
                    if self.bytes > MAX_TEXT_BYTES {
                        self.fail(p, format!("document too large: aliases expand to more than {} MiB of text", MAX_TEXT_BYTES >> 20));
                        return;
                    }
                    let node = node.clone();
                    self.push_value(node, 0);
                }
                None => self.fail(p, "alias to an unknown anchor"),
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => {}
        }
    }
}

/// Reads a mapping strictly: every key must be consumed or named as allowed, and duplicates are
/// errors. `finish` reports the first unknown key with a "did you mean".
#[derive(Debug)]
pub struct MapReader<'a> {
    pub node: &'a Node,
    file: &'a Path,
    entries: Vec<(&'a str, &'a Node, &'a Node)>,
    used: Vec<bool>,
    /// What this mapping is, for messages ("a step", "the suite").
    what: &'static str,
}

/// Loader context: the file being read, for locations.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub file: &'a Path,
}

impl<'a> Ctx<'a> {
    pub fn err(&self, node: &Node, msg: impl Into<String>) -> SourceError {
        SourceError::new(self.file, node.pos, msg)
    }

    pub fn map(&self, node: &'a Node, what: &'static str) -> Result<MapReader<'a>, SourceError> {
        let Value::Map(raw) = &node.value else {
            return Err(self.err(node, format!("expected {what} to be a mapping, found {}", node.kind())));
        };
        let mut entries = Vec::with_capacity(raw.len());
        for (k, v) in raw {
            let Value::Str(key) = &k.value else {
                // Keys like `200:` or `true:` — keep their text so messages can name them.
                return Err(self.err(k, format!("expected a string key in {what}, found {}", k.kind())));
            };
            if entries.iter().any(|(e, _, _): &(&str, &Node, &Node)| *e == key.as_str()) {
                return Err(self.err(k, format!("duplicate key `{key}` in {what}")));
            }
            entries.push((key.as_str(), k, v));
        }
        let used = vec![false; entries.len()];
        Ok(MapReader { node, file: self.file, entries, used, what })
    }

    pub fn str(&self, node: &'a Node, what: &str) -> Result<&'a str, SourceError> {
        node.as_str().ok_or_else(|| self.err(node, format!("expected {what} to be a string, found {}", node.kind())))
    }

    /// A scalar used as text: strings, numbers and booleans are accepted (header values, vars).
    pub fn text(&self, node: &'a Node, what: &str) -> Result<String, SourceError> {
        match &node.value {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => Ok(node.scalar_text()),
            _ => Err(self.err(node, format!("expected {what} to be a string, found {}", node.kind()))),
        }
    }

    pub fn bool(&self, node: &Node, what: &str) -> Result<bool, SourceError> {
        match node.value {
            Value::Bool(b) => Ok(b),
            _ => Err(self.err(node, format!("expected {what} to be true or false, found {}", node.kind()))),
        }
    }

    pub fn uint(&self, node: &Node, what: &str) -> Result<u64, SourceError> {
        match node.value {
            Value::Int(i) if i >= 0 => Ok(i as u64),
            _ => Err(self.err(node, format!("expected {what} to be a non-negative integer, found {}", node.kind()))),
        }
    }

    /// A duration: `500ms`, `10s`, `1h`, or a bare integer of milliseconds.
    pub fn duration(&self, node: &Node, what: &str) -> Result<std::time::Duration, SourceError> {
        match &node.value {
            Value::Int(i) if *i >= 0 => Ok(std::time::Duration::from_millis(*i as u64)),
            Value::Str(s) => humantime::parse_duration(s).map_err(|e| {
                self.err(node, format!("invalid duration `{s}` for {what}: {e}")).with_help("write e.g. `500ms`, `10s` or `1h`")
            }),
            _ => Err(self.err(node, format!("expected {what} to be a duration like `10s`, found {}", node.kind()))),
        }
    }

    /// A list, or a single item treated as a list of one.
    pub fn list(&self, node: &'a Node) -> Vec<&'a Node> {
        match &node.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![node],
        }
    }

    pub fn seq(&self, node: &'a Node, what: &str) -> Result<&'a [Node], SourceError> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            _ => Err(self.err(node, format!("expected {what} to be a list, found {}", node.kind()))),
        }
    }
}

impl<'a> MapReader<'a> {
    /// Takes the value of `key`, marking it consumed.
    pub fn get(&mut self, key: &str) -> Option<&'a Node> {
        let i = self.entries.iter().position(|(k, _, _)| *k == key)?;
        self.used[i] = true;
        Some(self.entries[i].2)
    }

    /// The remaining (unconsumed) entries, in file order, marking them consumed. For mappings
    /// whose keys are user data (vars, headers, captures, JSONPath assertions).
    pub fn rest(&mut self) -> Vec<(&'a str, &'a Node, &'a Node)> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if !self.used[i] {
                self.used[i] = true;
                out.push(*e);
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.entries.iter().map(|(k, _, _)| *k)
    }

    /// Fails on the first key that was not consumed, suggesting the closest known key.
    pub fn finish(self, known: &[&str]) -> Result<(), SourceError> {
        for (i, (key, knode, _)) in self.entries.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            let mut e = SourceError::new(self.file, knode.pos, format!("unknown key `{key}` in {}", self.what));
            e = match did_you_mean(key, known.iter().copied()) {
                Some(s) => e.with_help(format!("did you mean `{s}`?")),
                None => e.with_help(format!("known keys: {}", known.join(", "))),
            };
            return Err(e);
        }
        Ok(())
    }
}

/// Reads a file only when it is a regular one: a FIFO given as `--config` or a credentials
/// file would block forever.
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file (a FIFO, socket or device is never read)"));
    }
    std::fs::read(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Result<Node, SourceError> {
        parse(Path::new("t.yaml"), src)
    }

    #[test]
    fn scalars_resolve_like_yaml_core_and_quoted_stay_strings() {
        let n = p("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: text\n").unwrap();
        let j = n.to_json();
        assert_eq!(j, serde_json::json!({"a": 1, "b": "1", "c": true, "d": null, "e": 1.5, "f": "text"}));
    }

    #[test]
    fn positions_are_one_based() {
        let n = p("name: x\nsteps:\n  - name: y\n").unwrap();
        let Value::Map(entries) = &n.value else { panic!() };
        let (k, v) = &entries[1];
        assert_eq!(k.pos, Pos { line: 2, col: 1 });
        let Value::Seq(items) = &v.value else { panic!() };
        assert_eq!(items[0].pos.line, 3);
    }

    #[test]
    fn json_is_yaml() {
        let n = p(r#"{"name": "x", "steps": [{"request": {"path": "/a"}}]}"#).unwrap();
        assert_eq!(n.to_json()["steps"][0]["request"]["path"], "/a");
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = p("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.message.starts_with("invalid YAML"), "{e}");
        assert!(e.pos.line >= 1);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let src = "[".repeat(200) + &"]".repeat(200);
        let e = p(&src).unwrap_err();
        assert!(e.message.contains("nested too deeply"), "{e}");
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut src = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='j' {
            src.push_str(&format!(
                "{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = c;
        }
        let e = p(&src).unwrap_err();
        assert!(e.message.contains("too large"), "{e}");
    }

    #[test]
    fn a_long_string_aliased_many_times_is_refused_by_its_text() {
        let mut src = format!("a: &a \"{}\"\nb: [", "x".repeat(100 * 1024));
        src.push_str(&vec!["*a"; 60_000].join(", "));
        src.push_str("]\n");
        let e = p(&src).unwrap_err();
        assert!(e.message.contains("MiB of text"), "{e}");
        assert!(e.pos.line == 2, "located at the alias that crossed the budget: {e}");
    }

    #[test]
    fn reader_rejects_unknown_and_duplicate_keys() {
        let n = p("name: x\nexpcet: 1\n").unwrap();
        let ctx = Ctx { file: Path::new("t.yaml") };
        let mut m = ctx.map(&n, "a step").unwrap();
        m.get("name");
        let e = m.finish(&["name", "expect"]).unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 1 });
        assert_eq!(e.help.as_deref(), Some("did you mean `expect`?"));

        let n = p("a: 1\na: 2\n").unwrap();
        assert!(ctx.map(&n, "x").unwrap_err().message.contains("duplicate key `a`"));
    }

    #[test]
    fn two_readings_are_the_same_only_with_the_same_values_and_positions() {
        let a = general(Path::new("t.yaml"), "a: [1, .nan]\n").unwrap();
        assert!(same(&a, &a.clone()), "a NaN is the same NaN");
        let moved = general(Path::new("t.yaml"), "a:  [1, .nan]\n").unwrap();
        assert!(!same(&a, &moved), "a position differs");
        let other = general(Path::new("t.yaml"), "a: [2, .nan]\n").unwrap();
        assert!(!same(&a, &other), "a value differs");
    }

    #[test]
    fn empty_document_is_an_empty_mapping() {
        assert_eq!(p("").unwrap().value, Value::Map(vec![]));
    }
}
