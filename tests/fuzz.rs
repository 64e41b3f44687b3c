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

    /// What `cleanup` reads (journal identities and records, the session cache) and what
    /// `merge` reads (reports), through the real binary: a documented exit code, never a panic.
    #[test]
    fn state_files_and_reports_never_panic(bytes in jsonish()) {
        let p = crate::common::Project::new();
        for dir in ["state/journal", "state/journal/records", "state/sessions"] {
            std::fs::create_dir_all(p.path().join(dir)).unwrap();
        }
        std::fs::write(p.path().join("state/journal/r-x.json"), &bytes).unwrap();
        std::fs::write(p.path().join("state/journal/records/r-y.json"), &bytes).unwrap();
        // The cache file of http://127.0.0.1:9 (its name is a hash of the origin).
        let store = smokegate::run::session::SessionStore::new(&p.path().join("state"));
        std::fs::write(store.path("http://127.0.0.1:9"), &bytes).unwrap();
        std::fs::write(p.path().join("r.json"), &bytes).unwrap();
        let o = p.cmd().args(["cleanup", "--gateway", "http://127.0.0.1:9", "--state-dir"]).arg(p.path().join("state")).timeout(Duration::from_secs(20)).output().unwrap();
        let out = crate::common::text(&o);
        prop_assert!(matches!(o.status.code(), Some(0) | Some(2) | Some(5)), "cleanup: {:?} {out}", o.status.code());
        prop_assert!(!out.contains("panicked"), "{out}");
        let o = p.cmd().args(["merge", "r.json", "--json", "m.json"]).timeout(Duration::from_secs(20)).output().unwrap();
        let out = crate::common::text(&o);
        prop_assert!(matches!(o.status.code(), Some(0..=7)), "merge: {:?} {out}", o.status.code());
        prop_assert!(!out.contains("panicked"), "{out}");
    }
}
