//! The gateway-only policy: which URL is the gateway, which URLs a request may go to, and which
//! environments are refused because they point smoke tests at services directly.

use std::net::IpAddr;

use url::Url;

/// Why the gateway URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayUrlError {
    #[error("gateway URL `{0}` is not an absolute http(s) URL")]
    NotAbsolute(String),
    #[error("gateway URL must not carry credentials (user or password before `@`)")]
    Credentials,
    #[error("gateway URL `{0}` must not have a query or fragment")]
    QueryOrFragment(String),
    #[error(
        "refusing plain http:// to non-loopback host `{0}`: bearer tokens would cross the network in clear text (pass --allow-http or set gateway.allow_http: true)"
    )]
    PlainHttp(String),
}

/// The one origin smoke traffic may go to.
#[derive(Debug, Clone)]
pub struct Gateway {
    base: Url,
    /// The base path without a trailing slash ("" for the root).
    base_path: String,
    /// `scheme://host:port` + the base path: what a gateway-relative path is appended to (made
    /// once: it is the start of every request's URL).
    prefix: String,
}

impl Gateway {
    pub fn parse(raw: &str, allow_http: bool) -> Result<Gateway, GatewayUrlError> {
        let url = Url::parse(raw.trim()).map_err(|_| GatewayUrlError::NotAbsolute(raw.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(GatewayUrlError::NotAbsolute(raw.to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(GatewayUrlError::Credentials);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(GatewayUrlError::QueryOrFragment(raw.to_owned()));
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        if url.scheme() == "http" && !allow_http && !is_loopback(&host) {
            return Err(GatewayUrlError::PlainHttp(host));
        }
        let base_path = url.path().trim_end_matches('/').to_owned();
        let prefix = format!("{}{base_path}", url.origin().ascii_serialization());
        Ok(Gateway { base: url, base_path, prefix })
    }

    /// `scheme://host:port`, for messages and cache keys.
    pub fn origin(&self) -> String {
        self.base.origin().ascii_serialization()
    }

    pub fn base_url(&self) -> String {
        format!("{}{}", self.origin(), self.base_path)
    }

    pub fn is_https(&self) -> bool {
        self.base.scheme() == "https"
    }

    /// Resolves a suite path (gateway-relative or absolute) to a URL, or names the foreign
    /// origin it would go to.
    pub fn resolve(&self, path: &str) -> Result<Url, OffGateway> {
        if path.starts_with('/') && !path.starts_with("//") {
            if self.escapes_base(path) {
                return Err(OffGateway {
                    target: path.to_owned(),
                    reason: format!("a path that climbs out of the gateway's base path {} (`..`, encoded or not)", self.base_path),
                });
            }
            let url = self.join(path).map_err(|_| OffGateway { target: path.to_owned(), reason: "not a valid path".into() })?;
            self.check(&url)?;
            return Ok(url);
        }
        let url = Url::parse(path).map_err(|_| OffGateway { target: path.to_owned(), reason: "not a gateway-relative path".into() })?;
        self.check(&url)?;
        Ok(url)
    }

    /// The URL of a gateway-relative path: the prefix and the path, parsed as one URL. Parsed
    /// against the base instead when that reads the same: it does not parse the host again (a
    /// twentieth of a step's instructions, through IDNA). Not when the path has a backslash, tab
    /// or line break: a URL parser reads `/\x` or `/<tab>/x` after a host as a path, but alone
    /// as `//x`, a host.
    fn join(&self, path: &str) -> Result<Url, url::ParseError> {
        if path.contains(['\\', '\t', '\n', '\r']) {
            return Url::parse(&format!("{}{path}", self.prefix));
        }
        let url = Url::options().base_url(Some(&self.base)).parse(&format!("{}{path}", self.base_path));
        debug_assert_eq!(url, Url::parse(&format!("{}{path}", self.prefix)), "a gateway path read two ways: {path}");
        url
    }

    /// True when a gateway-relative path climbs above the base path through `..` segments in
    /// any spelling a server on the way might decode: plain, percent-encoded (`%2e%2e`), double-
    /// encoded (`%252e`), or with encoded or backslash separators (`..%2f`, `..\`).
    fn escapes_base(&self, path: &str) -> bool {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        // No dot and nothing encoded: no `..` in any spelling (the common case, every request).
        if !path.contains(['.', '%']) {
            return false;
        }
        let mut text = path.to_owned();
        for _ in 0..3 {
            let mut depth: i64 = 0;
            for seg in text.split(['/', '\\']) {
                // `..;x` is `..` to servers that strip path parameters (Tomcat, Jetty).
                let seg = seg.split(';').next().unwrap_or(seg);
                match seg {
                    "" | "." => {}
                    ".." => {
                        depth -= 1;
                        if depth < 0 {
                            return true;
                        }
                    }
                    _ => depth += 1,
                }
            }
            let decoded = percent_encoding::percent_decode_str(&text).decode_utf8_lossy().into_owned();
            if decoded == text {
                break;
            }
            text = decoded;
        }
        false
    }

    /// Accepts only URLs on the gateway's origin and under its base path.
    pub fn check(&self, url: &Url) -> Result<(), OffGateway> {
        // The origin's parts, as `Url::origin` compares them (http and https only: any other
        // scheme's origin is opaque and equals nothing), without building two origins per URL.
        let same_origin = matches!(url.scheme(), "http" | "https")
            && url.scheme() == self.base.scheme()
            && url.host() == self.base.host()
            && url.port_or_known_default() == self.base.port_or_known_default();
        if !same_origin {
            return Err(OffGateway { target: url.origin().ascii_serialization(), reason: format!("not the gateway ({})", self.origin()) });
        }
        let p = url.path();
        let under_base = self.base_path.is_empty()
            || p.strip_prefix(self.base_path.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if !under_base {
            return Err(OffGateway { target: url.to_string(), reason: format!("outside the gateway's base path {}", self.base_path) });
        }
        Ok(())
    }
}

/// A request that would leave the gateway.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{target}` is {reason}")]
pub struct OffGateway {
    pub target: String,
    pub reason: String,
}

pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.ends_with(".localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `*` matches any run of characters; everything else matches itself (case-sensitive, as
/// environment variable names are).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Names of environment variables that point at services directly and hold a value.
/// Only names are returned: the values may be secrets.
pub fn denied_env<'a>(env: impl IntoIterator<Item = (&'a str, &'a str)>, patterns: &[String], allowed: &[String]) -> Vec<String> {
    let mut out: Vec<String> = env
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .filter(|(k, _)| patterns.iter().any(|p| glob_match(p, k)))
        .filter(|(k, _)| !allowed.iter().any(|a| a == k))
        .map(|(k, _)| k.to_owned())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_climb_out_of_the_base_path_are_refused() {
        let g = Gateway::parse("http://127.0.0.1:1/edge", false).unwrap();
        for p in [
            "/../health/live",
            "/%2e%2e/health/ready",
            "/%2E%2e/x",
            "/a/../../x",
            "/..%2fx",
            "/%252e%252e/x",
            "/..\\x",
            "/.%2e/x",
            "/..;/x",
            "/a/..;jsessionid=1/../x",
        ] {
            assert!(g.resolve(p).is_err(), "{p} escapes /edge");
        }
        for p in ["/health/live", "/a/../b", "/a/%2e%2e/b", "/x?q=../..", "/v1..2/x"] {
            let u = g.resolve(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert!(u.path().starts_with("/edge/"), "{p} → {u}");
        }
    }

    #[test]
    fn gateway_urls_are_validated() {
        assert!(Gateway::parse("http://127.0.0.1:4000", false).is_ok());
        assert!(Gateway::parse("http://localhost:4000/", false).is_ok());
        assert!(Gateway::parse("https://api.example.com", false).is_ok());
        assert_eq!(Gateway::parse("api.example.com", false).unwrap_err(), GatewayUrlError::NotAbsolute("api.example.com".into()));
        assert_eq!(Gateway::parse("ftp://x", false).unwrap_err(), GatewayUrlError::NotAbsolute("ftp://x".into()));
        assert_eq!(Gateway::parse("https://u:p@x.com", false).unwrap_err(), GatewayUrlError::Credentials);
        assert!(matches!(Gateway::parse("http://api.example.com", false).unwrap_err(), GatewayUrlError::PlainHttp(_)));
        assert!(Gateway::parse("http://api.example.com", true).is_ok());
    }

    #[test]
    fn a_path_read_against_the_base_is_the_path_read_after_the_prefix() {
        let paths = [
            "/",
            "/a",
            "/a/",
            "/a?x=1&y=%20#f",
            "/a b/é/日本",
            "/%2e%2e/x",
            "/a/./b/../c",
            "/a;b=c",
            "/a?q=/\\x",
            "/a#\\x",
            "/\\evil.example/x",
            "/\t/evil.example",
            "/a\nb",
            "/a\rb",
            "/?",
            "/#",
            "/a%zz",
            "/a|b{c}^`",
            "/😀?😀#😀",
            "/a//b",
            "/:x@y",
            "/[::1]",
            "/a ",
            "/\u{0}x",
        ];
        for base in ["http://127.0.0.1:4000", "http://127.0.0.1:4000/edge/", "https://API.example.com/v1", "http://[::1]:8080/a/b"] {
            let g = Gateway::parse(base, true).unwrap();
            for path in paths {
                assert_eq!(g.join(path).ok(), Url::parse(&format!("{}{path}", g.prefix)).ok(), "{base} + {path:?}");
            }
        }
        // Why a backslash is read the long way: against the base alone, it names a host.
        let g = Gateway::parse("http://127.0.0.1:4000", false).unwrap();
        let short = Url::options().base_url(Some(&g.base)).parse("/\\evil.example/x").unwrap();
        assert_eq!(short.host_str(), Some("evil.example"));
        assert_eq!(g.join("/\\evil.example/x").unwrap().host_str(), Some("127.0.0.1"));
    }

    #[test]
    fn resolves_relative_paths_and_refuses_other_origins() {
        let g = Gateway::parse("http://127.0.0.1:4000/edge/", false).unwrap();
        assert_eq!(g.resolve("/api/orders?x=1").unwrap().as_str(), "http://127.0.0.1:4000/edge/api/orders?x=1");
        assert!(g.resolve("http://127.0.0.1:4000/edge/api").is_ok());
        let e = g.resolve("http://127.0.0.1:4001/api").unwrap_err();
        assert_eq!(e.target, "http://127.0.0.1:4001");
        assert!(g.resolve("http://127.0.0.1:4000/other").is_err(), "outside the base path");
        assert!(g.resolve("//evil.example/x").is_err());
        // The origin compared part by part, as `Url::origin` does.
        assert!(g.resolve("https://127.0.0.1:4000/edge/api").is_err(), "another scheme");
        assert!(g.resolve("ws://127.0.0.1:4000/edge/api").is_err(), "not http(s)");
        assert!(g.resolve("http://localhost:4000/edge/api").is_err(), "another host name");
        assert!(g.resolve("http://127.0.0.1:4000/edgeX/api").is_err(), "a sibling of the base path");
        assert!(g.resolve("http://127.0.0.1:4000/edge").is_ok(), "the base path itself");
        assert!(g.resolve("/api/../../x").is_err() && g.resolve("/api/%2e%2e/%2e%2e/x").is_err() && g.resolve("/a/b/c").is_ok());
        let d = Gateway::parse("http://API.example.com/", true).unwrap();
        assert!(d.resolve("http://api.example.com:80/x").is_ok(), "the default port and the host's case");
        assert_eq!(d.resolve("/x").unwrap().as_str(), "http://api.example.com/x");
        let v6 = Gateway::parse("http://[::1]:4000", false).unwrap();
        assert!(v6.resolve("http://[0:0::1]:4000/x").is_ok() && v6.resolve("http://127.0.0.1:4000/x").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob_match("*_SERVICE_URL", "ORDERS_SERVICE_URL"));
        assert!(!glob_match("*_SERVICE_URL", "ORDERS_SERVICE_URLS"));
        assert!(glob_match("A*B*C", "AxxBxxC"));
        assert!(!glob_match("A*B*C", "AxxC"));
        assert!(glob_match("EXACT", "EXACT"));
    }

    #[test]
    fn denied_env_names_only_set_matching_unallowed_vars() {
        let pats: Vec<String> = crate::load::config::DEFAULT_DENY_ENV.iter().map(|s| s.to_string()).collect();
        let env = [("ORDERS_SERVICE_URL", "http://orders:8080"), ("EMPTY_SVC_URL", ""), ("PAY_UPSTREAM_URL", "x"), ("HOME", "/root")];
        assert_eq!(denied_env(env, &pats, &[]), ["ORDERS_SERVICE_URL", "PAY_UPSTREAM_URL"]);
        assert_eq!(denied_env(env, &pats, &["PAY_UPSTREAM_URL".into()]), ["ORDERS_SERVICE_URL"]);
    }
}
