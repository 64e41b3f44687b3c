//! Real deployments (issue #16), through the real binary: `eventually`, token providers
//! (client credentials, API keys, session cookies), contracts (a step's JSON Schema, the run's
//! OpenAPI document), and variables, form bodies, regex captures and `continue_on_failure`.
//! The contract examples run as written against the reference gateway.

use std::path::PathBuf;

use serde_json::{Value as J, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

/// Runs `smokegate run` on the project's `suites/` against the gateway, with a JSON report;
/// returns the exit code, the console and the report.
fn run_report(p: &Project, gateway: &str, extra: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, J) {
    let report = p.path().join("report.json");
    let mut c = p.std_cmd();
    c.arg("run").arg("suites").arg("--gateway").arg(gateway).arg("--state-dir").arg(p.state()).arg("--json").arg(&report).args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let r = std::fs::read_to_string(&report).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(J::Null);
    (o.status.code(), text(&o), r)
}

/// [`run_report`] off the async runtime, for tests whose gateway is a wiremock server.
async fn run_mock(p: Project, uri: String, extra: &'static [&'static str]) -> (Option<i32>, String, J) {
    tokio::task::spawn_blocking(move || run_report(&p, &uri, extra, &[])).await.unwrap()
}

fn steps(r: &J) -> Vec<J> {
    r["suites"].as_array().unwrap().iter().flat_map(|s| s["steps"].as_array().unwrap().clone()).collect()
}

fn step<'a>(all: &'a [J], name: &str) -> &'a J {
    all.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no step `{name}` in {all:?}"))
}

// ------------------------------------------------------------------------------- eventually

/// The contract example of `eventually`, on the reference gateway's jobs: polled until done.
const JOBS: &str = r#"
name: jobs
steps:
  - name: start
    request: { method: POST, path: /api/jobs, json: { fail: {{ fail }} } }
    expect: { status: 202 }
    capture: { job_id: $.id }
  - name: the export job finishes
    request: { path: "/api/jobs/{{ job_id }}" }
    eventually: { within: 10s, every: 250ms, unless: { json: { $.status: failed } } }
    expect:
      json:
        $.status: done
teardown:
  - name: delete the job
    request: { method: DELETE, path: "/api/jobs/{{ job_id }}" }
    expect: { status: [204, 404] }
"#;

