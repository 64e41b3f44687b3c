//! Auth lifecycle contract tests: bootstrap, token handling, cleanup and its journal.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

const USER_SUITE: &str = "steps:\n  - request: { path: /api/me }\n";

async fn me(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "u1"})))
        .mount(server)
        .await;
}

async fn run_user_suite(server: &MockServer, extra: &[&str]) -> (std::process::Output, Project) {
    let p = Project::new();
    p.write("smoke-suites/me.yaml", USER_SUITE);
    let o = output(p.run(&server.uri(), extra)).await;
    (o, p)
}

#[tokio::test(flavor = "multi_thread")]
async fn create_409_exits_3_and_leaves_nothing_in_the_journal() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"error": "exists"})))
        .mount(&server)
        .await;
    let (o, p) = run_user_suite(&server, &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("auth bootstrap failed: create user failed"), "{out}");
    assert!(hits(&server, "POST", LOGIN).await.is_empty());
    assert!(p.journal_files().is_empty(), "a refused create made no user");
    assert_no_secrets(&o, &[&sent_password(&server).await.unwrap()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_401_after_create_exits_3_and_keeps_the_identity_journalled() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201)).mount(&server).await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(ResponseTemplate::new(401)).mount(&server).await;
    let (o, p) = run_user_suite(&server, &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("left behind"), "the created user is reported: {out}");
    assert_eq!(p.journal_files().len(), 1, "and kept for `smokegate cleanup`");
    assert_no_secrets(&o, &[&sent_password(&server).await.unwrap()]);
}

/// No token, a JWT-shaped token that does not decode, and (with `login.token_type: jwt`) an
/// opaque one: exit 3, the token not echoed. (Any other string is an opaque token.)
#[tokio::test(flavor = "multi_thread")]
async fn token_absent_and_malformed_tokens_exit_3() {
    let broken = "eyJhbGciOiJIUzI1NiJ9.bm90LWpzb24.c2lnbmF0dXJl";
    for (body, config, needle) in [
        (json!({"nothing": 1}), "", "no token in the login response"),
        (json!({"token": broken}), "", "malformed"),
        (
            json!({"token": "not.a-jwt-opaque"}),
            "auth:\n  login:\n    request: { method: POST, path: /api/auth/V1/auth/login, json: { email: \"{{ user.email }}\", password: \"{{ user.password }}\" } }\n    token_type: jwt\n",
            "malformed",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201)).mount(&server).await;
        Mock::given(method("POST")).and(path(LOGIN)).respond_with(ResponseTemplate::new(200).set_body_json(body)).mount(&server).await;
        let p = Project::new();
        p.write("smoke-suites/me.yaml", USER_SUITE);
        p.write("smoke-suites/smokegate.yaml", config);
        let o = output(p.run(&server.uri(), &[])).await;
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        assert!(text(&o).contains(needle), "{}", text(&o));
        assert!(!text(&o).contains(broken) && !text(&o).contains("not.a-jwt-opaque"), "the token is not echoed");
    }
}

/// Proves the deletion by a 404 on a route that never exists (the fakes here cannot forget a
/// login).
const VERIFY_GONE: &str = "auth:\n  verify:\n    request: { path: /api/gone }\n    expect: { status: 404 }\n";

