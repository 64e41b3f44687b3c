//! The auth lifecycle as steps: a create that takes several requests, `after_login` learning
//! the user's id, `token.claims`, a static admin token, an admin that logs out, rate limits on
//! lifecycle steps, and a declared identity provider. Against a stateful fake of a headless CMS
//! whose registration answers 204 with no body (the shape of Directus, which `tests/compat.rs`
//! runs for real).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common::*;

const CONTRACT: &str = include_str!("fixtures/contract-register-204.yaml");
const ADMIN_TOKEN: &str = "static-admin-token-3f9c2a7d51e8";
const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "admin-password-8d2k4m";

/// What the fake CMS holds, as a real one would.
#[derive(Default)]
struct State {
    /// email → (password, id)
    users: HashMap<String, (String, String)>,
    /// access token → email (the admin's too)
    tokens: HashMap<String, String>,
    /// refresh token → email
    refresh: HashMap<String, String>,
    /// Registrations still to be refused with 429 (and the `Retry-After` they carry).
    rate_limited: Vec<Option<&'static str>>,
    next_id: u32,
    /// Every request, as `METHOD path`, in order.
    log: Vec<String>,
}

#[derive(Clone, Default)]
struct Cms {
    state: Arc<Mutex<State>>,
    /// Access tokens are opaque, not JWTs.
    opaque: bool,
}

fn body(req: &Request) -> Value {
    serde_json::from_slice(&req.body).unwrap_or(Value::Null)
}

fn bearer(req: &Request) -> Option<String> {
    req.headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ").map(str::to_owned)
}

fn unauthorized() -> ResponseTemplate {
    ResponseTemplate::new(401)
        .set_body_json(json!({"errors": [{"message": "Invalid user credentials.", "extensions": {"code": "INVALID_CREDENTIALS"}}]}))
}

impl Cms {
    fn with_users(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Test users left in the store.
    fn users_left(&self) -> usize {
        self.with_users().users.keys().filter(|e| e.starts_with("smoke+")).count()
    }

    /// Admin sessions still open (refresh tokens of the admin).
    fn admin_sessions(&self) -> usize {
        self.with_users().refresh.values().filter(|e| *e == ADMIN_EMAIL).count()
    }

    fn log(&self) -> Vec<String> {
        self.with_users().log.clone()
    }

    fn issue(&self, st: &mut State, email: &str) -> Value {
        let id = st.users.get(email).map(|u| u.1.clone()).unwrap_or_else(|| "admin-id".into());
        let access = if self.opaque {
            format!("opaque-access-{}", uuid::Uuid::new_v4())
        } else {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
            let c = URL_SAFE_NO_PAD.encode(json!({"id": id, "role": "r1", "iat": now, "exp": now + 900, "iss": "directus"}).to_string());
            format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()))
        };
        let refresh = format!("refresh-{}", uuid::Uuid::new_v4());
        st.tokens.insert(access.clone(), email.to_owned());
        st.refresh.insert(refresh.clone(), email.to_owned());
        json!({"data": {"access_token": access, "refresh_token": refresh, "expires": 900000}})
    }
}

