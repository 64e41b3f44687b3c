//! Breadcrumb headers on the wire, and the report files (JSON, JUnit, JSON lines, GitHub
//! Actions), each parsed back; plus the redaction sweep across every output at once.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

const SUITE: &str = "\
name: reports
steps:
  - name: profile
    request: { path: /api/profile }
    capture:
      api_key: $.api_key
  - name: use the key
    request:
      path: /api/keyed
      headers: { X-Api-Key: \"{{ api_key }}\" }
    expect:
      json:
        $.echo: expected-value
teardown:
  - name: tidy up
    request: { method: DELETE, path: /api/keyed }
    expect: { status: [204, 404] }
";

const API_KEY: &str = "captured-api-key-9f8e7d";

/// A gateway whose answers carry secrets back: the captured key, and the bearer token itself.
struct Hostile;

impl wiremock::Respond for Hostile {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let auth = req.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        ResponseTemplate::new(200)
            .insert_header("x-request-id", "gw-chosen-id")
            .insert_header("x-served-by", "keyed-svc-7")
            .insert_header("set-cookie", "sid=set-cookie-secret")
            .set_body_json(json!({"echo": auth, "key_seen": req.headers.get("x-api-key").map(|v| v.to_str().unwrap().to_owned())}))
    }
}

struct Files {
    json: std::path::PathBuf,
    junit: std::path::PathBuf,
    log: std::path::PathBuf,
    summary: std::path::PathBuf,
}

async fn run_with_every_output(server: &MockServer, p: &Project, extra_env: &[(&str, &str)]) -> (std::process::Output, Files) {
    p.write("smoke-suites/reports.yaml", SUITE);
    let out = p.path().join("out");
    let f = Files { json: out.join("r.json"), junit: out.join("r.xml"), log: out.join("log.jsonl"), summary: out.join("summary.md") };
    let (j, x, l) = (f.json.display().to_string(), f.junit.display().to_string(), f.log.display().to_string());
    let mut c = p.run(&server.uri(), &["-v", "--json", &j, "--junit", &x, "--log-file", &l]);
    c.env("GITHUB_ACTIONS", "true").env("GITHUB_STEP_SUMMARY", &f.summary);
    for (k, v) in extra_env {
        c.env(k, v);
    }
    (output(c).await, f)
}

