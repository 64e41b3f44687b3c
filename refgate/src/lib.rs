//! The reference gateway: a real gateway-first stack in one process, for `smokegate demo`, the
//! fault matrix, the harness's own tests and anyone who wants a target. Two listeners on loopback:
//!
//! ```text
//!  client ──► gateway :PORT ──(HTTP, X-Smoke-User)──► service :SERVICE_PORT
//!             verifies HS256 JWTs,                     auth routes, /api/orders,
//!             echoes X-Request-Id, adds x-upstream     /__inspect (never via the gateway)
//! ```
//!
//! Fault switches break the path the ways real stacks break (see [`Fault`]). `gateway` owns the
//! edge, `service` the upstream, `token` the HS256 tokens they share.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use serde_json::Value as J;

mod gateway;
mod service;
mod token;

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
    /// Reading an order back answers a body that breaks the OpenAPI document (`openapi.yaml`).
    Contract,
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
        ("contract", Fault::Contract),
    ];

    pub fn parse(s: &str) -> Result<Fault, UnknownFault> {
        Fault::ALL.iter().find(|(n, _)| *n == s).map(|(_, f)| *f).ok_or_else(|| UnknownFault(s.to_owned()))
    }

    pub fn name(self) -> &'static str {
        Fault::ALL.iter().find(|(_, f)| *f == self).map_or("?", |(n, _)| n)
    }
}

/// A fault name that is not one of [`Fault::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFault(pub String);

impl std::fmt::Display for UnknownFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known: Vec<&str> = Fault::ALL.iter().map(|(n, _)| *n).collect();
        write!(f, "unknown fault `{}`; known: {}", self.0, known.join(", "))
    }
}

impl std::error::Error for UnknownFault {}

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
    /// How long an export job reads `running`.
    pub job_delay: Duration,
    /// The identity provider's port (`POST /token`, client credentials); 0: any free port.
    pub token_port: u16,
    pub client_id: String,
    pub client_secret: String,
    /// The key `/api/keyed/*` takes in `X-Api-Key`.
    pub api_key: String,
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
            job_delay: Duration::from_millis(600),
            token_port: 0,
            client_id: "smoke-client".into(),
            client_secret: "smoke-client-secret-0000".into(),
            api_key: "smoke-api-key-0000".into(),
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
    created: String,
}

/// An export job: `running` until `ready_at`, then `done` (or `failed`).
struct Job {
    id: String,
    owner: String,
    ready_at: std::time::Instant,
    fail: bool,
}

impl Job {
    fn view(&self) -> J {
        let status = match (std::time::Instant::now() >= self.ready_at, self.fail) {
            (false, _) => "running",
            (true, false) => "done",
            (true, true) => "failed",
        };
        serde_json::json!({"id": self.id, "status": status})
    }
}

/// What both listeners share.
struct Shared {
    opts: RefgateOptions,
    key: [u8; 32],
    users: Mutex<BTreeMap<String, User>>,
    orders: Mutex<BTreeMap<String, Order>>,
    jobs: Mutex<BTreeMap<String, Job>>,
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
    /// The identity provider (client credentials): an origin of its own, as in real stacks.
    pub token_addr: SocketAddr,
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

    /// `POST` here with `grant_type=client_credentials` for a token the gateway accepts.
    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.token_addr)
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
    let _ = rustls::crypto::ring::default_provider().install_default();
    let service = tokio::net::TcpListener::bind(("127.0.0.1", opts.service_port)).await?;
    let gateway = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
    let idp = tokio::net::TcpListener::bind(("127.0.0.1", opts.token_port)).await?;
    let service_addr = service.local_addr()?;
    let gateway_addr = gateway.local_addr()?;
    let token_addr = idp.local_addr()?;
    let mut key = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut key);
    let shared = Arc::new(Shared {
        opts,
        key,
        users: Mutex::new(BTreeMap::new()),
        orders: Mutex::new(BTreeMap::new()),
        jobs: Mutex::new(BTreeMap::new()),
        service_origin: format!("http://{service_addr}"),
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().map_err(std::io::Error::other)?,
        logins: Default::default(),
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let svc_app = Router::new().fallback(service::handler).with_state(shared.clone());
    let gw_app = Router::new().fallback(gateway::handler).with_state(shared.clone());
    let idp_app = Router::new().fallback(token::issue).with_state(shared.clone());
    let mut tasks = Vec::new();
    for (listener, app) in [(service, svc_app), (gateway, gw_app), (idp, idp_app)] {
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await;
        }));
    }
    Ok(Refgate { gateway_addr, service_addr, token_addr, shutdown, tasks })
}

fn json_response(status: axum::http::StatusCode, body: J) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_by_name() {
        assert_eq!(Fault::parse("5xx"), Ok(Fault::ServerError));
        assert_eq!(Fault::ServerError.name(), "5xx");
        assert_eq!(Fault::parse("contract"), Ok(Fault::Contract));
        let e = Fault::parse("nope").unwrap_err().to_string();
        assert!(e.contains("unknown fault `nope`") && e.contains("auth-off"), "{e}");
    }
}
