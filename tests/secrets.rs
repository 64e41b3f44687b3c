//! Issue 13 §3: no fragment of a secret in any output. Every output — console, JSON, JUnit, the
//! JSON-lines log, GitHub annotations and summary — is read back and searched for any
//! 12-character window of each secret.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

/// Fails when any 12-character window of `secret` occurs in `hay`.
fn no_fragment(hay: &str, secret: &str, what: &str) {
    assert!(secret.len() >= 12);
    for w in secret.as_bytes().windows(12) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(!hay.contains(w), "{what}: a fragment `{w}` of a secret leaked:\n{hay}");
    }
}

/// Everything a run wrote: console, reports, log, annotations, summary.
fn all_outputs(p: &Project, o: &std::process::Output) -> Vec<(String, String)> {
    let mut v = vec![("console".to_owned(), text(o))];
    for f in ["r.json", "r.xml", "log.jsonl", "summary.md"] {
        if let Ok(t) = std::fs::read_to_string(p.path().join(f)) {
            v.push((f.to_owned(), t));
        }
    }
    v
}

fn reports_run(p: &Project, gw: &str, suite: &str) -> assert_cmd::Command {
    let mut c = p.run(gw, &[suite, "--json", "r.json", "--junit", "r.xml", "--log-file", "log.jsonl"]);
    c.env("GITHUB_ACTIONS", "true").env("GITHUB_STEP_SUMMARY", p.path().join("summary.md"));
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echoed_token_is_masked_even_when_cut_short() {
    let server = MockServer::start().await;
    let token = auth_ok(&server).await;
    // An upstream that echoes the request's headers, as echo services do.
    Mock::given(method("GET"))
        .and(path("/api/echo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"headers": {"authorization": format!("Bearer {token}")}})))
        .mount(&server)
        .await;
    let p = Project::new();
    // One assertion passes (its actual value lands in the JSON report), one fails.
    p.write(
        "s.yaml",
        "steps:\n  - request: { path: /api/echo }\n    expect:\n      json:\n        $.headers.authorization: { matches: '^Bearer ' }\n  - request: { path: /api/echo }\n    expect:\n      json:\n        $.headers.authorization: nope\n",
    );
    let o = output(reports_run(&p, &server.uri(), "s.yaml")).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let outs = all_outputs(&p, &o);
    assert_eq!(outs.len(), 5, "every output was written");
    for (what, hay) in &outs {
        no_fragment(hay, &token, what);
        // The token's parts too (the header part is shared by every HS256 token, the rest is not).
        for part in token.split('.').skip(1) {
            no_fragment(hay, part, what);
        }
    }
    assert!(text(&o).contains("expected \"nope\", got \"Bearer ***"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_with_percent_never_reaches_an_annotation() {
    let server = MockServer::start().await;
    let password = "Pa%ss-%25w0rd:with%symbols";
    Mock::given(method("POST"))
        .and(path(LOGIN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": jwt(300)})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/x"))
        .respond_with(
            ResponseTemplate::new(500).set_body_string(format!("login failed for password {password} (hint {})", &password[..14])),
        )
        .mount(&server)
        .await;
    let p = Project::new();
    p.write("smokegate.yaml", "auth: { mode: service-account }\n");
    p.write("s.yaml", "steps:\n  - request: { path: /api/x }\n");
    let mut c = reports_run(&p, &server.uri(), "s.yaml");
    c.env("SMOKE_USERNAME", "svc").env("SMOKE_PASSWORD", password);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("::error "), "annotations were printed: {}", text(&o));
    for (what, hay) in all_outputs(&p, &o) {
        no_fragment(&hay, password, &what);
        no_fragment(&hay, &password.replace('%', "%25"), &what);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_headers_and_secret_env_values_echoed_back_are_masked() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    let api_key = "ak_live_0123456789abcdefXYZ";
    let cookie = "sid=s3ss10n-c00kie-value-42";
    Mock::given(method("GET"))
        .and(path("/api/echo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"headers": {"x-api-key": api_key, "cookie": cookie}})))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write(
        "s.yaml",
        "steps:\n  - request:\n      path: /api/echo\n      headers: { X-Api-Key: \"{{ env.SMOKE_API_KEY }}\", Cookie: \"sid=s3ss10n-c00kie-value-42\" }\n    expect:\n      json:\n        $.headers: { equals: {} }\n",
    );
    let mut c = reports_run(&p, &server.uri(), "s.yaml");
    c.env("SMOKE_API_KEY", api_key);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    for (what, hay) in all_outputs(&p, &o) {
        no_fragment(&hay, api_key, &what);
        no_fragment(&hay, cookie, &what);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_secrets_list_masks_values_by_name() {
    let server = MockServer::start().await;
    let tenant_key = "tenant-key-9f8e7d6c5b4a";
    Mock::given(method("GET"))
        .and(path("/x"))
        .respond_with(ResponseTemplate::new(404).set_body_string(format!("no tenant {tenant_key}")))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write("smokegate.yaml", "secrets: [TENANT_CODE]\n");
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: \"/x?t={{ env.TENANT_CODE }}\" }\n");
    let mut c = reports_run(&p, &server.uri(), "s.yaml");
    c.env("TENANT_CODE", tenant_key);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    for (what, hay) in all_outputs(&p, &o) {
        no_fragment(&hay, tenant_key, &what);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn call_masks_an_upstream_header_that_carries_the_token() {
    let server = MockServer::start().await;
    let token = auth_ok(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/me"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-upstream", format!("orders-svc;auth={token}").as_str())
                .set_body_json(json!({"me": 1})),
        )
        .mount(&server)
        .await;
    let p = Project::new();
    let o = output({
        let mut c = p.cmd();
        c.args(["call", "GET", "/api/me", "--gateway", &server.uri(), "--state-dir"]).arg(p.state());
        c
    })
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("upstream x-upstream: orders-svc;auth=***"), "{}", text(&o));
    no_fragment(&text(&o), &token, "call");
}

#[tokio::test(flavor = "multi_thread")]
async fn terminal_control_sequences_from_a_body_are_escaped() {
    let server = MockServer::start().await;
    let evil = "\u{1b}[2K\r\u{1b}[1A  ✓ all good\u{1b}]0;owned\u{7}";
    Mock::given(method("GET"))
        .and(path("/x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": evil})))
        .mount(&server)
        .await;
    // A text body shows raw in a status mismatch's excerpt.
    Mock::given(method("GET")).and(path("/t")).respond_with(ResponseTemplate::new(404).set_body_string(evil)).mount(&server).await;
    let p = Project::new();
    p.write("s/json.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n    expect: { json: { $.status: ok } }\n");
    p.write("s/text.yaml", "auth: none\nsteps:\n  - request: { path: /t }\n");
    let o = output(reports_run(&p, &server.uri(), "s")).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("· 404"), "{out}");
    assert!(!out.contains('\u{1b}') && !out.contains('\r') && !out.contains('\u{7}'), "raw control bytes reached the console: {out:?}");
    assert!(out.contains("\\u{1b}[2K"), "shown escaped: {out}");
    let summary = std::fs::read_to_string(p.path().join("summary.md")).unwrap();
    assert!(!summary.contains('\u{1b}'), "{summary:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_auth_routes_hand_out_is_masked_when_echoed() {
    let server = MockServer::start().await;
    let (refresh, session) = ("rt-9f8e7d6c5b4a39281706", "sess-0a1b2c3d4e5f6a7b8c9d");
    Mock::given(method("POST")).and(path(CREATE)).respond_with(ResponseTemplate::new(201).set_body_json(json!({}))).mount(&server).await;
    Mock::given(method("POST"))
        .and(path(LOGIN))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"token": jwt(300), "refreshToken": refresh}))
                .insert_header("set-cookie", format!("sid={session}; Path=/; HttpOnly").as_str()),
        )
        .mount(&server)
        .await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/echo"))
        .respond_with(ResponseTemplate::new(500).set_body_string(format!("debug: refresh={refresh} cookie=sid={session}")))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write("s.yaml", "steps:\n  - request: { path: /api/echo }\n");
    let o = output(reports_run(&p, &server.uri(), "s.yaml")).await;
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("debug: refresh=***"), "{}", text(&o));
    for (what, hay) in all_outputs(&p, &o) {
        no_fragment(&hay, refresh, &what);
        no_fragment(&hay, session, &what);
    }
}

/// A JWT that smokegate never minted (an admin's, inside a response body) and the credential
/// after `Bearer`/`Token`/`JWT`/`Basic` are masked by their shape, in every output; so is such a
/// token cut short.
#[tokio::test(flavor = "multi_thread")]
async fn token_shaped_text_is_masked_whether_or_not_smokegate_knows_it() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    let foreign = jwt(3600);
    let opaque = "9f8e7d6c5b4a39281716f5e4d3c2b1a0f9e8d7c6";
    let body = json!({
        "admin": { "accessToken": foreign },
        "hint": format!("retry with Token {opaque}"),
        "short": &foreign[..30],
    });
    Mock::given(method("GET")).and(path("/api/users")).respond_with(ResponseTemplate::new(200).set_body_json(body)).mount(&server).await;
    let p = Project::new();
    p.write("smoke-suites/u.yaml", "steps:\n  - name: users\n    request: { path: /api/users }\n    expect: { json: { $: { equals: 1 }, $.hint: nope, $.short: nope } }\n");
    let mut c = reports_run(&p, &server.uri(), "smoke-suites/u.yaml");
    c.args(["--html", "r.html", "-vv"]);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let mut outputs = all_outputs(&p, &o);
    outputs.push(("r.html".into(), std::fs::read_to_string(p.path().join("r.html")).unwrap()));
    for (what, hay) in &outputs {
        no_fragment(hay, &foreign, what);
        no_fragment(hay, opaque, what);
        assert!(!hay.contains("eyJ"), "{what}: {hay}");
    }
    // What is not a credential stays readable.
    assert!(text(&o).contains("retry with Token ***"), "{}", text(&o));
}

