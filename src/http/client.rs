//! The HTTP client every smoke request goes through. It resolves paths against the gateway (and
//! nothing else), stamps each request with a fresh `X-Request-Id` (UUIDv7) and a W3C
//! `traceparent`, follows same-origin redirects only when asked, caps bodies, and returns a
//! breadcrumb per request with timings, the echoed id and the upstream the gateway reported.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::http::policy::{Gateway, OffGateway};
use crate::report::crumb::CrumbOutcome;
use crate::report::event::{Breadcrumb, FailureClass, Phase};
use crate::secret::redact_query;

pub const MAX_REDIRECTS: usize = 5;

/// Settings for the client, resolved from CLI, env and config.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub request_id_header: String,
    pub upstream_headers: Vec<String>,
    pub max_body_bytes: usize,
    pub cacert: Option<std::path::PathBuf>,
    pub insecure: bool,
}

pub use crate::http::credential::{Credential, with_scheme};

/// One request to send. Holds credential headers and the bearer token: no `Debug`.
#[derive(Clone)]
pub struct Outgoing {
    pub method: Method,
    /// Gateway-relative path or absolute URL (checked against the gateway).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<(Bytes, &'static str)>,
    /// The run's credential for an `auth: user` step.
    pub credential: Option<Credential>,
    pub follow_redirects: bool,
    pub timeout: Option<Duration>,
    /// The reqId of the first request (made before rendering, for `{{ request.id }}`); later
    /// hops of a redirect chain get their own. A request-id header the suite sets itself wins.
    pub request_id: Option<String>,
    /// Signed with AWS SigV4 in this scope: its `authorization`, `x-amz-date` and
    /// `x-amz-security-token` headers are the signature's (a replay line signs anew instead).
    pub signed: Option<crate::http::aws::SigningScope>,
}

impl Outgoing {
    pub fn new(method: Method, path: &str) -> Self {
        Outgoing {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
            credential: None,
            follow_redirects: false,
            timeout: None,
            request_id: None,
            signed: None,
        }
    }
}

/// Who is asking, for breadcrumbs.
#[derive(Debug, Clone)]
pub struct CrumbCtx {
    pub suite: Option<String>,
    pub step: Option<String>,
    pub phase: Phase,
    pub attempt: u32,
}

/// A whole answer. Holds what the gateway handed out (a login's token): no `Debug`.
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    /// Shared: an answer judged by a probe or kept by `eventually` is never copied.
    pub body: Bytes,
    pub url: Url,
    /// The server's `Date`, for clock-skew checks.
    pub date: Option<SystemTime>,
    pub total: Duration,
}

/// A header's values joined with `, ` (lossy UTF-8), if it is present.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
    if values.is_empty() { None } else { Some(values.join(", ")) }
}

/// The breadcrumb's facts from a response head.
struct Head {
    status: u16,
    ttfb: Duration,
    echoed_id: Option<String>,
    upstream: Option<String>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        header_text(&self.headers, name)
    }
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("could not connect to the gateway: {0}")]
    Connect(String),
    #[error("no response within {}", human(*.0))]
    Timeout(Duration),
    #[error("connection broke mid-response: {0}")]
    Broken(String),
    #[error("refused to leave the gateway: {0}")]
    OffGateway(#[from] OffGateway),
    /// A chain longer than the limit, or one that comes back to a URL it visited.
    #[error("{0}")]
    TooManyRedirects(String),
    #[error("response body larger than the {0}-byte cap")]
    BodyTooLarge(usize),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("interrupted")]
    Cancelled,
}

impl SendError {
    pub fn class(&self) -> FailureClass {
        match self {
            SendError::Connect(_) | SendError::Broken(_) => FailureClass::Connect,
            SendError::Timeout(_) => FailureClass::Timeout,
            SendError::OffGateway(_) => FailureClass::OffGateway,
            SendError::TooManyRedirects(_) => FailureClass::TooManyRedirects,
            SendError::BodyTooLarge(_) => FailureClass::BodyTooLarge,
            SendError::Invalid(_) => FailureClass::Template,
            SendError::Cancelled => FailureClass::Cancelled,
        }
    }
}

