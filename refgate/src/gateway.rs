//! The edge: verifies the bearer token, stamps X-Request-Id, x-upstream and Date, applies the
//! gateway-side faults, and proxies to the service over real HTTP with the caller's identity.

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};

use crate::{Fault, Shared, json_response, token};

/// Routes anyone may call without a token.
const AUTH_OPEN: &[&str] = &["/api/auth/V1/auth/create", "/api/auth/V1/auth/login"];

pub(crate) async fn handler(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let start = Instant::now();
    let rid = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (mut resp, upstream) = route(&shared, req).await;
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
        use std::io::Write;
        // A closed stdout must not take the gateway down.
        let _ = writeln!(
            std::io::stdout(),
            "refgate reqId={rid} {method} {path} status={} upstream={} {:.1}ms",
            resp.status().as_u16(),
            upstream.as_deref().unwrap_or("-"),
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
    resp
}

/// The response and the upstream that answered it (none when the edge answered itself).
async fn route(shared: &Arc<Shared>, req: Request) -> (Response, Option<String>) {
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
    let user = if AUTH_OPEN.contains(&path.as_str()) {
        None
    } else if path.starts_with("/api/keyed/") {
        // An API-key route: the key, not a bearer token, names the caller.
        match req.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
            Some(k) if k == shared.opts.api_key => Some("api-key-client".to_owned()),
            _ if shared.has(Fault::AuthOff) => Some("anonymous".to_owned()),
            Some(_) => return (refused("invalid api key"), None),
            None => return (refused("missing api key"), None),
        }
    } else {
        match caller(shared, req.headers()) {
            Ok(user) => user,
            Err(why) => return (refused(why), None),
        }
    };
    if let Some((resp, passed_on)) = edge_fault(shared, &req, &path) {
        return (resp, passed_on.then_some(upstream));
    }
    (proxy(shared, req, user.as_deref()).await, Some(upstream))
}

/// The caller's subject from a verified bearer token, or why the token is refused.
fn caller(shared: &Shared, headers: &HeaderMap) -> Result<Option<String>, &'static str> {
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_owned);
    match token.as_deref().map(|t| token::verify(shared, t)) {
        Some(Ok(claims)) => Ok(claims.get("sub").and_then(J::as_str).map(str::to_owned)),
        // The broken gateway: trusts whatever claims it can read, or nobody at all.
        _ if shared.has(Fault::AuthOff) => Ok(token.as_deref().and_then(token::unverified_subject).or(Some("anonymous".into()))),
        Some(Err(why)) => Err(why),
        None => Err("missing bearer token"),
    }
}

/// The 401 for a refused token; an invalid one (not a missing one) says so in WWW-Authenticate.
fn refused(why: &'static str) -> Response {
    let body = json_response(StatusCode::UNAUTHORIZED, json!({"error": why}));
    if why.starts_with("missing") { body } else { ([("www-authenticate", "Bearer error=\"invalid_token\"")], body).into_response() }
}

/// The faults the edge itself commits: a redirect to the service's origin (answered by the
/// edge), a response dropped half-way (after the upstream was called).
fn edge_fault(shared: &Shared, req: &Request, path: &str) -> Option<(Response, bool)> {
    if !path.starts_with("/api/orders") {
        return None;
    }
    if shared.has(Fault::RedirectToService) {
        let loc = format!("{}{}", shared.service_origin, req.uri().path_and_query().map_or(path, |p| p.as_str()));
        return Some(((StatusCode::TEMPORARY_REDIRECT, [("location", loc)]).into_response(), false));
    }
    if shared.has(Fault::Drop) && req.method() == Method::GET {
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
        return Some((resp.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()), true));
    }
    None
}

/// Forwards the request to the service over real HTTP, with the verified caller.
async fn proxy(shared: &Shared, req: Request, user: Option<&str>) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return json_response(StatusCode::PAYLOAD_TOO_LARGE, json!({"error": "body too large"}));
    };
    let target = format!("{}{}", shared.service_origin, parts.uri.path_and_query().map_or(parts.uri.path(), |p| p.as_str()));
    let mut fwd = shared.client.request(parts.method.clone(), &target).body(body.to_vec());
    for name in ["content-type", "x-request-id", "accept"] {
        if let Some(v) = parts.headers.get(name) {
            fwd = fwd.header(name, v);
        }
    }
    if let Some(u) = user {
        fwd = fwd.header("x-smoke-user", u);
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
            resp
        }
        Err(_) => json_response(StatusCode::BAD_GATEWAY, json!({"error": "upstream unavailable"})),
    }
}
