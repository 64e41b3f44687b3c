//! Bad input, generated and collected: the suite and config loaders and the template engine
//! never panic or hang, and every rejection names file:line:column. A bounded proptest run
//! (it runs in CI) plus a corpus of the interesting cases in `tests/corpus/`.

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use smokegate::eval::template::{Scope, Templates};

/// Loads `bytes` as a suite file; an error must point into the file.
fn load_suite(bytes: &[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fuzz.yaml");
    std::fs::write(&file, bytes).unwrap();
    match smokegate::load::suite::load_file(&file) {
        Ok(_) => Ok(()),
        Err(e) => {
            let shown = e.to_string();
            if e.pos.line == 0 || e.pos.col == 0 || !shown.contains("fuzz.yaml:") {
                return Err(format!("an error without file:line:col: {shown}"));
            }
            Ok(())
        }
    }
}

fn load_config(text: &str) -> Result<(), String> {
    match smokegate::load::config::parse(Path::new("smokegate.yaml"), text) {
        Ok(_) => Ok(()),
        Err(e) if e.pos.line >= 1 && e.pos.col >= 1 && e.to_string().contains("smokegate.yaml:") => Ok(()),
        Err(e) => Err(format!("an error without file:line:col: {e}")),
    }
}

/// YAML made of the format's own words, so generated input reaches deep into the decoder.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("steps:"),
        Just("teardown:"),
        Just("\n"),
        Just("\n  "),
        Just("\n  - "),
        Just("\n    "),
        Just("request:"),
        Just("expect:"),
        Just("capture:"),
        Just("json:"),
        Just("status:"),
        Just("path: /api/x"),
        Just("method: POST"),
        Just(" { "),
        Just(" }"),
        Just(" ["),
        Just("]"),
        Just(", "),
        Just(": "),
        Just("$.id"),
        Just("\"{{ id }}\""),
        Just("{{ "),
        Just("{ exists: true }"),
        Just("min_items: 1"),
        Just("auth: user"),
        Just("200"),
        Just("2xx"),
        Just("&a "),
        Just("*a"),
        Just("- "),
        Just("~"),
        Just("'"),
        Just("\""),
        Just("#"),
        Just("\t"),
        Just("gateway:"),
        Just("timeouts: { total: 1s }"),
        Just("max_body: 1KiB"),
    ];
    prop::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_have_positions(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        load_suite(&bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn format_shaped_yaml_never_panics(text in yamlish()) {
        load_suite(text.as_bytes()).map_err(TestCaseError::fail)?;
        load_config(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn templates_never_panic(src in "[a-z{}%# |.()\\[\\]'\"0-9~+-]{0,60}") {
        let t = Templates::new();
        let mut scope = Scope::default();
        scope.set_json("id", &serde_json::json!(7));
        let _ = t.render_str(&src, &scope);
        let _ = t.variables(&src);
        let _ = t.render_json(&serde_json::json!({ "k": src.clone(), src.clone(): [src.clone()] }), &scope);
    }
}

#[test]
fn hostile_templates_stay_bounded() {
    let t = Templates::new();
    let scope = Scope::default();
    for src in [
        "{% for i in range(100000000) %}x{% endfor %}",
        "{{ 'x' * 1000000000 }}",
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
        &"{{ (".repeat(5000),
    ] {
        let start = Instant::now();
        let _ = t.render_str(src, &scope);
        assert!(start.elapsed() < Duration::from_secs(5), "{src:.40}… took {:?}", start.elapsed());
    }
}

#[test]
fn huge_and_deep_files_are_refused_quickly_with_a_position() {
    let deep = format!("steps: {}{}", "[".repeat(200_000), "]".repeat(200_000));
    let mut huge = String::from("steps:\n");
    for i in 0..60_000 {
        huge.push_str(&format!("  - request: {{ path: /api/{i} }}\n    expect: {{ status: 200 }}\n"));
    }
    for text in [deep, huge] {
        let start = Instant::now();
        load_suite(text.as_bytes()).unwrap();
        assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    }
}

#[test]
fn the_corpus_loads_or_fails_with_a_position() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let start = Instant::now();
        load_suite(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Ok(text) = std::str::from_utf8(&bytes) {
            load_config(text).unwrap_or_else(|e| panic!("{} as config: {e}", path.display()));
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{} took {:?}", path.display(), start.elapsed());
        n += 1;
    }
    assert!(n >= 15, "the corpus is there");
}

/// What `cleanup` reads (journal identities and records, the session cache) and what `merge`
/// reads (reports), all holding `bytes`, through the real binary: a documented exit code,
/// never a panic.
fn state_files_never_panic(bytes: &[u8]) -> Result<(), TestCaseError> {
    let p = crate::common::Project::new();
    for dir in ["state/journal", "state/journal/records", "state/sessions"] {
        std::fs::create_dir_all(p.path().join(dir)).unwrap();
    }
    std::fs::write(p.path().join("state/journal/r-x.json"), bytes).unwrap();
    std::fs::write(p.path().join("state/journal/records/r-y.json"), bytes).unwrap();
    // The cache file of http://127.0.0.1:9 (its name is a hash of the origin).
    let store = smokegate::run::session::SessionStore::new(&p.path().join("state"));
    std::fs::write(store.path("http://127.0.0.1:9"), bytes).unwrap();
    std::fs::write(p.path().join("r.json"), bytes).unwrap();
    let o = p
        .cmd()
        .args(["cleanup", "--gateway", "http://127.0.0.1:9", "--state-dir"])
        .arg(p.path().join("state"))
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let out = crate::common::text(&o);
    prop_assert!(matches!(o.status.code(), Some(0) | Some(2) | Some(5)), "cleanup: {:?} {out}", o.status.code());
    prop_assert!(!out.contains("panicked"), "{out}");
    let o = p.cmd().args(["merge", "r.json", "--json", "m.json"]).timeout(Duration::from_secs(20)).output().unwrap();
    let out = crate::common::text(&o);
    prop_assert!(matches!(o.status.code(), Some(0..=7)), "merge: {:?} {out}", o.status.code());
    prop_assert!(!out.contains("panicked"), "{out}");
    Ok(())
}

/// JSON made of the words of the journal, session cache and report formats.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just("{"),
        Just("}"),
        Just("["),
        Just("]"),
        Just(","),
        Just(":"),
        Just("\"version\":1"),
        Just("\"schema_version\":1"),
        Just("\"run_id\":\"r\""),
        Just("\"gateway\":\"http://127.0.0.1:9\""),
        Just("\"email\":\"smoke@example.test\""),
        Just("\"password\":\"pw-123456\""),
        Just("\"created_at\":\"2026-01-01T00:00:00Z\""),
        Just("\"settle_by\":\"not a time\""),
        Just("\"state\":\"pending\""),
        Just("\"state\":\"created\""),
        Just("\"pending\":\"x\""),
        Just("\"method\":\"DELETE\""),
        Just("\"path\":\"/../x\""),
        Just("\"accept\":[\"2xx\",\"9xx\",\"x\"]"),
        Just("\"run\":{}"),
        Just("\"suites\":[]"),
        Just("\"exit_code\":-1"),
        Just("null"),
        Just("1e999"),
        Just("-0"),
        Just("\"\\ud800\""),
        Just("\u{0}"),
    ];
    prop_oneof![prop::collection::vec(token, 0..40).prop_map(|t| t.concat().into_bytes()), prop::collection::vec(any::<u8>(), 0..200),]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn state_files_and_reports_never_panic(bytes in jsonish()) {
        state_files_never_panic(&bytes)?;
    }
}

/// A YAML/JSON document of the formats' own keys holding arbitrary Unicode scalars (any plane,
/// private use, bidi, combining marks, `€`), nested: every decoder must answer with a value or
/// an error, never a panic.
fn unicode_doc() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as J;
    let key = prop_oneof![
        Just("steps".to_owned()),
        Just("teardown".to_owned()),
        Just("request".to_owned()),
        Just("expect".to_owned()),
        Just("status".to_owned()),
        Just("path".to_owned()),
        Just("method".to_owned()),
        Just("json".to_owned()),
        Just("headers".to_owned()),
        Just("capture".to_owned()),
        Just("auth".to_owned()),
        Just("vars".to_owned()),
        Just("eventually".to_owned()),
        Just("schema".to_owned()),
        Just("gateway".to_owned()),
        Just("fingerprint".to_owned()),
        Just("login".to_owned()),
        Just("token".to_owned()),
        Just("scheme".to_owned()),
        Just("openapi".to_owned()),
        Just("paths".to_owned()),
        Just("responses".to_owned()),
        Just("content".to_owned()),
        Just("type".to_owned()),
        Just("$ref".to_owned()),
        Just("min_items".to_owned()),
        Just("matches".to_owned()),
        Just("$.id".to_owned()),
        any::<String>(),
    ];
    let leaf = prop_oneof![
        any::<String>().prop_map(J::String),
        "[0-9x€]{1,4}".prop_map(J::String),
        any::<i64>().prop_map(J::from),
        any::<bool>().prop_map(J::Bool),
        Just(J::Null),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(J::Array),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(|kv| J::Object(kv.into_iter().collect())),
        ]
    })
}

