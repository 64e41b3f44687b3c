//! The gateway-only policy's remaining rules and the auth-enforcement probes, each passing and
//! failing, through the real binary.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn gateway_fingerprint_is_required_on_every_response() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/via-gateway"))
        .respond_with(ResponseTemplate::new(200).insert_header("X-Gateway", "edge-1"))
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path("/direct")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    // The gateway marks its own answers, readiness included (checked before anything runs).
    Mock::given(method("GET"))
        .and(path("/health/ready"))
        .respond_with(ResponseTemplate::new(200).insert_header("X-Gateway", "gw-1"))
        .mount(&server)
        .await;
    let p = Project::new();
    p.write("smoke-suites/smokegate.yaml", "gateway:\n  fingerprint: { header: X-Gateway }\n");
    p.write("smoke-suites/a.yaml", "auth: none\nsteps:\n  - name: via\n    request: { path: /via-gateway }\n");
    p.write("smoke-suites/b.yaml", "auth: none\nsteps:\n  - name: direct\n    request: { path: /direct }\n");
    let o = output(p.run(&server.uri(), &["--jobs", "1"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("✓ via"), "{out}");
    assert!(out.contains("✗ direct · 200") && out.contains("off-gateway"), "{out}");
    assert!(out.contains("gateway fingerprint"), "{out}");

    // With a value matcher, a wrong value fails as well.
    p.write("smoke-suites/smokegate.yaml", "gateway:\n  fingerprint: { header: X-Gateway, value: { matches: \"^gw-\" } }\n");
    let o = output(p.run(&server.uri(), &["smoke-suites/a.yaml"])).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("off-gateway"), "{}", text(&o));
}