/// One request of a redirect chain: what differs from hop to hop.
struct Hop<'a> {
    method: &'a Method,
    url: &'a Url,
    body: Option<&'a (Bytes, &'static str)>,
    /// The caller's reqId, for the first hop only.
    request_id: Option<String>,
}

/// A finished exchange: the result and one breadcrumb per request sent (redirect hops included).
pub struct Exchange {
    pub result: Result<Response, SendError>,
    pub crumbs: Vec<Breadcrumb>,
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    CaCert(String),
    #[error("cannot build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
    #[error("request_id_header: {0}")]
    HeaderName(#[from] reqwest::header::InvalidHeaderName),
}

/// Cheap to clone: the connection pool is shared.
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    pub gateway: Gateway,
    pub settings: ClientSettings,
    rid_header: HeaderName,
    pub run_id: String,
    pub trace_id: String,
}

/// Makes sure rustls has its crypto provider (we ship ring, not aws-lc-rs).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl HttpClient {
    pub fn new(gateway: Gateway, settings: ClientSettings, run_id: &str) -> Result<HttpClient, ClientError> {
        install_crypto();
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .user_agent(format!("smokegate/{} (+run {run_id})", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .no_proxy();
        if let Some(path) = &settings.cacert {
            let pem = std::fs::read(path).map_err(|e| ClientError::CaCert(format!("cannot read --cacert {}: {e}", path.display())))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ClientError::CaCert(format!("invalid PEM in {}: {e}", path.display())))?
            {
                b = b.add_root_certificate(cert);
            }
        }
        if settings.insecure {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if !gateway.is_https() {
            // Redirects never leave the origin, so a plain-http gateway never needs TLS: do not
            // pay for loading the platform's trust store before the first request.
            b = b.tls_certs_only(Vec::new());
        }
        let inner = b.build()?;
        let rid_header = HeaderName::from_bytes(settings.request_id_header.as_bytes())?;
        let trace_id = uuid::Uuid::new_v4().simple().to_string();
        Ok(HttpClient { inner, gateway, settings, rid_header, run_id: run_id.to_owned(), trace_id })
    }

    /// The request-id header a caller set itself: sent as written, and it is the request's reqId.
    pub fn own_request_id(&self, req: &Outgoing) -> Option<String> {
        req.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(self.rid_header.as_str())).map(|(_, v)| v.clone())
    }

    /// Sends one request (following same-origin redirects if asked), racing the cancel token.
    pub async fn send(&self, req: &Outgoing, ctx: &CrumbCtx, cancel: &CancellationToken) -> Exchange {
        let mut crumbs = Vec::new();
        let url = match self.gateway.resolve(&req.path) {
            Ok(u) => u,
            Err(e) => return Exchange { result: Err(SendError::OffGateway(e)), crumbs },
        };
        let timeout = req.timeout.unwrap_or(self.settings.timeout);
        let mut url = url;
        let mut method = req.method.clone();
        let mut body = req.body.clone();
        let mut visited = vec![url.clone()];
        for hop in 0..=MAX_REDIRECTS {
            let rid = req.request_id.clone().filter(|_| hop == 0);
            let this = Hop { method: &method, url: &url, body: body.as_ref(), request_id: rid };
            let (result, crumb) = self.send_once(this, req, ctx, timeout, cancel).await;
            crumbs.push(crumb);
            let resp = match result {
                Ok(r) => r,
                Err(e) => return Exchange { result: Err(e), crumbs },
            };
            let redirect = StatusCode::from_u16(resp.status).is_ok_and(|s| s.is_redirection()) && resp.status != 304;
            if !(req.follow_redirects && redirect) {
                return Exchange { result: Ok(resp), crumbs };
            }
            let Some(loc) = resp.header("location") else { return Exchange { result: Ok(resp), crumbs } };
            let next = match resp.url.join(&loc) {
                Ok(u) => u,
                Err(_) => return Exchange { result: Err(SendError::Invalid(format!("bad Location `{loc}`"))), crumbs },
            };
            // The other origin receives nothing: we stop before sending.
            if let Err(e) = self.gateway.check(&next) {
                return Exchange { result: Err(SendError::OffGateway(e)), crumbs };
            }
            if visited.contains(&next) {
                let chain: Vec<&str> = visited.iter().chain(std::iter::once(&next)).map(Url::path).collect();
                let msg = format!("redirect loop: {}", chain.join(" → "));
                return Exchange { result: Err(SendError::TooManyRedirects(msg)), crumbs };
            }
            if hop == MAX_REDIRECTS {
                break;
            }
            visited.push(next.clone());
            if matches!(resp.status, 301..=303) && method != Method::HEAD {
                method = Method::GET;
                body = None;
            }
            url = next;
        }
        let msg = format!("more than {MAX_REDIRECTS} redirects: {}", visited.iter().map(Url::path).collect::<Vec<_>>().join(" → "));
        Exchange { result: Err(SendError::TooManyRedirects(msg)), crumbs }
    }

    async fn send_once(
        &self,
        hop: Hop<'_>,
        req: &Outgoing,
        ctx: &CrumbCtx,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> (Result<Response, SendError>, Breadcrumb) {
        let Hop { method, url, body, request_id } = hop;
        let request_id = self.own_request_id(req).or(request_id).unwrap_or_else(new_request_id);
        let span_id = format!("{:016x}", rand::random::<u64>() | 1);
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let mut crumb = Breadcrumb {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            run_id: self.run_id.clone(),
            request_id: request_id.clone(),
            echoed_request_id: None,
            trace_id: self.trace_id.clone(),
            span_id: span_id.clone(),
            suite: ctx.suite.clone(),
            step: ctx.step.clone(),
            phase: ctx.phase,
            method: method.to_string(),
            path: redact_query(&path_and_query),
            status: None,
            upstream: None,
            ttfb_ms: 0.0,
            total_ms: 0.0,
            attempt: ctx.attempt,
            outcome: CrumbOutcome::Error,
            failure_class: None,
        };
        let built = self.build(method, url, req, body, &request_id, &span_id);
        let start = Instant::now();
        // What the breadcrumb needs from the status line and headers, noted as soon as they arrive
        // so that it survives a body that then fails, stalls or overflows.
        let head: std::sync::Mutex<Option<Head>> = std::sync::Mutex::new(None);
        let result = match built {
            Err(e) => Err(e),
            Ok(rb) => {
                let fut = self.execute(rb, url.clone(), start, &head);
                tokio::select! {
                    r = tokio::time::timeout(timeout, fut) => r.unwrap_or(Err(SendError::Timeout(timeout))),
                    _ = cancel.cancelled() => Err(SendError::Cancelled),
                }
            }
        };
        crumb.total_ms = ms(start.elapsed());
        if let Some(h) = head.lock().ok().and_then(|mut h| h.take()) {
            crumb.status = Some(h.status);
            crumb.ttfb_ms = ms(h.ttfb);
            crumb.echoed_request_id = h.echoed_id.filter(|echo| *echo != request_id);
            crumb.upstream = h.upstream;
        }
        match &result {
            Ok(resp) => {
                crumb.total_ms = ms(resp.total);
                crumb.outcome = CrumbOutcome::Ok;
            }
            Err(e) => crumb.failure_class = Some(e.class()),
        }
        (result, crumb)
    }

    fn build(
        &self,
        method: &Method,
        url: &Url,
        req: &Outgoing,
        body: Option<&(Bytes, &'static str)>,
        request_id: &str,
        span_id: &str,
    ) -> Result<reqwest::RequestBuilder, SendError> {
        let m = method.clone();
        let mut headers = HeaderMap::new();
        for (k, v) in &req.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| SendError::Invalid(format!("bad header name `{k}`")))?;
            let value = HeaderValue::from_str(v).map_err(|_| SendError::Invalid(format!("bad value for header `{k}`")))?;
            headers.append(name, value);
        }
        if let Some(c) = &req.credential {
            let (name, value) = c.header();
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| SendError::Invalid("bad credential header name".into()))?;
            let mut v =
                HeaderValue::from_str(&value).map_err(|_| SendError::Invalid("the credential is not a valid header value".into()))?;
            v.set_sensitive(true);
            headers.insert(name, v);
        }
        if !headers.contains_key(&self.rid_header) {
            headers.insert(
                self.rid_header.clone(),
                HeaderValue::from_str(request_id).map_err(|_| SendError::Invalid("bad request id".into()))?,
            );
        }
        headers.insert(
            HeaderName::from_static("traceparent"),
            HeaderValue::from_str(&format!("00-{}-{span_id}-01", self.trace_id)).expect("hex is a valid header"),
        );
        let mut rb = self.inner.request(m, url.clone());
        if let Some((bytes, content_type)) = body {
            if !headers.contains_key(reqwest::header::CONTENT_TYPE) {
                headers.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            }
            rb = rb.body(bytes.clone());
        }
        Ok(rb.headers(headers))
    }

    async fn execute(
        &self,
        rb: reqwest::RequestBuilder,
        url: Url,
        start: Instant,
        head: &std::sync::Mutex<Option<Head>>,
    ) -> Result<Response, SendError> {
        let mut resp = rb.send().await.map_err(classify)?;
        let ttfb = start.elapsed();
        let status = resp.status().as_u16();
        // Moved out, not cloned: the body is read from `resp` afterwards, its headers are not.
        let headers = std::mem::take(resp.headers_mut());
        if let Ok(mut h) = head.lock() {
            let header = |name: &str| header_text(&headers, name);
            *h = Some(Head {
                status,
                ttfb,
                echoed_id: header(self.rid_header.as_str()),
                upstream: self.settings.upstream_headers.iter().find_map(|n| header(n).map(|v| format!("{n}: {v}"))),
            });
        }
        let date = headers.get(reqwest::header::DATE).and_then(|d| d.to_str().ok()).and_then(|d| httpdate::parse_http_date(d).ok());
        let cap = self.settings.max_body_bytes;
        if resp.content_length().is_some_and(|l| l as usize > cap) {
            return Err(SendError::BodyTooLarge(cap));
        }
        // Sized once from Content-Length (already under the cap): no doubling past the body.
        let mut body = Vec::with_capacity(resp.content_length().map_or(0, |l| l as usize));
        while let Some(chunk) = resp.chunk().await.map_err(|e| SendError::Broken(root_cause(&e)))? {
            if body.len() + chunk.len() > cap {
                return Err(SendError::BodyTooLarge(cap));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response { status, headers, body: Bytes::from(body), url, date, total: start.elapsed() })
    }
}