/// `PWD`, `OLDPWD` are the shell's, not secrets: paths print as they are; a path in a
/// secret-named variable (`…_CREDENTIALS=/etc/sa.json`) is not masked wherever it appears.
#[tokio::test(flavor = "multi_thread")]
async fn the_working_directory_is_not_a_secret() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/health")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    let p = Project::new();
    p.write("suites/h.yaml", "auth: none\nsteps:\n  - request: { path: /health }\n");
    let dir = std::fs::canonicalize(p.path()).unwrap().display().to_string();
    let mut c = p.run(&server.uri(), &[&format!("{dir}/suites/h.yaml")]);
    c.env("PWD", &dir).env("OLDPWD", &dir).env("GOOGLE_APPLICATION_CREDENTIALS", format!("{dir}/suites"));
    let o = output(c).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("at {dir}/suites/h.yaml:3")), "{out}");
    assert!(!out.contains("***"), "{out}");
}

/// Private-use characters in a response are escaped like control bytes: with `NO_COLOR`, no
/// escape sequence reaches the console, and none can recolour a line.
#[tokio::test(flavor = "multi_thread")]
async fn private_use_characters_from_a_body_never_become_styles() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "\u{e001}ok\u{e000} \u{e002}\u{f8ff}\u{f0000}"})))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write(
        "suites/h.yaml",
        "auth: none\nsteps:\n  - name: health\n    request: { path: /health }\n    expect: { json: { $.status: fine } }\n",
    );
    for color in [false, true] {
        let mut c = p.run(&server.uri(), &["suites/h.yaml"]);
        if color {
            c.env_remove("NO_COLOR").env("CLICOLOR_FORCE", "1");
        }
        let o = output(c).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(out.contains("\\u{e001}ok\\u{e000}") && out.contains("\\u{f8ff}") && out.contains("\\u{f0000}"), "{out}");
        assert!(!out.chars().any(|c| ('\u{e000}'..='\u{f8ff}').contains(&c)), "{out}");
        if !color {
            assert!(!out.contains('\x1b'), "an escape sequence with NO_COLOR: {out:?}");
        }
    }
}

