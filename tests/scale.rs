//! Concurrency and scale: shared and per-suite users, shards and `merge`, `--wait-ready`, and
//! the response body cap. Functional checks only; timings live in `bench/`.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

fn write_suites(p: &Project, n: usize, auth: &str) {
    for i in 0..n {
        p.write(
            &format!("smoke-suites/s{i:02}.yaml"),
            &format!("name: suite {i}\nauth: {auth}\nsteps:\n  - name: one\n    request: {{ path: /api/s/{i} }}\n"),
        );
    }
}

async fn any_get_ok(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path_regex("^/api/s/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(server)
        .await;
}

fn report(p: &Project, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p.path().join(name)).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_suites_share_one_user_and_one_login() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    any_get_ok(&server).await;
    let p = Project::new();
    write_suites(&p, 6, "user");
    let o = output(p.run(&server.uri(), &["--jobs", "4"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(hits(&server, "POST", CREATE).await.len(), 1);
    // One login for the run; the second one, after the delete, proves the user is gone.
    let logins = hits(&server, "POST", LOGIN).await;
    assert_eq!(logins.len(), 2);
    let order: Vec<String> = server.received_requests().await.unwrap().iter().map(|r| format!("{} {}", r.method, r.url.path())).collect();
    assert_eq!(order.iter().rev().take(2).collect::<Vec<_>>(), [&format!("POST {LOGIN}"), &format!("DELETE {DELETE_USER}")], "{order:?}");
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn scope_suite_creates_and_deletes_one_user_per_suite() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201)).mount(&server).await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::minting()).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(&server).await;
    any_get_ok(&server).await;
    let p = Project::new();
    write_suites(&p, 3, "user");
    p.write("smoke-suites/anon.yaml", "auth: none\nsteps:\n  - request: { path: /api/s/x }\n");
    p.write("smoke-suites/smokegate.yaml", "auth:\n  scope: suite\n");
    let o = output(p.run(&server.uri(), &["--jobs", "2"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let emails: BTreeSet<String> = hits(&server, "POST", CREATE)
        .await
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails.len(), 3, "one user per authenticated suite, none for the anonymous one");
    assert_eq!(hits(&server, "DELETE", DELETE_USER).await.len(), 3, "and every one deleted");
    assert!(p.journal_files().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_cover_every_suite_exactly_once_and_merge_back() {
    let server = MockServer::start().await;
    any_get_ok(&server).await;
    let p = Project::new();
    write_suites(&p, 12, "none");
    let all: BTreeSet<String> = (0..12).map(|i| format!("smoke-suites/s{i:02}.yaml")).collect();
    for n in 1..=5u32 {
        let mut seen: Vec<String> = Vec::new();
        let mut files = Vec::new();
        for k in 1..=n {
            let name = format!("shard-{k}-of-{n}.json");
            let o = output(p.run(&server.uri(), &["smoke-suites", "--shard", &format!("{k}/{n}"), "--json", &name])).await;
            assert_eq!(o.status.code(), Some(0), "shard {k}/{n}: {}", text(&o));
            let r = report(&p, &name);
            seen.extend(r["suites"].as_array().unwrap().iter().map(|s| s["file"].as_str().unwrap().to_owned()));
            files.push(name);
        }
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(seen.len(), 12, "N={n}: no suite runs twice");
        assert_eq!(unique, all, "N={n}: every suite runs");
        if n == 4 {
            let mut c = p.cmd();
            c.arg("merge").args(&files).args(["--junit", "merged.xml", "--json", "merged.json"]);
            let o = output(c).await;
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            assert!(text(&o).contains("merged 4 reports: 12 passed, 0 failed"), "{}", text(&o));
            let merged = report(&p, "merged.json");
            assert_eq!(merged["run"]["passed"], 12);
            assert_eq!(merged["suites"].as_array().unwrap().len(), 12);
            let xml = std::fs::read_to_string(p.path().join("merged.xml")).unwrap();
            assert_eq!(xml.matches("<testcase ").count(), 12);
        }
    }
    // The split is a function of the path alone: adding a suite moves no other suite.
    let before = report(&p, "shard-2-of-3.json");
    write_suites(&p, 13, "none");
    let o = output(p.run(&server.uri(), &["smoke-suites", "--shard", "2/3", "--json", "again.json"])).await;
    assert_eq!(o.status.code(), Some(0));
    let files = |r: &Value| -> BTreeSet<String> {
        r["suites"].as_array().unwrap().iter().map(|s| s["file"].as_str().unwrap().to_owned()).collect()
    };
    let after = files(&report(&p, "again.json"));
    assert!(files(&before).is_subset(&after), "{:?} ⊄ {after:?}", files(&before));
}

#[tokio::test(flavor = "multi_thread")]
async fn merge_keeps_the_worst_exit_code_and_rejects_foreign_files() {
    let server = MockServer::start().await;
    any_get_ok(&server).await;
    Mock::given(method("GET")).and(path("/api/broken")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    let p = Project::new();
    p.write("a/ok.yaml", "auth: none\nsteps:\n  - request: { path: /api/s/1 }\n");
    p.write("b/bad.yaml", "auth: none\nsteps:\n  - name: broken\n    request: { path: /api/broken }\n");
    assert_eq!(output(p.run(&server.uri(), &["a", "--json", "a.json"])).await.status.code(), Some(0));
    assert_eq!(output(p.run(&server.uri(), &["b", "--json", "b.json"])).await.status.code(), Some(1));
    let mut c = p.cmd();
    c.args(["merge", "a.json", "b.json", "--junit", "m.xml"]);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("✗ bad › broken · server-error"), "{}", text(&o));
    assert!(std::fs::read_to_string(p.path().join("m.xml")).unwrap().contains("type=\"server-error\""));

    p.write("junk.json", "{\"hello\": 1}");
    let mut c = p.cmd();
    c.args(["merge", "a.json", "junk.json"]);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("junk.json: expected a smokegate report with schema_version 1"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_ready_polls_until_ready_and_exits_4_when_it_never_is() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/health/ready"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path("/health/ready")).respond_with(ResponseTemplate::new(200)).with_priority(2).mount(&server).await;
    any_get_ok(&server).await;
    let p = Project::new();
    write_suites(&p, 1, "none");
    let o = output(p.run(&server.uri(), &["--wait-ready", "10s"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("gateway ready after"), "{}", text(&o));
    assert_eq!(hits(&server, "GET", "/health/ready").await.len(), 3);

    let never = MockServer::start().await;
    Mock::given(method("GET")).and(path("/health/ready")).respond_with(ResponseTemplate::new(503)).mount(&never).await;
    let o = output(p.run(&never.uri(), &["--wait-ready", "800ms", "--json", "nr.json"])).await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("not ready after") && text(&o).contains("answered 503"), "{}", text(&o));
    assert!(hits(&never, "GET", "/api/s/0").await.is_empty(), "no step ran");
    assert_eq!(report(&p, "nr.json")["run"]["exit_code"], 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_beyond_the_cap_fail_the_step_with_body_too_large() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(300_000)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/small"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(1000)))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write(
        "smoke-suites/big.yaml",
        "auth: none\nsteps:\n  - name: small\n    request: { path: /api/small }\n  - name: big\n    request: { path: /api/big }\n",
    );
    p.write("smoke-suites/smokegate.yaml", "max_body: 100KiB\n");
    let o = output(p.run(&server.uri(), &[])).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("✓ small") && text(&o).contains("✗ big · 200"), "{}", text(&o));
    assert!(text(&o).contains("body-too-large"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_keep_alive_connection_and_http2_when_the_gateway_offers_it() {
    let h2: &[&[u8]] = &[b"h2", b"http/1.1"];
    let h1: &[&[u8]] = &[b"http/1.1"];
    // (ALPN offered, --jobs, --wait-ready, version expected, requests, most connections allowed)
    let cases = [
        // Once a connection is up (here the readiness probe's), HTTP/2 multiplexes every suite on it.
        (h2, "4", true, hyper::Version::HTTP_2, 21, 1),
        // Without a first request, the suites' first requests race and may each open one; with
        // HTTP/1.1 a suite's next request can also start before its connection is back in the
        // pool. Reuse still has to show: at most half as many connections as requests.
        (h2, "4", false, hyper::Version::HTTP_2, 20, 10),
        (h1, "1", false, hyper::Version::HTTP_11, 20, 1),
        (h1, "4", false, hyper::Version::HTTP_11, 20, 10),
    ];
    for (alpn, jobs, ready, version, requests, max_connections) in cases {
        let tls = TlsGateway::start(alpn).await;
        let p = Project::new();
        p.write("ca.pem", &tls.ca_pem);
        for i in 0..4 {
            let steps = "  - request: { path: /health/live }\n".repeat(5);
            p.write(&format!("suites/s{i}.yaml"), &format!("name: s{i}\nauth: none\nsteps:\n{steps}"));
        }
        let mut args = vec!["suites", "--cacert", "ca.pem", "--jobs", jobs];
        if ready {
            args.extend(["--wait-ready", "5s"]);
        }
        let o = output(p.run(&tls.url, &args)).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let versions = tls.versions.lock().unwrap().clone();
        assert_eq!(versions.len(), requests, "{versions:?}");
        assert!(versions.iter().all(|v| *v == version), "{alpn:?}: {versions:?}");
        let conns = tls.connections.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=max_connections).contains(&conns), "{alpn:?} --jobs {jobs} ready {ready}: {conns} connections");
    }
}

/// A 10 MB array of 500,000 small objects judged from its text: counts, paths into it and a
/// capture pass; what fails is shown from the text (the array's size and its first items), for a
/// compact body and for the same body pretty-printed.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_array_is_judged_from_its_text_passing_and_failing() {
    let compact = serde_json::to_string(&vec![serde_json::json!({"a": {"b": [1, 2, 3]}}); 500_000]).unwrap();
    let pretty = serde_json::to_string_pretty(&vec![serde_json::json!({"a": {"b": [1, 2, 3]}}); 100_000]).unwrap();
    let server = MockServer::start().await;
    for (p, body) in [("/api/compact", &compact), ("/api/pretty", &pretty)] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body.clone().into_bytes(), "application/json"))
            .mount(&server)
            .await;
    }
    let p = Project::new();
    let suite = |path: &str, n: usize| {
        format!(
            "auth: none\nsteps:\n  - name: judged\n    request: {{ path: {path} }}\n    expect: {{ json: {{ $: {{ min_items: {n}, max_items: {n}, type: array }}, \"$[0].a.b\": {{ contains: 2 }}, \"$[-1].a.b[2]\": 3, \"$[*].a.b[0]\": {{ min_items: {n} }} }} }}\n    capture: {{ first: \"$[0].a\" }}\n  - name: used\n    request: {{ path: \"{path}?b={{{{ first.b[1] }}}}\" }}\n"
        )
    };
    p.write("ok/compact.yaml", &suite("/api/compact", 500_000));
    p.write("ok/pretty.yaml", &suite("/api/pretty", 100_000));
    let o = output(p.run(&server.uri(), &["ok"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let sent: Vec<_> = server.received_requests().await.unwrap().into_iter().filter_map(|r| r.url.query().map(str::to_owned)).collect();
    assert!(sent.iter().all(|q| q == "b=2") && sent.len() == 2, "the capture came from the text: {sent:?}");

    for (name, path) in [("compact", "/api/compact"), ("pretty", "/api/pretty")] {
        p.write(
            &format!("bad/{name}.yaml"),
            &format!("auth: none\nsteps:\n  - request: {{ path: {path} }}\n    expect: {{ json: {{ $: {{ max_items: 1 }}, \"$[*].a\": {{ contains: nope }}, \"$[1].a.b\": [3] }} }}\n"),
        );
    }
    let o = output(p.run(&server.uri(), &["bad", "--jobs", "1"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for n in ["500000", "100000"] {
        assert!(out.contains(&format!("expected at most 1 item, got an array of {n} items: [{{\"a\":{{\"b\":[1,2,3]}}}},")), "{out}");
    }
    assert!(out.contains("expected something containing \"nope\""), "{out}");
    assert!(out.contains("expected [3], got an array of 3 items: [1,2,3]"), "{out}");
}
