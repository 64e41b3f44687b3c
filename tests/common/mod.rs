//! Helpers: a hermetic command for the real binary, JWTs, and the auth routes on wiremock.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const CREATE: &str = "/api/auth/V1/auth/create";
pub const LOGIN: &str = "/api/auth/V1/auth/login";
pub const DELETE_USER: &str = "/api/auth/V1/auth/user";

/// A structurally valid HS256-looking JWT expiring `ttl` seconds from now.
pub fn jwt(ttl: i64) -> String {
    jwt_issued(0, ttl)
}

/// A JWT with these `iat` and `exp` (seconds since the epoch) and a unique signature.
pub fn jwt_at(iat: i64, exp: i64) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let c = URL_SAFE_NO_PAD.encode(json!({"sub": "smoke", "iat": iat, "exp": exp}).to_string());
    let s = URL_SAFE_NO_PAD.encode(format!("sig-{}", uuid::Uuid::new_v4()));
    format!("{h}.{c}.{s}")
}

/// A JWT issued `issued_ago` seconds ago that expires `ttl` seconds from now (negative: already
/// expired): what an issuer whose clock is behind the gateway's hands out.
pub fn jwt_issued(issued_ago: i64, ttl: i64) -> String {
    let now = now_secs();
    jwt_at(now - issued_ago, now + ttl)
}

/// A scratch directory with suite files.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        Project { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The real binary, with a clean environment (the one place that environment is set up).
    pub fn std_cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin!("smokegate"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "0");
        c.current_dir(self.path());
        c
    }

    pub fn cmd(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.std_cmd())
    }

    /// `smokegate run` against `gateway` with a private journal, from the project folder,
    /// as a plain command (for spawning and signalling).
    pub fn spawnable_run(&self, gateway: &str, extra: &[&str]) -> std::process::Command {
        let mut c = self.std_cmd();
        c.arg("run").arg("--gateway").arg(gateway).arg("--state-dir").arg(self.state()).args(extra);
        c
    }

    pub fn run(&self, gateway: &str, extra: &[&str]) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.spawnable_run(gateway, extra))
    }

    /// The identities in the journal (one file each).
    pub fn journal_files(&self) -> Vec<PathBuf> {
        files_in(&self.state().join("journal"))
    }

    /// The records in the journal (one file each).
    pub fn record_files(&self) -> Vec<PathBuf> {
        files_in(&self.state().join("journal").join("records"))
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect()).unwrap_or_default()
}

/// Runs a command off the async runtime (wiremock serves from its own thread).
pub async fn output(mut cmd: assert_cmd::Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// What the fake auth service knows, as a real one would: which user each token belongs to,
/// and which users were deleted. Keyed by token and email (both unique per run), so it holds
/// across servers and resets.
#[derive(Default)]
struct Accounts {
    owners: std::collections::HashMap<String, String>,
    deleted: std::collections::HashSet<String>,
}

fn accounts() -> std::sync::MutexGuard<'static, Accounts> {
    static A: std::sync::OnceLock<Mutex<Accounts>> = std::sync::OnceLock::new();
    A.get_or_init(Default::default).lock().unwrap()
}

fn email_of(req: &wiremock::Request) -> String {
    serde_json::from_slice::<serde_json::Value>(&req.body).ok().and_then(|v| v["email"].as_str().map(str::to_owned)).unwrap_or_default()
}

fn bearer_of(req: &wiremock::Request) -> Option<String> {
    // Whatever the scheme (`Bearer`, `JWT`, `Token`), or a bare token; or `X-Auth-Token`.
    match req.headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(v) => Some(v.split_once(' ').map_or(v, |(_, t)| t).to_owned()),
        None => req.headers.get("x-auth-token").and_then(|v| v.to_str().ok()).map(str::to_owned),
    }
}

/// Marks the owner of the request's token deleted; false when the token is unknown.
fn delete_owner(req: &wiremock::Request) -> bool {
    let mut a = accounts();
    match bearer_of(req).and_then(|t| a.owners.get(&t).cloned()) {
        Some(email) => {
            a.deleted.insert(email);
            true
        }
        None => false,
    }
}

