//! Templating of suite and config values: `{{ run.id }}`, `{{ sku }}`, `{{ env.HOME }}`,
//! `{{ user.email }}`, `{{ uuid }}`. Jinja semantics (minijinja) with strict undefined, so a
//! missing variable is an error naming it, never an empty string sent to the gateway.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use minijinja::value::{Object, Value};
use minijinja::{Environment, UndefinedBehavior};

pub use crate::load::template_names::is_template;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    /// The undefined variable, when that is the problem.
    pub variable: Option<String>,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `{{ uuid }}` renders a fresh UUIDv4 each time it is used.
#[derive(Debug)]
struct FreshUuid;

impl Object for FreshUuid {
    // Plain, not a map: it renders (and converts to JSON) as a string.
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", uuid::Uuid::new_v4())
    }
}

/// The values visible to a template: top-level names (vars, captures) plus the builtins. Shared,
/// not copied: a clone (every suite starts from the run's scope, every step judges in a copy) is
/// a reference count, and the map is copied only when a clone is written to.
#[derive(Clone, Default)]
pub struct Scope {
    values: Arc<BTreeMap<String, Value>>,
    /// Counts the writes: what was rendered from a scope at one version renders the same again.
    version: u64,
    /// Names that are known not to hold a value, and why (an opaque token's `token.claims`):
    /// a template that reads one fails saying so, not just "undefined".
    absent: Arc<BTreeMap<String, String>>,
}

impl fmt::Debug for Scope {
    // The scope holds `user.password` and captured secrets: never print values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Scope {
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        Arc::make_mut(&mut self.values).insert(name.into(), value.into());
        self.version += 1;
    }

    pub fn set_json(&mut self, name: impl Into<String>, value: &serde_json::Value) {
        Arc::make_mut(&mut self.values).insert(name.into(), Value::from_serialize(value));
        self.version += 1;
    }

    /// `request.id`, the reqId of the request being rendered. Not a write the version counts: a
    /// request renders its own, so nothing rendered earlier depends on it.
    pub fn set_request_id(&mut self, id: &str) {
        let request = Value::from_iter([("id", Value::from(id))]);
        Arc::make_mut(&mut self.values).insert("request".to_owned(), request);
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Says why `path` (dotted, such as `token.claims`) holds nothing, for the error of a
    /// template that reads it or anything under it.
    pub fn explain_absent(&mut self, path: &str, why: &str) {
        Arc::make_mut(&mut self.absent).insert(path.to_owned(), why.to_owned());
    }

    /// The shortest prefix of the dotted `var` that holds nothing (`env.NAME` of an unset
    /// variable), when its top name is defined.
    fn first_missing(&self, var: &str) -> Option<String> {
        let mut parts = var.split('.');
        let top = parts.next()?;
        let (mut v, mut path) = (self.values.get(top)?.clone(), top.to_owned());
        for part in parts {
            path = format!("{path}.{part}");
            match v.get_attr(part) {
                Ok(next) if !next.is_undefined() => v = next,
                _ => return Some(path),
            }
        }
        None
    }

    /// Why `var` (a dotted path a template reads) is known to hold nothing, if it is.
    fn absent_reason(&self, var: &str) -> Option<(&str, &str)> {
        self.absent.iter().find_map(|(path, why)| {
            let under = var.strip_prefix(path.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
            under.then_some((path.as_str(), why.as_str()))
        })
    }

    /// The template context: the shared map itself, looked up by name (nothing is copied).
    fn context(&self) -> Value {
        Value::from_object(Context(Arc::clone(&self.values)))
    }
}

/// A scope as a template context.
#[derive(Debug)]
struct Context(Arc<BTreeMap<String, Value>>);

impl Object for Context {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key.as_str()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.0.keys().map(|k| Value::from(k.as_str())).collect())
    }
}

/// A loader name that is an expression to evaluate, not a template: the loader turns it into a
/// template that sets `value`, read back from the evaluated state with its native type.
const EXPRESSION: &str = "\u{0}expression:";