/// `expect: { status: "€" }` (a multi-byte character where a class like "2xx" goes) is an
/// error at its line, in `check` and `run`, never a panic.
#[test]
fn a_multibyte_status_is_an_error_not_a_panic() {
    let p = Project::new();
    p.write("smoke-suites/s.yaml", "auth: none\nsteps:\n  - request: { path: /x }\n    expect: { status: \"€\" }\n");
    for args in [&["check"][..], &["run", "--gateway", "http://127.0.0.1:9"][..]] {
        let o = p.cmd().args(args).output().unwrap();
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {out}");
        assert!(out.contains("s.yaml:4") && !out.contains("panicked"), "{out}");
    }
}

/// JUnit's cleanup testcase carries every cleanup breadcrumb: the deletion and its
/// verification.
#[tokio::test(flavor = "multi_thread")]
async fn junit_cleanup_carries_the_verification() {
    let server = MockServer::start().await;
    auth_ok(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write("smoke-suites/me.yaml", "steps:\n  - request: { path: /api/me }\n");
    let o = output(p.run(&server.uri(), &["--junit", "r.xml"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let xml = std::fs::read_to_string(p.path().join("r.xml")).unwrap();
    let case = &xml[xml.find("name=\"cleanup\"").expect("a cleanup testcase")..];
    let case = &case[..case.find("</testcase>").unwrap_or(case.len())];
    assert!(case.contains("cleanup DELETE") && case.contains("cleanup.verify POST"), "{case}");
}