/// True when the user logging in with this request was deleted.
fn login_is_deleted(req: &wiremock::Request) -> bool {
    accounts().deleted.contains(&email_of(req))
}

fn own_token(req: &wiremock::Request, token: &str) {
    accounts().owners.insert(token.to_owned(), email_of(req));
}

/// The login route of a fake auth service: 200 with a token (a fixed one, or a fresh one per
/// login) under `field`, until the user is deleted; then refused as `refusal` says — 401 by
/// default (simplejwt); real servers also answer 400 (json-server-auth, fastapi-users, OAuth2
/// `invalid_grant`) and 403.
#[derive(Clone)]
pub struct Login {
    pub token: Option<String>,
    pub field: &'static str,
    pub refusal: (u16, serde_json::Value),
}

impl Login {
    pub fn fixed(token: &str) -> Self {
        Login { token: Some(token.to_owned()), field: "token", refusal: (401, json!({"error": "invalid credentials"})) }
    }

    pub fn minting() -> Self {
        Login { token: None, field: "token", refusal: (401, json!({"error": "invalid credentials"})) }
    }

    pub fn field(mut self, field: &'static str) -> Self {
        self.field = field;
        self
    }

    /// How a deleted user's login is answered.
    pub fn refusing(mut self, status: u16, body: serde_json::Value) -> Self {
        self.refusal = (status, body);
        self
    }
}

impl wiremock::Respond for Login {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        if login_is_deleted(req) {
            return ResponseTemplate::new(self.refusal.0).set_body_json(self.refusal.1.clone());
        }
        let token = self.token.clone().unwrap_or_else(|| jwt(300));
        own_token(req, &token);
        ResponseTemplate::new(200).set_body_json(json!({ self.field: token }))
    }
}

/// The user-delete route: answers `faults` first (deleting nothing), then deletes the user the
/// bearer token belongs to and answers `status`.
#[derive(Clone)]
pub struct DeleteUser {
    pub faults: Arc<Mutex<std::collections::VecDeque<u16>>>,
    pub status: u16,
}

impl DeleteUser {
    pub fn ok() -> Self {
        DeleteUser { faults: Default::default(), status: 204 }
    }

    pub fn failing(status: u16, n: usize) -> Self {
        DeleteUser { faults: Arc::new(Mutex::new(std::iter::repeat_n(status, n).collect())), status: 204 }
    }
}

impl wiremock::Respond for DeleteUser {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        if let Some(f) = self.faults.lock().unwrap().pop_front() {
            return ResponseTemplate::new(f);
        }
        if delete_owner(req) { ResponseTemplate::new(self.status) } else { ResponseTemplate::new(401) }
    }
}

/// The config of [`v2_routes`].
pub const V2_CONFIG: &str = "auth:\n  scheme: Token\n  create:\n    request: { method: POST, path: /v2/signup, json: { email: \"{{ user.email }}\", password: \"{{ user.password }}\" } }\n    capture: { uid: $.id }\n  login:\n    request: { method: POST, path: /v2/signin, json: { email: \"{{ user.email }}\", password: \"{{ user.password }}\" } }\n  cleanup:\n    request: { method: DELETE, path: \"/v2/users/{{ uid }}\" }\n    auth: user\n";

/// Auth routes other than the built-in ones (`/v2/signup`, `/v2/signin`, `DELETE /v2/users/7`),
/// for a config that names them ([`V2_CONFIG`], whose scheme is `Token`). Returns the token.
pub async fn v2_routes(server: &MockServer) -> String {
    let token = jwt(300);
    Mock::given(method("POST"))
        .and(path("/v2/signup"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 7})))
        .mount(server)
        .await;
    Mock::given(method("POST")).and(path("/v2/signin")).respond_with(Login::fixed(&token)).mount(server).await;
    Mock::given(method("DELETE")).and(path("/v2/users/7")).respond_with(DeleteUser::ok()).mount(server).await;
    token
}