/// The template engine. Cheap to share; create one per run.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // A template's name is its source: each is compiled the first time it is rendered and
        // kept for the run (suites render the same few strings on every request).
        env.set_loader(|name| {
            Ok(Some(match name.strip_prefix(EXPRESSION) {
                Some(expr) => format!("{{% set value = ({expr}) %}}"),
                None => name.to_owned(),
            }))
        });
        env.add_global("uuid", Value::from_object(FreshUuid));
        // Values go into URLs, headers and JSON: never HTML-escape them.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        Templates { env }
    }

    /// Renders a string template.
    pub fn render_str(&self, source: &str, scope: &Scope) -> Result<String, TemplateError> {
        if !is_template(source) {
            return Ok(source.to_owned());
        }
        let tpl = self.env.get_template(source).map_err(|e| self.explain(source, scope, e))?;
        tpl.render(scope.context()).map_err(|e| self.explain(source, scope, e))
    }

    /// Renders every string inside a JSON value. A string that is exactly one `{{ expr }}`
    /// keeps the expression's native type, so `qty: "{{ n }}"` sends a number when `n` is one.
    pub fn render_json(&self, value: &serde_json::Value, scope: &Scope) -> Result<serde_json::Value, TemplateError> {
        use serde_json::Value as J;
        Ok(match value {
            J::String(s) if is_template(s) => match whole_expression(s) {
                Some(expr) => self.eval_native(s, expr, scope)?,
                None => J::String(self.render_str(s, scope)?),
            },
            J::Array(items) => J::Array(items.iter().map(|v| self.render_json(v, scope)).collect::<Result<_, _>>()?),
            J::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, v) in map {
                    out.insert(self.render_str(k, scope)?, self.render_json(v, scope)?);
                }
                J::Object(out)
            }
            other => other.clone(),
        })
    }

    fn eval_native(&self, source: &str, expr: &str, scope: &Scope) -> Result<serde_json::Value, TemplateError> {
        // A bare name (`{{ id }}`, most expected values and bodies) is the scope's value itself:
        // looked up directly, as the engine would. Anything else, or a name the scope lacks (for
        // the engine's error), is compiled once, as a template setting `value`; an expression
        // that does not fit in one (a `%}` inside a string) is compiled each time instead.
        let direct = is_bare_name(expr).then(|| scope.values.get(expr).cloned()).flatten();
        let v = match direct {
            Some(v) => v,
            None => self.evaluated(source, expr, scope)?,
        };
        if v.is_undefined() {
            return Err(self.explain(source, scope, minijinja::Error::new(minijinja::ErrorKind::UndefinedError, "undefined value")));
        }
        use minijinja::value::ValueKind as K;
        match v.kind() {
            // Plain objects (`uuid`) render through their Display, which is what makes them fresh.
            K::Number | K::Bool | K::None | K::Seq | K::Map => serde_json::to_value(&v)
                .map_err(|e| TemplateError { message: format!("cannot convert `{expr}` to JSON: {e}"), variable: None }),
            _ => Ok(serde_json::Value::String(v.to_string())),
        }
    }

    fn evaluated(&self, source: &str, expr: &str, scope: &Scope) -> Result<Value, TemplateError> {
        match self.env.get_template(&format!("{EXPRESSION}{expr}")) {
            Ok(tpl) => {
                let done = tpl.render_captured(scope.context()).map_err(|e| self.explain(source, scope, e))?;
                Ok(done.state().lookup("value").unwrap_or_default())
            }
            Err(_) => {
                let compiled = self.env.compile_expression(expr).map_err(|e| self.explain(source, scope, e))?;
                compiled.eval(scope.context()).map_err(|e| self.explain(source, scope, e))
            }
        }
    }

    /// Turns an engine error into one that names the undefined variable, if that is the cause.
    fn explain(&self, source: &str, scope: &Scope, e: minijinja::Error) -> TemplateError {
        if e.kind() == minijinja::ErrorKind::UndefinedError {
            for name in self.variables(source).unwrap_or_default() {
                let top = name.split('.').next().unwrap_or(&name);
                if !scope.contains(top) && top != "uuid" {
                    return TemplateError { message: format!("`{top}` is not defined in `{source}`"), variable: Some(top.to_owned()) };
                }
                if let Some((path, why)) = scope.absent_reason(&name) {
                    return TemplateError { message: format!("`{path}` is not defined in `{source}`: {why}"), variable: Some(name) };
                }
                if let Some(missing) = scope.first_missing(&name) {
                    let message = match missing.strip_prefix("env.") {
                        Some(var) => format!("environment variable `{var}` is not set (in `{source}`)"),
                        None => format!("`{missing}` is not defined in `{source}`"),
                    };
                    return TemplateError { message, variable: Some(missing) };
                }
            }
            return TemplateError { message: format!("undefined value in `{source}`"), variable: None };
        }
        let detail = e.detail().map(str::to_owned).unwrap_or_else(|| e.kind().to_string());
        TemplateError { message: format!("template `{source}`: {detail}"), variable: None }
    }

    /// Every variable path the template reads (`run.id`, `sku`), or its syntax error.
    pub fn variables(&self, source: &str) -> Result<BTreeSet<String>, TemplateError> {
        let tpl = self.env.template_from_str(source).map_err(|e| TemplateError {
            message: format!("invalid template `{source}`: {}", e.detail().unwrap_or("syntax error")),
            variable: None,
        })?;
        Ok(tpl.undeclared_variables(true).into_iter().collect())
    }
}

