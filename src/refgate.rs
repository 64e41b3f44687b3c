//! The reference gateway: a real gateway-first stack in one process, for `smokegate demo`, the
//! fault matrix and anyone who wants a target. Two listeners on loopback:
//!
//! ```text
//!  client ──► gateway :PORT ──(HTTP, X-Smoke-User)──► service :SERVICE_PORT
//!             verifies HS256 JWTs,                     auth routes, /api/orders,
//!             echoes X-Request-Id, adds x-upstream     /__inspect (never via the gateway)
//! ```
//!
//! Fault switches break the path the ways real stacks break (see [`Fault`]).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value as J, json};
use sha2::Sha256;

/// Ways the real path breaks, one switch each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The gateway accepts missing or forged tokens.
    AuthOff,
    /// Listing orders answers 200 `{"error":"not implemented"}`.
    Stub,
    /// Authenticated reads succeed with empty data.
    Empty,
    /// Reads are answered after a long delay.
    Slow,
    /// The orders service answers 500.
    ServerError,
    /// The gateway redirects order routes to the service's own origin.
    RedirectToService,
    /// Reads close the connection mid-response.
    Drop,
    /// Tokens live 2 seconds.
    ShortTtl,
    /// Deleting a user answers 500.
    NoDelete,
    /// The gateway's clock (Date header, token times) is 10 minutes ahead.
    Skew,
}

impl Fault {
    pub const ALL: &'static [(&'static str, Fault)] = &[
        ("auth-off", Fault::AuthOff),
        ("stub", Fault::Stub),
        ("empty", Fault::Empty),
        ("slow", Fault::Slow),
        ("5xx", Fault::ServerError),
        ("redirect-to-service", Fault::RedirectToService),
        ("drop", Fault::Drop),
        ("short-ttl", Fault::ShortTtl),
        ("no-delete", Fault::NoDelete),
        ("skew", Fault::Skew),
    ];

    pub fn parse(s: &str) -> Result<Fault, String> {
        Fault::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("unknown fault `{s}`; known: {}", Fault::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")))
    }
}

#[derive(Debug, Clone)]
pub struct RefgateOptions {
    pub port: u16,
    pub service_port: u16,
    pub faults: HashSet<Fault>,
    pub token_ttl: Duration,
    /// Added to every /api request by the service.
    pub latency: Duration,
    /// How long `slow` waits.
    pub slow_delay: Duration,
    pub clock_skew_tolerance: Duration,
    /// Print one access-log line per gateway request to stdout.
    pub access_log: bool,
}

impl Default for RefgateOptions {
    fn default() -> Self {
        RefgateOptions {
            port: 0,
            service_port: 0,
            faults: HashSet::new(),
            token_ttl: Duration::from_secs(300),
            latency: Duration::ZERO,
            slow_delay: Duration::from_secs(15),
            clock_skew_tolerance: Duration::from_secs(30),
            access_log: false,
        }
    }
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    password_hash: Vec<u8>,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Order {
    id: String,
    sku: J,
    qty: J,
    owner: String,
}

struct Shared {
    opts: RefgateOptions,
    key: [u8; 32],
    users: Mutex<BTreeMap<String, User>>,
    orders: Mutex<BTreeMap<String, Order>>,
    service_origin: String,
    client: reqwest::Client,
    /// Login count, for tests of refresh behaviour.
    logins: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn has(&self, f: Fault) -> bool {
        self.opts.faults.contains(&f)
    }

    /// The gateway's idea of "now" (skewed under the `skew` fault).
    fn now(&self) -> i64 {
        let n = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        if self.has(Fault::Skew) { n + 600 } else { n }
    }
}

/// A running reference gateway. Dropping it does not stop it; call `shutdown`.
pub struct Refgate {
    pub gateway_addr: SocketAddr,
    pub service_addr: SocketAddr,
    shutdown: tokio_util::sync::CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Refgate {
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway_addr)
    }

    pub fn service_url(&self) -> String {
        format!("http://{}", self.service_addr)
    }

    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
    }
}

