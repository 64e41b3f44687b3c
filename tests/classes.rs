//! Every failure class, each seen failing (and the same step passing when the fault is gone).

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

/// Runs one anonymous step against a server answering `/x` with `resp`; returns (exit, output).
async fn one_step(step_yaml: &str, resp: ResponseTemplate, extra: &[&str]) -> (Option<i32>, String) {
    let server = MockServer::start().await;
    Mock::given(path("/x")).respond_with(resp).mount(&server).await;
    let p = Project::new();
    p.write("s.yaml", &format!("auth: none\nsteps:\n{step_yaml}"));
    let mut args = vec!["s.yaml"];
    args.extend_from_slice(extra);
    let o = output(p.run(&server.uri(), &args)).await;
    (o.status.code(), text(&o))
}

fn failed_with(res: &(Option<i32>, String), class: &str) {
    assert_eq!(res.0, Some(1), "{}", res.1);
    assert!(res.1.contains(&format!("· {class}\n")), "expected class {class}:\n{}", res.1);
}

const GET_X: &str = "  - request: { path: /x }\n";

#[tokio::test(flavor = "multi_thread")]
async fn assertion_class() {
    let step = "  - request: { path: /x }\n    expect: { status: 200, json: { $.n: { gt: 1 } } }\n";
    failed_with(&one_step(step, ResponseTemplate::new(200).set_body_json(json!({"n": 1})), &[]).await, "assertion");
    assert_eq!(one_step(step, ResponseTemplate::new(200).set_body_json(json!({"n": 2})), &[]).await.0, Some(0));
    failed_with(&one_step(GET_X, ResponseTemplate::new(404), &[]).await, "assertion");
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_class() {
    failed_with(&one_step(GET_X, ResponseTemplate::new(401), &[]).await, "auth");
    failed_with(&one_step(GET_X, ResponseTemplate::new(403), &[]).await, "auth");
    // A 401 the step asks for is a pass (explicit negative tests).
    assert_eq!(one_step("  - request: { path: /x }\n    expect: { status: 401 }\n", ResponseTemplate::new(401), &[]).await.0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_error_class() {
    failed_with(&one_step(GET_X, ResponseTemplate::new(503), &[]).await, "server-error");
    assert_eq!(one_step("  - request: { path: /x }\n    expect: { status: 503 }\n", ResponseTemplate::new(503), &[]).await.0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn stub_class_beats_matching_status() {
    let expects_501 = "  - request: { path: /x }\n    expect: { status: 501 }\n";
    failed_with(&one_step(expects_501, ResponseTemplate::new(501), &[]).await, "stub");
    let body = ResponseTemplate::new(200).set_body_json(json!({"error": "JWT token retrieval Not Implemented"}));
    failed_with(&one_step(GET_X, body.clone(), &[]).await, "stub");
    let allowed = "  - request: { path: /x }\n    expect: { status: 200, allow_stub: true }\n";
    assert_eq!(one_step(allowed, body, &[]).await.0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_class() {
    let slow = ResponseTemplate::new(200).set_delay(Duration::from_millis(1500));
    failed_with(&one_step(GET_X, slow.clone(), &["--timeout", "300ms"]).await, "timeout");
    assert_eq!(one_step(GET_X, slow, &["--timeout", "5s"]).await.0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_class_is_exit_1_for_steps() {
    // A port nothing listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let p = Project::new();
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n");
    let o = output(p.run(&format!("http://127.0.0.1:{port}"), &["s.yaml"])).await;
    failed_with(&(o.status.code(), text(&o)), "connect");
}

#[tokio::test(flavor = "multi_thread")]
async fn template_class() {
    failed_with(&one_step("  - request: { path: \"/x?u={{ env.NOPE_NOT_SET }}\" }\n", ResponseTemplate::new(200), &[]).await, "template");
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_class() {
    let step = "  - request: { path: /x }\n    capture: { id: $.id }\n";
    failed_with(&one_step(step, ResponseTemplate::new(200).set_body_json(json!({"other": 1})), &[]).await, "capture");
    assert_eq!(one_step(step, ResponseTemplate::new(200).set_body_json(json!({"id": 1})), &[]).await.0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_response_class() {
    let step = "  - request: { path: /x }\n    expect: { json: { $.a: 1 } }\n";
    failed_with(&one_step(step, ResponseTemplate::new(200).set_body_string("<html>oops</html>"), &[]).await, "invalid-response");
    let bomb = "[".repeat(10_000) + &"]".repeat(10_000);
    failed_with(&one_step(step, ResponseTemplate::new(200).set_body_string(bomb), &[]).await, "invalid-response");
}

#[tokio::test(flavor = "multi_thread")]
async fn off_gateway_class_for_cross_origin_redirects() {
    let foreign = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).mount(&foreign).await;
    let redirect = ResponseTemplate::new(307).insert_header("location", format!("{}/service", foreign.uri()).as_str());
    let step = "  - request: { path: /x, follow_redirects: true }\n";
    failed_with(&one_step(step, redirect.clone(), &[]).await, "off-gateway");
    assert!(foreign.received_requests().await.unwrap().is_empty(), "the other origin got no request");
    // Not following: the step sees the 307 itself.
    let res = one_step("  - request: { path: /x }\n    expect: { status: 307 }\n", redirect, &[]).await;
    assert_eq!(res.0, Some(0), "{}", res.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn same_origin_redirects_are_followed_when_asked() {
    let server = MockServer::start().await;
    Mock::given(path("/x")).respond_with(ResponseTemplate::new(302).insert_header("location", "/y")).mount(&server).await;
    Mock::given(path("/y")).respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true}))).mount(&server).await;
    let p = Project::new();
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /x, follow_redirects: true }\n    expect: { json: { $.ok: true } }\n");
    let o = output(p.run(&server.uri(), &["s.yaml"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn foreign_absolute_urls_are_refused_before_any_request() {
    let p = Project::new();
    p.write(
        "s.yaml",
        "auth: none\nsteps:\n  - request: { path: /ok }\n  - request: { path: \"http://orders.internal:8080/api/orders\" }\n",
    );
    let o = p.run("http://127.0.0.1:9", &["s.yaml"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(6), "{out}");
    assert!(out.contains("http://orders.internal:8080"), "{out}");
    assert!(out.contains("s.yaml:4:22"), "names the line and column: {out}");
    let o = p.cmd().args(["check", "s.yaml", "--gateway", "http://127.0.0.1:9"]).output().unwrap();
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
}

#[test]
fn service_urls_in_the_environment_are_refused() {
    let p = Project::new();
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /ok }\n");
    let o = p.run("http://127.0.0.1:9", &["s.yaml"]).env("ORDERS_SERVICE_URL", "http://orders:8080/secret-path").output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(6), "{out}");
    assert!(out.contains("ORDERS_SERVICE_URL"), "{out}");
    assert!(!out.contains("secret-path"), "the value is never printed: {out}");
    // The escape hatch, logged; then the (unreachable) gateway is the next problem.
    let o = p
        .run("http://127.0.0.1:9", &["s.yaml", "--allow-env", "ORDERS_SERVICE_URL"])
        .env("ORDERS_SERVICE_URL", "http://orders:8080")
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(6), "{}", text(&o));
    assert!(text(&o).contains("--allow-env ORDERS_SERVICE_URL"));
}