/// create 201 → login 200 (with `token`, until the user is deleted), no delete route. Returns the token.
pub async fn create_and_login(server: &MockServer) -> String {
    let token = jwt(300);
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"user": {"id": "u1"}})))
        .mount(server)
        .await;
    Mock::given(method("POST")).and(path(LOGIN)).respond_with(Login::fixed(&token)).mount(server).await;
    token
}

/// create 201 → login 200 (with `token`) → delete 204, after which the login is refused.
/// Returns the token.
pub async fn auth_ok(server: &MockServer) -> String {
    let token = create_and_login(server).await;
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::ok()).mount(server).await;
    token
}

/// The user's deletion answers `status` `n` times (deleting nothing), then deletes it (204).
pub async fn delete_fails_then_succeeds(server: &MockServer, status: u16, n: u64) {
    Mock::given(method("DELETE")).and(path(DELETE_USER)).respond_with(DeleteUser::failing(status, n as usize)).mount(server).await;
}

/// Requests the server received for a method and path.
pub async fn hits(server: &MockServer, m: &str, p: &str) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default().into_iter().filter(|r| r.method.as_str() == m && r.url.path() == p).collect()
}

/// The password the binary sent in the create request.
pub async fn sent_password(server: &MockServer) -> Option<String> {
    let create = hits(server, "POST", CREATE).await.into_iter().next()?;
    let v: serde_json::Value = serde_json::from_slice(&create.body).ok()?;
    v["password"].as_str().map(str::to_owned)
}

/// Asserts that no secret occurs anywhere in the output.
pub fn assert_no_secrets(o: &Output, secrets: &[&str]) {
    let all = text(o);
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!all.contains(s), "a secret leaked into the output:\n{all}");
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The `exp` claim of a JWT made by [`jwt`] (or any JWT with JSON claims).
pub fn exp_of(token: &str) -> Option<i64> {
    let claims = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice::<serde_json::Value>(&claims).ok()?["exp"].as_i64()
}

/// A login route that mints a fresh token (lifetime `ttl` s) per call, after `delay`, and
/// remembers when each call arrived and what it handed out.
#[derive(Clone)]
pub struct Minter {
    pub ttl: i64,
    pub delay: std::time::Duration,
    /// The first token lives `.0` s, and its answer is held until `.1` of that is left: `exp`
    /// is a whole second (as issuers write it), so tokens arrive with a fraction of one left.
    pub first: Option<(i64, std::time::Duration)>,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<(std::time::SystemTime, String)>>>,
}

impl Minter {
    pub fn new(ttl: i64, delay_ms: u64) -> Self {
        Minter { ttl, delay: std::time::Duration::from_millis(delay_ms), first: None, log: Default::default() }
    }

    pub fn tokens(&self) -> Vec<String> {
        self.log.lock().unwrap().iter().map(|(_, t)| t.clone()).collect()
    }

    pub fn arrivals(&self) -> Vec<std::time::SystemTime> {
        self.log.lock().unwrap().iter().map(|(at, _)| *at).collect()
    }
}

impl wiremock::Respond for Minter {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        if login_is_deleted(req) {
            return ResponseTemplate::new(401);
        }
        let now = std::time::SystemTime::now();
        let (token, delay) = match self.first.filter(|_| self.log.lock().unwrap().is_empty()) {
            // Expiring at a whole second 2–3 s away, answered when `left` of it remains.
            Some((lifetime, left)) => {
                let now_ms = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
                let exp = now_ms / 1000 + 3;
                let at = std::time::Duration::from_millis(exp * 1000 - now_ms) - left;
                (jwt_at(exp as i64 - lifetime, exp as i64), at)
            }
            None => (jwt(self.ttl), self.delay),
        };
        own_token(req, &token);
        self.log.lock().unwrap().push((now, token.clone()));
        ResponseTemplate::new(200).set_body_json(json!({"token": token})).set_delay(delay)
    }
}