/// Starts both listeners on 127.0.0.1.
pub async fn start(opts: RefgateOptions) -> std::io::Result<Refgate> {
    crate::http::client::install_crypto();
    let service = tokio::net::TcpListener::bind(("127.0.0.1", opts.service_port)).await?;
    let gateway = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
    let service_addr = service.local_addr()?;
    let gateway_addr = gateway.local_addr()?;
    let mut key = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut key);
    let shared = Arc::new(Shared {
        opts,
        key,
        users: Mutex::new(BTreeMap::new()),
        orders: Mutex::new(BTreeMap::new()),
        service_origin: format!("http://{service_addr}"),
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().map_err(std::io::Error::other)?,
        logins: Default::default(),
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let svc_app = Router::new().fallback(service_handler).with_state(shared.clone());
    let gw_app = Router::new().fallback(gateway_handler).with_state(shared.clone());
    let mut tasks = Vec::new();
    for (listener, app) in [(service, svc_app), (gateway, gw_app)] {
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await;
        }));
    }
    Ok(Refgate { gateway_addr, service_addr, shutdown, tasks })
}

// ---------------------------------------------------------------- JWT (HS256)

fn sign(key: &[u8], claims: &J) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Verifies signature, `alg`, `exp` and `nbf`; returns the claims.
fn verify(shared: &Shared, token: &str) -> Result<J, &'static str> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts.as_slice() else { return Err("malformed token") };
    let header: J = URL_SAFE_NO_PAD.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or("malformed header")?;
    if header.get("alg").and_then(J::as_str) != Some("HS256") {
        return Err("unsupported alg");
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| "malformed signature")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&shared.key).expect("any key length");
    mac.update(format!("{h}.{p}").as_bytes());
    mac.verify_slice(&sig).map_err(|_| "bad signature")?;
    let claims: J = URL_SAFE_NO_PAD.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or("malformed claims")?;
    let now = shared.now();
    let tol = shared.opts.clock_skew_tolerance.as_secs() as i64;
    if claims.get("exp").and_then(J::as_i64).is_none_or(|exp| now > exp + tol) {
        return Err("token expired");
    }
    if claims.get("nbf").and_then(J::as_i64).is_some_and(|nbf| now + tol < nbf) {
        return Err("token not yet valid");
    }
    Ok(claims)
}

fn hash(password: &str) -> Vec<u8> {
    use sha2::Digest;
    Sha256::digest(password.as_bytes()).to_vec()
}

// ---------------------------------------------------------------- gateway

fn json_response(status: StatusCode, body: J) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