fn classify(e: reqwest::Error) -> SendError {
    if e.is_connect() {
        SendError::Connect(root_cause(&e))
    } else if e.is_timeout() {
        SendError::Timeout(Duration::ZERO)
    } else if e.is_builder() {
        SendError::Invalid(root_cause(&e))
    } else {
        SendError::Broken(root_cause(&e))
    }
}

/// The innermost error message ("Connection refused (os error 111)"), without URLs that could
/// carry secrets in their query.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let msg = cur.to_string();
    if msg.is_empty() { "unknown error".into() } else { msg }
}

/// A duration for people: `250 ms`, `3s`, `2.5s` (rounded to the millisecond first, so a
/// deadline's remainder never prints as `2.999999229s`).
pub fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    let ms = ms.round() as u64;
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        let s = format!("{:.2}", ms as f64 / 1000.0);
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// A reqId: a UUIDv7 (time-ordered to the millisecond, so ids sort like the log) whose random
/// bits come from the thread's generator, not from a `getrandom` system call per request.
pub fn new_request_id() -> String {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    uuid::Builder::from_unix_timestamp_millis(millis, &rand::random()).into_uuid().to_string()
}

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_distinct_version_7_uuids() {
        let (a, b) = (super::new_request_id(), super::new_request_id());
        assert_ne!(a, b);
        for id in [a, b] {
            let u = uuid::Uuid::parse_str(&id).unwrap();
            assert_eq!(u.get_version_num(), 7, "{id}");
            let (secs, _) = u.get_timestamp().unwrap().to_unix();
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            assert!(now.abs_diff(secs) < 5, "{id}: its time is now");
        }
    }
}