/// Runs three `GET /api/me` steps (continuing on failure, `-v`) against `server`, whose `/api/me`
/// answers 401 to any request its own mocks did not take; the user's deletion answers 204.
async fn three_steps_after_a_401_fallback(server: &MockServer) -> std::process::Output {
    Mock::given(method("GET")).and(path("/api/me")).respond_with(ResponseTemplate::new(401)).mount(server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(ResponseTemplate::new(204)).mount(server).await;
    let p = Project::new();
    p.write(
        "smoke-suites/me.yaml",
        "continue_on_failure: true\nsteps:\n  - name: one\n    request: { path: /api/me }\n  - name: two\n    request: { path: /api/me }\n  - name: three\n    request: { path: /api/me }\n",
    );
    p.write("smoke-suites/smokegate.yaml", VERIFY_GONE);
    output(p.run(&server.uri(), &["-v"])).await
}

/// An opaque token without a stated lifetime is used until a 401: that step fails as `auth` (it
/// is not retried), and the steps after it log in again first. With `expires_in` or
/// `auth.token_ttl` it is renewed before it expires instead.
#[tokio::test(flavor = "multi_thread")]
async fn an_opaque_token_is_used_until_a_401_then_the_next_step_logs_in_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"user": {"id": "u1"}})))
        .mount(&server)
        .await;
    let logins = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = logins.clone();
    Mock::given(method("POST"))
        .and(path(LOGIN))
        .respond_with(move |_: &wiremock::Request| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ResponseTemplate::new(200).set_body_json(json!({"token": format!("opaque-token-number-{i}")}))
        })
        .mount(&server)
        .await;
    // The first token stops working after one request; the second keeps working.
    Mock::given(method("GET"))
        .and(path("/api/me"))
        .and(wiremock::matchers::header("authorization", "Bearer opaque-token-number-0"))
        .respond_with(ResponseTemplate::new(200))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/me"))
        .and(wiremock::matchers::header("authorization", "Bearer opaque-token-number-1"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let o = three_steps_after_a_401_fallback(&server).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("✓ one · 200") && out.contains("✗ two · 401") && out.contains("✓ three · 200"), "{out}");
    assert!(out.contains("used until a 401"), "{out}");
    assert_eq!(logins.load(std::sync::atomic::Ordering::SeqCst), 2, "one new login after the 401: {out}");
    assert_no_secrets(&o, &["opaque-token-number-0", "opaque-token-number-1"]);
}

/// A login whose token arrives already expired (an issuer's clock behind the gateway's), or with
/// less than the refresh margin left: logging in again would bring the same, so it is not renewed
/// before every step (which doubled every request). Expired, it is used until a request is
/// refused with 401, then the next step logs in again; nearly expired, until it expires. A
/// warning says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_arrives_expired_or_nearly_is_not_renewed_before_every_step() {
    // A second may pass between the issue and the check.
    for (issued_ago, ttl, warnings) in [
        (600, -60, ["token had expired 60s before it arrived", "token had expired 61s before it arrived"]),
        (600, 20, ["token arrived with 20s left", "token arrived with 19s left"]),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201)).mount(&server).await;
        let logins = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let n = logins.clone();
        Mock::given(method("POST"))
            .and(path(LOGIN))
            .respond_with(move |_: &wiremock::Request| {
                n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                ResponseTemplate::new(200).set_body_json(json!({"token": jwt_issued(issued_ago, ttl)}))
            })
            .mount(&server)
            .await;
        me(&server).await;
        Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(ResponseTemplate::new(204)).mount(&server).await;
        let p = Project::new();
        let steps: String = (0..5).map(|i| format!("  - name: s{i}\n    request: {{ path: /api/me }}\n")).collect();
        p.write("smoke-suites/me.yaml", &format!("steps:\n{steps}"));
        p.write("smoke-suites/smokegate.yaml", VERIFY_GONE);
        let o = output(p.run(&server.uri(), &["-v"])).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert!(out.contains("5 passed, 0 failed"), "{out}");
        assert!(warnings.iter().any(|w| out.contains(w)), "{out}");
        assert!(!out.contains("↳ refresh"), "{out}");
        assert_eq!(logins.load(std::sync::atomic::Ordering::SeqCst), 1, "one login for the run: {out}");
        assert_eq!(hits(&server, "GET", "/api/me").await.len(), 5);
    }
}