impl wiremock::Respond for Cms {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.state.lock().unwrap();
        let route = format!("{} {}", req.method, req.url.path());
        st.log.push(route.clone());
        let b = body(req);
        let who = bearer(req).and_then(|t| if t == ADMIN_TOKEN { Some(ADMIN_EMAIL.to_owned()) } else { st.tokens.get(&t).cloned() });
        match route.as_str() {
            "POST /api/users/register" => {
                if !st.rate_limited.is_empty() {
                    let retry = st.rate_limited.remove(0);
                    let r = ResponseTemplate::new(429).set_body_json(json!({"errors": [{"message": "Too many requests"}]}));
                    return match retry {
                        Some(v) => r.insert_header("retry-after", v),
                        None => r,
                    };
                }
                let email = b["email"].as_str().unwrap_or_default().to_owned();
                st.next_id += 1;
                let id = format!("5e0c{:04}-aaaa-4bbb-8ccc-{:012}", st.next_id, st.next_id);
                st.users.entry(email).or_insert((b["password"].as_str().unwrap_or_default().to_owned(), id));
                ResponseTemplate::new(204)
            }
            "POST /api/auth/login" => {
                let (email, password) = (b["email"].as_str().unwrap_or_default(), b["password"].as_str().unwrap_or_default());
                let ok = (email == ADMIN_EMAIL && password == ADMIN_PASSWORD) || st.users.get(email).is_some_and(|u| u.0 == password);
                if !ok {
                    return unauthorized();
                }
                let answer = self.issue(&mut st, email);
                ResponseTemplate::new(200).set_body_json(answer)
            }
            "POST /api/auth/refresh" => match st.refresh.remove(b["refresh_token"].as_str().unwrap_or_default()) {
                Some(email) => {
                    let answer = self.issue(&mut st, &email);
                    ResponseTemplate::new(200).set_body_json(answer)
                }
                None => unauthorized(),
            },
            // Directus answers 204 for a known, an unknown or a spent refresh token alike.
            "POST /api/auth/logout" => {
                st.refresh.remove(b["refresh_token"].as_str().unwrap_or_default());
                ResponseTemplate::new(204)
            }
            "GET /api/users/me" => match who.and_then(|e| st.users.get(&e).map(|u| (e.clone(), u.1.clone()))) {
                Some((email, id)) => ResponseTemplate::new(200).set_body_json(json!({"data": {"id": id, "email": email}})),
                None => unauthorized(),
            },
            "GET /api/items" => match who {
                Some(_) => ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": 1}]})),
                None => ResponseTemplate::new(403).set_body_json(json!({"errors": [{"message": "Forbidden"}]})),
            },
            r if r.starts_with("DELETE /api/users/") => {
                let id = r.trim_start_matches("DELETE /api/users/");
                // Users cannot delete themselves; only the admin can. Directus answers the
                // admin's delete of a missing id with 204 too, and a deleted user's unexpired
                // access token still reads `/users/me` (a stateless JWT): only its login fails.
                if who.as_deref() != Some(ADMIN_EMAIL) {
                    return ResponseTemplate::new(403)
                        .set_body_json(json!({"errors": [{"message": "You don't have permission to access this."}]}));
                }
                if let Some(email) = st.users.iter().find(|(_, u)| u.1 == id).map(|(e, _)| e.clone()) {
                    st.users.remove(&email);
                    st.refresh.retain(|_, e| *e != email);
                }
                ResponseTemplate::new(204)
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

async fn cms(opaque: bool) -> (MockServer, Cms) {
    let server = MockServer::start().await;
    let cms = Cms { opaque, ..Cms::default() };
    Mock::given(path_regex("^/api/")).respond_with(cms.clone()).mount(&server).await;
    (server, cms)
}

const ITEMS_SUITE: &str =
    "steps:\n  - name: items\n    request: { path: /api/items }\n    expect: { status: 200, json: { $.data: { min_items: 1 } } }\n";

fn project(config: &str) -> Project {
    let p = Project::new();
    p.write("smoke-suites/smokegate.yaml", config);
    p.write("smoke-suites/items.yaml", ITEMS_SUITE);
    p
}

async fn run(p: &Project, server: &MockServer, extra: &[&str]) -> std::process::Output {
    let mut cmd = p.run(&server.uri(), extra);
    cmd.env("SMOKE_ADMIN_TOKEN", ADMIN_TOKEN);
    output(cmd).await
}

/// The 204-registration contract example, verbatim: the user's id comes from `after_login`, the
/// admin's static token deletes it, and its refused login proves it gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_registration_answering_204_learns_the_id_after_login_and_the_static_admin_deletes_it() {
    let (server, cms) = cms(false).await;
    let p = project(CONTRACT);
    let o = run(&p, &server, &["-v"]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(cms.users_left(), 0, "the user was deleted: {:?}", cms.log());
    let log = cms.log();
    let at = |r: &str| log.iter().position(|l| l.starts_with(r)).unwrap_or_else(|| panic!("no {r}: {log:?}"));
    assert!(at("POST /api/users/register") < at("POST /api/auth/login") && at("POST /api/auth/login") < at("GET /api/users/me"));
    assert!(at("GET /api/users/me") < at("GET /api/items") && at("GET /api/items") < at("DELETE /api/users/"), "{log:?}");
    assert_eq!(log.iter().filter(|l| l.starts_with("POST /api/auth/login")).count(), 2, "a login, then the proof: {log:?}");
    assert!(out.contains("bootstrap.after_login"), "the after_login request is logged with its phase: {out}");
    assert!(p.journal_files().is_empty(), "nothing left for cleanup");
    assert_no_secrets(&o, &[ADMIN_TOKEN]);
    let deletes = server.received_requests().await.unwrap().into_iter().filter(|r| r.method.as_str() == "DELETE").collect::<Vec<_>>();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].headers.get("authorization").unwrap(), &format!("Bearer {ADMIN_TOKEN}"), "the static admin token deletes");
}

/// `{{ token.claims.id }}` in place of the `after_login` capture works the same.
#[tokio::test(flavor = "multi_thread")]
async fn the_id_may_come_from_the_tokens_claims() {
    let (server, cms) = cms(false).await;
    let config = CONTRACT
        .replace("  after_login:\n    - request: { path: /api/users/me }\n      auth: user\n      capture: { user_id: $.data.id }\n", "")
        .replace("{{ user_id }}", "{{ token.claims.id }}");
    assert!(!config.contains("after_login"));
    let p = project(&config);
    let check = p.cmd().args(["check"]).env("SMOKE_ADMIN_TOKEN", ADMIN_TOKEN).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let o = run(&p, &server, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(cms.users_left(), 0, "{:?}", cms.log());
}

/// With an opaque token, `token.claims` is an error that says why (exit 3); without the id,
/// the user cannot be deleted, and stays journaled saying what its cleanup lacks.
#[tokio::test(flavor = "multi_thread")]
async fn an_opaque_tokens_claims_are_an_error_that_says_so() {
    let (server, cms) = cms(true).await;
    let config = CONTRACT.replace("capture: { user_id: $.data.id }", "capture: { user_id: \"{{ token.claims.id }}\" }");
    let config = config.replace(
        "    - request: { path: /api/users/me }\n      auth: user\n      capture: { user_id: \"{{ token.claims.id }}\" }\n",
        "    - request: { path: \"/api/users/me?id={{ token.claims.id }}\" }\n      auth: user\n",
    );
    let p = project(&config);
    let o = run(&p, &server, &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "the after_login step fails: {out}");
    assert!(out.contains("after login failed (template): `token.claims` is not defined") && out.contains("opaque"), "{out}");
    assert!(out.contains("left behind") && out.contains("`user_id` is not defined"), "the cleanup says what it lacks: {out}");
    assert_eq!(p.journal_files().len(), 1, "the user stays journaled");
    assert_eq!(cms.users_left(), 1);
}

/// `check` refuses a cleanup that reads a variable no lifecycle step defines, at its line.
#[test]
fn check_refuses_a_cleanup_variable_nothing_defines() {
    let config = CONTRACT
        .replace("  after_login:\n    - request: { path: /api/users/me }\n      auth: user\n      capture: { user_id: $.data.id }\n", "");
    let p = project(&config);
    let o = p.cmd().args(["check"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("smokegate.yaml:17:") && out.contains("`user_id` can never be defined"), "{out}");
}

/// A create of two requests whose second fails: the user exists (its first step was
/// answered), so it is deleted like any other — here it can still log in, so its id is learned
/// and the admin deletes it. The run is red (3) and nothing is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_that_fails_half_way_is_still_deleted() {
    let (server, cms) = cms(false).await;
    let two_steps = "  create:\n    - request: { method: POST, path: /api/users/register, json: { email: \"{{ user.email }}\", password: \"{{ user.password }}\" } }\n      expect: { status: 204 }\n    - name: confirm\n      request: { method: POST, path: /api/users/confirm }\n      expect: { status: 200 }\n";
    let one_step = "  create:\n    request: { method: POST, path: /api/users/register, json: { email: \"{{ user.email }}\", password: \"{{ user.password }}\" } }\n    expect: { status: 204 }\n";
    assert!(CONTRACT.contains(one_step));
    let p = project(&CONTRACT.replace(one_step, two_steps));
    let o = run(&p, &server, &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("confirm failed"), "{out}");
    let log = cms.log();
    assert!(log.iter().any(|l| l == "POST /api/users/confirm"), "{log:?}");
    assert!(log.iter().any(|l| l == "GET /api/users/me"), "cleanup learned the id after_login would have: {log:?}");
    assert_eq!(cms.users_left(), 0, "{log:?}");
    assert!(p.journal_files().is_empty());
}

/// An admin that logs in by password logs out at the end, its login's capture in scope, and
/// leaves no session behind; the admin's refresh token is never journaled with the user.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_that_logged_in_logs_out_at_the_end() {
    let (server, cms) = cms(false).await;
    let admin = "  admin:\n    username: \"{{ env.SMOKE_ADMIN_EMAIL }}\"\n    password: \"{{ env.SMOKE_ADMIN_PASSWORD }}\"\n    login:\n      request: { method: POST, path: /api/auth/login, json: { email: \"{{ admin.username }}\", password: \"{{ admin.password }}\" } }\n      token: $.data.access_token\n      capture: { admin_refresh_token: $.data.refresh_token }\n    logout:\n      request: { method: POST, path: /api/auth/logout, json: { refresh_token: \"{{ admin_refresh_token }}\", mode: json } }\n";
    let config = CONTRACT.replace("  admin: { token: \"{{ env.SMOKE_ADMIN_TOKEN }}\" }\n", admin);
    let p = project(&config);
    let check = p.cmd().args(["check"]).env("SMOKE_ADMIN_EMAIL", ADMIN_EMAIL).env("SMOKE_ADMIN_PASSWORD", ADMIN_PASSWORD).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let mut cmd = p.run(&server.uri(), &["-v"]);
    cmd.env("SMOKE_ADMIN_EMAIL", ADMIN_EMAIL).env("SMOKE_ADMIN_PASSWORD", ADMIN_PASSWORD);
    let o = output(cmd).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(cms.users_left(), 0);
    assert_eq!(cms.admin_sessions(), 0, "the admin logged out: {:?}", cms.log());
    assert!(out.contains("admin.logout"), "{out}");
    assert_no_secrets(&o, &[ADMIN_PASSWORD]);
}

/// A 429 on a lifecycle step is waited out as `Retry-After` says, within
/// `auth.rate_limit_wait`; a longer wait fails the step saying how long the server asked for.
#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_registration_is_waited_out_within_the_limit() {
    let (server, fake) = cms(false).await;
    fake.with_users().rate_limited = vec![Some("1"), None];
    let p = project(CONTRACT);
    let o = run(&p, &server, &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("rate-limited (429); waiting 1"), "{out}");
    assert_eq!(fake.log().iter().filter(|l| *l == "POST /api/users/register").count(), 3);
    assert_eq!(fake.users_left(), 0);

