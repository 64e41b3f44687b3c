//! Issue 14: hostile files, paths, environments and responses never hang, crash, blow up or
//! bypass the policy. Every command here is bounded by a timeout.

use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

/// Runs `cmd` with a deadline: a hang is a failure, not a stuck CI job.
async fn bounded(mut cmd: std::process::Command, secs: u64) -> std::process::Output {
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).stdin(std::process::Stdio::null());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let waiter = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    match tokio::time::timeout(Duration::from_secs(secs), waiter).await {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("the command hung for {secs} s");
        }
    }
}

fn mkfifo(p: &std::path::Path) {
    assert!(std::process::Command::new("mkfifo").arg(p).status().unwrap().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alias_bomb_is_refused_in_bounded_memory() {
    let p = Project::new();
    let mut src = format!("anchors: &big \"{}\"\nsteps:\n  - request: {{ path: /x }}\nvars:\n  many: [", "x".repeat(100 * 1024));
    src.push_str(&vec!["*big"; 60_000].join(", "));
    src.push_str("]\n");
    p.write("bomb.yaml", &src);
    // 1 GiB of address space: the old expansion needed over 4 GB and aborted.
    let bin = assert_cmd::cargo::cargo_bin!("smokegate");
    let mut sh = std::process::Command::new("sh");
    sh.args(["-c", &format!("ulimit -v 1048576; exec '{}' check bomb.yaml", bin.display())]);
    sh.current_dir(p.path()).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("NO_COLOR", "1");
    let o = bounded(sh, 60).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("bomb.yaml:5:") && out.contains("MiB of text"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fifos_and_link_loops_in_suite_folders_never_hang_and_are_named() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/x")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let p = Project::new();
    p.write("s/a.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n");
    mkfifo(&p.path().join("s/pipe.yaml"));
    std::os::unix::fs::symlink(".", p.path().join("s/loop1")).unwrap();
    std::os::unix::fs::symlink(".", p.path().join("s/loop2")).unwrap();
    std::os::unix::fs::symlink("a.yaml", p.path().join("s/same.yaml")).unwrap();
    let mut c = p.std_cmd();
    c.args(["check", "s"]);
    let o = bounded(c, 20).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("ok: 1 suite,"), "{out}");
    assert!(out.contains("pipe.yaml: not a regular file"), "{out}");
    assert!(out.contains("a link to a folder already read"), "{out}");
    let o = bounded(p.spawnable_run(&server.uri(), &["s"]), 20).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(hits(&server, "GET", "/x").await.len(), 1, "the suite ran once, however many links lead to it: {out}");
    assert!(out.contains("skipped") && out.contains("pipe.yaml"), "{out}");

    // A FIFO given by name, as a suite or as --config: an error, not a hang.
    mkfifo(&p.path().join("cfg.yaml"));
    let mut c = p.std_cmd();
    c.args(["check", "s", "--config", "cfg.yaml"]);
    let o = bounded(c, 20).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cfg.yaml") && text(&o).contains("not a regular file"), "{}", text(&o));
    let mut c = p.std_cmd();
    c.args(["check", "s/pipe.yaml"]);
    let o = bounded(c, 20).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn paths_that_climb_out_of_the_base_path_are_refused_before_sending() {
    let server = MockServer::start().await;
    Mock::given(path("/health/live")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    Mock::given(path("/health/ready")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let p = Project::new();
    for bad in ["/../health/live", "/%2e%2e/health/ready", "/a/%252e%252e/%2e%2E/health/ready", "/..%2fhealth/live"] {
        p.write("s.yaml", &format!("auth: none\nsteps:\n  - name: escape\n    request: {{ path: \"{bad}\" }}\n"));
        let o = bounded(p.spawnable_run(&format!("{}/edge", server.uri()), &["s.yaml"]), 20).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(6), "{bad}: {out}");
        assert!(out.contains("s.yaml:4:") && out.contains("base path /edge"), "{bad}: {out}");
        assert!(server.received_requests().await.unwrap().is_empty(), "{bad} was sent");
    }
    // A rendered path is checked when it is sent.
    p.write("s.yaml", "auth: none\nvars: { up: \"..\" }\nsteps:\n  - request: { path: \"/{{ up }}/health/live\" }\n");
    let o = bounded(p.spawnable_run(&format!("{}/edge", server.uri()), &["s.yaml"]), 20).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("off-gateway"), "{}", text(&o));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_utf8_environment_is_decided_on_its_bytes() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::minting()).mount(&server).await;
    Mock::given(method("GET")).and(path("/api/me")).respond_with(ResponseTemplate::new(200).set_body_json(json!({}))).mount(&server).await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", "steps:\n  - request: { path: /api/me }\n");
    p.write("smoke-suites/smokegate.yaml", "auth: { mode: service-account }\n");
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9");
    // Anywhere in the environment: no panic, the run goes on.
    let mut c = p.spawnable_run(&server.uri(), &[]);
    c.env("SOME_OTHER", bad).env("SMOKE_USERNAME", "svc").env("SMOKE_PASSWORD", "svc-Password-1");
    let o = bounded(c, 20).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // In the password: a named error, exit 3.
    let mut c = p.spawnable_run(&server.uri(), &[]);
    c.env("SMOKE_USERNAME", "svc").env("SMOKE_PASSWORD", bad);
    let o = bounded(c, 20).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("SMOKE_PASSWORD is set but is not valid UTF-8"), "{}", text(&o));
    // A service URL is a service URL in any encoding.
    let mut c = p.spawnable_run(&server.uri(), &[]);
    c.env("ORDERS_SERVICE_URL", std::ffi::OsStr::from_bytes(b"http://orders\xff:8080"));
    let o = bounded(c, 20).await;
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    assert!(text(&o).contains("ORDERS_SERVICE_URL"), "{}", text(&o));
    // The gateway URL itself: not "missing", but not UTF-8.
    let mut c = p.std_cmd();
    c.args(["run"]).env("GATEWAY_BASE_URL", std::ffi::OsStr::from_bytes(b"http://127.0.0.1:1/\xff"));
    let o = bounded(c, 20).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("GATEWAY_BASE_URL is set but is not valid UTF-8"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_that_cannot_be_written_is_named_and_the_others_are_written() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/x")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let p = Project::new();
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n");
    p.write("blocker", "a file where a folder should be");
    let o = bounded(p.spawnable_run(&server.uri(), &["s.yaml", "--json", "blocker/r.json", "--junit", "r.xml"]), 20).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(7), "{out}");
    assert!(out.contains("--json blocker/r.json"), "the path is named: {out}");
    assert!(p.path().join("r.xml").exists(), "the JUnit report was still written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_same_origin_redirect_loop_has_its_own_class() {
    let server = MockServer::start().await;
    Mock::given(path("/a")).respond_with(ResponseTemplate::new(302).insert_header("location", "/b")).mount(&server).await;
    Mock::given(path("/b")).respond_with(ResponseTemplate::new(302).insert_header("location", "/a")).mount(&server).await;
    let p = Project::new();
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /a, follow_redirects: true }\n");
    let o = bounded(p.spawnable_run(&server.uri(), &["s.yaml"]), 20).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("· too-many-redirects") && out.contains("redirect loop: /a → /b → /a"), "{out}");
    assert!(!out.contains("off-gateway"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn durations_are_rounded_for_people() {
    let server = MockServer::start().await;
    Mock::given(path("/slow")).respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5))).mount(&server).await;
    let p = Project::new();
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /slow, timeout: 1500ms }\n");
    let o = bounded(p.spawnable_run(&server.uri(), &["s.yaml"]), 20).await;
    let out = text(&o);
    assert!(out.contains("no response within 1.5s"), "{out}");
    // A readiness probe's timeout is what is left of the wait: never `1.999999229s`.
    Mock::given(path("/health/ready")).respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(10))).mount(&server).await;
    let o = bounded(p.spawnable_run(&server.uri(), &["s.yaml", "--wait-ready", "2s", "--timeout", "5s"]), 20).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(out.contains("no response within"), "{out}");
    assert!(!regex::Regex::new(r"\d\.\d{4,}").unwrap().is_match(&out), "{out}");
}
