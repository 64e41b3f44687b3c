//! Hostile responses and broken networks (loopback only): every one ends as a failed step with a
//! clear class, the run goes on, and the user is still deleted.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

/// A suite whose first step meets the hostile answer, then a second suite that must still run.
async fn hostile_run(resp: ResponseTemplate, expect_block: &str) -> (std::process::Output, MockServer) {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    Mock::given(method("GET")).and(path("/api/hostile")).respond_with(resp).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/fine"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write(
        "smoke-suites/a.yaml",
        &format!("steps:\n  - name: hostile\n    request: {{ path: /api/hostile }}\n    expect: {expect_block}\n"),
    );
    p.write("smoke-suites/b.yaml", "steps:\n  - name: fine\n    request: { path: /api/fine }\n    expect: { json: { $.ok: true } }\n");
    let o = output(p.run(&server.uri(), &["--jobs", "1"])).await;
    assert!(p.journal_files().is_empty());
    (o, server)
}

fn assert_contained(o: &std::process::Output, class: &str) {
    let out = text(o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("✗ hostile") && out.contains(class), "wanted {class}: {out}");
    assert!(out.contains("✓ fine"), "the run went on: {out}");
    assert!(out.contains("cleanup: deleted test user"), "and cleaned up: {out}");
    assert!(!out.contains("panicked"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_json_under_a_json_assertion() {
    let (o, _) = hostile_run(ResponseTemplate::new(200).set_body_raw("{\"id\": 1,,}", "application/json"), "{ json: { $.id: 1 } }").await;
    assert_contained(&o, "invalid-response");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_json_bomb_nested_a_hundred_thousand_deep() {
    let bomb = "[".repeat(100_000) + &"]".repeat(100_000);
    let (o, _) = hostile_run(ResponseTemplate::new(200).set_body_raw(bomb, "application/json"), "{ json: { $.id: 1 } }").await;
    assert_contained(&o, "invalid-response");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_error_page_where_json_was_expected() {
    let (o, _) =
        hostile_run(ResponseTemplate::new(200).set_body_raw("<html><body>Bad gateway</body></html>", "text/html"), "{ json: { $.id: 1 } }")
            .await;
    assert_contained(&o, "invalid-response");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_under_a_body_matcher() {
    let (o, _) =
        hostile_run(ResponseTemplate::new(200).set_body_raw(vec![0xff, 0xfe, b'o', b'k'], "text/plain"), "{ body: { contains: ok } }")
            .await;
    assert_contained(&o, "invalid-response");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_declared_body_that_is_not_gzip() {
    let resp = ResponseTemplate::new(200).insert_header("content-encoding", "gzip").set_body_raw("{\"id\": 1", "application/json");
    let (o, _) = hostile_run(resp, "{ json: { $.id: 1 } }").await;
    assert_contained(&o, "invalid-response");
}

/// A loopback server that answers every connection with `behaviour`.
#[derive(Clone, Copy)]
enum Raw {
    /// Accept, read the request, never answer.
    Silent,
    /// Send the status line and headers, then stall the body forever.
    HeadersThenStall,
    /// Send part of the body, then reset the connection.
    ResetMidBody,
    /// A header value carrying control bytes.
    ControlBytes,
}

async fn raw_server(behaviour: Raw) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
                match behaviour {
                    Raw::Silent => tokio::time::sleep(Duration::from_secs(30)).await,
                    Raw::HeadersThenStall => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"a\":")
                            .await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Raw::ResetMidBody => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"a\":")
                            .await;
                        let _ = sock.set_zero_linger(); // close with a RST, not a FIN
                        drop(sock);
                    }
                    Raw::ControlBytes => {
                        let _ = sock
                            .write_all(
                                b"HTTP/1.1 200 OK\r\nx-evil: a\x01b\x7fc\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
                            )
                            .await;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

async fn raw_run(behaviour: Raw, expect: &str) -> std::process::Output {
    let url = raw_server(behaviour).await;
    let p = Project::new();
    p.write("s.yaml", &format!("auth: none\nsteps:\n  - name: hostile\n    request: {{ path: /x }}\n    expect: {expect}\n"));
    output(p.run(&url, &["s.yaml", "--timeout", "700ms"])).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listener_that_never_answers_times_out() {
    let o = raw_run(Raw::Silent, "{ status: 200 }").await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("timeout"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_then_a_stalled_body_time_out_and_keep_the_status() {
    let o = raw_run(Raw::HeadersThenStall, "{ status: 200 }").await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("✗ hostile · 200") && text(&o).contains("timeout"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_mid_body_is_a_connect_failure() {
    let o = raw_run(Raw::ResetMidBody, "{ status: 200 }").await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("connect"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn control_bytes_in_headers_never_crash_the_run() {
    let o = raw_run(Raw::ControlBytes, "{ headers: { x-evil: { exists: true } } }").await;
    let out = text(&o);
    // The HTTP client refuses a header value with control bytes: the step fails, the run goes on.
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("✗ hostile") && out.contains("0 passed, 1 failed"), "{out}");
    assert!(!out.contains("panicked") && !out.contains('\x01'), "control bytes are not echoed raw: {out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_errors_at_bootstrap_mid_run_and_cleanup() {
    for status in [502u16, 503, 504] {
        // At bootstrap: the create is answered with a gateway error → exit 3. The upstream may
        // have committed it: the user's login decides. Refused → it does not exist, nothing left.
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(status)).mount(&server).await;
        Mock::given(method("POST")).and(path(LOGIN)).respond_with(ResponseTemplate::new(401)).mount(&server).await;
        let p = Project::new();
        p.write("smoke-suites/me.yaml", "steps:\n  - request: { path: /api/me }\n");
        let o = output(p.run(&server.uri(), &[])).await;
        assert_eq!(o.status.code(), Some(3), "{status} at bootstrap: {}", text(&o));
        assert!(text(&o).contains("server-error"), "{}", text(&o));
        assert!(p.journal_files().is_empty(), "{}", text(&o));
        assert!(hits(&server, "DELETE", DELETE_USER).await.is_empty());

        // Committed, then answered with the gateway error: the user logs in, so it is deleted.
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(status)).mount(&server).await;
        Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::minting()).mount(&server).await;
        Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
        let o = output(p.run(&server.uri(), &[])).await;
        assert_eq!(o.status.code(), Some(3), "{status} at bootstrap, committed: {}", text(&o));
        assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 1, "{}", text(&o));
        assert!(p.journal_files().is_empty(), "{}", text(&o));

        // Mid-run: a step answered with it → server-error, exit 1, user deleted.
        let server = MockServer::start().await;
        auth_ok(&server).await;
        Mock::given(method("GET")).and(path("/api/me")).respond_with(ResponseTemplate::new(status)).mount(&server).await;
        let o = output(p.run(&server.uri(), &[])).await;
        assert_eq!(o.status.code(), Some(1), "{status} mid-run: {}", text(&o));
        assert!(text(&o).contains("server-error"));
        assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 1);

        // At cleanup, for good: retried, then exit 5 with the identity named and journalled.
        let server = MockServer::start().await;
        create_and_login(&server).await;
        Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(ResponseTemplate::new(status)).mount(&server).await;
        Mock::given(method("GET")).and(path("/api/me")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
        let o = output(p.run(&server.uri(), &[])).await;
        assert_eq!(o.status.code(), Some(5), "{status} at cleanup: {}", text(&o));
        assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 4);
        assert!(text(&o).contains("left behind") && text(&o).contains("smoke+"), "{}", text(&o));
        assert_eq!(p.journal_files().len(), 1);
        for f in p.journal_files() {
            std::fs::remove_file(f).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_expires_between_a_step_and_its_teardown_is_renewed_for_the_teardown() {
    let server = MockServer::start().await;
    let minter = Minter::new(2, 0);
    let api = Guarded { minted: Some(minter.clone()), ..Guarded::default() };
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201)).mount(&server).await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(minter.clone()).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(api.clone()).mount(&server).await;
    Mock::given(method("DELETE")).and(path("/api/thing")).respond_with(api.clone()).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(2200)))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write(
        "smoke-suites/t.yaml",
        "steps:\n  - request: { path: /api/slow }\nteardown:\n  - name: remove\n    request: { method: DELETE, path: /api/thing }\n",
    );
    let o = output(p.run(&server.uri(), &[])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("✓ teardown remove"), "{}", text(&o));
    assert!(minter.tokens().len() >= 2, "logged in again before the teardown");
    assert_eq!(api.stale.load(std::sync::atomic::Ordering::SeqCst), 0, "no request went out with the expired token");
}