    let (server, fake) = cms(false).await;
    fake.with_users().rate_limited = vec![Some("120")];
    let p = project(CONTRACT);
    let o = run(&p, &server, &[]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("the server asked to wait 120s, longer than `auth.rate_limit_wait` (30s)"), "{out}");
    assert_eq!(fake.users_left(), 0);
    assert!(p.journal_files().is_empty(), "a 429 created nothing... once the settle deadline passed: {out}");
}

/// Lifecycle steps may send `url:` requests to the declared identity provider, and only
/// there; suite steps may not; `check` refuses an undeclared one at its line.
#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_steps_reach_the_declared_identity_provider_only() {
    // One CMS behind two origins: the gateway, and its identity provider.
    let (server, cms) = cms(false).await;
    let idp = MockServer::start().await;
    Mock::given(path_regex("^/api/")).respond_with(cms.clone()).mount(&idp).await;
    let on_idp = CONTRACT.replace("path: /api/users/register", &format!("url: \"{}/api/users/register\"", idp.uri()));
    let declared = format!("{on_idp}  identity_provider: {}\n", idp.uri());
    let p = project(&declared);
    let o = p.cmd().args(["check", "--gateway", &server.uri()]).env("SMOKE_ADMIN_TOKEN", ADMIN_TOKEN).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&p, &server, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let paths = |reqs: Vec<Request>| reqs.into_iter().map(|r| format!("{} {}", r.method, r.url.path())).collect::<Vec<_>>();
    assert_eq!(paths(idp.received_requests().await.unwrap()), ["POST /api/users/register"], "only the registration went there");
    assert!(!paths(server.received_requests().await.unwrap()).contains(&"POST /api/users/register".to_owned()));
    assert_eq!(cms.users_left(), 0);
    assert!(text(&o).contains(&format!("identity provider {}", idp.uri())), "the header line names it: {}", text(&o));

    // Undeclared: `check` refuses it at the step's line, and `run` refuses to send it.
    let p = project(&on_idp);
    let o = p.cmd().args(["check", "--gateway", &server.uri()]).env("SMOKE_ADMIN_TOKEN", ADMIN_TOKEN).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("smokegate.yaml:6:") && out.contains("neither the gateway nor the declared identity provider"), "{out}");
    let before = idp.received_requests().await.unwrap().len();
    let o = run(&p, &server, &[]).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("off-gateway"), "{}", text(&o));
    assert_eq!(idp.received_requests().await.unwrap().len(), before, "nothing was sent there");

    // A suite step to the identity provider is refused (exit 6), declared or not.
    let p = project(&declared);
    p.write("smoke-suites/items.yaml", &format!("steps:\n  - request: {{ url: \"{}/api/items\" }}\n", idp.uri()));
    let o = run(&p, &server, &[]).await;
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
}