async fn gateway_handler(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let start = Instant::now();
    let rid = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (mut resp, upstream) = route_gateway(&shared, req).await;
    let h = resp.headers_mut();
    h.insert("x-request-id", HeaderValue::from_str(&rid).unwrap_or(HeaderValue::from_static("invalid")));
    h.insert("x-gateway", HeaderValue::from_static("smokegate-refgate"));
    if let Some(u) = &upstream
        && let Ok(v) = HeaderValue::from_str(u)
    {
        h.insert("x-upstream", v);
    }
    let date = UNIX_EPOCH + Duration::from_secs(shared.now().max(0) as u64);
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(date)) {
        h.insert("date", v);
    }
    if shared.opts.access_log {
        crate::outln!(
            "refgate reqId={rid} {method} {path} status={} upstream={} {:.1}ms",
            resp.status().as_u16(),
            upstream.as_deref().unwrap_or("-"),
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
    resp
}

const AUTH_OPEN: &[&str] = &["/api/auth/V1/auth/create", "/api/auth/V1/auth/login"];

async fn route_gateway(shared: &Arc<Shared>, req: Request) -> (Response, Option<String>) {
    let path = req.uri().path().to_owned();
    if path == "/health/live" || path == "/health/ready" {
        return (json_response(StatusCode::OK, json!({"status": "ok"})), None);
    }
    if !path.starts_with("/api/") {
        return (json_response(StatusCode::NOT_FOUND, json!({"error": "no route"})), None);
    }
    let upstream = if path.starts_with("/api/auth/") { "auth-svc" } else { "orders-svc" };
    let upstream = format!("{upstream}@{}", shared.service_origin.trim_start_matches("http://"));

    // Who is calling: verified at the edge, passed to the service as a trusted header.
    let mut user: Option<String> = None;
    if !AUTH_OPEN.contains(&path.as_str()) {
        let token =
            req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_owned);
        match token.as_deref().map(|t| verify(shared, t)) {
            Some(Ok(claims)) => user = claims.get("sub").and_then(J::as_str).map(str::to_owned),
            _ if shared.has(Fault::AuthOff) => {
                // The broken gateway: trusts whatever claims it can read, or nobody at all.
                user = token
                    .as_deref()
                    .and_then(|t| t.split('.').nth(1))
                    .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
                    .and_then(|b| serde_json::from_slice::<J>(&b).ok())
                    .and_then(|c| c.get("sub").and_then(J::as_str).map(str::to_owned))
                    .or(Some("anonymous".into()));
            }
            Some(Err(why)) => {
                return (
                    (
                        [("www-authenticate", "Bearer error=\"invalid_token\"")],
                        json_response(StatusCode::UNAUTHORIZED, json!({"error": why})),
                    )
                        .into_response(),
                    None,
                );
            }
            None => return (json_response(StatusCode::UNAUTHORIZED, json!({"error": "missing bearer token"})), None),
        }
    }

    if shared.has(Fault::RedirectToService) && path.starts_with("/api/orders") {
        let loc = format!("{}{}", shared.service_origin, req.uri().path_and_query().map_or(path.as_str(), |p| p.as_str()));
        return ((StatusCode::TEMPORARY_REDIRECT, [("location", loc)]).into_response(), None);
    }
    if shared.has(Fault::Drop) && path.starts_with("/api/orders") && req.method() == Method::GET {
        // Promise more than we send, then break the connection.
        let stream = futures::stream::iter(vec![
            Ok::<Bytes, std::io::Error>(Bytes::from_static(b"[{\"id\":")),
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "dropped")),
        ]);
        let resp = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("content-length", "4096")
            .body(Body::from_stream(stream));
        return (resp.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()), Some(upstream));
    }

    // Proxy over real HTTP.
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return (json_response(StatusCode::PAYLOAD_TOO_LARGE, json!({"error": "body too large"})), None);
    };
    let target = format!("{}{}", shared.service_origin, parts.uri.path_and_query().map_or(path.as_str(), |p| p.as_str()));
    let mut fwd = shared.client.request(parts.method.clone(), &target).body(body.to_vec());
    for name in ["content-type", "x-request-id", "accept"] {
        if let Some(v) = parts.headers.get(name) {
            fwd = fwd.header(name, v);
        }
    }
    if let Some(u) = &user {
        fwd = fwd.header("x-smoke-user", u.as_str());
    }
    match fwd.send().await {
        Ok(r) => {
            let status = r.status();
            let ct = r.headers().get("content-type").cloned();
            let bytes = r.bytes().await.unwrap_or_default();
            let mut resp = (status, bytes).into_response();
            if let Some(ct) = ct {
                resp.headers_mut().insert("content-type", ct);
            }
            (resp, Some(upstream))
        }
        Err(_) => (json_response(StatusCode::BAD_GATEWAY, json!({"error": "upstream unavailable"})), Some(upstream)),
    }
}

// ---------------------------------------------------------------- service