/// A variable name as the engine reads one: an identifier that is not one of its literals.
fn is_bare_name(expr: &str) -> bool {
    let mut chars = expr.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(expr, "true" | "false" | "none" | "True" | "False" | "None")
}

/// `"{{ expr }}"` → `Some("expr")` when the string is exactly one expression.
fn whole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        let mut s = Scope::default();
        s.set("sku", "smoke-1");
        s.set("n", 3);
        s.set_json("run", &json!({"id": "r1"}));
        s
    }

    /// An unset environment variable is named as such; a missing attribute by its path; a
    /// path known to hold nothing says why.
    #[test]
    fn what_is_missing_is_named() {
        let t = Templates::new();
        let mut s = scope();
        s.set_json("env", &json!({"HOME": "/root"}));
        let e = t.render_str("/pools/{{ env.COGNITO_POOL_ID }}", &s).unwrap_err();
        assert_eq!(e.message, "environment variable `COGNITO_POOL_ID` is not set (in `/pools/{{ env.COGNITO_POOL_ID }}`)");
        let e = t.render_str("{{ run.nope }}", &s).unwrap_err();
        assert_eq!(e.message, "`run.nope` is not defined in `{{ run.nope }}`");
        s.set_json("token", &json!({"type": "opaque"}));
        s.explain_absent("token.claims", "the token is opaque");
        let e = t.render_str("{{ token.claims.id }}", &s).unwrap_err();
        assert_eq!(e.message, "`token.claims` is not defined in `{{ token.claims.id }}`: the token is opaque");
    }

    /// A bare name looked up directly renders what the engine renders for it.
    #[test]
    fn bare_names_are_the_engines_values() {
        let t = Templates::new();
        let mut sc = scope();
        sc.set_json("obj", &json!({"a": [1, 2.5, null, true, "x"], "b": {}}));
        sc.set_json("f", &json!(2.5));
        sc.set_json("nothing", &json!(null));
        sc.set("flag", false);
        for name in ["sku", "n", "run", "obj", "f", "nothing", "flag"] {
            let direct = t.render_json(&json!(format!("{{{{ {name} }}}}")), &sc).unwrap();
            let engine = t.render_json(&json!(format!("{{{{ ({name}) }}}}")), &sc).unwrap();
            assert_eq!(direct, engine, "{name}");
        }
        for (literal, value) in [("true", json!(true)), ("none", json!(null)), ("False", json!(false))] {
            assert_eq!(t.render_json(&json!(format!("{{{{ {literal} }}}}")), &sc).unwrap(), value, "{literal}");
        }
        assert!(!is_bare_name("run.id") && !is_bare_name("1x") && !is_bare_name("") && is_bare_name("_x1"));
        assert_eq!(t.render_json(&json!("{{ missing }}"), &sc).unwrap_err().variable.as_deref(), Some("missing"));
    }

    #[test]
    fn renders_strings_and_leaves_plain_text_alone() {
        let t = Templates::new();
        assert_eq!(t.render_str("/api/{{ sku }}?r={{ run.id }}", &scope()).unwrap(), "/api/smoke-1?r=r1");
        assert_eq!(t.render_str("no braces & <html>", &scope()).unwrap(), "no braces & <html>");
        assert_eq!(t.render_str("{{ '<a>' }}", &scope()).unwrap(), "<a>");
    }

    #[test]
    fn whole_expressions_keep_native_types() {
        let t = Templates::new();
        let v = t.render_json(&json!({"qty": "{{ n }}", "sku": "{{ sku }}", "label": "n={{ n }}"}), &scope()).unwrap();
        assert_eq!(v, json!({"qty": 3, "sku": "smoke-1", "label": "n=3"}));
    }

    #[test]
    fn undefined_variables_are_errors_that_name_them() {
        let t = Templates::new();
        let e = t.render_str("/api/orders/{{ order_id }}", &scope()).unwrap_err();
        assert_eq!(e.variable.as_deref(), Some("order_id"));
        let e = t.render_json(&json!("{{ order_id }}"), &scope()).unwrap_err();
        assert_eq!(e.variable.as_deref(), Some("order_id"));
        assert!(t.render_str("{{ run.nope }}", &scope()).is_err());
    }

    #[test]
    fn uuid_is_fresh_per_use() {
        let t = Templates::new();
        let out = t.render_str("{{ uuid }} {{ uuid }}", &scope()).unwrap();
        let (a, b) = out.split_once(' ').unwrap();
        assert_ne!(a, b);
        assert!(uuid::Uuid::parse_str(a).is_ok());
        let v = t.render_json(&json!("{{ uuid }}"), &scope()).unwrap();
        assert!(uuid::Uuid::parse_str(v.as_str().unwrap()).is_ok());
    }

    #[test]
    fn lists_variables_and_reports_syntax_errors() {
        let t = Templates::new();
        let vars = t.variables("{{ run.id }}-{{ sku }}").unwrap();
        assert!(vars.contains("run.id") && vars.contains("sku"), "{vars:?}");
        assert!(t.variables("{{ oops ").is_err());
    }

    #[test]
    fn scope_debug_hides_values() {
        let mut s = Scope::default();
        s.set("password", "hunter2-very-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    /// A template is compiled once and rendered in whatever scope it is given; a clone of a scope
    /// shares it until written to, and the write is the clone's alone.
    #[test]
    fn compiled_once_rendered_per_scope_and_scopes_copied_on_write() {
        let t = Templates::new();
        let base = scope();
        let mut other = base.clone();
        other.set("sku", "smoke-2");
        for _ in 0..2 {
            assert_eq!(t.render_str("/api/{{ sku }}", &base).unwrap(), "/api/smoke-1");
            assert_eq!(t.render_str("/api/{{ sku }}", &other).unwrap(), "/api/smoke-2");
            assert_eq!(t.render_json(&json!("{{ n }}"), &base).unwrap(), json!(3));
            assert_eq!(t.render_json(&json!("{{ sku }}"), &other).unwrap(), json!("smoke-2"));
        }
        assert!(t.render_json(&json!("{{ nope }}"), &base).is_err());
        assert_eq!(t.render_json(&json!("{{ '%}' }}"), &base).unwrap(), json!("%}"), "an expression no template can hold");
        let v = other.version();
        other.set_request_id("rid-1");
        assert_eq!(other.version(), v, "a request id changes nothing rendered before it");
        assert_eq!(t.render_str("{{ request.id }}", &other).unwrap(), "rid-1");
        assert!(t.render_str("{{ request.id }}", &base).is_err());
    }
}