async fn hostile_gateway() -> (MockServer, String) {
    let server = MockServer::start().await;
    let token = auth_ok(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/profile"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"api_key": API_KEY})))
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path("/api/keyed")).respond_with(Hostile).mount(&server).await;
    Mock::given(method("DELETE")).and(path("/api/keyed")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    (server, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn json_report_is_versioned_complete_and_valid_against_the_shipped_schema() {
    let (server, _) = hostile_gateway().await;
    let p = Project::new();
    let (o, f) = run_with_every_output(&server, &p, &[]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&f.json).unwrap()).unwrap();
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/report.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&report).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");

    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["run"]["exit_code"], 1);
    assert_eq!((report["run"]["passed"].as_u64(), report["run"]["failed"].as_u64()), (Some(1), Some(1)));
    let steps = report["suites"][0]["steps"].as_array().unwrap();
    let failed = &steps[1];
    assert_eq!(failed["failure_class"], "assertion");
    assert_eq!(failed["line"], 7, "the step's line in its file");
    let crumb = &failed["breadcrumbs"][0];
    assert_eq!(crumb["phase"], "step");
    assert_eq!(crumb["echoed_request_id"], "gw-chosen-id", "a differing echoed id is kept beside ours");
    assert_ne!(crumb["request_id"], "gw-chosen-id");
    assert_eq!(crumb["upstream"], "x-served-by: keyed-svc-7");
    for key in
        ["time", "run_id", "trace_id", "span_id", "suite", "step", "method", "path", "status", "ttfb_ms", "total_ms", "attempt", "outcome"]
    {
        assert!(!crumb[key].is_null(), "breadcrumb field {key} is missing: {crumb}");
    }
    assert_eq!(steps[2]["kind"], "teardown");
    assert_eq!(steps[2]["outcome"], "passed");
    let phases: Vec<&str> = report["breadcrumbs"].as_array().unwrap().iter().map(|c| c["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["bootstrap.create", "bootstrap.login", "cleanup", "cleanup.verify"]);
    assert_eq!(report["cleanup"]["deleted"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn junit_log_file_and_github_outputs_parse_back() {
    let (server, _) = hostile_gateway().await;
    let p = Project::new();
    let (o, f) = run_with_every_output(&server, &p, &[]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&f.json).unwrap()).unwrap();
    let rid = report["suites"][0]["steps"][1]["breadcrumbs"][0]["request_id"].as_str().unwrap().to_owned();

    // JUnit: parsed back with an XML reader.
    let xml = std::fs::read_to_string(&f.junit).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut suites, mut cases, mut failures) = (Vec::new(), 0, Vec::new());
    let (mut in_failure, mut failure_text) = (false, String::new());
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                let attr = |n: &str| {
                    e.try_get_attribute(n).unwrap().map(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).unwrap().into_owned())
                };
                match e.name().as_ref() {
                    b"testsuite" => suites.push(attr("name").unwrap()),
                    b"testcase" => cases += 1,
                    b"failure" => {
                        failures.push((attr("type").unwrap(), attr("message").unwrap()));
                        in_failure = true;
                    }
                    _ => {}
                }
            }
            quick_xml::events::Event::End(e) if e.name().as_ref() == b"failure" => in_failure = false,
            // Text arrives in pieces around entity references.
            quick_xml::events::Event::Text(t) if in_failure => failure_text.push_str(&t.decode().unwrap()),
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert!(failure_text.contains("expected-value") && failure_text.contains("at smoke-suites/reports.yaml:7"), "{failure_text}");
    assert_eq!(suites, ["reports", "smokegate"], "one testsuite per suite file, plus the run's own");
    assert_eq!(cases, 4, "2 steps, 1 teardown, 1 cleanup");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, "assertion");
    assert!(failures[0].1.contains(&rid), "the failure message carries the reqId: {:?}", failures[0]);
    assert!(xml.contains("<system-out>") && xml.contains("upstream x-served-by: keyed-svc-7"), "{xml}");

    // --log-file: one JSON object per line; every request is there with its phase.
    let log = std::fs::read_to_string(&f.log).unwrap();
    let lines: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["event"] == "request").collect();
    let phases: Vec<&str> = requests.iter().map(|r| r["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["bootstrap.create", "bootstrap.login", "step", "step", "teardown", "cleanup", "cleanup.verify"]);
    assert!(requests.iter().all(|r| uuid::Uuid::parse_str(r["request_id"].as_str().unwrap()).unwrap().get_version_num() == 7));
    assert_eq!(lines.last().unwrap()["event"], "run_finished");

    // GitHub Actions: an annotation on the step's line, and the job summary.
    let stdout = String::from_utf8_lossy(&o.stdout);
    let annotation = stdout.lines().find(|l| l.starts_with("::error ")).expect("an ::error line");
    assert!(
        annotation.starts_with("::error file=smoke-suites/reports.yaml,line=7,title=reports › use the key (assertion)::"),
        "{annotation}"
    );
    assert!(annotation.contains(&rid) && annotation.contains("%0A"), "{annotation}");
    let summary = std::fs::read_to_string(&f.summary).unwrap();
    assert!(summary.contains("## smokegate: ❌ failed (exit 1)"), "{summary}");
    assert!(summary.contains("| reports | `smoke-suites/reports.yaml` | 1 | 1 | 0 |"), "{summary}");
    assert!(summary.contains(&rid) && summary.contains("deleted test user `smoke+"), "{summary}");
}

/// The promise: at maximum verbosity, with every report and `RUST_LOG=trace`, neither the
/// token, nor the password, nor a captured secret, nor a cookie reaches any byte of any output,
/// even when the gateway echoes them back.
#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_any_output_at_any_verbosity() {
    let (server, token) = hostile_gateway().await;
    let p = Project::new();
    let (o, f) = run_with_every_output(&server, &p, &[("RUST_LOG", "trace")]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("TRACE") && stderr.contains("hyper"), "trace logging is really on");
    let password = sent_password(&server).await.unwrap();
    let secrets = [token.as_str(), password.as_str(), API_KEY, "set-cookie-secret"];
    assert_no_secrets(&o, &secrets);
    for file in [&f.json, &f.junit, &f.log, &f.summary] {
        let bytes = std::fs::read_to_string(file).unwrap();
        for s in secrets {
            assert!(!bytes.contains(s), "{} leaks a secret:\n{bytes}", file.display());
        }
    }
    // The secrets did go over the wire, where they belong.
    let keyed = hits(&server, "GET", "/api/keyed").await;
    assert_eq!(keyed[0].headers.get("x-api-key").unwrap(), API_KEY);
    // And the journal, the one place the password must be, is gone after cleanup...
    assert!(p.journal_files().is_empty());
    // ...and while it holds the password, it is readable by its owner only.
    let o = output(p.run(&server.uri(), &["--keep-user"])).await;
    let files = p.journal_files();
    assert_eq!(files.len(), 1, "{}", text(&o));
    assert_eq!(mode_of(&files[0]), 0o600);
    assert_eq!(mode_of(&p.state().join("journal")), 0o700);
    let entry: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert!(entry["password"].as_str().is_some_and(|p| p.len() >= 24), "the password is there, where cleanup needs it");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_retry_gets_a_new_request_id_under_the_configured_header() {
    let server = MockServer::start().await;
    create_and_login(&server).await;
    delete_fails_then_succeeds(&server, 503, 2).await;
    Mock::given(method("GET")).and(path("/api/me")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", "steps:\n  - request: { path: /api/me }\n");
    p.write("smoke-suites/smokegate.yaml", "gateway:\n  request_id_header: X-Correlation-Id\n");
    let log = p.path().join("log.jsonl");
    let o = output(p.run(&server.uri(), &["--log-file", log.to_str().unwrap()])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = server.received_requests().await.unwrap();
    let ids: Vec<String> = all.iter().map(|r| r.headers.get("x-correlation-id").unwrap().to_str().unwrap().to_owned()).collect();
    assert!(all.iter().all(|r| r.headers.get("x-request-id").is_none()), "the configured header replaces the default");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "every request, each retry included, has its own id");
    let traces: Vec<String> = all.iter().map(|r| r.headers.get("traceparent").unwrap().to_str().unwrap()[3..35].to_owned()).collect();
    assert!(traces.windows(2).all(|w| w[0] == w[1]), "one trace per run");
    let attempts: Vec<u64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["event"] == "request" && l["phase"] == "cleanup")
        .map(|l| l["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn github_annotations_only_under_github_actions() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/health")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    let p = Project::new();
    p.write("smoke-suites/h.yaml", "auth: none\nsteps:\n  - name: health\n    request: { path: /health }\n");
    let o = output(p.run(&server.uri(), &[])).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(!text(&o).contains("::error"), "{}", text(&o));
    let mut c = p.run(&server.uri(), &[]);
    c.env("GITHUB_ACTIONS", "true");
    let o = output(c).await;
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("::error file=smoke-suites/h.yaml,line=3,title=h › health (server-error)::"),
        "{}",
        text(&o)
    );
}