#[test]
fn eventually_polls_until_the_expectation_holds_each_attempt_its_own_request() {
    let gate = Refgate::start(refgate::RefgateOptions { job_delay: std::time::Duration::from_millis(700), ..Default::default() });
    let p = Project::new();
    p.write("suites/jobs.yaml", &JOBS.replace("{{ fail }}", "false"));
    let (code, out, r) = run_report(&p, &gate.gateway, &[], &[]);
    assert_eq!(code, Some(0), "{out}");
    let all = steps(&r);
    let poll = step(&all, "the export job finishes");
    let attempts = poll["attempts"].as_u64().unwrap();
    assert!((3..=6).contains(&attempts), "700 ms at a 250 ms pace: {attempts} attempts");
    let crumbs = poll["breadcrumbs"].as_array().unwrap();
    assert_eq!(crumbs.len() as u64, attempts, "one breadcrumb per attempt");
    let ids: std::collections::BTreeSet<&str> = crumbs.iter().map(|c| c["request_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len() as u64, attempts, "each attempt has its own reqId");
    assert_eq!(crumbs.iter().map(|c| c["attempt"].as_u64().unwrap()).collect::<Vec<_>>(), (1..=attempts).collect::<Vec<_>>());
    assert!(out.contains(&format!("{attempts} attempts")), "the console shows the attempts: {out}");
    assert_eq!(gate.inspect(), (0, 0));
}

#[test]
fn eventually_stops_at_once_when_the_terminal_state_holds() {
    let gate = Refgate::start(refgate::RefgateOptions { job_delay: std::time::Duration::from_millis(300), ..Default::default() });
    let p = Project::new();
    p.write("suites/jobs.yaml", &JOBS.replace("{{ fail }}", "true"));
    let started = std::time::Instant::now();
    let (code, out, r) = run_report(&p, &gate.gateway, &[], &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "did not wait out `within`");
    let all = steps(&r);
    let poll = step(&all, "the export job finishes");
    assert_eq!(poll["failure_class"], "assertion");
    assert!(poll["message"].as_str().unwrap().contains("terminal state (`unless` held)"), "{poll}");
    assert!(poll["attempts"].as_u64().unwrap() >= 2);
    assert_eq!(gate.inspect(), (0, 0), "the teardown still ran");
}

#[tokio::test]
async fn eventually_gives_up_with_the_last_failure_and_the_attempt_count() {
    let server = MockServer::start().await;
    Mock::given(path("/api/jobs/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "running"})))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write(
        "suites/s.yaml",
        "auth: none\nsteps:\n  - name: poll\n    request: { path: /api/jobs/1 }\n    eventually: { within: 800ms, every: 200ms }\n    expect: { json: { $.status: done } }\n",
    );
    let (code, out, r) = run_mock(p, server.uri(), &[]).await;
    assert_eq!(code, Some(1), "{out}");
    let all = steps(&r);
    let poll = step(&all, "poll");
    let msg = poll["message"].as_str().unwrap();
    assert!(msg.contains("$.status: expected \"done\", got \"running\"") && msg.contains("still failing after"), "{msg}");
    assert!((3..=5).contains(&poll["attempts"].as_u64().unwrap()), "{poll}");
}

/// A 401 is not waited out, and a 5xx is retried only inside `eventually`.
#[tokio::test]
async fn eventually_retries_a_5xx_but_never_a_refusal() {
    let server = MockServer::start().await;
    Mock::given(path("/flaky")).respond_with(ResponseTemplate::new(503)).up_to_n_times(2).mount(&server).await;
    Mock::given(path("/flaky")).respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true}))).mount(&server).await;
    Mock::given(path("/refused")).respond_with(ResponseTemplate::new(401)).mount(&server).await;
    let p = Project::new();
    let suite = |name: &str, route: &str, ev: bool| {
        let ev = if ev { "\n    eventually: { within: 5s, every: 100ms }" } else { "" };
        format!("name: {name}\nauth: none\nsteps:\n  - name: {name}\n    request: {{ path: {route} }}{ev}\n")
    };
    p.write("suites/a.yaml", &suite("flaky-eventually", "/flaky", true));
    p.write("suites/b.yaml", &suite("refused", "/refused", true));
    let (code, out, r) = run_mock(p, server.uri(), &[]).await;
    assert_eq!(code, Some(1), "{out}");
    let all = steps(&r);
    assert_eq!(step(&all, "flaky-eventually")["outcome"], "passed");
    assert_eq!(step(&all, "flaky-eventually")["attempts"], 3);
    let refused = step(&all, "refused");
    assert_eq!((refused["failure_class"].as_str(), refused.get("attempts")), (Some("auth"), None), "one attempt: {refused}");
    // Without `eventually`, a 5xx is a failure at once.
    let server = MockServer::start().await;
    Mock::given(path("/flaky")).respond_with(ResponseTemplate::new(503)).up_to_n_times(1).mount(&server).await;
    let p = Project::new();
    p.write("suites/a.yaml", &suite("flaky", "/flaky", false));
    let (code, _, r) = run_mock(p, server.uri(), &[]).await;
    assert_eq!(code, Some(1));
    assert_eq!(step(&steps(&r), "flaky")["failure_class"], "server-error");
}

// ------------------------------------------------------------------------- token providers

const ORDERS_READ: &str = "name: orders\nsteps:\n  - name: list orders\n    request: { path: /api/orders }\n    expect: { status: 200, json: { $: { type: array } } }\n";

/// The contract example, as written; only the identity provider's port is the one the in-process
/// reference gateway got.
fn client_credentials_config(token_url: &str) -> String {
    include_str!("fixtures/contract-client-credentials.yaml").replace("http://127.0.0.1:4103/token", token_url)
}

#[test]
fn client_credentials_get_a_token_from_the_identity_provider_and_create_no_user() {
    let secret = "cc-secret-7f3a9b2c41d8";
    let gate = Refgate::start(refgate::RefgateOptions { client_secret: secret.into(), ..Default::default() });
    let token_url = gate.token.clone();
    let p = Project::new();
    p.write("suites/smokegate.yaml", &client_credentials_config(&token_url));
    p.write("suites/orders.yaml", ORDERS_READ);
    let env = [("SMOKE_CLIENT_ID", "smoke-client"), ("SMOKE_CLIENT_SECRET", secret)];
    let (code, out, r) = run_report(&p, &gate.gateway, &["-v", "--auth-probes"], &env);
    assert_eq!(code, Some(0), "{out}");
    let idp = token_url.trim_end_matches("/token");
    assert!(out.contains(&format!("identity provider {idp}")), "the header line names it: {out}");
    assert_eq!(r["run"]["identity_provider"], idp, "and the report");
    let crumbs = r["breadcrumbs"].as_array().unwrap();
    assert!(crumbs.iter().any(|c| c["phase"] == "bootstrap.login" && c["path"] == "/token"), "{crumbs:?}");
    assert!(!crumbs.iter().any(|c| c["phase"] == "bootstrap.create" || c["phase"] == "cleanup"), "no user created or deleted");
    assert!(out.contains("probe: forged signature · 401"), "probes forge the provider's JWT: {out}");
    assert_eq!(gate.inspect(), (0, 0));
    assert!(!out.contains(secret) && !std::fs::read_to_string(p.path().join("report.json")).unwrap().contains(secret));
    let basic = base64_of(&format!("smoke-client:{secret}"));
    assert!(!out.contains(&basic), "nor its Basic form");

    // `auth_method: post` sends the secret in the body instead; a wrong secret is exit 3.
    p.write("suites/smokegate.yaml", &format!("{}  auth_method: post\n", client_credentials_config(&token_url)));
    let (code, out, _) = run_report(&p, &gate.gateway, &[], &env);
    assert_eq!(code, Some(0), "{out}");
    let (code, out, _) =
        run_report(&p, &gate.gateway, &[], &[("SMOKE_CLIENT_ID", "smoke-client"), ("SMOKE_CLIENT_SECRET", "wrong-secret-123")]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("401") && !out.contains("wrong-secret-123"), "{out}");
}

