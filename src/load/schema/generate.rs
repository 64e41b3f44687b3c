//! The generator of the committed JSON Schemas: document types described with schemars. Only
//! the unit tests build it; they fail when a file under `schemas/` is not what it generates.
//!
//! Suites and config are read by a position-tracking loader (for file:line:col errors), not by
//! serde, so the file formats are described here by document-only types. A unit test keeps
//! these types and the loader's key lists identical, so the schema cannot drift from what loads.

#![expect(dead_code, reason = "the fields exist to be described, never read")]

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::Value;

use super::KINDS;

mod auth;
use auth::AuthDoc;

/// A smoke suite: steps run in order through the gateway, then teardown steps, always.
#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(title = "smokegate suite")]
pub struct SuiteDoc {
    #[serde(rename = "$schema")]
    schema: Option<String>,
    /// Defaults to the file name without its extension.
    name: Option<String>,
    /// Select suites with `--tag`.
    tags: Option<Vec<String>>,
    /// Default auth of the steps: `user` sends the run user's token; `admin` the token of
    /// `auth.admin`; `none` sends none.
    auth: Option<AuthMode>,
    /// Replay each passing authenticated GET/HEAD/OPTIONS step without valid credentials.
    auth_probe: Option<bool>,
    /// Variables for templates (`{{ name }}` or `{{ vars.name }}`); values may be templates.
    vars: Option<BTreeMap<String, Value>>,
    steps: Vec<StepDoc>,
    /// Runs after the steps whatever happened (failures, timeouts, Ctrl-C).
    teardown: Option<Vec<StepDoc>>,
    /// Later steps still run after a failed one; those needing a capture it never made fail as
    /// `capture`.
    continue_on_failure: Option<bool>,
}

#[derive(JsonSchema, Serialize)]
#[serde(rename_all = "lowercase")]
enum AuthMode {
    User,
    None,
    /// The token of `auth.admin`.
    Admin,
    /// Signed with AWS SigV4 (`auth.aws`): the config's lifecycle steps only; a suite refuses it.
    Aws,
}

/// A suite step: a lifecycle step's keys and `delay`.
#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StepDoc {
    #[serde(flatten)]
    step: LifecycleStepDoc,
    /// Wait this long before the step's first request (`500ms`, `2s`).
    delay: Option<DurationDoc>,
}

/// A step of the auth lifecycle (create, login, cleanup, verify, refresh, the admin's login).
#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleStepDoc {
    name: Option<String>,
    request: RequestDoc,
    expect: Option<ExpectDoc>,
    /// Name → JSONPath into the body, or `{ header: Name }` / `{ json: $.path }`.
    capture: Option<BTreeMap<String, CaptureDoc>>,
    auth: Option<AuthMode>,
    auth_probe: Option<bool>,
    /// Follow same-origin redirects (at most 5); another origin fails with `off-gateway`.
    follow_redirects: Option<bool>,
    /// Re-send until `expect` holds, for at most `within`; stop at once, red, when `unless`
    /// holds. Every attempt is a new request with its own reqId.
    eventually: Option<EventuallyDoc>,
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct EventuallyDoc {
    within: DurationDoc,
    /// Default 250ms.
    every: Option<DurationDoc>,
    /// A terminal state: when it holds, the step fails at once.
    unless: Option<ExpectDoc>,
}

/// HTTP method (case-insensitive).
#[derive(JsonSchema, Serialize)]
#[schemars(schema_with = "method_schema")]
struct Method(String);

fn method_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": "^(?i)(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)$"})
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct RequestDoc {
    /// Default GET.
    method: Option<Method>,
    /// Relative to the gateway (`/api/orders?x=1`); an absolute URL must be on the gateway's origin.
    path: Option<String>,
    /// Same as `path`.
    url: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    /// JSON body (templates allowed in keys and values).
    json: Option<Value>,
    /// Raw text body.
    body: Option<String>,
    /// Sent as `application/x-www-form-urlencoded` (templates allowed in values).
    form: Option<BTreeMap<String, Value>>,
    follow_redirects: Option<bool>,
    /// Overrides `--timeout` for this request.
    timeout: Option<DurationDoc>,
}

