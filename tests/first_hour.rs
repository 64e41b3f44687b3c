//! Issue 18: what a new user trips over in the first hour, each through the real binary.

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

/// An upstream that shows the request id it received (or a fixed one: a gateway that drops it).
struct Echo(Option<&'static str>);

impl wiremock::Respond for Echo {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let got = req.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        ResponseTemplate::new(200).set_body_json(json!({"headers": {"X-Request-Id": self.0.map(str::to_owned).or(got)}}))
    }
}

const TRACE: &str = "auth: none\nsteps:\n  - request: { path: /api/echo }\n    expect:\n      json:\n        $.headers['X-Request-Id']: \"{{ request.id }}\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn request_id_is_a_template_value_a_step_can_check() {
    let server = MockServer::start().await;
    Mock::given(path("/api/echo")).respond_with(Echo(None)).mount(&server).await;
    let p = Project::new();
    p.write("t.yaml", TRACE);
    let o = output(p.run(&server.uri(), &["t.yaml"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A gateway that replaces or drops the id fails the same line.
    let server = MockServer::start().await;
    Mock::given(path("/api/echo")).respond_with(Echo(Some("gw-generated-1"))).mount(&server).await;
    let o = output(p.run(&server.uri(), &["t.yaml"])).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("got \"gw-generated-1\""), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suites_own_request_id_is_kept_and_recorded() {
    let server = MockServer::start().await;
    Mock::given(path("/x")).and(header("x-request-id", "mine-123")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    let p = Project::new();
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /x, headers: { X-Request-Id: mine-123 } }\n");
    let o = output(p.run(&server.uri(), &["s.yaml"])).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("reqId mine-123"), "the failure names the id that was sent: {}", text(&o));
    assert_eq!(hits(&server, "GET", "/x").await.len(), 1, "sent with the suite's id");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authorization_header_on_an_auth_user_step_is_refused() {
    let p = Project::new();
    p.write("s.yaml", "steps:\n  - name: own creds\n    request: { path: /x, headers: { Authorization: Basic abc } }\n");
    let o = output({
        let mut c = p.cmd();
        c.args(["check", "s.yaml"]);
        c
    })
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("s.yaml:2:") && text(&o).contains("use `auth: none`"), "{}", text(&o));
    p.write("s.yaml", "steps:\n  - name: own creds\n    auth: none\n    request: { path: /x, headers: { Authorization: Basic abc } }\n");
    let mut c = p.cmd();
    c.args(["check", "s.yaml"]);
    assert_eq!(output(c).await.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_that_explain_themselves() {
    let p = Project::new();
    let check = |p: &Project| {
        let mut c = p.cmd();
        c.args(["check", "s.yaml"]);
        c
    };
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n    expect: { status: \"201\" }\n");
    assert_eq!(output(check(&p)).await.status.code(), Some(0), "a quoted status code is a status code");
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n    expect: { json: { $.headers.X-Request-Id: x } }\n");
    let o = output(check(&p)).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("$.headers['X-Request-Id']"), "{}", text(&o));

    // Pointed at a service instead of the gateway: the create's 404 and its body come first.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "no route"})))
        .mount(&server)
        .await;
    p.write("s.yaml", "steps:\n  - request: { path: /x }\n");
    let o = output(p.run(&server.uri(), &["s.yaml"])).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("create user failed (assertion): POST /api/auth/V1/auth/create answered 404 ({\"error\":\"no route\"})"),
        "{}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn output_lines_say_each_thing_once_in_order() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    Mock::given(path("/api/me")).respond_with(ResponseTemplate::new(200).set_body_json(json!({}))).mount(&server).await;
    let p = Project::new();
    p.write("s.yaml", "name: mine\nsteps:\n  - name: me\n    request: { path: /api/me }\n");
    // -v: the suite's header comes before its first breadcrumb.
    let o = output(p.run(&server.uri(), &["s.yaml", "-v"])).await;
    let out = text(&o);
    let header = out.find("mine  s.yaml").unwrap_or_else(|| panic!("{out}"));
    let crumb = out.find("↳ step GET /api/me").unwrap_or_else(|| panic!("{out}"));
    assert!(header < crumb, "{out}");
    // -q: a failed probe names suite, step and probe once.
    let o = output(p.run(&server.uri(), &["s.yaml", "-q", "--auth-probes"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "wiremock does not enforce auth: {out}");
    assert!(out.contains("✗ mine › me · probe: no token · 200"), "{out}");
    assert_eq!(out.matches("probe: no token").count(), 1, "named once, not rebuilt twice: {out}");
    // GitHub annotations: the message once.
    let mut c = p.run(&server.uri(), &["s.yaml", "--auth-probes"]);
    c.env("GITHUB_ACTIONS", "true");
    let o = output(c).await;
    let out = text(&o);
    let line = out.lines().find(|l| l.starts_with("::error file=")).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(line.matches("auth not enforced").count(), 1, "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_is_found_upwards_from_the_suite_and_named() {
    let server = MockServer::start().await;
    Mock::given(path("/x")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let p = Project::new();
    std::fs::create_dir_all(p.path().join(".git")).unwrap();
    p.write("smokegate.yaml", "timeouts: { total: 5s }\n");
    p.write("deep/er/s.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n");
    let o = output(p.run(&server.uri(), &["deep/er/s.yaml"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(&format!("config {}", p.path().canonicalize().unwrap().join("smokegate.yaml").display())), "{}", text(&o));
    let mut c = p.cmd();
    c.args(["check", "deep/er/s.yaml"]);
    let o = output(c).await;
    assert!(text(&o).contains("ok: 1 suite, 1 steps, config "), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filtered_out_capture_leaves_its_teardown_nothing_to_do() {
    let server = MockServer::start().await;
    Mock::given(path("/health")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let p = Project::new();
    p.write(
        "s.yaml",
        "auth: none\nsteps:\n  - name: create\n    request: { method: POST, path: /orders }\n    capture: { order_id: $.id }\n  - name: health\n    request: { path: /health }\nteardown:\n  - name: delete\n    request: { method: DELETE, path: \"/orders/{{ order_id }}\" }\n",
    );
    let o = output(p.run(&server.uri(), &["s.yaml", "--filter", "health", "-v"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("nothing to tear down: `order_id` was never captured"), "{out}");
    assert!(!out.contains("records may be left behind"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_suite_yaml_in_the_suites_folder_says_how_to_exclude_it() {
    let p = Project::new();
    p.write("suites/docker-compose.yaml", "services:\n  web: { image: nginx }\n");
    let mut c = p.cmd();
    c.args(["check", "suites"]);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("docker-compose.yaml") && text(&o).contains("start its name with `_` or `.`"), "{}", text(&o));
    std::fs::rename(p.path().join("suites/docker-compose.yaml"), p.path().join("suites/_docker-compose.yaml")).unwrap();
    p.write("suites/s.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n");
    let mut c = p.cmd();
    c.args(["check", "suites"]);
    assert_eq!(output(c).await.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn token_q_is_quiet_and_fast_steps_are_not_zero_ms() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    let p = Project::new();
    let mut c = p.cmd();
    c.args(["token", "-q", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).trim().is_empty(), "nothing printed: {}", text(&o));
    let mut c = p.cmd();
    c.args(["logout", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
    assert_eq!(output(c).await.status.code(), Some(0));

    Mock::given(path("/x")).respond_with(ResponseTemplate::new(404)).mount(&server).await;
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n    expect: { status: 404 }\n");
    let o = output(p.run(&server.uri(), &["s.yaml"])).await;
    assert!(!text(&o).contains(" 0 ms"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_every_broken_step_of_a_file() {
    let p = Project::new();
    p.write(
        "s.yaml",
        "auth: none\nsteps:\n  - request: { path: /a }\n    expcet: { status: 200 }\n  - request: { path: /b }\n  - request: { path: /c }\n    expect: { status: 99 }\nteardown:\n  - request: { mehtod: DELETE, path: /d }\n",
    );
    let mut c = p.cmd();
    c.args(["check", "s.yaml"]);
    let o = output(c).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    for at in ["s.yaml:4:5", "s.yaml:7:", "s.yaml:9:"] {
        assert!(out.contains(at), "{at} is reported: {out}");
    }
    assert_eq!(out.matches("error:").count(), 3, "{out}");
}