#[test]
fn the_identity_provider_is_for_tokens_only_a_suite_url_there_is_refused() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let token_url = gate.token.clone();
    let p = Project::new();
    p.write("suites/smokegate.yaml", &client_credentials_config(&token_url));
    p.write("suites/sneaky.yaml", &format!("steps:\n  - name: mint one myself\n    request: {{ method: POST, url: \"{token_url}\" }}\n"));
    let (code, out, _) = run_report(&p, &gate.gateway, &[], &[("SMOKE_CLIENT_ID", "smoke-client"), ("SMOKE_CLIENT_SECRET", "x")]);
    assert_eq!(code, Some(6), "{out}");
    assert!(out.contains("gateway-only policy") && out.contains("sneaky.yaml"), "{out}");
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The contract example, as written.
const API_KEY_CONFIG: &str = include_str!("fixtures/contract-api-key.yaml");

#[test]
fn an_api_key_goes_in_its_header_and_probes_replay_without_it_and_forged() {
    let key = "ak-live-4c1d9e7b2a";
    let p = Project::new();
    p.write("suites/smokegate.yaml", API_KEY_CONFIG);
    p.write(
        "suites/keyed.yaml",
        "name: keyed\nsteps:\n  - name: who am i\n    request: { path: /api/keyed/whoami }\n    expect: { json: { $.caller: api-key-client } }\n",
    );
    let gate = Refgate::start(refgate::RefgateOptions { api_key: key.into(), ..Default::default() });
    let (code, out, r) = run_report(&p, &gate.gateway, &["-v", "--auth-probes"], &[("SMOKE_API_KEY", key)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("probe: no api key · 401") && out.contains("probe: forged api key · 401"), "{out}");
    assert!(!out.contains(key) && !r.to_string().contains(key), "the key is masked everywhere");
    assert_eq!(gate.inspect(), (0, 0), "no user");
    // A gateway that does not check the key is caught by the probes.
    let broken = Refgate::start(refgate::RefgateOptions {
        api_key: key.into(),
        faults: [refgate::Fault::AuthOff].into_iter().collect(),
        ..Default::default()
    });
    let (code, out, _) = run_report(&p, &broken.gateway, &["--auth-probes"], &[("SMOKE_API_KEY", key)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("auth-not-enforced"), "{out}");
}

#[tokio::test]
async fn a_login_answered_with_a_session_cookie_sends_that_cookie() {
    let server = MockServer::start().await;
    let sid = "sess-9d8c7b6a5f4e3d2c";
    Mock::given(method("POST"))
        .and(path("/api/auth/V1/auth/create"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"user": {"id": "u1"}})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/auth/V1/auth/login"))
        .respond_with(
            ResponseTemplate::new(200).insert_header("set-cookie", format!("sid={sid}; Path=/; HttpOnly")).set_body_json(json!({})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/me"))
        .and(header("cookie", format!("sid={sid}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"me": 1})))
        .mount(&server)
        .await;
    Mock::given(path("/api/me")).respond_with(ResponseTemplate::new(401)).mount(&server).await;
    Mock::given(method("DELETE"))
        .and(path("/api/auth/V1/auth/user"))
        .and(header("cookie", format!("sid={sid}").as_str()))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write(
        "suites/smokegate.yaml",
        "auth:\n  login:\n    request: { method: POST, path: /api/auth/V1/auth/login, json: { email: \"{{ user.email }}\", password: \"{{ user.password }}\" } }\n    token: { cookie: sid }\n  verify:\n    request: { path: /api/me }\n    auth: none\n    expect: { status: 401 }\n",
    );
    p.write("suites/me.yaml", "steps:\n  - name: me\n    request: { path: /api/me }\n    expect: { json: { $.me: 1 } }\n");
    let (code, out, r) = run_mock(p, server.uri(), &["-v"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains(sid) && !r.to_string().contains(sid), "the cookie is masked");
    assert_eq!(hits(&server, "DELETE", "/api/auth/V1/auth/user").await.len(), 1, "deleted with the cookie");
}

// ------------------------------------------------------------------------------- contracts

#[tokio::test]
async fn a_step_schema_passes_and_fails_with_the_pointer_and_the_rule() {
    let server = MockServer::start().await;
    Mock::given(path("/api/orders/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1", "qty": "three", "token": "not-shown"})))
        .mount(&server)
        .await;
    Mock::given(path("/api/orders/2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "2", "qty": 3})))
        .mount(&server)
        .await;
    let p = Project::new();
    // The contract example's shape: `schema:` relative to the suite (draft-07 here).
    p.write(
        "suites/schemas/order.json",
        r#"{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["id", "qty"], "properties": {"id": {"type": "string"}, "qty": {"type": "integer"}}}"#,
    );
    p.write(
        "suites/orders.yaml",
        "auth: none\nsteps:\n  - name: good\n    request: { path: /api/orders/2 }\n    expect:\n      status: 200\n      schema: schemas/order.json\n  - name: bad\n    request: { path: /api/orders/1 }\n    expect:\n      status: 200\n      schema: schemas/order.json        # JSON Schema (2020-12 and draft-07), path relative to the suite\n",
    );
    let (code, out, r) = run_mock(p, server.uri(), &[]).await;
    assert_eq!(code, Some(1), "{out}");
    let all = steps(&r);
    assert_eq!(step(&all, "good")["outcome"], "passed");
    let bad = step(&all, "bad");
    assert_eq!(bad["failure_class"], "schema");
    let msg = bad["message"].as_str().unwrap();
    assert!(msg.contains("/qty") && msg.contains("(rule `type`)") && msg.contains("\"three\""), "{msg}");
}

#[test]
fn a_broken_schema_file_is_a_load_error_at_its_line() {
    let p = Project::new();
    p.write("suites/schemas/bad.json", r#"{"type": 12}"#);
    p.write("suites/s.yaml", "auth: none\nsteps:\n  - name: x\n    request: { path: /x }\n    expect:\n      schema: schemas/bad.json\n");
    let o = p.cmd().args(["check", "suites"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("s.yaml:6:") && text(&o).contains("not a valid JSON Schema"), "{}", text(&o));
    p.write(
        "suites/s.yaml",
        "auth: none\nsteps:\n  - name: x\n    request: { path: /x }\n    expect:\n      schema: schemas/missing.json\n",
    );
    let o = p.cmd().args(["check", "suites"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("missing.json"), "{}", text(&o));
}

const OPENAPI: &str = r#"openapi: 3.0.3
info: { title: t, version: "1" }
paths:
  /api/orders/{id}:
    get:
      responses:
        "200":
          content:
            application/json:
              schema:
                type: object
                required: [id]
                properties: { id: { type: string }, note: { type: string, nullable: true } }
  /api/other:
    get:
      responses:
        "200": { description: ok }
"#;

#[tokio::test]
async fn every_response_is_checked_against_the_openapi_document_and_coverage_is_reported() {
    let server = MockServer::start().await;
    Mock::given(path("/api/orders/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1", "note": null})))
        .mount(&server)
        .await;
    Mock::given(path("/api/orders/2")).respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 2}))).mount(&server).await;
    Mock::given(path("/api/orders/3")).respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "x"}))).mount(&server).await;
    let p = Project::new();
    p.write("suites/api/openapi.yaml", OPENAPI);
    p.write(
        "suites/smokegate.yaml",
        "openapi: api/openapi.yaml               # 3.0 or 3.1; every response is checked against its operation\n",
    );
    let s = |name: &str, n: u8, extra: &str| {
        format!("  - name: {name}\n    request: {{ path: /api/orders/{n} }}\n    expect: {{ status: [200, 404]{extra} }}\n")
    };
    p.write(
        "suites/orders.yaml",
        &format!(
            "auth: none\ncontinue_on_failure: true\nsteps:\n{}{}{}{}",
            s("conforms", 1, ""),
            s("violates", 2, ""),
            s("unlisted status", 3, ""),
            s("opted out", 2, ", openapi: false")
        ),
    );
    let (code, out, r) = run_mock(p, server.uri(), &[]).await;
    assert_eq!(code, Some(1), "{out}");
    let all = steps(&r);
    assert_eq!(step(&all, "conforms")["outcome"], "passed", "3.0 nullable is honoured");
    assert_eq!(step(&all, "violates")["failure_class"], "schema");
    assert!(step(&all, "violates")["message"].as_str().unwrap().contains("/id"), "{all:?}");
    let unlisted = step(&all, "unlisted status");
    assert_eq!(unlisted["failure_class"], "schema");
    assert!(unlisted["message"].as_str().unwrap().contains("a status the document lists (200)"), "{unlisted}");
    assert_eq!(step(&all, "opted out")["outcome"], "passed");
    assert!(out.contains("openapi: 1 of 2 operations (api/openapi.yaml)"), "{out}");
    assert_eq!(r["run"]["openapi"]["exercised"], 1);
    assert_eq!(r["run"]["openapi"]["total"], 2);
    assert_eq!(r["run"]["openapi"]["missed"], json!(["GET /api/other"]));
}

#[test]
fn the_reference_gateway_conforms_to_its_document_until_the_contract_fault() {
    let suites = concat!(env!("CARGO_MANIFEST_DIR"), "/smoke-suites");
    for (fault, want) in [(None, Some(0)), (Some(refgate::Fault::Contract), Some(1))] {
        let gate = Refgate::start(refgate::RefgateOptions { faults: fault.into_iter().collect(), ..Default::default() });
        let p = Project::new();
        let o = p.std_cmd().args(["run", suites, "--gateway", &gate.gateway]).arg("--state-dir").arg(p.state()).output().unwrap();
        let out = text(&o);
        assert_eq!(o.status.code(), want, "{out}");
        assert!(out.contains("openapi: ") && out.contains(" operations (openapi.yaml)"), "{out}");
        if fault.is_some() {
            assert!(out.contains("the order can be read back") && out.contains("schema") && out.contains("/created"), "{out}");
        }
        assert_eq!(gate.inspect(), (0, 0));
    }
}

// ------------------------------------------------------------- variables, bodies, captures

/// The contract example of section 4, as written, against the reference gateway's echo service.
const FORMS: &str = r#"steps:
  - name: create from a form, capture from a header
    request:
      method: POST
      path: /api/echo/forms
      form: { a: "1", b: "two words" }
    expect:
      json:
        $.form.b: "two words"             # the echo service shows the decoded form
    capture:
      first_word: { json: $.form.b, regex: "^(\\w+) " }
      trace: { header: X-Request-Id, regex: "^([0-9a-f-]+)$" }
  - name: show the captures
    request: { method: POST, path: /api/echo/forms, form: { w: "{{ first_word }}", t: "{{ trace }}" } }
    expect:
      json:
        $.form.w: two
        $.form.t: { matches: "^[0-9a-f-]{36}$" }
"#;

#[test]
fn forms_are_sent_url_encoded_and_regex_captures_keep_the_group() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let p = Project::new();
    p.write("suites/forms.yaml", FORMS);
    let (code, out, _) = run_report(&p, &gate.gateway, &[], &[]);
    assert_eq!(code, Some(0), "{out}");
    // A regex that does not match is a capture failure.
    p.write("suites/forms.yaml", &FORMS.replace(r#"regex: "^(\\w+) ""#, r#"regex: "^\\d+$""#));
    let (code, out, r) = run_report(&p, &gate.gateway, &[], &[]);
    assert_eq!(code, Some(1), "{out}");
    let first = step(&steps(&r), "create from a form, capture from a header").clone();
    assert_eq!(first["failure_class"], "capture", "{first}");
}

/// `delay` waits before the step's first request: the gap between two requests' send times
/// in the report is at least the delay. A lifecycle step refuses the key (it would be ignored).
#[test]
fn delay_waits_before_a_step() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let p = Project::new();
    p.write("suites/d.yaml", "auth: none\nsteps:\n  - name: first\n    request: { path: /health/live }\n  - name: later\n    delay: 400ms\n    request: { path: /health/live }\n");
    let (code, out, r) = run_report(&p, &gate.gateway, &[], &[]);
    assert_eq!(code, Some(0), "{out}");
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = steps(&r)
        .iter()
        .flat_map(|s| s["breadcrumbs"].as_array().unwrap().clone())
        .map(|c| chrono::DateTime::parse_from_rfc3339(c["time"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(times.len(), 2, "{r}");
    assert!((times[1] - times[0]).num_milliseconds() >= 400, "{:?}", times);
    p.write("suites/smokegate.yaml", "auth:\n  login:\n    delay: 1s\n    request: { method: POST, path: /l }\n");
    let (code, out, _) = run_report(&p, &gate.gateway, &[], &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("delay"), "{out}");
}

/// `body: true` captures the body's text (with `regex`, a part of it: an HTML form's CSRF token),
/// `status: true` the status code; a body regex that finds nothing fails as `capture`.
#[test]
fn body_and_status_captures() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let p = Project::new();
    let suite = r#"steps:
  - name: a body and its status
    request: { method: POST, path: /api/echo/forms, form: { csrf: "tok-4521" } }
    capture:
      csrf: { body: true, regex: "tok-(\\d+)" }
      code: { status: true }
  - name: both are values
    request: { method: POST, path: /api/echo/forms, form: { c: "{{ csrf }}", s: "{{ code }}" } }
    expect:
      json:
        $.form.c: "4521"
        $.form.s: "200"
"#;
    p.write("suites/caps.yaml", suite);
    let (code, out, _) = run_report(&p, &gate.gateway, &[], &[]);
    assert_eq!(code, Some(0), "{out}");
    p.write("suites/caps.yaml", &suite.replace("tok-(", "nope-("));
    let (code, out, r) = run_report(&p, &gate.gateway, &[], &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(step(&steps(&r), "a body and its status")["failure_class"], "capture", "{out}");
    // One source per capture.
    p.write("suites/caps.yaml", "steps:\n  - name: x\n    request: { path: /x }\n    capture: { c: { body: true, status: true } }\n");
    let (code, out, _) = run_report(&p, &gate.gateway, &[], &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("caps.yaml:4") && out.contains("`body: true` or `status: true`"), "{out}");
    assert_eq!(gate.inspect(), (0, 0));
}

#[tokio::test]
async fn vars_from_the_command_line_win_over_config_and_suite_and_check_sees_them() {
    let server = MockServer::start().await;
    Mock::given(path("/v/cli/file/suite")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let p = Project::new();
    p.write("suites/smokegate.yaml", "vars: { a: config, b: config }\n");
    p.write(
        "suites/s.yaml",
        "auth: none\nvars: { b: suite, c: suite }\nsteps:\n  - name: v\n    request: { path: \"/v/{{ a }}/{{ d }}/{{ c }}\" }\n",
    );
    p.write("vars.yaml", "a: file\nd: file\n");
    let uri = server.uri();
    let p = tokio::task::spawn_blocking(move || {
        let (code, out, _) = run_report(&p, &uri, &["--vars-file", "vars.yaml", "--var", "a=cli"], &[]);
        assert_eq!(code, Some(0), "{out}");
        // `check` knows `d` only from the command line.
        let chk = p.cmd().args(["check", "suites"]).output().unwrap();
        assert_eq!(chk.status.code(), Some(2), "{}", text(&chk));
        assert!(text(&chk).contains("`d` can never be defined here"), "{}", text(&chk));
        let chk = p.cmd().args(["check", "suites", "--vars-file", "vars.yaml"]).output().unwrap();
        assert_eq!(chk.status.code(), Some(0), "{}", text(&chk));
        let bad = p.cmd().args(["check", "suites", "--var", "run=x"]).output().unwrap();
        assert_eq!(bad.status.code(), Some(2));
        assert!(text(&bad).contains("--var `run`"), "{}", text(&bad));
        p
    })
    .await
    .unwrap();
    drop(p);
    assert_eq!(hits(&server, "GET", "/v/cli/file/suite").await.len(), 1, "--var beat the file, the file the config; suite vars stayed");
}

#[tokio::test]
async fn continue_on_failure_runs_later_steps_and_the_teardown() {
    let server = MockServer::start().await;
    Mock::given(path("/one")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    Mock::given(path("/two")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    Mock::given(path("/down")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let p = Project::new();
    p.write(
        "suites/s.yaml",
        "auth: none\ncontinue_on_failure: true\nsteps:\n  - name: one\n    request: { path: /one }\n    capture: { id: $.id }\n  - name: needs one\n    request: { path: \"/x/{{ id }}\" }\n  - name: two\n    request: { path: /two }\nteardown:\n  - name: down\n    request: { path: /down }\n",
    );
    let (code, out, r) = run_mock(p, server.uri(), &[]).await;
    assert_eq!(code, Some(1), "{out}");
    let all = steps(&r);
    assert_eq!(step(&all, "one")["failure_class"], "server-error");
    assert_eq!(step(&all, "needs one")["failure_class"], "capture", "failed, not skipped");
    assert_eq!(step(&all, "two")["outcome"], "passed", "later steps still run");
    assert_eq!(step(&all, "down")["outcome"], "passed");
    assert_eq!(hits(&server, "GET", "/down").await.len(), 1);
}

/// Client-credentials tokens are refreshed like a login's: before they expire, once.
#[test]
fn client_credentials_tokens_are_refreshed_before_they_expire() {
    let gate = Refgate::start(refgate::RefgateOptions {
        faults: [refgate::Fault::ShortTtl].into_iter().collect(),
        job_delay: std::time::Duration::from_millis(2600),
        ..Default::default()
    });
    let p = Project::new();
    p.write("suites/smokegate.yaml", &client_credentials_config(&gate.token));
    p.write("suites/jobs.yaml", &JOBS.replace("{{ fail }}", "false"));
    let secret = refgate::RefgateOptions::default().client_secret;
    let (code, out, r) = run_report(&p, &gate.gateway, &[], &[("SMOKE_CLIENT_ID", "smoke-client"), ("SMOKE_CLIENT_SECRET", &secret)]);
    assert_eq!(code, Some(0), "{out}");
    let crumbs = r["breadcrumbs"].as_array().unwrap();
    let refreshes = crumbs.iter().filter(|c| c["phase"] == "refresh" && c["path"] == "/token").count();
    assert!(refreshes >= 1, "a 2 s token over a 2.6 s run is fetched again: {crumbs:?}");
    let stale = steps(&r).iter().flat_map(|s| s["breadcrumbs"].as_array().unwrap().clone()).filter(|c| c["status"] == 401).count();
    assert_eq!(stale, 0, "no request went out with an expired token");
}

// ------------------------------------------------------------------------------ replay (#17)

/// A failed step prints a `curl` line that sends the same request through the gateway, with the
/// same reqId and `$SMOKEGATE_TOKEN` for the credential; run as printed, with a token from
/// `smokegate token --raw`, it gets the same answer.
#[test]
fn a_failed_step_prints_a_curl_line_that_replays_it() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let p = Project::new();
    p.write(
        "suites/echo.yaml",
        "steps:\n  - name: echo\n    request: { path: \"/api/echo?q=it's\", headers: { X-Client: smoke } }\n    expect: { json: { $.method: POST } }\n",
    );
    let (code, out, r) = run_report(&p, &gate.gateway, &[], &[]);
    assert_eq!(code, Some(1), "{out}");
    let failed = step(&steps(&r), "echo").clone();
    let rid = failed["breadcrumbs"][0]["request_id"].as_str().unwrap().to_owned();
    let line = out.lines().find_map(|l| l.trim().strip_prefix("replay: ")).unwrap_or_else(|| panic!("{out}")).to_owned();
    assert_eq!(failed["replay"], line, "the JSON report has the same line");
    assert!(line.contains("\"Authorization: Bearer $SMOKEGATE_TOKEN\"") && line.contains(&rid), "{line}");
    assert!(out.contains("export SMOKEGATE_TOKEN=$(smokegate token --raw)"), "{out}");
    let token = p.std_cmd().args(["token", "--raw", "--gateway", &gate.gateway]).arg("--state-dir").arg(p.state()).output().unwrap();
    assert_eq!(token.status.code(), Some(0));
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let replayed = std::process::Command::new("sh").arg("-c").arg(&line).env("SMOKEGATE_TOKEN", &token).output().unwrap();
    let answer = String::from_utf8_lossy(&replayed.stdout);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body: J = serde_json::from_str(answer.rsplit("\r\n\r\n").next().unwrap()).unwrap();
    assert_eq!(body["headers"]["X-Request-Id"], rid.as_str(), "the same reqId reached the upstream");
    assert_eq!(body["method"], "GET");
    let logout = p.std_cmd().args(["logout", "--gateway", &gate.gateway]).arg("--state-dir").arg(p.state()).output().unwrap();
    assert_eq!(logout.status.code(), Some(0), "{}", text(&logout));
    assert_eq!(gate.inspect(), (0, 0));
}

/// `--curl FILE`: every request of the run as a replayable line, each after its phase and reqId,
/// with no secret in it.
#[test]
fn curl_file_holds_every_request_of_the_run_sanitized() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let p = Project::new();
    p.write("suites/orders.yaml", include_str!("fixtures/contract-suite.yaml"));
    let curl = p.path().join("run.sh");
    let (code, out, r) = run_report(&p, &gate.gateway, &["--curl", curl.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{out}");
    let text = std::fs::read_to_string(&curl).unwrap();
    let mut crumbs = r["breadcrumbs"].as_array().unwrap().clone();
    crumbs.extend(steps(&r).iter().flat_map(|s| s["breadcrumbs"].as_array().unwrap().clone()));
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("curl ")).collect();
    assert_eq!(lines.len(), crumbs.len(), "one line per request:\n{text}");
    for c in &crumbs {
        assert!(text.contains(&format!("# {} reqId {}", c["phase"].as_str().unwrap(), c["request_id"].as_str().unwrap())), "{text}");
    }
    assert!(text.contains("-X POST") && text.contains("--data-binary") && text.contains("$SMOKEGATE_TOKEN"), "{text}");
    assert!(text.contains(r#""password":"***"}'"#), "the password is masked: {text}");
    assert_eq!(gate.inspect(), (0, 0));
}

/// `auth.admin` as a client of the identity provider: the reference gateway's admin API lets
/// only a `client:*` token delete a user by id (a user's own token gets 403), so the run is
/// green only when the admin's token, fetched from the provider, is the one the delete carries.
fn admin_client_config(token_url: &str, cleanup_as: &str) -> String {
    format!(
        "auth:\n  create:\n    request: {{ method: POST, path: /api/auth/V1/auth/create, json: {{ email: \"{{{{ user.email }}}}\", password: \"{{{{ user.password }}}}\" }} }}\n    capture: {{ user_id: $.user.id }}\n  admin:\n    token_url: {token_url}\n    client_id: \"{{{{ env.SMOKE_ADMIN_CLIENT_ID }}}}\"\n    client_secret: \"{{{{ env.SMOKE_ADMIN_CLIENT_SECRET }}}}\"\n  cleanup:\n    auth: {cleanup_as}\n    request: {{ method: DELETE, path: \"/api/auth/V1/auth/users/{{{{ user_id }}}}\" }}\n    expect: {{ status: 204 }}\n"
    )
}

#[test]
fn an_admin_client_of_the_identity_provider_deletes_the_user() {
    let secret = "admin-cc-secret-91b7e2d4";
    let gate =
        Refgate::start(refgate::RefgateOptions { client_id: "admin-client".into(), client_secret: secret.into(), ..Default::default() });
    let p = Project::new();
    p.write("suites/smokegate.yaml", &admin_client_config(&gate.token, "admin"));
    p.write("suites/orders.yaml", ORDERS_READ);
    let env = [("SMOKE_ADMIN_CLIENT_ID", "admin-client"), ("SMOKE_ADMIN_CLIENT_SECRET", secret)];
    let (code, out, r) = run_report(&p, &gate.gateway, &["-v"], &env);
    assert_eq!(code, Some(0), "{out}");
    let crumbs = r["breadcrumbs"].as_array().unwrap();
    let admin = crumbs.iter().position(|c| c["phase"] == "admin.login" && c["path"] == "/token").expect("the admin's token request");
    let delete = crumbs.iter().position(|c| c["phase"] == "cleanup" && c["status"] == 204).expect("the admin's delete");
    assert!(admin < delete, "{crumbs:?}");
    assert_eq!(gate.inspect(), (0, 0), "the user is gone");
    assert!(p.journal_files().is_empty(), "and out of the journal");
    let basic = base64_of(&format!("admin-client:{secret}"));
    assert!(!out.contains(secret) && !out.contains(&basic) && !r.to_string().contains(secret), "the admin's secret is masked");

    // The same delete with the user's own token is refused: the admin is what made it green.
    let mine = Project::new();
    mine.write("suites/smokegate.yaml", &admin_client_config(&gate.token, "user"));
    mine.write("suites/orders.yaml", ORDERS_READ);
    let (code, out, _) = run_report(&mine, &gate.gateway, &[], &env);
    assert_eq!(code, Some(5), "{out}");
    assert!(out.contains("403"), "{out}");

    // A wrong admin secret: the user is left and journaled; `cleanup` with the right one, from
    // a folder without the config, finishes it as the admin.
    let (code, out, _) =
        run_report(&p, &gate.gateway, &[], &[("SMOKE_ADMIN_CLIENT_ID", "admin-client"), ("SMOKE_ADMIN_CLIENT_SECRET", "wrong-9f8e7d")]);
    assert_eq!(code, Some(5), "{out}");
    assert!(!out.contains("wrong-9f8e7d"), "{out}");
    assert_eq!(gate.inspect().0, 2, "this run's user and the user-token run's are left");
    let cleanup = |state: PathBuf, extra: &[&str]| {
        let elsewhere = tempfile::tempdir().unwrap();
        let mut c = p.std_cmd();
        c.current_dir(elsewhere.path()).args(["cleanup", "--gateway", &gate.gateway, "--state-dir"]).arg(state).args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (o.status.code(), text(&o))
    };
    let (code, all) = cleanup(p.state(), &[]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(gate.inspect().0, 1, "cleanup deleted this run's user as the admin: {all}");
    assert!(!all.contains(secret), "{all}");
    // The user-token run's entry keeps its own (broken) config; `--config` names the fixed one.
    let fixed = p.path().join("suites/smokegate.yaml");
    let (code, all) = cleanup(mine.state(), &["--config", fixed.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(gate.inspect(), (0, 0), "{all}");
}

/// The admin's token URL is checked before anything is sent: plain http off loopback is the
/// policy's refusal (exit 6), the gateway's own origin a usage error (exit 2).
#[test]
fn an_admin_client_token_url_is_checked_before_anything_is_sent() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let p = Project::new();
    p.write("suites/h.yaml", "auth: none\nsteps:\n  - request: { path: /health/live }\n");
    for (url, exit, says) in [
        ("http://idp.example.com/token".to_owned(), 6, "gateway-only policy: auth.admin.token_url"),
        (format!("{}/token", gate.gateway), 2, "auth.admin.token_url is on the gateway's origin"),
    ] {
        p.write("suites/smokegate.yaml", &format!("auth:\n  admin: {{ token_url: \"{url}\", client_id: a, client_secret: b }}\n"));
        let (code, out, _) = run_report(&p, &gate.gateway, &[], &[]);
        assert_eq!(code, Some(exit), "{out}");
        assert!(out.contains(says), "{out}");
    }
}
