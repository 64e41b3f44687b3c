//! Value matchers for `json` and `headers` assertions, as written in a suite: the model and its
//! parser. How a matcher judges a value is `eval::matcher`.
//!
//! A scalar or a list is a literal (equality). A mapping is always a matcher, so a typo such as
//! `{ contians: x }` is an error instead of a silent comparison with an object; compare with a
//! literal object through `equals:`.

use serde_json::Value as J;

use crate::load::diag::SourceError;
use crate::load::template_names::is_template;
use crate::load::yaml::{Ctx, Node, Value};

pub const MATCHER_KEYS: &[&str] =
    &["exists", "equals", "contains", "matches", "type", "min_items", "max_items", "gt", "gte", "lt", "lte", "one_of", "not"];

// The `type:` matcher's names; the suite schema lists them from this enum (`bool` is also
// accepted as an alias by the loader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Null,
}

impl JsonType {
    const NAMES: &'static [&'static str] = &["string", "number", "integer", "boolean", "array", "object", "null"];

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => JsonType::String,
            "number" => JsonType::Number,
            "integer" => JsonType::Integer,
            "boolean" | "bool" => JsonType::Boolean,
            "array" => JsonType::Array,
            "object" => JsonType::Object,
            "null" => JsonType::Null,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::Boolean => "boolean",
            JsonType::Array => "array",
            JsonType::Object => "object",
            JsonType::Null => "null",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A `matches:` regex: compiled once, at load, unless it is a template (then once per
/// rendering, when the step runs).
#[derive(Debug, Clone)]
pub struct Pattern {
    pub text: String,
    /// `None`: a template not rendered yet, or a rendered text that is not a valid regex.
    pub re: Option<std::sync::Arc<regex::Regex>>,
}

impl Pattern {
    /// The pattern of `text`, compiled when it can be.
    pub fn new(text: &str) -> Pattern {
        let re = if is_template(text) { None } else { regex::Regex::new(text).ok().map(std::sync::Arc::new) };
        Pattern { text: text.to_owned(), re }
    }

    /// A rendered template's text, compiled as it is.
    pub fn rendered(text: String) -> Pattern {
        let re = regex::Regex::new(&text).ok().map(std::sync::Arc::new);
        Pattern { text, re }
    }
}

/// One matcher. Expected values may hold templates, rendered when the step runs.
#[derive(Debug, Clone)]
pub enum Matcher {
    Equals(J),
    Exists(bool),
    Contains(J),
    Matches(Pattern),
    Type(JsonType),
    MinItems(usize),
    MaxItems(usize),
    Compare(Cmp, J),
    OneOf(Vec<J>),
    Not(Box<Matcher>),
    /// Several keys in one mapping: all must hold.
    All(Vec<Matcher>),
}
impl Matcher {
    pub fn from_node(ctx: Ctx<'_>, node: &Node) -> Result<Matcher, SourceError> {
        let Value::Map(_) = node.value else { return Ok(Matcher::Equals(node.to_json())) };
        let mut map = ctx.map(node, "a matcher")?;
        let mut all = Vec::new();
        for key in MATCHER_KEYS {
            let Some(v) = map.get(key) else { continue };
            all.push(match *key {
                "exists" => Matcher::Exists(ctx.bool(v, "`exists`")?),
                "equals" => Matcher::Equals(v.to_json()),
                "contains" => Matcher::Contains(v.to_json()),
                "matches" => {
                    let pattern = ctx.str(v, "`matches`")?;
                    if !is_template(pattern) {
                        regex::Regex::new(pattern).map_err(|e| ctx.err(v, format!("invalid regex in `matches`: {e}")))?;
                    }
                    Matcher::Matches(Pattern::new(pattern))
                }
                // `type: null` reads as YAML null.
                "type" if v.value == Value::Null => Matcher::Type(JsonType::Null),
                "type" => {
                    let name = ctx.str(v, "`type`")?;
                    Matcher::Type(JsonType::parse(name).ok_or_else(|| {
                        ctx.err(v, format!("unknown type `{name}`")).with_help(format!("one of: {}", JsonType::NAMES.join(", ")))
                    })?)
                }
                "min_items" => Matcher::MinItems(ctx.uint(v, "`min_items`")? as usize),
                "max_items" => Matcher::MaxItems(ctx.uint(v, "`max_items`")? as usize),
                "gt" | "gte" | "lt" | "lte" => {
                    let cmp = match *key {
                        "gt" => Cmp::Gt,
                        "gte" => Cmp::Gte,
                        "lt" => Cmp::Lt,
                        _ => Cmp::Lte,
                    };
                    match &v.value {
                        Value::Int(_) | Value::Float(_) => {}
                        Value::Str(s) if is_template(s) => {}
                        _ => return Err(ctx.err(v, format!("expected `{key}` to be a number, found {}", v.kind()))),
                    }
                    Matcher::Compare(cmp, v.to_json())
                }
                "one_of" => Matcher::OneOf(ctx.seq(v, "`one_of`")?.iter().map(Node::to_json).collect()),
                "not" => Matcher::Not(Box::new(Matcher::from_node(ctx, v)?)),
                _ => unreachable!("every MATCHER_KEYS entry is handled"),
            });
        }
        if map.is_empty() {
            return Err(ctx.err(node, "empty matcher").with_help(format!("use one of: {}", MATCHER_KEYS.join(", "))));
        }
        map.finish(MATCHER_KEYS)?;
        Ok(if all.len() == 1 { all.remove(0) } else { Matcher::All(all) })
    }

    /// Every template string inside, for offline checks.
    pub fn templates(&self) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(v: &J, out: &mut Vec<String>) {
            match v {
                J::String(s) if is_template(s) => out.push(s.clone()),
                J::Array(a) => a.iter().for_each(|x| walk(x, out)),
                J::Object(o) => o.values().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        match self {
            Matcher::Equals(v) | Matcher::Contains(v) | Matcher::Compare(_, v) => walk(v, &mut out),
            Matcher::Matches(p) if is_template(&p.text) => out.push(p.text.clone()),
            Matcher::OneOf(vs) => vs.iter().for_each(|v| walk(v, &mut out)),
            Matcher::Not(m) => out.extend(m.templates()),
            Matcher::All(ms) => ms.iter().for_each(|m| out.extend(m.templates())),
            _ => {}
        }
        out
    }
}