/// A duration like `500ms`, `10s`, `1h`, or milliseconds as an integer.
#[derive(JsonSchema, Serialize)]
#[serde(untagged)]
enum DurationDoc {
    Text(String),
    Millis(u64),
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct ExpectDoc {
    /// A code (201), a list ([200, 204]) or a class ("2xx"). Absent: any 2xx.
    status: Option<StatusDoc>,
    headers: Option<BTreeMap<String, ValueMatcher>>,
    /// JSONPath → literal or matcher.
    json: Option<BTreeMap<String, ValueMatcher>>,
    body: Option<ValueMatcher>,
    max_ms: Option<u64>,
    /// Accept a 501 / "not implemented" answer (a known stub).
    allow_stub: Option<bool>,
    /// A JSON Schema file (2020-12, 2019-09, draft-07, -06, -04), relative to the suite, that the
    /// body must satisfy; a violation fails as `schema`.
    schema: Option<String>,
    /// `false`: this step's response is not checked against the config's OpenAPI document.
    openapi: Option<bool>,
}

#[derive(JsonSchema, Serialize)]
#[serde(untagged)]
enum StatusDoc {
    One(StatusItem),
    Many(Vec<StatusItem>),
}

#[derive(JsonSchema, Serialize)]
#[schemars(schema_with = "status_item_schema")]
struct StatusItem(Value);

fn status_item_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"anyOf": [
        {"type": "integer", "minimum": 100, "maximum": 599},
        {"type": "string", "pattern": "^[1-5][xX][xX]$"}
    ]})
}

