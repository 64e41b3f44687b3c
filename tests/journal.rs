//! Issue 13 §2: nothing lost. The journal owns every identity and record until it is proven
//! gone: written before the create, kept on every answer but a definitive refusal, removed only
//! when the deleted user can no longer log in, and replayed by `smokegate cleanup`.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

const USER_SUITE: &str = "steps:\n  - request: { path: /api/me }\n";

async fn me(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .mount(server)
        .await;
}

/// A create route that commits at once (the fake service knows no users) and answers after `secs`.
async fn slow_create(server: &MockServer, secs: u64) {
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})).set_delay(Duration::from_secs(secs)))
        .mount(server)
        .await;
}

fn cleanup_cmd(p: &Project, server: &MockServer) -> assert_cmd::Command {
    let mut c = p.cmd();
    c.args(["cleanup", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_names_its_config_or_says_it_uses_built_in_routes() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/x")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let p = Project::new();
    p.write("elsewhere/s.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n");
    let o = output(p.run(&server.uri(), &["elsewhere/s.yaml"])).await;
    assert!(text(&o).contains("built-in routes (no smokegate.yaml)"), "{}", text(&o));
    p.write("elsewhere/smokegate.yaml", "timeouts: { total: 5s }\n");
    let o = output(p.run(&server.uri(), &["elsewhere/s.yaml"])).await;
    assert!(text(&o).contains("config elsewhere/smokegate.yaml"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_keeps_an_identity_whose_login_is_refused_for_any_reason_but_401() {
    // A run whose user could not be deleted leaves it journaled.
    let server = MockServer::start().await;
    create_and_login(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    me(&server).await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", USER_SUITE);
    let o = output(p.run(&server.uri(), &[])).await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert_eq!(p.journal_files().len(), 1);
    // 429, 404 and 503 on the login prove nothing: the entry stays, `cleanup` fails.
    for status in [429u16, 404, 503] {
        server.reset().await;
        Mock::given(method("POST")).and(path(LOGIN)).respond_with(ResponseTemplate::new(status)).mount(&server).await;
        let o = output(cleanup_cmd(&p, &server)).await;
        assert_eq!(o.status.code(), Some(5), "login {status}: {}", text(&o));
        assert!(!text(&o).contains("dropped"), "{}", text(&o));
        assert_eq!(p.journal_files().len(), 1, "login {status} kept the entry");
    }
    // A 401 for credentials that logged in before is proof that the identity is gone (the same
    // proof a deletion gets).
    server.reset().await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(ResponseTemplate::new(401)).mount(&server).await;
    let o = output(cleanup_cmd(&p, &server)).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("dropped"), "{}", text(&o));
    assert!(p.journal_files().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_that_commits_and_then_times_out_is_deleted() {
    let server = MockServer::start().await;
    // The upstream commits the user at once and answers after the harness gave up.
    slow_create(&server, 3).await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::minting()).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
    me(&server).await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", USER_SUITE);
    let o = output(p.run(&server.uri(), &["--timeout", "1s"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 1, "the committed user was deleted: {out}");
    assert!(p.journal_files().is_empty(), "{out}");

    // Never committed: the login is refused after the create's own deadline passed, which is
    // taken as proof (a create the harness stopped waiting for is settled at its timeout).
    let server = MockServer::start().await;
    slow_create(&server, 3).await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(ResponseTemplate::new(401)).mount(&server).await;
    let o = output(p.run(&server.uri(), &["--timeout", "1s"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(p.journal_files().is_empty(), "{out}");
    assert!(hits(&server, "DELETE", DELETE_USER).await.is_empty());
}

/// A 504 is the gateway giving up on its upstream, not the upstream finishing: the create may
/// still commit after it. A login refused right after it proves nothing; the run waits out the
/// create's deadline, as after a timeout of its own, and deletes the user that appeared.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_answered_504_that_commits_later_is_deleted() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(504)).mount(&server).await;
    // The upstream commits the user 1.5 s after the gateway's 504; deleted, it is refused again.
    let committed_at = std::time::Instant::now() + Duration::from_millis(1500);
    let deleted = std::sync::Arc::new(AtomicBool::new(false));
    let gone = deleted.clone();
    Mock::given(method("POST"))
        .and(path(LOGIN))
        .respond_with(move |_: &wiremock::Request| {
            if std::time::Instant::now() < committed_at || gone.load(Ordering::SeqCst) {
                ResponseTemplate::new(401)
            } else {
                ResponseTemplate::new(200).set_body_json(json!({"token": jwt(300)}))
            }
        })
        .mount(&server)
        .await;
    let d = deleted.clone();
    Mock::given(method("DELETE"))
        .and(path(DELETE_USER))
        .respond_with(move |_: &wiremock::Request| {
            d.store(true, Ordering::SeqCst);
            ResponseTemplate::new(204)
        })
        .mount(&server)
        .await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", USER_SUITE);
    let o = output(p.run(&server.uri(), &["--timeout", "3s"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("server-error"), "{out}");
    assert!(deleted.load(Ordering::SeqCst), "the user that committed after the 504 was deleted: {out}");
    assert!(p.journal_files().is_empty(), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_a_slow_create_still_deletes_what_it_created() {
    let server = MockServer::start().await;
    slow_create(&server, 30).await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::minting()).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", USER_SUITE);
    let mut c = p.spawnable_run(&server.uri(), &["--timeout", "60s"]);
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let mut waited = 0;
    while hits(&server, "POST", CREATE).await.is_empty() {
        assert!(waited < 200, "the create never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 1, "{}", text(&o));
    assert!(p.journal_files().is_empty(), "{}", text(&o));
}

/// Interrupted mid-create, the create may still complete until its deadline: a refused login
/// before then proves nothing, so the run waits for the deadline (within the cleanup deadline).
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_a_create_that_never_commits_waits_for_its_deadline_before_dropping_it() {
    let server = MockServer::start().await;
    slow_create(&server, 30).await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(ResponseTemplate::new(401)).mount(&server).await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", USER_SUITE);
    let mut c = p.spawnable_run(&server.uri(), &["--timeout", "3s"]);
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    while hits(&server, "POST", CREATE).await.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = std::time::Instant::now();
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(130), "{out}");
    assert!(out.contains("waiting") && out.contains("to settle"), "{out}");
    let logins = hits(&server, "POST", LOGIN).await;
    assert_eq!(logins.len(), 2, "refused once at once, once after the deadline: {out}");
    assert!(sent.elapsed() >= Duration::from_millis(2500), "it waited for the create's deadline");
    assert!(p.journal_files().is_empty(), "then the refusal is proof: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_state_dir_refuses_to_create_anything() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    me(&server).await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", USER_SUITE);
    let not_a_dir = p.write("state-is-a-file", "x");
    let mut c = p.cmd();
    c.args(["run", "--gateway", &server.uri(), "--state-dir"]).arg(&not_a_dir);
    let o = output(c).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("cannot journal the test user before creating it") && out.contains("state-is-a-file"), "{out}");
    assert!(hits(&server, "POST", CREATE).await.is_empty(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn four_calls_at_once_share_one_user_and_lose_none() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    me(&server).await;
    let p = Project::new();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let mut c = p.std_cmd();
            c.args(["call", "GET", "/api/me", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
            c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let outs =
        tokio::task::spawn_blocking(move || calls.into_iter().map(|c| c.wait_with_output().unwrap()).collect::<Vec<_>>()).await.unwrap();
    for o in &outs {
        assert_eq!(o.status.code(), Some(0), "{}", text(o));
    }
    assert_eq!(hits(&server, "POST", CREATE).await.len(), 1, "one user for all four");
    assert!(p.journal_files().is_empty(), "the session cache records the user");
    let mut c = p.cmd();
    c.args(["logout", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("deleted test user"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_from_another_directory_with_no_delete_route_keeps_the_user() {
    let server = MockServer::start().await;
    create_and_login(&server).await; // no delete route: the gateway answers 404
    let p = Project::new();
    let mut c = p.cmd();
    c.args(["token", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
    assert_eq!(output(c).await.status.code(), Some(0));
    let mut c = p.cmd();
    c.current_dir(std::env::temp_dir()).args(["logout", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("still log in"), "{}", text(&o));
    assert!(std::fs::read_dir(p.state().join("sessions")).unwrap().any(|e| e.unwrap().path().extension().is_some_and(|x| x == "json")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_journal_entry_fails_cleanup_and_is_named() {
    let server = MockServer::start().await;
    let p = Project::new();
    std::fs::create_dir_all(p.state().join("journal")).unwrap();
    let bad = p.state().join("journal").join("r1-smoke_x.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let o = output(cleanup_cmd(&p, &server)).await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("r1-smoke_x.json"), "{}", text(&o));
    assert!(bad.exists(), "left in place");
}

#[tokio::test(flavor = "multi_thread")]
async fn records_are_journaled_until_torn_down_and_a_failed_teardown_keeps_its_owner() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    Mock::given(method("POST"))
        .and(path("/api/orders"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "o-9"})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE")).and(path("/api/orders/o-9")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let p = Project::new();
    p.write(
        "smoke-suites/o.yaml",
        "steps:\n  - request: { method: POST, path: /api/orders, json: {} }\n    expect: { status: 201 }\n    capture: { order_id: $.id }\nteardown:\n  - name: delete the order\n    request: { method: DELETE, path: \"/api/orders/{{ order_id }}\" }\n",
    );
    let o = output(p.run(&server.uri(), &[])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(out.contains("record DELETE /api/orders/o-9") && out.contains("left behind"), "{out}");
    assert_eq!(p.record_files().len(), 1, "the record stays journaled");
    assert_eq!(p.journal_files().len(), 1, "and its owner is kept to delete it: {out}");
    assert!(hits(&server, "DELETE", DELETE_USER).await.is_empty(), "{out}");

    // Later the gateway works: `cleanup` deletes the record with the owner's token, then the owner.
    server.reset().await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::minting()).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
    Mock::given(method("DELETE")).and(path("/api/orders/o-9")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let o = output(cleanup_cmd(&p, &server)).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("deleted record DELETE /api/orders/o-9"), "{out}");
    assert!(p.record_files().is_empty() && p.journal_files().is_empty(), "{out}");
    let order: Vec<String> = server.received_requests().await.unwrap().iter().map(|r| format!("{} {}", r.method, r.url.path())).collect();
    let rec = order.iter().position(|x| x == "DELETE /api/orders/o-9").unwrap();
    let user = order.iter().position(|x| x == &format!("DELETE {DELETE_USER}")).unwrap();
    assert!(rec < user, "the record before its owner: {order:?}");
}

/// A create answered 503 (or cut off) may have committed a record whose id never arrived: it
/// cannot be torn down, so it is journaled as "may exist", reported, and `cleanup` says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_whose_id_never_arrived_is_reported_not_forgotten() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    Mock::given(method("POST")).and(path("/api/orders")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let p = Project::new();
    p.write(
        "smoke-suites/o.yaml",
        "steps:\n  - name: create\n    request: { method: POST, path: /api/orders, json: {} }\n    expect: { status: 201 }\n    capture: { order_id: $.id }\nteardown:\n  - request: { method: DELETE, path: \"/api/orders/{{ order_id }}\" }\n",
    );
    let o = output(p.run(&server.uri(), &[])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("a record created by POST /api/orders (o › create) was left behind: it may exist"), "{out}");
    assert_eq!(p.record_files().len(), 1);
    assert!(p.journal_files().is_empty(), "the user itself was deleted: {out}");
    let o = output(cleanup_cmd(&p, &server)).await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("check it by hand"), "{}", text(&o));

    // Refused with a 4xx, nothing was created: nothing is journaled.
    let server = MockServer::start().await;
    auth_ok(&server).await;
    Mock::given(method("POST")).and(path("/api/orders")).respond_with(ResponseTemplate::new(422)).mount(&server).await;
    let p = Project::new();
    p.write(
        "smoke-suites/o.yaml",
        "steps:\n  - name: create\n    request: { method: POST, path: /api/orders, json: {} }\n    expect: { status: 201 }\n    capture: { order_id: $.id }\nteardown:\n  - request: { method: DELETE, path: \"/api/orders/{{ order_id }}\" }\n",
    );
    let o = output(p.run(&server.uri(), &[])).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(p.record_files().is_empty() && p.journal_files().is_empty(), "{}", text(&o));
}

/// Where a refused login cannot prove a deletion, `auth.verify` names a step that can.
#[tokio::test(flavor = "multi_thread")]
async fn a_configured_verify_step_proves_the_deletion_or_keeps_the_user() {
    for (status, code) in [(404u16, 0), (200, 5)] {
        let server = MockServer::start().await;
        create_and_login(&server).await;
        // A delete that "works" while the login keeps working (a canned gateway).
        Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(ResponseTemplate::new(204)).mount(&server).await;
        Mock::given(method("GET")).and(path("/api/users/u1")).respond_with(ResponseTemplate::new(status)).mount(&server).await;
        me(&server).await;
        let p = Project::new();
        p.write("smoke-suites/me.yaml", USER_SUITE);
        p.write(
            "smoke-suites/smokegate.yaml",
            "auth:\n  create:\n    request: { method: POST, path: /api/auth/V1/auth/create, json: { email: \"{{ user.email }}\", password: \"{{ user.password }}\" } }\n    capture: { user_id: $.user.id }\n  verify: { request: { path: \"/api/users/{{ user_id }}\" } }\n",
        );
        let o = output(p.run(&server.uri(), &[])).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(code), "verify answered {status}: {out}");
        assert_eq!(p.journal_files().len(), if code == 0 { 0 } else { 1 }, "{out}");
        if code == 5 {
            assert!(out.contains("`auth.verify`") && out.contains("does not show the user gone"), "{out}");
        }
    }
}

/// `cleanup` says what it did, then sums it up: the summary line is the last.
#[tokio::test(flavor = "multi_thread")]
async fn cleanup_sums_up_after_what_it_did() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    let p = Project::new();
    let mut c = p.cmd();
    c.args(["token", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
    assert_eq!(output(c).await.status.code(), Some(0));
    let o = output(cleanup_cmd(&p, &server)).await;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}");
    let deleted = out.find("deleted test user").unwrap_or_else(|| panic!("{out}"));
    let summary = out.find("cleanup: 1 removed, 0 left").unwrap_or_else(|| panic!("{out}"));
    assert!(deleted < summary, "{out}");
}

/// A teardown that needs captures of two steps: journaled ahead as "may exist" until it can be
/// rendered; when the step that would make it renderable fails, it is reported, never dropped.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_whose_teardown_needs_a_later_capture_stays_journaled_until_it_renders() {
    let suite = "auth: none\nsteps:\n  - name: create\n    request: { method: POST, path: /orders }\n    expect: { status: 201 }\n    capture: { order_id: $.id }\n  - name: add item\n    request: { method: POST, path: \"/orders/{{ order_id }}/items\" }\n    expect: { status: 201 }\n    capture: { item_id: $.id }\nteardown:\n  - name: delete\n    request: { method: DELETE, path: \"/orders/{{ order_id }}/items/{{ item_id }}\" }\n";
    for (item_status, code, left) in [(201u16, 0, 0usize), (503, 1, 1)] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/orders"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "o1"})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/orders/o1/items"))
            .respond_with(if item_status == 201 {
                ResponseTemplate::new(201).set_body_json(json!({"id": "i1"}))
            } else {
                ResponseTemplate::new(item_status)
            })
            .mount(&server)
            .await;
        Mock::given(method("DELETE")).and(path("/orders/o1/items/i1")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
        let p = Project::new();
        p.write("s.yaml", suite);
        let o = output(p.run(&server.uri(), &["s.yaml"])).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(code), "{out}");
        assert_eq!(p.record_files().len(), left, "{out}");
        if left > 0 {
            // Journaled ahead of the first step whose capture the teardown reads, kept while
            // the teardown cannot render, reported when it never could.
            assert!(out.contains("a record created by POST /orders (s › create) was left behind: it may exist"), "{out}");
        }
    }
}

/// An entry created behind another gateway is never contacted by `cleanup` here: it is counted
/// as left, named with its gateway, and `cleanup` exits 5 — not "0 removed, 0 left".
#[tokio::test(flavor = "multi_thread")]
async fn another_gateways_entry_counts_as_left_and_is_never_contacted() {
    let a = MockServer::start().await;
    auth_ok(&a).await;
    me(&a).await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", USER_SUITE);
    let o = output(p.run(&a.uri(), &["--keep-user"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(p.journal_files().len(), 1);
    let b = MockServer::start().await;
    let o = output(cleanup_cmd(&p, &b)).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(out.contains(&format!("created behind {}", a.uri())) && out.contains("cleanup: 0 removed, 1 left"), "{out}");
    assert!(b.received_requests().await.unwrap_or_default().is_empty(), "the other gateway was contacted");
    assert_eq!(p.journal_files().len(), 1, "kept for a cleanup behind its own gateway");
    let o = output(cleanup_cmd(&p, &a)).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(p.journal_files().is_empty());
}

/// A journal entry carries the config it was created under: `cleanup` from a folder whose
/// config has other routes (or from one with none) still deletes with the run's routes.
#[tokio::test(flavor = "multi_thread")]
async fn cleanup_from_another_folder_uses_the_routes_the_run_journaled() {
    let server = MockServer::start().await;
    let token = v2_routes(&server).await;
    me(&server).await;
    let p = Project::new();
    p.write("smoke-suites/smokegate.yaml", V2_CONFIG);
    p.write("smoke-suites/me.yaml", USER_SUITE);
    let o = output(p.run(&server.uri(), &["--keep-user"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let elsewhere = Project::new();
    elsewhere.write("smoke-suites/smokegate.yaml", "auth:\n  cleanup:\n    request: { method: DELETE, path: /somewhere/else }\n");
    let mut c = elsewhere.cmd();
    c.args(["cleanup", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
    let o = output(c).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("cleanup: 1 removed, 0 left"), "{out}");
    let deletes = hits(&server, "DELETE", "/v2/users/7").await;
    assert_eq!(deletes.len(), 1, "{out}");
    assert_eq!(deletes[0].headers.get("authorization").and_then(|v| v.to_str().ok()), Some(format!("Token {token}").as_str()));
    assert!(hits(&server, "DELETE", "/somewhere/else").await.is_empty());
}

/// A create answered by a stub (no id): the run and `cleanup` say it was answered without an id
/// (not that its id "never arrived"), and a failed read-only teardown is not called a record.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_answered_without_an_id_is_named_truthfully() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    Mock::given(method("POST"))
        .and(path("/api/things"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"error": "not implemented"})))
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path("/api/gone")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let p = Project::new();
    p.write(
        "smoke-suites/t.yaml",
        "steps:\n  - name: create\n    request: { method: POST, path: /api/things }\n    capture: { id: $.id }\nteardown:\n  - name: delete\n    request: { method: DELETE, path: \"/api/things/{{ id }}\" }\n  - name: gone\n    request: { path: /api/gone }\n    expect: { status: 404 }\n",
    );
    let o = output(p.run(&server.uri(), &[])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("answered 200 without an id"), "{out}");
    assert!(!out.contains("never arrived") && !out.contains("records may be left behind"), "{out}");
    assert!(out.contains("1 teardown step(s) failed; 1 record(s) left behind"), "{out}");
    assert_eq!(p.record_files().len(), 1, "the note, not the read-only teardown: {out}");
    let o = output(cleanup_cmd(&p, &server)).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(out.contains("answered 200 without an id") && !out.contains("never arrived"), "{out}");
}
