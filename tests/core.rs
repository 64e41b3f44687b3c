//! The suite format, the run's behaviour and its exit codes, through the real binary.

use serde_json::json;
use wiremock::matchers::{header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

/// The suite contract of issue #2, verbatim (one file, shared with the unit and schema tests).
pub const CONTRACT_SUITE: &str = include_str!("fixtures/contract-suite.yaml");

/// Echoes the posted sku back with an id, like a real create.
struct EchoCreate;

impl wiremock::Respond for EchoCreate {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        ResponseTemplate::new(201).set_body_json(json!({"id": "ord-1", "sku": body["sku"], "qty": body["qty"]}))
    }
}

async fn orders_api(server: &MockServer, list: serde_json::Value) {
    Mock::given(method("POST")).and(path("/api/orders")).respond_with(EchoCreate).mount(server).await;
    Mock::given(method("GET")).and(path("/api/orders")).respond_with(ResponseTemplate::new(200).set_body_json(list)).mount(server).await;
    Mock::given(method("DELETE")).and(path("/api/orders/ord-1")).respond_with(ResponseTemplate::new(204)).mount(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_contract_suite_runs_green_with_auth_and_breadcrumb_headers() {
    let server = MockServer::start().await;
    let token = auth_ok(&server).await;
    orders_api(&server, json!([{"id": "ord-1"}])).await;
    let p = Project::new();
    p.write("smoke-suites/orders.yaml", CONTRACT_SUITE);
    let o = output(p.run(&server.uri(), &[])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("✓ create an order · 201"), "{out}");
    assert!(out.contains("✓ teardown delete the order · 204"), "{out}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");

    let created = hits(&server, "POST", "/api/orders").await;
    assert_eq!(created.len(), 1);
    let req = &created[0];
    assert_eq!(req.headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {token}"));
    assert_eq!(req.headers.get("x-client").unwrap(), "smoke");
    let rid = uuid::Uuid::parse_str(req.headers.get("x-request-id").unwrap().to_str().unwrap()).unwrap();
    assert_eq!(rid.get_version_num(), 7, "request ids are UUIDv7");
    let tp = req.headers.get("traceparent").unwrap().to_str().unwrap();
    assert!(regex::Regex::new("^00-[0-9a-f]{32}-[0-9a-f]{16}-01$").unwrap().is_match(tp), "{tp}");
    let ua = req.headers.get("user-agent").unwrap().to_str().unwrap();
    assert!(ua.starts_with("smokegate/") && ua.contains("(+run "), "{ua}");
    let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert!(sent["sku"].as_str().unwrap().starts_with("smoke-"));
    assert_eq!(sent["qty"], 1);

    // The user was deleted with its own token, and the journal is empty again.
    let del = hits(&server, "DELETE", DELETE_USER).await;
    assert_eq!(del.len(), 1);
    assert!(del[0].headers.get("authorization").is_some());
    assert!(p.journal_files().is_empty(), "{:?}", p.journal_files());
    let password = sent_password(&server).await.unwrap();
    assert!(password.len() >= 24);
    assert_no_secrets(&o, &[&token, &password]);
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_data_fails_and_teardown_still_runs() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    orders_api(&server, json!([])).await;
    let p = Project::new();
    p.write("smoke-suites/orders.yaml", CONTRACT_SUITE);
    let o = output(p.run(&server.uri(), &[])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("✗ orders are listed · 200"), "{out}");
    assert!(out.contains("assertion"), "{out}");
    assert!(out.contains("$: expected at least 1 item, got an array of 0 items"), "{out}");
    assert!(out.contains("reqId "), "the failure names its request id: {out}");
    assert_eq!(hits(&server, "DELETE", "/api/orders/ord-1").await.len(), 1, "teardown ran after the failure");
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 1, "the user was deleted after the failure");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_step_stops_the_rest_of_its_suite_but_not_other_suites() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/a")).respond_with(ResponseTemplate::new(404)).mount(&server).await;
    Mock::given(method("GET")).and(path("/b")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let p = Project::new();
    p.write("s/one.yaml", "auth: none\nsteps:\n  - request: { path: /a }\n  - request: { path: /b }\n");
    p.write("s/two.yaml", "auth: none\nsteps:\n  - request: { path: /b }\n");
    let o = output(p.run(&server.uri(), &["s", "--jobs", "1"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    // The step that never ran is not verified: a failure of its own class, never a skip.
    assert!(out.contains("1 passed, 2 failed"), "{out}");
    assert!(out.contains("not run: an earlier step failed") && out.contains("· not-run"), "{out}");
    assert_eq!(hits(&server, "GET", "/b").await.len(), 1, "only suite two reached /b: {out}");

    // --fail-fast starts no further suite.
    let server2 = MockServer::start().await;
    Mock::given(method("GET")).and(path("/a")).respond_with(ResponseTemplate::new(404)).mount(&server2).await;
    Mock::given(method("GET")).and(path("/b")).respond_with(ResponseTemplate::new(200)).mount(&server2).await;
    let o = output(p.run(&server2.uri(), &["s", "--jobs", "1", "--fail-fast"])).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(hits(&server2, "GET", "/b").await.len(), 0, "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_suites_create_no_user() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/health/live"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write(
        "smoke-suites/health.yaml",
        "auth: none\nsteps:\n  - request: { path: /health/live }\n    expect: { json: { $.status: ok } }\n",
    );
    let o = output(p.run(&server.uri(), &[])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = server.received_requests().await.unwrap();
    assert_eq!(all.len(), 1, "no create/login for anonymous suites");
    assert!(all[0].headers.get("authorization").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_steps_ran_is_a_failure() {
    let server = MockServer::start().await;
    let p = Project::new();
    p.write("smoke-suites/h.yaml", "auth: none\ntags: [health]\nsteps:\n  - request: { path: /health/live }\n");
    let o = output(p.run(&server.uri(), &["--tag", "nope"])).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no steps ran"), "{}", text(&o));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[test]
fn suite_errors_exit_2_with_file_line_and_column() {
    let p = Project::new();
    p.write("smoke-suites/bad.yaml", "steps:\n  - request: { path: /a }\n    expcet: { status: 200 }\n");
    let o = p.run("http://127.0.0.1:9", &[]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("unknown key `expcet` in a step"), "{out}");
    assert!(out.contains("bad.yaml:3:5"), "{out}");
    assert!(out.contains("did you mean `expect`?"), "{out}");
    assert!(!out.contains("panicked"));
}

#[test]
fn check_validates_offline() {
    let p = Project::new();
    p.write("smoke-suites/orders.yaml", CONTRACT_SUITE);
    let o = p.cmd().arg("check").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("ok: 1 suite, 3 steps"), "{}", text(&o));

    p.write("smoke-suites/typo.yaml", "steps:\n  - request: { path: \"/api/orders/{{ ordr_id }}\" }\n");
    let o = p.cmd().arg("check").output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("`ordr_id` can never be defined here"), "{out}");
    assert!(out.contains("typo.yaml:2:"), "{out}");

    std::fs::remove_file(p.path().join("smoke-suites/typo.yaml")).unwrap();
    p.write("smoke-suites/rel.yaml", "steps:\n  - request: { path: api/orders }\n");
    let o = p.cmd().arg("check").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("not a gateway-relative path"), "{}", text(&o));
}

#[test]
fn help_lists_exit_codes_and_completions_work() {
    let p = Project::new();
    let o = p.cmd().arg("--help").output().unwrap();
    let out = text(&o);
    assert!(out.contains("Exit codes:") && out.contains("130"), "{out}");
    let o = p.cmd().args(["completions", "bash"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("smokegate"));
    let o = p.cmd().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("smokegate "));
}

#[test]
fn gateway_urls_are_validated() {
    let p = Project::new();
    p.write("smoke-suites/h.yaml", "auth: none\nsteps:\n  - request: { path: /h }\n");
    let o = p.cmd().arg("run").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("GATEWAY_BASE_URL"), "{}", text(&o));
    let o = p.cmd().arg("run").env("GATEWAY_BASE_URL", "not a url").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = p.cmd().arg("run").env("GATEWAY_BASE_URL", "https://user:pw@gw.example").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!text(&o).contains("pw@"), "credentials are not echoed");
    let o = p.cmd().arg("run").env("GATEWAY_BASE_URL", "http://gw.example.com").output().unwrap();
    assert_eq!(o.status.code(), Some(6), "plain http off loopback is refused");
    assert!(text(&o).contains("--allow-http"));
}

#[tokio::test(flavor = "multi_thread")]
async fn header_matchers_and_header_captures() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/things"))
        .respond_with(ResponseTemplate::new(201).insert_header("location", "/things/42").insert_header("x-count", "7"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/things/42"))
        .and(header_exists("x-request-id"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write(
        "s.yaml",
        "auth: none\nsteps:\n  - request: { method: POST, path: /things }\n    expect:\n      status: 201\n      headers: { x-count: 7, location: { matches: '^/things/[0-9]+$' } }\n    capture: { loc: { header: Location } }\n  - request: { path: \"{{ loc }}\" }\n",
    );
    let o = output(p.run(&server.uri(), &["s.yaml"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    p.write(
        "s.yaml",
        "auth: none\nsteps:\n  - request: { method: POST, path: /things }\n    expect:\n      status: 201\n      headers: { x-count: 8 }\n",
    );
    let o = output(p.run(&server.uri(), &["s.yaml"])).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("header x-count: expected \"8\", got \"7\""), "{}", text(&o));
}

#[test]
fn the_schema_command_prints_the_committed_schemas() {
    let p = Project::new();
    for kind in ["suite", "config", "report"] {
        let o = p.cmd().args(["schema", kind]).output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        let committed = std::fs::read_to_string(format!("{}/schemas/{kind}.schema.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), committed, "{kind}");
    }
    assert_eq!(p.cmd().args(["schema", "nope"]).output().unwrap().status.code(), Some(2));
}
