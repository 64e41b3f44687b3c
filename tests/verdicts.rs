//! Issue 13 §1: no false green. Each case was a green run that verified nothing; each must be
//! red, with a class that says why, and the same suite green once the fault is gone.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

async fn json_at(server: &MockServer, p: &str, body: serde_json::Value) {
    Mock::given(method("GET")).and(path(p)).respond_with(ResponseTemplate::new(200).set_body_json(body)).mount(server).await;
}

fn report(p: &Project, name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p.path().join(name)).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suite_whose_vars_cannot_render_is_red_not_skipped() {
    let server = MockServer::start().await;
    json_at(&server, "/x", json!({"ok": true})).await;
    let p = Project::new();
    p.write("s/a.yaml", "auth: none\nvars:\n  tenant: \"{{ env.UNSET_TENANT }}\"\nsteps:\n  - request: { path: \"/x?t={{ tenant }}\" }\n  - request: { path: /x }\n");
    p.write("s/b.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n");
    let o = output(p.run(&server.uri(), &["s", "--jobs", "1", "--json", "r.json"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("suite var `tenant` cannot be rendered"), "{out}");
    assert!(out.contains("· template"), "{out}");
    assert!(out.contains("· not-run"), "the second step did not run either: {out}");
    assert!(out.contains("1 passed, 2 failed"), "{out}");
    let r = report(&p, "r.json");
    assert_eq!((r["run"]["passed"].as_u64(), r["run"]["failed"].as_u64(), r["run"]["skipped"].as_u64()), (Some(1), Some(2), Some(0)));
    assert_eq!(r["run"]["exit_code"], 1);

    // `check` refuses it too, naming the file, line and column.
    let o = output({
        let mut c = p.cmd();
        c.args(["check", "s"]);
        c
    })
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("a.yaml:3:"), "{out}");
    assert!(out.contains("UNSET_TENANT") && out.contains("not set"), "{out}");

    // Set, it passes.
    let mut c = p.run(&server.uri(), &["s"]);
    c.env("UNSET_TENANT", "acme");
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn exists_on_an_empty_multi_node_selection_fails() {
    let server = MockServer::start().await;
    json_at(&server, "/empty", json!({"items": []})).await;
    json_at(&server, "/arr", json!([])).await;
    json_at(&server, "/full", json!({"items": [{"id": "ord-1"}]})).await;
    let p = Project::new();
    let suite = |p_: &str, path_: &str, m: &str| {
        format!("auth: none\nsteps:\n  - request: {{ path: {p_} }}\n    expect:\n      json:\n        \"{path_}\": {m}\n")
    };
    for (route, jp, m, want) in [
        ("/empty", "$.items[?@.id == 'ord-1']", "{ exists: true }", 1),
        ("/arr", "$[*].id", "{ exists: true }", 1),
        ("/arr", "$[*].id", "{ type: string }", 1),
        ("/arr", "$[*].id", "{ not: { equals: x } }", 1),
        ("/empty", "$.missing", "{ not: { equals: failed } }", 1),
        ("/empty", "$.items[*]", "{ max_items: 0 }", 0),
        ("/empty", "$.items[*]", "{ exists: false }", 0),
        ("/full", "$.items[?@.id == 'ord-1']", "{ exists: true }", 0),
        ("/full", "$.items[*].id", "{ contains: ord-1 }", 0),
    ] {
        p.write("s.yaml", &suite(route, jp, m));
        let o = output(p.run(&server.uri(), &["s.yaml"])).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(want), "{route} {jp} {m}:\n{out}");
        if want == 1 {
            assert!(out.contains("· assertion") && out.contains("nothing"), "{out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn capturing_null_fails_and_nothing_goes_out_with_none() {
    let server = MockServer::start().await;
    json_at(&server, "/items", json!({"id": null, "ids": []})).await;
    json_at(&server, "/api/items/None", json!({})).await;
    json_at(&server, "/api/items/null", json!({})).await;
    let p = Project::new();
    p.write(
        "s.yaml",
        "auth: none\nsteps:\n  - request: { path: /items }\n    capture: { item_id: $.id }\n  - request: { path: \"/api/items/{{ item_id }}\" }\n",
    );
    let o = output(p.run(&server.uri(), &["s.yaml"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("capture item_id ($.id)") && out.contains("got null"), "{out}");
    assert!(out.contains("· capture"), "{out}");
    assert!(hits(&server, "GET", "/api/items/None").await.is_empty() && hits(&server, "GET", "/api/items/null").await.is_empty());

    // An empty multi-node selection is nothing too.
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /items }\n    capture: { first: \"$.ids[*]\" }\n");
    let o = output(p.run(&server.uri(), &["s.yaml"])).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("nothing selected"), "{}", text(&o));

    // A step may say null is a value.
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /items }\n    capture: { item_id: { json: $.id, nullable: true } }\n");
    let o = output(p.run(&server.uri(), &["s.yaml"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_selection_is_red_on_every_shard_and_in_the_merge() {
    let server = MockServer::start().await;
    json_at(&server, "/x", json!({})).await;
    let p = Project::new();
    for i in 0..4 {
        p.write(&format!("s/s{i}.yaml"), "auth: none\nsteps:\n  - name: ping\n    request: { path: /x }\n");
    }
    for k in 1..=2 {
        let shard = format!("{k}/2");
        let o = output(p.run(&server.uri(), &["s", "--filter", "no-such-step", "--shard", &shard])).await;
        assert_eq!(o.status.code(), Some(1), "shard {shard}: {}", text(&o));
        assert!(text(&o).contains("no steps ran"), "{}", text(&o));
    }
    // A shard left empty by a non-empty selection is fine; the merge of what ran is judged whole.
    let mut empty_shard = None;
    for n in 2..40 {
        if let Some(k) =
            (1..=n).find(|k| (0..4).all(|i| smokegate::cli::run::shard_of(std::path::Path::new(&format!("s/s{i}.yaml")), n) != *k))
        {
            empty_shard = Some(format!("{k}/{n}"));
            break;
        }
    }
    let shard = empty_shard.expect("some shard count leaves a shard empty");
    let o = output(p.run(&server.uri(), &["s", "--shard", &shard, "--json", "empty.json"])).await;
    assert_eq!(o.status.code(), Some(0), "an empty shard of a real selection: {}", text(&o));
    let o = output({
        let mut c = p.cmd();
        c.args(["merge", "empty.json", "empty.json", "--json", "m.json"]);
        c
    })
    .await;
    assert_eq!(o.status.code(), Some(1), "shards that together ran nothing: {}", text(&o));
    assert_eq!(report(&p, "m.json")["run"]["exit_code"], 1);
}

/// A gateway that never enforces auth: every route answers 200 with or without a token.
async fn open_gateway() -> MockServer {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    Mock::given(method("POST"))
        .and(path("/api/orders"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "o1"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/orders/o1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "o1"})))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_probes_that_prove_nothing_are_red() {
    let server = open_gateway().await;
    let p = Project::new();
    let writes =
        "steps:\n  - name: create\n    request: { method: POST, path: /api/orders, json: { sku: a } }\n    expect: { status: 201 }\n";
    p.write("w.yaml", writes);
    let o = output(p.run(&server.uri(), &["w.yaml", "--auth-probes"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("· unprobed"), "{out}");
    // No write was replayed without credentials.
    assert_eq!(hits(&server, "POST", "/api/orders").await.len(), 1);
    // Without --auth-probes nobody asked: green.
    let o = output(p.run(&server.uri(), &["w.yaml"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Asked explicitly on a write: red, and the write is not replayed.
    p.write("w.yaml", &format!("{writes}    auth_probe: true\n"));
    let o = output(p.run(&server.uri(), &["w.yaml"])).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("writes are never replayed"), "{}", text(&o));
    assert_eq!(hits(&server, "POST", "/api/orders").await.len(), 3);
    // With a GET to replay, the open gateway is caught as auth-not-enforced.
    p.write("w.yaml", &format!("{writes}    capture: {{ order_id: $.id }}\n  - request: {{ path: \"/api/orders/{{{{ order_id }}}}\" }}\n"));
    let o = output(p.run(&server.uri(), &["w.yaml", "--auth-probes"])).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("auth-not-enforced"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_that_cannot_get_a_token_is_a_failure_not_a_skip() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201).set_body_json(json!({}))).mount(&server).await;
    // The first login hands out a token that expires in 3 s; every later login fails.
    Mock::given(method("POST"))
        .and(path(LOGIN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": jwt(3)})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(ResponseTemplate::new(503)).with_priority(2).mount(&server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    // The step takes long enough that the token is due for refresh when the probes start.
    Mock::given(method("GET"))
        .and(path("/api/slow"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})).set_delay(std::time::Duration::from_millis(2600)))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write("s.yaml", "steps:\n  - request: { path: /api/slow }\n");
    let o = output(p.run(&server.uri(), &["s.yaml", "--auth-probes"])).await;
    let out = text(&o);
    assert_ne!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("unprobed") && out.contains("no token to forge the probes from"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stubs_in_any_spelling_are_red_and_data_is_not_a_stub() {
    let p = Project::new();
    for body in [
        json!({"message": "Not yet implemented"}),
        json!({"error": "not_implemented"}),
        json!({"error": {"type": "NotImplementedError", "detail": "TODO"}}),
        json!({"errors": [{"code": "NOT_IMPLEMENTED"}]}),
    ] {
        let server = MockServer::start().await;
        json_at(&server, "/x", body.clone()).await;
        p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n");
        let o = output(p.run(&server.uri(), &["s.yaml"])).await;
        assert_eq!(o.status.code(), Some(1), "{body}: {}", text(&o));
        assert!(text(&o).contains("· stub"), "{body}: {}", text(&o));
    }
    // A created order whose own note says "not implemented" is data the step sent.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(
                json!({"id": "o1", "note": "gift wrap not implemented in v1", "message": "gift wrap not implemented in v1"}),
            ),
        )
        .mount(&server)
        .await;
    p.write(
        "s.yaml",
        "auth: none\nsteps:\n  - request: { method: POST, path: /orders, json: { note: gift wrap not implemented in v1, message: gift wrap not implemented in v1 } }\n    expect: { status: 201 }\n",
    );
    let o = output(p.run(&server.uri(), &["s.yaml"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// `check` fails on what `run` would fail on, and passes what `run` accepts.
#[test]
fn check_finds_what_run_would_fail_on() {
    let check = |files: &[(&str, &str)], env: &[(&str, &str)]| {
        let p = Project::new();
        for (name, text) in files {
            p.write(name, text);
        }
        let mut c = p.cmd();
        c.arg("check");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (o.status.code(), text(&o))
    };
    const ME: (&str, &str) = ("smoke-suites/me.yaml", "steps:\n  - request: { path: /api/me }\n");
    // An unset variable in the config's own auth steps.
    let cfg = (
        "smoke-suites/smokegate.yaml",
        "auth:\n  login:\n    request:\n      method: POST\n      path: \"/t/{{ env.SMOKE_TENANT }}/login\"\n",
    );
    let (code, out) = check(&[cfg, ME], &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("auth step `login`") && out.contains("SMOKE_TENANT") && out.contains("smokegate.yaml:5"), "{out}");
    assert_eq!(check(&[cfg, ME], &[("SMOKE_TENANT", "acme")]).0, Some(0));
    // A service account without credentials.
    let cfg = ("smoke-suites/smokegate.yaml", "auth:\n  mode: service-account\n");
    let (code, out) = check(&[cfg, ME], &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("needs SMOKE_USERNAME") && out.contains("needs SMOKE_PASSWORD") && out.contains("smokegate.yaml:2"), "{out}");
    assert_eq!(check(&[cfg, ME], &[("SMOKE_USERNAME", "svc"), ("SMOKE_PASSWORD", "pw-123456789")]).0, Some(0));
    // A teardown that uses what an earlier teardown step captured is valid.
    let teardown = (
        "smoke-suites/t.yaml",
        "steps:\n  - request: { path: /api/me }\nteardown:\n  - name: find\n    request: { path: /api/mine }\n    capture: { id: $.id }\n  - name: delete\n    request: { method: DELETE, path: \"/api/mine/{{ id }}\" }\n",
    );
    let (code, out) = check(&[teardown], &[]);
    assert_eq!(code, Some(0), "{out}");
    // `user.*` where no suite needs a user: the run never sets one up.
    let anon = ("smoke-suites/a.yaml", "auth: none\nsteps:\n  - request: { path: \"/api/{{ user.email }}\" }\n");
    let (code, out) = check(&[anon], &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("`user` can never be defined here"), "{out}");
    assert_eq!(check(&[anon, ME], &[]).0, Some(0), "with a suite that needs the user, it is set up");
}

/// `auth_probe: true` on a step that sends no credential proves nothing: refused by `check`
/// and `run` alike, at the step's line.
#[test]
fn auth_probe_on_a_step_without_credentials_is_refused() {
    let p = Project::new();
    p.write("smoke-suites/h.yaml", "steps:\n  - name: health\n    auth: none\n    auth_probe: true\n    request: { path: /health }\n");
    for args in [&["check"][..], &["run", "--gateway", "http://127.0.0.1:9"][..]] {
        let o = p.cmd().args(args).output().unwrap();
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {out}");
        assert!(out.contains("asks for `auth_probe: true` but sends no credential") && out.contains("h.yaml:2"), "{out}");
    }
}

/// `auth: admin` needs `auth.admin`, and is never probed: both said by `check` and `run`.
#[test]
fn admin_steps_need_an_admin_and_are_not_probed() {
    for (config, suite, needle) in [
        ("", "steps:\n  - name: all users\n    auth: admin\n    request: { path: /api/users }\n", "the config has no `auth.admin`"),
        (
            "auth:\n  admin: { username: a, password: b }\n",
            "steps:\n  - name: all users\n    auth: admin\n    auth_probe: true\n    request: { path: /api/users }\n",
            "runs as `auth: admin` (probes replay the user's steps)",
        ),
    ] {
        let p = Project::new();
        p.write("smoke-suites/smokegate.yaml", config);
        p.write("smoke-suites/a.yaml", suite);
        for args in [&["check"][..], &["run", "--gateway", "http://127.0.0.1:9"][..]] {
            let o = p.cmd().args(args).output().unwrap();
            let out = text(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {out}");
            assert!(out.contains(needle) && out.contains("a.yaml:"), "{args:?}: {out}");
        }
    }
}