#[derive(JsonSchema, Serialize)]
#[serde(untagged)]
enum CaptureDoc {
    /// JSONPath into the body.
    Path(String),
    Source(CaptureSource),
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct CaptureSource {
    json: Option<String>,
    header: Option<String>,
    /// `body: true`: the whole body as text (usually with `regex`).
    body: Option<bool>,
    /// `status: true`: the status code, a number.
    status: Option<bool>,
    /// Accept a JSON `null` as the captured value (otherwise `null` fails the step as `capture`).
    nullable: Option<bool>,
    /// Keep the first group of this regex (or the whole match without groups); no match fails
    /// the step as `capture`.
    regex: Option<String>,
}

/// A literal (scalar or list: equality) or a matcher mapping (every key must hold).
#[derive(JsonSchema, Serialize)]
#[schemars(schema_with = "value_matcher_schema")]
struct ValueMatcher(Value);

fn value_matcher_schema(generator: &mut SchemaGenerator) -> Schema {
    let matcher = generator.subschema_for::<MatcherDoc>();
    json_schema!({"anyOf": [
        {"not": {"type": "object"}},
        matcher
    ]})
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct MatcherDoc {
    exists: Option<bool>,
    /// Equality with any value, objects included.
    equals: Option<Value>,
    /// Substring, array element or object key.
    contains: Option<Value>,
    /// Regular expression.
    matches: Option<String>,
    #[serde(rename = "type")]
    ty: Option<crate::load::matcher::JsonType>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    gt: Option<Value>,
    gte: Option<Value>,
    lt: Option<Value>,
    lte: Option<Value>,
    one_of: Option<Vec<Value>>,
    not: Option<Box<ValueMatcher>>,
}

/// The project config file (`smoke-suites/smokegate.yaml` or `--config`).
#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schemars(title = "smokegate config")]
pub struct ConfigDoc {
    #[serde(rename = "$schema")]
    schema: Option<String>,
    gateway: Option<GatewayDoc>,
    auth: Option<AuthDoc>,
    timeouts: Option<TimeoutsDoc>,
    /// Phrases that mark a stub's answer, matched as words (case, punctuation and camelCase
    /// ignored) in a text body or the error-shaped fields of a JSON body.
    stub_phrases: Option<Vec<String>>,
    /// Names of environment variables, vars and captures whose values are secrets: masked in
    /// every output like the token.
    secrets: Option<Vec<String>>,
    vars: Option<BTreeMap<String, Value>>,
    /// Largest response body kept for assertions, e.g. `10MiB`, or bytes.
    max_body: Option<SizeDoc>,
    /// An OpenAPI 3.0 or 3.1 document (relative to this file): every response is checked against
    /// its operation's schema for the status; the run reports how many operations it exercised.
    openapi: Option<String>,
}

#[derive(JsonSchema, Serialize)]
#[serde(untagged)]
enum SizeDoc {
    Text(String),
    Bytes(u64),
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct GatewayDoc {
    /// Used when neither `--gateway` nor `GATEWAY_BASE_URL` is set.
    base_url: Option<String>,
    allow_http: Option<bool>,
    /// Environment variable name patterns that must not hold a value (direct service URLs).
    deny_env: Option<Vec<String>>,
    /// A header every response must carry, else `off-gateway`.
    fingerprint: Option<FingerprintDoc>,
    request_id_header: Option<String>,
    /// Response headers that name the upstream, first present wins.
    upstream_headers: Option<Vec<String>>,
    /// Readiness route for `--wait-ready` (default /health/ready).
    ready_path: Option<String>,
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct FingerprintDoc {
    header: String,
    value: Option<ValueMatcher>,
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct TimeoutsDoc {
    connect: Option<DurationDoc>,
    total: Option<DurationDoc>,
}

/// The schema for `what`: `suite`, `config` or `report`.
pub fn generate(what: &str) -> Option<Value> {
    let (schema, files) = match what {
        "suite" => (schemars::schema_for!(SuiteDoc), true),
        "config" => (schemars::schema_for!(ConfigDoc), true),
        "report" => (schemars::schema_for!(crate::report::model::Report), false),
        _ => return None,
    };
    let mut v = serde_json::to_value(schema).ok()?;
    if files {
        // In a file, an absent key is how one says "default"; the loader does not accept `null`.
        strip_null(&mut v);
    }
    Some(v)
}

/// Removes the `null` alternative schemars adds for `Option` fields.
fn strip_null(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Array(types)) = o.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    o.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(alts)) = o.get_mut("anyOf") {
                alts.retain(|a| a.get("type").and_then(Value::as_str) != Some("null") || a.as_object().is_some_and(|m| m.len() > 1));
                if alts.len() == 1 {
                    let only = alts.remove(0);
                    o.remove("anyOf");
                    if let Value::Object(inner) = only {
                        for (k, x) in inner {
                            o.entry(k).or_insert(x);
                        }
                    }
                }
            }
            o.values_mut().for_each(strip_null);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(schema: &Value, def: Option<&str>) -> Vec<String> {
        let node = match def {
            None => schema,
            Some(d) => &schema["$defs"][d],
        };
        let mut keys: Vec<String> = node["properties"].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut k: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    }

    #[test]
    fn schemas_list_exactly_the_keys_the_loader_accepts() {
        let suite = generate("suite").unwrap();
        assert_eq!(props(&suite, None), sorted(crate::load::suite::SUITE_KEYS));
        assert_eq!(props(&suite, Some("StepDoc")), sorted(crate::load::suite::STEP_KEYS));
        assert_eq!(props(&suite, Some("RequestDoc")), sorted(crate::load::suite::REQUEST_KEYS));
        assert_eq!(props(&suite, Some("ExpectDoc")), sorted(crate::load::suite::EXPECT_KEYS));
        assert_eq!(props(&suite, Some("CaptureSource")), sorted(crate::load::suite::CAPTURE_KEYS));
        assert_eq!(props(&suite, Some("EventuallyDoc")), sorted(crate::load::suite::EVENTUALLY_KEYS));
        assert_eq!(props(&suite, Some("MatcherDoc")), sorted(crate::load::matcher::MATCHER_KEYS));
        let config = generate("config").unwrap();
        assert_eq!(props(&config, None), sorted(crate::load::config::CONFIG_KEYS));
        assert_eq!(props(&config, Some("GatewayDoc")), sorted(crate::load::config::GATEWAY_KEYS));
        assert_eq!(props(&config, Some("AuthDoc")), sorted(crate::load::config::AUTH_KEYS));
        // A lifecycle step takes a suite step's keys but `delay`.
        let lifecycle: Vec<&str> = crate::load::suite::STEP_KEYS.iter().copied().filter(|k| *k != "delay").collect();
        let mut login = sorted(&lifecycle);
        login.extend(crate::load::config::LOGIN_KEYS.iter().map(|k| k.to_string()));
        login.sort();
        assert_eq!(props(&config, Some("LoginStepDoc")), login);
        assert_eq!(props(&config, Some("AdminDoc")), sorted(crate::load::config::ADMIN_KEYS));
        assert_eq!(props(&config, Some("LifecycleStepDoc")), sorted(&lifecycle));
    }

    #[test]
    fn committed_schemas_are_up_to_date() {
        for kind in KINDS {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/{kind}.schema.json"));
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            let fresh = serde_json::to_string_pretty(&generate(kind).unwrap()).unwrap() + "\n";
            if std::env::var_os("UPDATE_SCHEMAS").is_some() {
                std::fs::write(&path, &fresh).unwrap();
                continue;
            }
            assert!(committed == fresh, "{} is stale: run `UPDATE_SCHEMAS=1 cargo test committed_schemas`", path.display());
        }
    }

    fn validate(kind: &str, yaml: &str) -> Vec<String> {
        let doc = crate::load::yaml::parse(std::path::Path::new("x.yaml"), yaml).unwrap().to_json();
        let schema = generate(kind).unwrap();
        let v = jsonschema::validator_for(&schema).unwrap();
        v.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect()
    }

    #[test]
    fn bundled_suites_and_the_config_contract_validate() {
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/smoke-suites")).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let kind = match path.file_name().and_then(|n| n.to_str()) {
                Some("smokegate.yaml") => "config",
                Some("openapi.yaml") => continue,
                _ => "suite",
            };
            assert_eq!(validate(kind, &text), Vec::<String>::new(), "{}", path.display());
        }
        let suite = include_str!("../../../tests/fixtures/contract-suite.yaml");
        assert_eq!(validate("suite", suite), Vec::<String>::new());
        for config in [
            include_str!("../../../tests/fixtures/contract-client-credentials.yaml"),
            include_str!("../../../tests/fixtures/contract-api-key.yaml"),
            include_str!("../../../tests/fixtures/contract-real-stacks.yaml"),
            include_str!("../../../tests/fixtures/contract-admin.yaml"),
            include_str!("../../../tests/fixtures/contract-register-204.yaml"),
            include_str!("../../../tests/fixtures/contract-cognito.yaml"),
            include_str!("../../../tests/fixtures/contract-cognito-service.yaml"),
        ] {
            assert_eq!(validate("config", config), Vec::<String>::new(), "{config}");
        }
        let config = format!(
            "{}gateway:\n  fingerprint: {{ header: X-Gateway, value: {{ matches: \"^gw-\" }} }}\nmax_body: 10MiB\n",
            crate::load::config::tests::CONTRACT
        );
        assert_eq!(validate("config", &config), Vec::<String>::new());
    }

    #[test]
    fn schemas_reject_what_the_loader_rejects() {
        assert!(
            !validate(
                "suite",
                "steps:
  - request: { path: /x }
    expct: {}
"
            )
            .is_empty(),
            "unknown key"
        );
        assert!(
            !validate(
                "suite",
                "steps:
  - request: { path: /x }
    expect: { status: 2000 }
"
            )
            .is_empty(),
            "bad status"
        );
        assert!(
            !validate(
                "suite",
                "steps:
  - request: { path: /x }
    expect: { json: { $.a: { exist: true } } }
"
            )
            .is_empty()
        );
        assert!(
            validate(
                "suite",
                "steps:
  - request: { method: get, path: /x }
    expect: { status: 2xx, json: { $.a: null } }
"
            )
            .is_empty()
        );
        assert!(
            !validate(
                "config",
                "auth: { mode: disposible }
"
            )
            .is_empty()
        );
    }
}