async fn service_handler(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let caller = header(req.headers(), "x-smoke-user");
    let request_id = header(req.headers(), "x-request-id");
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    let body: J = serde_json::from_slice(&body).unwrap_or(J::Null);

    if path == "/__inspect" {
        let users: Vec<String> = shared.users.lock().unwrap().keys().cloned().collect();
        let orders: Vec<Order> = shared.orders.lock().unwrap().values().cloned().collect();
        let logins = shared.logins.load(std::sync::atomic::Ordering::SeqCst);
        return json_response(StatusCode::OK, json!({"users": users, "records": orders, "logins": logins}));
    }
    if path.starts_with("/api/") && !shared.opts.latency.is_zero() {
        tokio::time::sleep(shared.opts.latency).await;
    }
    match (method.clone(), path.as_str()) {
        (Method::POST, "/api/auth/V1/auth/create") => {
            let (Some(email), Some(password)) = (body.get("email").and_then(J::as_str), body.get("password").and_then(J::as_str)) else {
                return json_response(StatusCode::BAD_REQUEST, json!({"error": "email and password are required"}));
            };
            let mut users = shared.users.lock().unwrap();
            if users.contains_key(email) {
                return json_response(StatusCode::CONFLICT, json!({"error": "user exists"}));
            }
            let id = uuid::Uuid::new_v4().to_string();
            users.insert(email.to_owned(), User { id: id.clone(), password_hash: hash(password) });
            json_response(StatusCode::CREATED, json!({"user": {"id": id, "email": email}}))
        }
        (Method::POST, "/api/auth/V1/auth/login") => {
            let (Some(email), Some(password)) = (body.get("email").and_then(J::as_str), body.get("password").and_then(J::as_str)) else {
                return json_response(StatusCode::BAD_REQUEST, json!({"error": "email and password are required"}));
            };
            let user = shared.users.lock().unwrap().get(email).cloned();
            match user {
                Some(u) if u.password_hash == hash(password) => {
                    shared.logins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let ttl = if shared.has(Fault::ShortTtl) { 2 } else { shared.opts.token_ttl.as_secs() as i64 };
                    let now = shared.now();
                    let claims = json!({"sub": email, "uid": u.id, "iat": now, "nbf": now, "exp": now + ttl, "iss": "smokegate-refgate"});
                    json_response(StatusCode::OK, json!({"token": sign(&shared.key, &claims), "expiresIn": ttl, "user": {"id": u.id}}))
                }
                _ => json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid credentials"})),
            }
        }
        (Method::DELETE, "/api/auth/V1/auth/user") => {
            let Some(email) = caller else { return json_response(StatusCode::UNAUTHORIZED, json!({"error": "no caller"})) };
            if shared.has(Fault::NoDelete) {
                return json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "user store unavailable"}));
            }
            match shared.users.lock().unwrap().remove(&email) {
                Some(_) => StatusCode::NO_CONTENT.into_response(),
                None => json_response(StatusCode::NOT_FOUND, json!({"error": "no such user"})),
            }
        }
        (_, p) if p == "/api/orders" || p.starts_with("/api/orders/") => orders(&shared, method, p, caller, body).await,
        // What the upstream received: proves the gateway forwards the reqId (and the caller).
        (Method::GET, "/api/echo") => json_response(
            StatusCode::OK,
            json!({"method": method.as_str(), "path": path, "headers": {"X-Request-Id": request_id}, "caller": caller}),
        ),
        _ => json_response(StatusCode::NOT_FOUND, json!({"error": "no route"})),
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn orders(shared: &Shared, method: Method, path: &str, caller: Option<String>, body: J) -> Response {
    // The service trusts the gateway's header; called directly, it has no caller.
    let Some(owner) = caller else { return json_response(StatusCode::UNAUTHORIZED, json!({"error": "no caller identity"})) };
    if shared.has(Fault::ServerError) {
        return json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "orders database unavailable"}));
    }
    if method == Method::GET && shared.has(Fault::Slow) {
        tokio::time::sleep(shared.opts.slow_delay).await;
    }
    let id = path.strip_prefix("/api/orders/").filter(|s| !s.is_empty());
    match (method, id) {
        (Method::POST, None) => {
            let Some(sku) = body.get("sku").cloned() else {
                return json_response(StatusCode::BAD_REQUEST, json!({"error": "sku is required"}));
            };
            let order = Order {
                id: format!("ord-{}", uuid::Uuid::new_v4().simple()),
                sku,
                qty: body.get("qty").cloned().unwrap_or(json!(1)),
                owner,
            };
            shared.orders.lock().unwrap().insert(order.id.clone(), order.clone());
            json_response(StatusCode::CREATED, serde_json::to_value(&order).unwrap_or_default())
        }
        (Method::GET, None) => {
            if shared.has(Fault::Stub) {
                return json_response(StatusCode::OK, json!({"error": "not implemented"}));
            }
            if shared.has(Fault::Empty) {
                return json_response(StatusCode::OK, json!([]));
            }
            let mine: Vec<Order> = shared.orders.lock().unwrap().values().filter(|o| o.owner == owner).cloned().collect();
            json_response(StatusCode::OK, serde_json::to_value(mine).unwrap_or_default())
        }
        (Method::GET, Some(id)) => {
            if shared.has(Fault::Empty) {
                return json_response(StatusCode::OK, json!({}));
            }
            match shared.orders.lock().unwrap().get(id).filter(|o| o.owner == owner) {
                Some(o) => json_response(StatusCode::OK, serde_json::to_value(o).unwrap_or_default()),
                None => json_response(StatusCode::NOT_FOUND, json!({"error": "no such order"})),
            }
        }
        (Method::DELETE, Some(id)) => {
            let mut orders = shared.orders.lock().unwrap();
            match orders.get(id) {
                Some(o) if o.owner == owner => {
                    orders.remove(id);
                    StatusCode::NO_CONTENT.into_response()
                }
                _ => json_response(StatusCode::NOT_FOUND, json!({"error": "no such order"})),
            }
        }
        _ => json_response(StatusCode::METHOD_NOT_ALLOWED, json!({"error": "method not allowed"})),
    }
}