/// A lifecycle URL whose origin is a template is judged by `check` when the environment
/// renders it: on an undeclared origin it is refused at its line; the Cognito preset's endpoint
/// (`AWS_ENDPOINT_URL`, declared by the preset) passes.
#[test]
fn check_judges_a_templated_lifecycle_url_it_can_render() {
    let templated = CONTRACT.replace("path: /api/users/register", "url: \"{{ env.IDP_URL }}/api/users/register\"");
    let p = project(&templated);
    let o = p
        .cmd()
        .args(["check", "--gateway", "http://127.0.0.1:9"])
        .env("SMOKE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("IDP_URL", "http://127.0.0.1:7")
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("smokegate.yaml:6:") && out.contains("http://127.0.0.1:7, which is neither the gateway"), "{out}");
    let declared = format!("{templated}  identity_provider: \"{{{{ env.IDP_URL }}}}\"\n");
    let p = project(&declared);
    let o = p
        .cmd()
        .args(["check", "--gateway", "http://127.0.0.1:9"])
        .env("SMOKE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("IDP_URL", "http://127.0.0.1:7")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let p = project(include_str!("fixtures/contract-cognito.yaml"));
    let o = p
        .cmd()
        .args(["check", "--gateway", "http://127.0.0.1:9", "--explain-auth"])
        .env("COGNITO_USER_POOL_ID", "us-east-1_x")
        .env("COGNITO_CLIENT_ID", "c")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:5")
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("X-Amz-Target: AWSCognitoIdentityProviderService.AdminCreateUser") && out.contains("auth: aws"), "{out}");
    // Without the pool's id, `check` says so, as `run` would fail.
    let o = p.cmd().args(["check"]).env("COGNITO_CLIENT_ID", "c").output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("COGNITO_USER_POOL_ID"), "{out}");
}