/// An expired-on-arrival token that the API does refuse: that step fails as `auth` (red: the
/// real path is broken), and the next step logs in again first.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_on_arrival_token_refused_with_401_is_renewed_for_the_next_step() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201)).mount(&server).await;
    let expired = jwt_issued(600, -60);
    let fresh = jwt(300);
    let tokens = std::sync::Arc::new(std::sync::Mutex::new(vec![fresh.clone(), expired.clone()]));
    let t = tokens.clone();
    Mock::given(method("POST"))
        .and(path(LOGIN))
        .respond_with(move |_: &wiremock::Request| {
            let token = t.lock().unwrap().pop().expect("two logins at most");
            ResponseTemplate::new(200).set_body_json(json!({ "token": token }))
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/me"))
        .and(wiremock::matchers::header("authorization", format!("Bearer {fresh}").as_str()))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let o = three_steps_after_a_401_fallback(&server).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("✗ one · 401") && out.contains("✓ two · 200") && out.contains("✓ three · 200"), "{out}");
    assert!(tokens.lock().unwrap().is_empty(), "a second login after the 401: {out}");
    assert_no_secrets(&o, &[&expired, &fresh]);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_is_found_by_the_default_list() {
    let server = MockServer::start().await;
    let token = jwt(300);
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201)).mount(&server).await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::fixed(&token).field("access_token")).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
    me(&server).await;
    let (o, _) = run_user_suite(&server, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let got = hits(&server, "GET", "/api/me").await;
    assert_eq!(got[0].headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {token}"));
}

/// A 404 from the delete route is not proof: a wrong route answers 404 too. The user counts as
/// deleted only when its login is refused afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn a_404_on_deletion_is_deleted_only_when_the_login_is_refused_after_it() {
    // The user was really deleted (the service answers 404 for "already gone").
    let server = MockServer::start().await;
    create_and_login(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser { status: 404, ..DeleteUser::ok() }).mount(&server).await;
    me(&server).await;
    let (o, p) = run_user_suite(&server, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(p.journal_files().is_empty());

    // No such route (the built-in default against a gateway that routes elsewhere): 404, and
    // the user still logs in. Left behind, named, journalled, exit 5.
    let server = MockServer::start().await;
    create_and_login(&server).await;
    me(&server).await;
    let (o, p) = run_user_suite(&server, &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(out.contains("the delete answered 404, but the user can still log in"), "{out}");
    assert!(out.contains("the built-in routes"), "the routes in use are named: {out}");
    assert!(!out.contains("deleted test user"), "{out}");
    assert_eq!(p.journal_files().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_503_twice_then_204_succeeds() {
    let server = MockServer::start().await;
    create_and_login(&server).await;
    delete_fails_then_succeeds(&server, 503, 2).await;
    me(&server).await;
    let (o, p) = run_user_suite(&server, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 3);
    assert!(p.journal_files().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_never_succeeding_exits_5_and_names_the_identity() {
    let server = MockServer::start().await;
    create_and_login(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    me(&server).await;
    let (o, p) = run_user_suite(&server, &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 4, "1 try + 3 retries");
    let create: serde_json::Value = serde_json::from_slice(&hits(&server, "POST", CREATE).await[0].body).unwrap();
    let email = create["email"].as_str().unwrap();
    assert!(regex::Regex::new(r"^smoke\+\d{8}T\d{6}Z-[a-z0-9]{6}@example\.test$").unwrap().is_match(email), "{email}");
    assert!(out.contains(email), "the identity is named: {out}");
    assert_eq!(p.journal_files().len(), 1);

    // `smokegate cleanup` retries later; once the gateway deletes, the journal empties.
    server.reset().await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::minting()).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
    let mut c = p.cmd();
    c.args(["cleanup", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(&format!("deleted {email}")), "{}", text(&o));
    assert!(p.journal_files().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_user_skips_deletion_loudly() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    me(&server).await;
    let (o, p) = run_user_suite(&server, &["--keep-user"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("--keep-user"), "{}", text(&o));
    assert!(hits(&server, "DELETE", DELETE_USER).await.is_empty());
    assert_eq!(p.journal_files().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn service_account_from_env_and_from_a_secret_file() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(LOGIN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": jwt(300)})))
        .mount(&server)
        .await;
    me(&server).await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", USER_SUITE);
    p.write("smoke-suites/smokegate.yaml", "auth:\n  mode: service-account\n");
    let mut c = p.run(&server.uri(), &[]);
    c.env("SMOKE_USERNAME", "svc-user").env("SMOKE_PASSWORD", "svc-Password-123");
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(hits(&server, "POST", CREATE).await.is_empty(), "no create in service-account mode");
    assert!(hits(&server, "DELETE", DELETE_USER).await.is_empty(), "no delete either");
    let login: serde_json::Value = serde_json::from_slice(&hits(&server, "POST", LOGIN).await[0].body).unwrap();
    assert_eq!(login["email"], "svc-user");
    assert_no_secrets(&o, &["svc-Password-123"]);

    // Missing secret, malformed secret: exit 3, the file and field named, never the contents.
    p.write("smoke-suites/smokegate.yaml", "auth:\n  mode: service-account\n  credentials_file: ../secret.json\n");
    let o = output(p.run(&server.uri(), &[])).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("secret.json"), "{}", text(&o));
    p.write("secret.json", r#"{"username": "svc", "pwd": "hidden-Value-42"}"#);
    let o = output(p.run(&server.uri(), &[])).await;
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("missing field `password`"), "{}", text(&o));
    assert_no_secrets(&o, &["hidden-Value-42"]);
    p.write("secret.json", r#"{"username": "svc", "password": "hidden-Value-42", "extra": true}"#);
    let o = output(p.run(&server.uri(), &[])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auth_config_contract_works_as_written() {
    let server = MockServer::start().await;
    let token = jwt(300);
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessToken": "x", "user": {"id": "user-77"}})))
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::fixed(&token).field("accessToken")).mount(&server).await;
    Mock::given(method("DELETE")).and(path("/api/auth/V1/auth/users/user-77")).respond_with(DeleteUser::ok()).mount(&server).await;
    me(&server).await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", USER_SUITE);
    // The auth config contract of issue #3, verbatim (one file, shared with the unit and schema tests).
    p.write("smoke-suites/smokegate.yaml", include_str!("fixtures/contract-auth.yaml"));
    let o = output(p.run(&server.uri(), &[])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(hits(&server, "DELETE", "/api/auth/V1/auth/users/user-77").await.len(), 1);
    assert_no_secrets(&o, &[&token]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_a_step_still_deletes_the_user_and_exits_130() {
    let server = MockServer::start().await;
    let token = auth_ok(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(20)))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write("smoke-suites/slow.yaml", "steps:\n  - request: { path: /api/slow, timeout: 30s }\n  - request: { path: /api/never }\n");
    let mut cmd = p.spawnable_run(&server.uri(), &["--timeout", "30s"]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Wait until the step's request is in flight.
    let mut waited = 0;
    while hits(&server, "GET", "/api/slow").await.is_empty() {
        assert!(waited < 200, "the step never started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 1, "cleanup reached the server: {}", text(&o));
    assert!(hits(&server, "GET", "/api/never").await.is_empty(), "no new step started");
    assert!(p.journal_files().is_empty());
    assert_no_secrets(&o, &[&token, &sent_password(&server).await.unwrap()]);
}

/// The contract: a token that expires mid-run is renewed by exactly one login at a time, however
/// many suites need it, and no request ever goes out with a token the gateway would call stale.
#[tokio::test(flavor = "multi_thread")]
async fn token_expiring_mid_run_is_renewed_single_flight_under_8_parallel_suites() {
    let server = MockServer::start().await;
    // 2 s tokens; each login takes 200 ms, so logins that raced would arrive within 200 ms of each other.
    let minter = Minter::new(2, 200);
    let api = Guarded { minted: Some(minter.clone()), delay: std::time::Duration::from_millis(250), ..Guarded::default() };
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201)).mount(&server).await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(minter.clone()).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(api.clone()).mount(&server).await;
    Mock::given(method("GET")).and(path("/api/data")).respond_with(api.clone()).mount(&server).await;
    let p = Project::new();
    // 8 suites × 8 steps × 250 ms: about 2 s of steps, past the first token's refresh point.
    let steps: String = (0..8).map(|i| format!("  - name: s{i}\n    request: {{ path: /api/data }}\n")).collect();
    for n in 0..8 {
        p.write(&format!("smoke-suites/s{n}.yaml"), &format!("name: suite {n}\nsteps:\n{steps}"));
    }
    let o = output(p.run(&server.uri(), &["--jobs", "8"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("64 passed, 0 failed"), "{out}");
    assert_eq!(api.stale.load(std::sync::atomic::Ordering::SeqCst), 0, "no request carried a stale token");
    let arrivals = minter.arrivals();
    assert!(arrivals.len() >= 2, "the token was renewed mid-run ({} logins)", arrivals.len());
    // Without single-flight, the 8 waiting suites would each log in at the first expiry alone.
    assert!(arrivals.len() <= 6, "{} logins for a ~2 s run with 2 s tokens", arrivals.len());
    for pair in arrivals.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap_or_default();
        assert!(gap >= std::time::Duration::from_millis(190), "two logins overlapped ({gap:?} apart): not single-flight");
    }
    // Every renewal was due: the previous token had at most the refresh margin left (half its
    // 2 s lifetime, as 30 s is capped at half) when the next login went out.
    let tokens = minter.tokens();
    for (i, at) in arrivals.iter().enumerate().skip(1) {
        let exp = std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp_of(&tokens[i - 1]).unwrap() as u64);
        let left = exp.duration_since(*at).unwrap_or_default();
        assert!(left <= std::time::Duration::from_millis(1050), "login {i} came {left:?} before the previous token expired: not due yet");
    }
    assert!(!api.used.lock().unwrap().is_empty());
    assert_eq!(hits(&server, "POST", CREATE).await.len(), 1, "one user for all suites");
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 1);
    let mut secrets = minter.tokens();
    secrets.push(sent_password(&server).await.unwrap());
    assert_no_secrets(&o, &secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Issuers write `exp` in whole seconds, so a 2 s token minted late in a second arrives with
/// under a second left: it has not expired. Judged by whole seconds of our clock too, it looked
/// expired ("expired -1s before it arrived"), was kept until refused, and the step past its
/// expiry went red on a healthy stack (a CI flake of the single-flight test above). Read to the
/// millisecond, it is used while it has time left and renewed before it expires.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_arriving_with_under_a_second_left_is_renewed_before_it_expires() {
    let server = MockServer::start().await;
    // A 2 s token that arrives with 0.8 s left; the logins after it hand out 300 s tokens.
    let minter = Minter { first: Some((2, std::time::Duration::from_millis(800))), ..Minter::new(300, 0) };
    let api = Guarded { delay: std::time::Duration::from_millis(100), ..Guarded::default() };
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201)).mount(&server).await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(minter.clone()).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(api.clone()).mount(&server).await;
    Mock::given(method("GET")).and(path("/api/data")).respond_with(api.clone()).mount(&server).await;
    let p = Project::new();
    // 10 steps × 100 ms: past the first token's expiry, 0.8 s after it arrived.
    let steps: String = (0..10).map(|i| format!("  - name: s{i}\n    request: {{ path: /api/data }}\n")).collect();
    p.write("smoke-suites/data.yaml", &format!("steps:\n{steps}"));
    let o = output(p.run(&server.uri(), &[])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("10 passed, 0 failed"), "{out}");
    assert_eq!(api.stale.load(std::sync::atomic::Ordering::SeqCst), 0, "no request carried an expired token: {out}");
    assert!(!out.contains("had expired"), "{out}");
    assert!(out.contains("token arrived with ") && out.contains(" ms left (refresh margin 1s)"), "{out}");
    // The bootstrap login, the renewal, and the login that proves the deletion.
    assert_eq!(hits(&server, "POST", LOGIN).await.len(), 3, "{out}");
    let mut secrets = minter.tokens();
    secrets.push(sent_password(&server).await.unwrap());
    assert_no_secrets(&o, &secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

/// How real auth servers refuse a deleted user's login, and what that proves: 400, 401 and 403
/// without a token prove the deletion (json-server-auth, fastapi-users and OAuth2 token
/// endpoints answer 400); a "refusal" that still hands out a token, and 404/405/429/5xx, prove
/// nothing, so the user stays journaled and the run exits 5.
#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_is_proven_by_a_login_refused_with_400_401_or_403_and_no_token() {
    let cases = [
        (400, json!("Cannot find user"), 0),
        (400, json!({"detail": "LOGIN_BAD_CREDENTIALS"}), 0),
        (400, json!({"error": "invalid_grant", "error_description": "user not found"}), 0),
        (401, json!({"detail": "No active account found with the given credentials"}), 0),
        (403, json!({"error": "forbidden"}), 0),
        (400, json!({"token": jwt(300), "warning": "deprecated"}), 5),
        (404, json!({"error": "no such route"}), 5),
        (405, json!({"error": "method not allowed"}), 5),
        (429, json!({"error": "slow down"}), 5),
        (503, json!({"error": "unavailable"}), 5),
    ];
    for (status, body, exit) in cases {
        let server = MockServer::start().await;
        let token = jwt(300);
        Mock::given(method("POST"))
            .and(path(CREATE))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"user": {"id": "u1"}})))
            .mount(&server)
            .await;
        Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::fixed(&token).refusing(status, body.clone())).mount(&server).await;
        Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
        me(&server).await;
        let (o, p) = run_user_suite(&server, &[]).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(exit), "{status} {body}: {out}");
        assert_eq!(p.journal_files().len(), if exit == 0 { 0 } else { 1 }, "{status} {body}: {out}");
        if exit == 5 {
            assert!(out.contains("whether the user is gone could not be verified"), "{status}: {out}");
        }
    }
}

/// `auth.scheme` and `auth.header`: the token goes where the API expects it — `JWT <t>`
/// (simplejwt as djoser documents it), `Token <t>` (DRF), a bare token in `X-Auth-Token` — for
/// steps, probes, the user's deletion and the replay line.
#[tokio::test(flavor = "multi_thread")]
async fn the_token_goes_in_the_configured_header_after_the_configured_scheme() {
    for (config, header, prefix) in [
        ("auth:\n  scheme: JWT\n", "authorization", "JWT "),
        ("auth:\n  scheme: Token\n", "authorization", "Token "),
        ("auth:\n  scheme: \"\"\n  header: X-Auth-Token\n", "x-auth-token", ""),
        ("", "authorization", "Bearer "),
    ] {
        let server = MockServer::start().await;
        let token = auth_ok(&server).await;
        let sent = format!("{prefix}{token}");
        Mock::given(method("GET"))
            .and(path("/api/me"))
            .and(wiremock::matchers::header(header, sent.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "u1"})))
            .mount(&server)
            .await;
        Mock::given(method("GET")).and(path("/api/me")).respond_with(ResponseTemplate::new(401)).mount(&server).await;
        Mock::given(method("GET")).and(path("/api/fails")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
        let p = Project::new();
        p.write("smoke-suites/smokegate.yaml", config);
        p.write(
            "smoke-suites/me.yaml",
            "steps:\n  - name: me\n    request: { path: /api/me }\n  - name: fails\n    request: { path: /api/fails }\n",
        );
        let o = output(p.run(&server.uri(), &["--auth-probes"])).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{config}: {out}");
        assert!(out.contains("✓ me · 200"), "{config}: the step carried `{header}: {prefix}…`: {out}");
        assert!(out.contains("✓ me · probe: no token · 401") && out.contains("✓ me · probe: forged signature · 401"), "{out}");
        let name = if header == "x-auth-token" { "X-Auth-Token" } else { "Authorization" };
        let replay = format!("\"{name}: {prefix}$SMOKEGATE_TOKEN\"");
        assert!(out.contains(&replay), "{config}: the replay line sends {replay}: {out}");
        // The deletion went out the same way, and was proven.
        let deletes = hits(&server, "DELETE", DELETE_USER).await;
        assert_eq!(deletes[0].headers.get(header).and_then(|v| v.to_str().ok()), Some(sent.as_str()), "{config}");
        assert!(p.journal_files().is_empty(), "{config}: {out}");
        assert_no_secrets(&o, &[&token]);
    }
}

/// `auth.scheme` is one word or empty, and not for `api-key` mode (the key is sent as written).
#[test]
fn a_bad_scheme_is_a_config_error() {
    for (config, needle) in [
        ("auth:\n  scheme: Bearer token\n", "must be one word"),
        ("auth:\n  mode: api-key\n  header: X-Api-Key\n  value: k\n  scheme: Key\n", "does not apply to `api-key` mode"),
        ("auth:\n  header: \"Bad Header\"\n", "not a valid header name"),
    ] {
        let p = Project::new();
        p.write("smoke-suites/smokegate.yaml", config);
        p.write("smoke-suites/a.yaml", USER_SUITE);
        let o = p.cmd().arg("check").output().unwrap();
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{config}: {out}");
        assert!(out.contains(needle) && out.contains("smokegate.yaml:"), "{config}: {out}");
    }
}

/// `login.refresh` with a rotating server: each refresh sends the refresh token the previous
/// answer handed out (`refresh.refresh_token`), never a spent one; no second login.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_refresh_token_is_the_one_sent_next() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"user": {"id": "u1"}})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(LOGIN))
        .respond_with(move |_: &wiremock::Request| {
            ResponseTemplate::new(200).set_body_json(json!({"token": jwt(3), "refresh": "refresh-token-r0"}))
        })
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(ResponseTemplate::new(401)).mount(&server).await;
    for (sent, next) in [("refresh-token-r0", "refresh-token-r1"), ("refresh-token-r1", "refresh-token-r2")] {
        Mock::given(method("POST"))
            .and(path("/token/refresh"))
            .and(wiremock::matchers::body_json(json!({ "refresh": sent })))
            .respond_with(move |_: &wiremock::Request| ResponseTemplate::new(200).set_body_json(json!({"token": jwt(3), "next": next})))
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_millis(2100)))
        .mount(&server)
        .await;
    me(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let p = Project::new();
    p.write(
        "smoke-suites/smokegate.yaml",
        "auth:\n  login:\n    request: { method: POST, path: /api/auth/V1/auth/login, json: { email: \"{{ user.email }}\", password: \"{{ user.password }}\" } }\n    refresh:\n      request: { method: POST, path: /token/refresh, json: { refresh: \"{{ refresh_token }}\" } }\n      refresh_token: $.next\n",
    );
    p.write(
        "smoke-suites/me.yaml",
        "steps:\n  - request: { path: /api/slow }\n  - request: { path: /api/me }\n  - request: { path: /api/slow }\n  - request: { path: /api/me }\n",
    );
    let o = output(p.run(&server.uri(), &["-v"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(out.matches("refresh POST /token/refresh -> 200").count(), 2, "{out}");
    assert_eq!(hits(&server, "POST", LOGIN).await.len(), 2, "the bootstrap login and the verification after the deletion: {out}");
    assert_no_secrets(&o, &["refresh-token-r0", "refresh-token-r1", "refresh-token-r2"]);
}