/// An API route that accepts only a bearer token our [`Minter`] issued and that has not
/// expired yet (by `exp`, in whole seconds, as a gateway would judge it); counts stale tokens.
#[derive(Clone, Default)]
pub struct Guarded {
    pub minted: Option<Minter>,
    pub delay: std::time::Duration,
    pub stale: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub used: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl wiremock::Respond for Guarded {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let bearer =
            req.headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_owned);
        let known = |t: &str| self.minted.as_ref().is_none_or(|m| m.tokens().iter().any(|x| x == t));
        match bearer {
            Some(t) if known(&t) && exp_of(&t).is_some_and(|exp| now_secs() < exp) => {
                if req.method.as_str() == "DELETE" && req.url.path() == DELETE_USER {
                    delete_owner(req);
                }
                self.used.lock().unwrap().push(t);
                ResponseTemplate::new(200).set_body_json(json!({"ok": true})).set_delay(self.delay)
            }
            _ => {
                self.stale.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                ResponseTemplate::new(401)
            }
        }
    }
}

/// The file's permission bits (unix).
pub fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The reference gateway, in-process (the `smokegate-refgate` crate) on its own runtime and
/// thread, on free loopback ports; shut down on drop. `smokegate refgate` itself is tested once,
/// as a command, in tests/demo.rs.
pub struct Refgate {
    pub gateway: String,
    pub service: String,
    /// The identity provider's token endpoint (client credentials).
    pub token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Refgate {
    pub fn start(opts: refgate::RefgateOptions) -> Refgate {
        let (urls_tx, urls_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let gate = refgate::start(opts).await.unwrap();
                urls_tx.send((gate.gateway_url(), gate.service_url(), gate.token_url())).unwrap();
                let _ = stopped.await;
                gate.shutdown().await;
            });
        });
        let (gateway, service, token) = urls_rx.recv().unwrap();
        Refgate { gateway, service, token, stop: Some(stop), thread: Some(thread) }
    }

    /// With `latency` added by the service to every /api request.
    pub fn with_latency(ms: u64) -> Refgate {
        Refgate::start(refgate::RefgateOptions { latency: std::time::Duration::from_millis(ms), ..Default::default() })
    }

    /// What the service still holds: (users, records).
    pub fn inspect(&self) -> (usize, usize) {
        let v = get_json(&format!("{}/__inspect", self.service));
        (v["users"].as_array().unwrap().len(), v["records"].as_array().unwrap().len())
    }
}

impl Drop for Refgate {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A blocking GET of a JSON document, on a throwaway runtime (callable from sync and async tests).
pub fn get_json(url: &str) -> serde_json::Value {
    let url = url.to_owned();
    std::thread::spawn(move || {
        smokegate::http::client::install_crypto();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async { reqwest::get(url).await.unwrap().json::<serde_json::Value>().await.unwrap() })
    })
    .join()
    .unwrap()
}

/// An HTTPS gateway on loopback (`https://localhost:PORT`) whose certificate is signed by a
/// private CA. Speaks HTTP/1.1 and HTTP/2 (offered by ALPN as `alpn` says), answers every
/// request `200 {"status":"ok"}`, and records each TLS connection and each request's version.
pub struct TlsGateway {
    pub url: String,
    pub ca_pem: String,
    pub connections: Arc<AtomicUsize>,
    pub versions: Arc<Mutex<Vec<hyper::Version>>>,
}

impl TlsGateway {
    pub async fn start(alpn: &[&[u8]]) -> TlsGateway {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        smokegate::http::client::install_crypto();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &issuer).unwrap();
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let versions = Arc::new(Mutex::new(Vec::new()));
        let (conns, vers) = (connections.clone(), versions.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, conns, vers) = (acceptor.clone(), conns.clone(), vers.clone());
                tokio::spawn(async move {
                    // A refused handshake (the client distrusting our certificate) just ends here.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    conns.fetch_add(1, Ordering::SeqCst);
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        vers.lock().unwrap().push(req.version());
                        async {
                            let body = http_body_util::Full::new(hyper::body::Bytes::from_static(br#"{"status":"ok"}"#));
                            hyper::Response::builder().header("content-type", "application/json").body(body)
                        }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(tls), service).await;
                });
            }
        });
        TlsGateway { url: format!("https://localhost:{port}"), ca_pem, connections, versions }
    }
}