/// An admin whose credentials live in AWS Secrets Manager (`admin.credentials_secret`): one
/// signed `GetSecretValue` per run however many users need the admin (a user per suite here),
/// its `SecretString`'s `username` and `password` log the admin in (other fields ignored), and
/// neither the password nor the AWS secret key is printed. (A fake Secrets Manager: it checks
/// the request's shape; the signature itself is proven against moto in `tests/compat.rs`.)
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_whose_credentials_are_in_a_secrets_manager_reads_them_once() {
    use wiremock::matchers::{header, method, path};
    let (server, cms) = cms(false).await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:smoke/admin-AbCdEf";
    let sm = MockServer::start().await;
    let secret = json!({"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "note": "rotated 2026-12-01"}).to_string();
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("x-amz-target", "secretsmanager.GetSecretValue"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ARN": arn, "Name": "smoke/admin", "SecretString": secret})))
        .mount(&sm)
        .await;
    let admin = format!(
        "  scope: suite\n  admin:\n    credentials_secret: {{ aws: \"{arn}\" }}\n    login:\n      request: {{ method: POST, path: /api/auth/login, json: {{ email: \"{{{{ admin.username }}}}\", password: \"{{{{ admin.password }}}}\" }} }}\n      token: $.data.access_token\n      capture: {{ admin_refresh_token: $.data.refresh_token }}\n    logout:\n      request: {{ method: POST, path: /api/auth/logout, json: {{ refresh_token: \"{{{{ admin_refresh_token }}}}\", mode: json }} }}\n"
    );
    let config = CONTRACT.replace("  admin: { token: \"{{ env.SMOKE_ADMIN_TOKEN }}\" }\n", &admin);
    let p = project(&config);
    p.write("smoke-suites/items-again.yaml", &ITEMS_SUITE.replace("name: items", "name: items again"));
    let aws_secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let run_with = |p: &Project| {
        let mut cmd = p.run(&server.uri(), &["-v"]);
        cmd.env("AWS_ENDPOINT_URL_SECRETS_MANAGER", sm.uri())
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", aws_secret);
        cmd
    };
    let o = output(run_with(&p)).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("2 suites") && out.matches("cleanup: deleted test user").count() == 2, "{out}");
    assert_eq!((cms.users_left(), cms.admin_sessions()), (0, 0), "two users deleted, the admins logged out: {:?}", cms.log());
    let reads = sm.received_requests().await.unwrap();
    assert_eq!(reads.len(), 1, "read once per run for two users");
    let auth = reads[0].headers.get("authorization").unwrap().to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") && auth.contains("/us-east-1/secretsmanager/aws4_request"),
        "{auth}"
    );
    assert_eq!(serde_json::from_slice::<Value>(&reads[0].body).unwrap(), json!({"SecretId": arn}));
    assert_no_secrets(&o, &[ADMIN_PASSWORD, aws_secret, auth.rsplit_once("Signature=").unwrap().1]);

    // A secret without a password: the admin cannot log in, the users stay (exit 5), and the
    // message names the secret and what it lacks, never its value.
    sm.reset().await;
    let no_password = json!({"username": ADMIN_EMAIL, "pass": ADMIN_PASSWORD}).to_string();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ARN": arn, "SecretString": no_password})))
        .mount(&sm)
        .await;
    let p = project(&config);
    let o = output(run_with(&p)).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(out.contains(&format!("the secret `{arn}`: its SecretString has no `password` string")), "{out}");
    assert_no_secrets(&o, &[ADMIN_PASSWORD, aws_secret]);
    assert_eq!(p.journal_files().len(), 1, "the user is kept for cleanup: {out}");
    assert!(out.contains(&format!("gateway {}", server.uri())), "an AWS endpoint variable is not a secret: {out}");
}