/// `GATEWAY_BASE_URL` at a service (no fingerprint on its readiness answer): the run stops with
/// exit 6 before the user's create is sent, and `--wait-ready` does not call it ready.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_fingerprint_nothing_is_created() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/health/ready")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    create_and_login(&server).await;
    let p = Project::new();
    p.write("smoke-suites/smokegate.yaml", "gateway:\n  fingerprint: { header: X-Gateway }\n");
    p.write("smoke-suites/a.yaml", "steps:\n  - name: me\n    request: { path: /api/me }\n");
    let o = output(p.run(&server.uri(), &[])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(6), "{out}");
    assert!(out.contains("without the gateway's fingerprint") && out.contains("x-gateway") && out.contains("nothing was created"), "{out}");
    assert!(hits(&server, "POST", CREATE).await.is_empty(), "the create was sent");
    let o = output(p.run(&server.uri(), &["--wait-ready", "300ms"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(6), "{out}");
    assert!(out.contains("x-gateway"), "{out}");
    assert!(hits(&server, "POST", CREATE).await.is_empty(), "the create was sent");
}

#[test]
fn allow_http_lifts_the_plain_http_refusal() {
    let p = Project::new();
    p.write("s.yaml", "auth: none\nsteps:\n  - name: one\n    request: { path: /h }\n");
    // No request is made: --filter selects nothing, so only the policy decision is observed.
    let refused =
        p.cmd().args(["run", "s.yaml", "--filter", "nothing-matches"]).env("GATEWAY_BASE_URL", "http://gw.example.com").output().unwrap();
    assert_eq!(refused.status.code(), Some(6), "{}", text(&refused));
    let allowed = p
        .cmd()
        .args(["run", "s.yaml", "--filter", "nothing-matches", "--allow-http"])
        .env("GATEWAY_BASE_URL", "http://gw.example.com")
        .output()
        .unwrap();
    assert_eq!(allowed.status.code(), Some(1), "past the policy, to `no steps ran`: {}", text(&allowed));
    assert!(text(&allowed).contains("no steps ran"), "{}", text(&allowed));
    p.write("smokegate.yaml", "gateway:\n  allow_http: true\n");
    let by_config = p
        .cmd()
        .args(["run", "s.yaml", "--config", "smokegate.yaml", "--filter", "nothing-matches"])
        .env("GATEWAY_BASE_URL", "http://gw.example.com")
        .output()
        .unwrap();
    assert_eq!(by_config.status.code(), Some(1), "{}", text(&by_config));
}

#[test]
fn cacert_must_be_a_readable_pem_file() {
    let p = Project::new();
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /h }\n");
    let o = p.run("https://127.0.0.1:9", &["s.yaml", "--cacert", "missing.pem"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("missing.pem"), "{}", text(&o));
    p.write("bad.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n");
    let o = p.run("https://127.0.0.1:9", &["s.yaml", "--cacert", "bad.pem"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad.pem"), "{}", text(&o));
}

#[test]
fn insecure_is_warned_about_on_every_run() {
    let p = Project::new();
    p.write("s.yaml", "auth: none\nsteps:\n  - request: { path: /h }\n");
    let o = p.run("https://127.0.0.1:9", &["s.yaml", "--insecure", "--connect-timeout", "200ms"]).output().unwrap();
    assert!(text(&o).contains("--insecure: TLS certificates are NOT verified"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn cacert_trusts_a_private_ca_and_without_it_the_certificate_is_refused() {
    let tls = TlsGateway::start(&[b"http/1.1"]).await;
    let gateway = tls.url.clone();
    let p = Project::new();
    p.write("ca.pem", &tls.ca_pem);
    p.write("s.yaml", "name: tls\nauth: none\nsteps:\n  - name: live over TLS\n    request: { path: /health/live }\n    expect: { json: { $.status: ok } }\n");

    let trusted = output(p.run(&gateway, &["s.yaml", "--cacert", "ca.pem"])).await;
    assert_eq!(trusted.status.code(), Some(0), "{}", text(&trusted));
    assert!(text(&trusted).contains("1 passed, 0 failed"), "{}", text(&trusted));

    // The same gateway without the CA: the handshake is refused, as `connect`, and says why.
    let refused = output(p.run(&gateway, &["s.yaml", "--connect-timeout", "2s"])).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let t = text(&refused);
    assert!(t.contains("connect"), "{t}");
    assert!(t.to_lowercase().contains("certificate"), "the reason names the certificate: {t}");

    // `--insecure` gets through, with its warning.
    let insecure = output(p.run(&gateway, &["s.yaml", "--insecure"])).await;
    assert_eq!(insecure.status.code(), Some(0), "{}", text(&insecure));
    assert!(text(&insecure).contains("--insecure: TLS certificates are NOT verified"), "{}", text(&insecure));
}

/// Which credential a request carried, as a gateway would see it.
fn probe_kind(req: &wiremock::Request, real: &str) -> &'static str {
    let Some(bearer) = req.headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) else {
        return "no token";
    };
    if bearer == real {
        return "valid";
    }
    let header = URL_SAFE_NO_PAD.decode(bearer.split('.').next().unwrap_or("")).unwrap_or_default();
    let alg = serde_json::from_slice::<serde_json::Value>(&header).map(|h| h["alg"].as_str().unwrap_or("").to_owned()).unwrap_or_default();
    if alg.eq_ignore_ascii_case("none") { "alg none" } else { "forged signature" }
}

/// A gateway that enforces auth except for one kind of bad credential.
struct Leaky {
    real: String,
    lets_through: &'static str,
}

impl wiremock::Respond for Leaky {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let kind = probe_kind(req, &self.real);
        if kind == "valid" || kind == self.lets_through {
            ResponseTemplate::new(200).set_body_json(json!({"id": "u1"}))
        } else {
            ResponseTemplate::new(401)
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_auth_probe_passes_on_an_enforcing_gateway_and_fails_when_it_gets_through() {
    for lets_through in ["nothing", "no token", "forged signature", "alg none"] {
        let server = MockServer::start().await;
        let token = auth_ok(&server).await;
        Mock::given(method("GET")).and(path("/api/me")).respond_with(Leaky { real: token.clone(), lets_through }).mount(&server).await;
        Mock::given(method("POST")).and(path("/api/orders")).respond_with(ResponseTemplate::new(201)).mount(&server).await;
        let p = Project::new();
        p.write(
            "smoke-suites/me.yaml",
            "steps:\n  - name: me\n    request: { path: /api/me }\n  - name: write\n    request: { method: POST, path: /api/orders, json: {} }\n",
        );
        let o = output(p.run(&server.uri(), &["--auth-probes", "--json", "r.json"])).await;
        let out = text(&o);
        let probes: Vec<String> = hits(&server, "GET", "/api/me").await.iter().skip(1).map(|r| probe_kind(r, &token).to_owned()).collect();
        assert_eq!(probes, ["no token", "forged signature", "alg none"], "three replays of the safe step");
        assert_eq!(
            hits(&server, "POST", "/api/orders").await.len(),
            usize::from(lets_through == "nothing"),
            "unsafe methods are never replayed: {out}"
        );
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p.path().join("r.json")).unwrap()).unwrap();
        let results: Vec<(String, String)> = report["suites"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"] == "probe")
            .map(|s| (s["name"].as_str().unwrap().to_owned(), s["outcome"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(results.len(), 3, "probes are results of their own: {results:?}");
        if lets_through == "nothing" {
            assert_eq!(o.status.code(), Some(0), "{out}");
            assert!(results.iter().all(|(_, outcome)| outcome == "passed"), "{results:?}");
        } else {
            assert_eq!(o.status.code(), Some(1), "{out}");
            assert!(out.contains("auth-not-enforced"), "{out}");
            assert!(out.contains(&format!("the request with {lets_through} was answered 200")), "{out}");
            for (name, outcome) in &results {
                let expect = if name.ends_with(lets_through) { "failed" } else { "passed" };
                assert_eq!(outcome, expect, "{name}: {results:?}");
            }
            let failed = report["suites"][0]["steps"].as_array().unwrap().iter().find(|s| s["name"] == "me").unwrap().clone();
            assert_eq!(failed["failure_class"], "auth-not-enforced", "the step itself turns red");
        }
        assert_no_secrets(&o, &[&token]);
    }
}