// ---------------------------------------------------------------- commands

/// `smokegate refgate`: serve until Ctrl-C.
pub async fn serve_forever(args: crate::cli::args::RefgateArgs) -> Result<i32, crate::cli::app::Failure> {
    let mut opts = RefgateOptions { port: args.port, service_port: args.service_port, access_log: true, ..RefgateOptions::default() };
    for f in &args.faults {
        opts.faults.insert(Fault::parse(f).map_err(|e| crate::cli::app::Failure::new(crate::exit::USAGE, e))?);
    }
    if let Some(t) = args.token_ttl {
        opts.token_ttl = t;
    }
    if let Some(l) = args.latency {
        opts.latency = l;
    }
    let gate = start(opts.clone()).await.map_err(|e| crate::cli::app::Failure::new(crate::exit::USAGE, format!("cannot listen: {e}")))?;
    let mut faults: Vec<&str> = Fault::ALL.iter().filter(|(_, f)| opts.faults.contains(f)).map(|(n, _)| *n).collect();
    if faults.is_empty() {
        faults.push("none");
    }
    crate::outln!("refgate gateway={} service={} faults={}", gate.gateway_url(), gate.service_url(), faults.join(","));
    crate::outln!("inspect: curl {}/__inspect   (service listener only)", gate.service_url());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    gate.shutdown().await;
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_forgeries_do_not() {
        crate::http::client::install_crypto();
        let shared = Shared {
            opts: RefgateOptions::default(),
            key: [7; 32],
            users: Mutex::new(BTreeMap::new()),
            orders: Mutex::new(BTreeMap::new()),
            service_origin: String::new(),
            client: reqwest::Client::new(),
            logins: Default::default(),
        };
        let now = shared.now();
        let t = sign(&shared.key, &json!({"sub": "a", "exp": now + 60, "nbf": now}));
        assert!(verify(&shared, &t).is_ok());
        assert_eq!(verify(&shared, &crate::run::jwt::tamper_signature(&t)), Err("bad signature"));
        assert_eq!(verify(&shared, &crate::run::jwt::alg_none(&t)), Err("unsupported alg"));
        let old = sign(&shared.key, &json!({"sub": "a", "exp": now - 120}));
        assert_eq!(verify(&shared, &old), Err("token expired"));
        assert!(Fault::parse("5xx").is_ok() && Fault::parse("nope").is_err());
    }
}
