//! HS256 tokens: the service signs them at login, the gateway verifies them at the edge.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value as J;
use sha2::Sha256;

use crate::Shared;

pub(crate) fn sign(key: &[u8], claims: &J) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Verifies signature, `alg`, `exp` and `nbf`; returns the claims.
pub(crate) fn verify(shared: &Shared, token: &str) -> Result<J, &'static str> {
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

/// The `sub` of a token's claims, read without verifying anything (the `auth-off` gateway).
pub(crate) fn unverified_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: J = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("sub").and_then(J::as_str).map(str::to_owned)
}

/// The identity provider's `POST /token` (OAuth2 client credentials, RFC 6749 §4.4): the client
/// authenticates by HTTP Basic or in the form body; the answer's `access_token` is a JWT the
/// gateway accepts, for the subject `client:<client_id>`.
pub(crate) async fn issue(
    axum::extract::State(shared): axum::extract::State<std::sync::Arc<Shared>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::StatusCode;
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
    let path = req.uri().path().to_owned();
    let raw = axum::body::to_bytes(req.into_body(), 1 << 16).await.unwrap_or_default();
    let form: std::collections::HashMap<String, String> = form_urlencoded::parse(&raw).into_owned().collect();
    if path != "/token" {
        return crate::json_response(StatusCode::NOT_FOUND, serde_json::json!({"error": "no route"}));
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return crate::json_response(StatusCode::BAD_REQUEST, serde_json::json!({"error": "unsupported_grant_type"}));
    }
    let (id, secret) = basic.or_else(|| Some((form.get("client_id")?.clone(), form.get("client_secret")?.clone()))).unwrap_or_default();
    if id != shared.opts.client_id || secret != shared.opts.client_secret {
        return crate::json_response(StatusCode::UNAUTHORIZED, serde_json::json!({"error": "invalid_client"}));
    }
    let ttl = if shared.has(crate::Fault::ShortTtl) { 2 } else { shared.opts.token_ttl.as_secs() as i64 };
    let now = shared.now();
    let mut claims =
        serde_json::json!({"sub": format!("client:{id}"), "iat": now, "nbf": now, "exp": now + ttl, "iss": "smokegate-refgate"});
    if let Some(scope) = form.get("scope") {
        claims["scope"] = J::String(scope.clone());
    }
    shared.logins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    crate::json_response(
        StatusCode::OK,
        serde_json::json!({"access_token": sign(&shared.key, &claims), "token_type": "Bearer", "expires_in": ttl}),
    )
}

pub(crate) fn hash(password: &str) -> Vec<u8> {
    use sha2::Digest;
    Sha256::digest(password.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::RefgateOptions;

    #[test]
    fn tokens_verify_and_forgeries_do_not() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let shared = Shared {
            opts: RefgateOptions::default(),
            key: [7; 32],
            users: Mutex::new(BTreeMap::new()),
            orders: Mutex::new(BTreeMap::new()),
            jobs: Mutex::new(BTreeMap::new()),
            service_origin: String::new(),
            client: reqwest::Client::new(),
            logins: Default::default(),
        };
        let now = shared.now();
        let t = sign(&shared.key, &json!({"sub": "a", "exp": now + 60, "nbf": now}));
        assert!(verify(&shared, &t).is_ok());
        assert_eq!(unverified_subject(&t).as_deref(), Some("a"));
        // The forgeries the harness's probes send: another signature, and `alg: none`.
        let (signed, _) = t.rsplit_once('.').unwrap();
        assert_eq!(verify(&shared, &format!("{signed}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]))), Err("bad signature"));
        let payload = t.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(verify(&shared, &none), Err("unsupported alg"));
        let old = sign(&shared.key, &json!({"sub": "a", "exp": now - 120}));
        assert_eq!(verify(&shared, &old), Err("token expired"));
        let early = sign(&shared.key, &json!({"sub": "a", "exp": now + 600, "nbf": now + 300}));
        assert_eq!(verify(&shared, &early), Err("token not yet valid"));
    }
}
