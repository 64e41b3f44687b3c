//! The ADR's local helpers: `token` (cached session), `call` and `logout`, through the binary.

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

async fn gateway(ttl: i64) -> (MockServer, Minter) {
    let server = MockServer::start().await;
    let minter = Minter::new(ttl, 0);
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"user": {"id": "u1"}})))
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(minter.clone()).mount(&server).await;
    (server, minter)
}

fn cmd(p: &Project, server: &MockServer, args: &[&str]) -> assert_cmd::Command {
    let mut c = p.cmd();
    c.args(args).arg("--gateway").arg(server.uri()).arg("--state-dir").arg(p.state());
    c
}

/// Cached sessions (the `.lock` files beside them hold no data).
fn session_files(p: &Project) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(p.state().join("sessions"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "json")).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn token_mints_once_caches_privately_and_raw_prints_only_the_jwt() {
    let (server, minter) = gateway(300).await;
    let p = Project::new();
    let o = output(cmd(&p, &server, &["token"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("(new session)") && out.contains("expires") && out.contains("ttl       5m"), "{out}");
    assert!(out.contains("\"sub\": \"smoke\""), "claims are shown: {out}");
    let files = session_files(&p);
    assert_eq!(files.len(), 1);
    assert_eq!(mode_of(&files[0]), 0o600);
    assert!(p.journal_files().is_empty(), "the session cache, not the journal, records the user");

    let raw = output(cmd(&p, &server, &["token", "--raw"])).await;
    assert_eq!(raw.status.code(), Some(0), "{}", text(&raw));
    let tokens = minter.tokens();
    assert_eq!(tokens.len(), 1, "the cached session is reused");
    assert_eq!(String::from_utf8_lossy(&raw.stdout), format!("{}\n", tokens[0]), "stdout is the JWT alone");
    assert_eq!(hits(&server, "POST", CREATE).await.len(), 1);
    let password = sent_password(&server).await.unwrap();
    assert_no_secrets(&o, &[&tokens[0], &password]);
    assert!(!text(&raw).contains(&password));
}

#[tokio::test(flavor = "multi_thread")]
async fn token_logs_in_again_when_the_cached_token_nears_expiry() {
    let (server, minter) = gateway(2).await;
    let p = Project::new();
    assert_eq!(output(cmd(&p, &server, &["token"])).await.status.code(), Some(0));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let o = output(cmd(&p, &server, &["token"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("(cached session)"), "{}", text(&o));
    assert_eq!(minter.tokens().len(), 2, "one re-login, same user");
    assert_eq!(hits(&server, "POST", CREATE).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn call_sends_the_session_token_and_prints_status_headers_and_body() {
    let (server, minter) = gateway(300).await;
    let p = Project::new();
    Mock::given(method("GET"))
        .and(path("/api/orders"))
        .and(header("x-extra", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("set-cookie", "sid=cookie-secret-value")
                .insert_header("x-upstream", "orders-svc")
                .set_body_json(json!([{"id": 7}])),
        )
        .mount(&server)
        .await;
    let o = output(cmd(&p, &server, &["call", "GET", "/api/orders", "-H", "X-Extra: 1"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.starts_with("200 OK\n"), "{out}");
    assert!(out.contains("set-cookie: ***") && !out.contains("cookie-secret-value"), "{out}");
    assert!(out.contains("\"id\": 7"), "pretty body: {out}");
    assert!(out.contains("reqId ") && out.contains("upstream x-upstream: orders-svc"), "{out}");
    let got = hits(&server, "GET", "/api/orders").await;
    let token = &minter.tokens()[0];
    assert_eq!(got[0].headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {token}"));
    assert!(got[0].headers.get("x-request-id").is_some());
    assert_no_secrets(&o, &[token, &sent_password(&server).await.unwrap()]);

    // A body, and a non-2xx answer exits 1.
    Mock::given(method("POST")).and(path("/api/orders")).respond_with(ResponseTemplate::new(422)).mount(&server).await;
    let o = output(cmd(&p, &server, &["call", "post", "/api/orders", "--json", r#"{"sku":"A"}"#])).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let got = hits(&server, "POST", "/api/orders").await;
    assert_eq!(got[0].body, br#"{"sku":"A"}"#);

    // --anon sends no token; no new login either.
    let o = output(cmd(&p, &server, &["call", "GET", "/api/orders", "--anon", "-H", "X-Extra: 1"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(hits(&server, "GET", "/api/orders").await[1].headers.get("authorization").is_none());
    assert_eq!(minter.tokens().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn call_refuses_other_origins_and_bad_input_before_sending() {
    let (server, _) = gateway(300).await;
    let p = Project::new();
    let o = output(cmd(&p, &server, &["call", "GET", "http://127.0.0.1:9/api/x"])).await;
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    assert!(text(&o).contains("gateway-only policy"), "{}", text(&o));
    let o = output(cmd(&p, &server, &["call", "GET", "/api/x", "-H", "no colon"])).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = output(cmd(&p, &server, &["call", "GET", "/api/x", "--json", "{bad"])).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(server.received_requests().await.unwrap().is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_deletes_the_cached_user_and_is_idempotent() {
    let (server, minter) = gateway(300).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
    let p = Project::new();
    assert_eq!(output(cmd(&p, &server, &["token"])).await.status.code(), Some(0));
    let o = output(cmd(&p, &server, &["logout"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("deleted test user smoke+"), "{}", text(&o));
    let del = hits(&server, "DELETE", DELETE_USER).await;
    assert_eq!(del.len(), 1);
    assert_eq!(del[0].headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {}", minter.tokens()[0]));
    assert!(session_files(&p).is_empty());
    let o = output(cmd(&p, &server, &["logout"])).await;
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("no cached session"), "{}", text(&o));
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_that_cannot_delete_exits_5_and_keeps_the_cache() {
    let (server, _) = gateway(300).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    let p = Project::new();
    assert_eq!(output(cmd(&p, &server, &["token"])).await.status.code(), Some(0));
    let o = output(cmd(&p, &server, &["logout"])).await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("left behind"), "{}", text(&o));
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 4, "1 try + 3 retries");
    assert_eq!(session_files(&p).len(), 1, "kept so that a later logout can retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_also_removes_the_cached_session_user() {
    let (server, _) = gateway(300).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
    let p = Project::new();
    assert_eq!(output(cmd(&p, &server, &["token"])).await.status.code(), Some(0));
    let o = output(cmd(&p, &server, &["cleanup"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 1);
    assert!(session_files(&p).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_token_logs_in_still_deletes_the_new_user() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201)).mount(&server).await;
    // The first login hangs (the signal lands during it); the one cleanup makes is answered.
    Mock::given(method("POST"))
        .and(path(LOGIN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": jwt(300)})).set_delay(std::time::Duration::from_secs(30)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::minting()).with_priority(2).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
    let p = Project::new();
    let mut c = p.std_cmd();
    c.args(["token", "--gateway", &server.uri(), "--timeout", "60s"]).arg("--state-dir").arg(p.state());
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let mut waited = 0;
    while hits(&server, "POST", LOGIN).await.is_empty() {
        assert!(waited < 200, "the login never started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 1, "the created user was deleted: {}", text(&o));
    assert!(p.journal_files().is_empty() && session_files(&p).is_empty(), "nothing cached, nothing journalled");
    assert_no_secrets(&o, &[&sent_password(&server).await.unwrap()]);
}

/// Echoes the request body back, as some error pages do.
struct EchoBody(u16);

impl wiremock::Respond for EchoBody {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        ResponseTemplate::new(self.0).set_body_raw(req.body.clone(), "application/json")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_error_that_echoes_the_password_does_not_print_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201)).mount(&server).await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(EchoBody(422)).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
    let p = Project::new();
    let o = output(cmd(&p, &server, &["token", "-v"])).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("auth bootstrap failed"), "{}", text(&o));
    assert_no_secrets(&o, &[&sent_password(&server).await.unwrap()]);
}

/// A cached session carries the config it was created with: `logout` (and `call`'s refresh)
/// from another folder, with other routes there, deletes the user with the session's routes.
#[tokio::test(flavor = "multi_thread")]
async fn logout_from_another_folder_uses_the_sessions_routes() {
    let server = MockServer::start().await;
    let token = v2_routes(&server).await;
    let p = Project::new();
    p.write("smoke-suites/smokegate.yaml", V2_CONFIG);
    let o = output(cmd(&p, &server, &["token"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let elsewhere = Project::new();
    let mut c = elsewhere.cmd();
    c.args(["logout", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
    let o = output(c).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("deleted test user"), "{out}");
    let deletes = hits(&server, "DELETE", "/v2/users/7").await;
    assert_eq!(deletes.len(), 1, "{out}");
    assert_eq!(
        deletes[0].headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some(format!("Token {token}").as_str()),
        "with the session's scheme"
    );
    assert!(session_files(&p).is_empty());
}