/// `PROPTEST_CASES` when set (a release's longer run), else `default`.
fn release_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Short text that is mostly multi-byte, private-use, bidi or markup: where slicing by bytes breaks.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[0-9a-zx€ü✓ẞ\u{e000}\u{202e}\u{10ffff}.$*{}\\[\\]]{0,4}"]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: release_cases(300), failure_persistence: None, ..ProptestConfig::default() })]

    /// Suites, configs (their vars and auth steps), JSON Schemas and OpenAPI documents made of
    /// arbitrary Unicode: decoded or refused with a position, never a panic. (A longer run for a
    /// release: `PROPTEST_CASES=20000 cargo test --test integration unicode`.)
    #[test]
    fn unicode_documents_never_panic_any_decoder(doc in unicode_doc(), wrap in 0..5u8, s in prop::collection::vec(scalar(), 8)) {
        let doc = match wrap {
            0 => doc,
            1 => serde_json::json!({ "steps": [doc] }),
            2 => serde_json::json!({ "steps": [{ "request": { "path": "/x" }, "expect": doc }] }),
            // Every slot of a well-formed suite and config filled with short Unicode text.
            3 => serde_json::json!({
                "steps": [{ "request": { "path": "/x" }, "expect": { "status": s[2] } },
                          { "request": { "method": s[0], "path": s[1] }, "expect": { "json": { s[3].clone(): s[4] }, "max_ms": s[5] }, "capture": { "x": s[6] } }],
            }),
            _ => serde_json::json!({
                "auth": { "scheme": s[7], "header": s[0], "login": { "token": s[3], "request": { "path": s[1] } } },
                "gateway": { "fingerprint": { "header": s[4] }, "ready_path": s[5] },
                "vars": { s[6].clone(): s[2] },
            }),
        };
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let result = std::panic::catch_unwind(|| {
            let _ = load_suite(text.as_bytes());
            let _ = load_config(&text);
            let _ = smokegate::load::contract::compile(&doc);
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("openapi.json");
            std::fs::write(&f, &text).unwrap();
            let _ = smokegate::load::contract::OpenApi::load(&f);
            // A `--vars-file` is decoded as a map of vars.
            if let Ok(root) = smokegate::load::yaml::parse(&f, &text) {
                let _ = smokegate::load::suite::decode_vars(smokegate::load::yaml::Ctx { file: &f }, &root);
            }
        });
        prop_assert!(result.is_ok(), "a decoder panicked on {text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: release_cases(24).min(200), failure_persistence: None, ..ProptestConfig::default() })]

    /// Journal entries, records, the session cache and reports holding arbitrary Unicode,
    /// through `cleanup` and `merge`: a documented exit code, never a panic.
    #[test]
    fn unicode_state_files_and_reports_never_panic(doc in unicode_doc()) {
        state_files_never_panic(&serde_json::to_vec(&doc).unwrap())?;
    }
}
