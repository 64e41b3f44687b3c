//! Structural JWT decoding on the harness side: three base64url parts, a JSON header and JSON
//! claims. The signature is the gateway's business; we only read `alg`, `exp` and `iat` (and
//! refuse a token whose `nbf` is not a number).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct JwtInfo {
    pub alg: String,
    /// Seconds since the epoch.
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    /// The decoded claims (no secrets in claims is the issuer's business; we never print them whole).
    pub claims: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a JWT: expected 3 dot-separated parts, found {0}")]
    Parts(usize),
    #[error("the token's {0} is not valid base64url")]
    Base64(&'static str),
    #[error("the token's {0} is not a JSON object")]
    Json(&'static str),
    #[error("the token's claim `{0}` is not a number")]
    Claim(&'static str),
}

fn decode_part(part: &str, what: &'static str) -> Result<serde_json::Map<String, Value>, JwtError> {
    // Tolerate padding some issuers add.
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|_| JwtError::Base64(what))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(JwtError::Json(what)),
    }
}

pub fn decode(token: &str) -> Result<JwtInfo, JwtError> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(JwtError::Parts(parts.len()));
    }
    let header = decode_part(parts[0], "header")?;
    let claims = decode_part(parts[1], "claims")?;
    if !parts[2].is_empty() {
        URL_SAFE_NO_PAD.decode(parts[2].trim_end_matches('=')).map_err(|_| JwtError::Base64("signature"))?;
    }
    let num = |name: &'static str| -> Result<Option<i64>, JwtError> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)).map(Some).ok_or(JwtError::Claim(name)),
        }
    };
    num("nbf")?;
    Ok(JwtInfo { alg: header.get("alg").and_then(Value::as_str).unwrap_or("").to_owned(), exp: num("exp")?, iat: num("iat")?, claims })
}

/// The same claims with the signature altered: a forged token for auth-enforcement probes.
/// The forged signature is valid base64url of the same length, so a gateway must actually
/// verify it to refuse it.
pub fn tamper_signature(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    if let Some(sig) = parts.get_mut(2) {
        let mut bytes = URL_SAFE_NO_PAD.decode(sig.trim_end_matches('=')).unwrap_or_default();
        if bytes.is_empty() {
            bytes = b"forged-signature".to_vec();
        }
        for b in &mut bytes {
            *b ^= 0x5a;
        }
        *sig = URL_SAFE_NO_PAD.encode(bytes);
    }
    parts.join(".")
}

/// An unsigned `alg: none` token carrying the same claims.
pub fn alg_none(token: &str) -> String {
    let claims = token.split('.').nth(1).unwrap_or("");
    format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#), claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(header: &str, claims: &str) -> String {
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims), URL_SAFE_NO_PAD.encode("sig"))
    }

    #[test]
    fn decodes_claims() {
        let t = make(r#"{"alg":"HS256"}"#, r#"{"sub":"u","exp":200,"iat":100}"#);
        let info = decode(&t).unwrap();
        assert_eq!((info.alg.as_str(), info.exp, info.iat), ("HS256", Some(200), Some(100)));
    }

    #[test]
    fn rejects_malformed_tokens() {
        assert_eq!(decode("abc").unwrap_err(), JwtError::Parts(1));
        assert_eq!(decode("a.b.c.d").unwrap_err(), JwtError::Parts(4));
        assert_eq!(decode("!!.e30.c2ln").unwrap_err(), JwtError::Base64("header"));
        assert_eq!(decode(&make("[1]", "{}")).unwrap_err(), JwtError::Json("header"));
        assert_eq!(decode(&make("{}", r#"{"exp":"soon"}"#)).unwrap_err(), JwtError::Claim("exp"));
    }

    #[test]
    fn probes_change_the_token() {
        let t = make(r#"{"alg":"HS256"}"#, r#"{"exp":1}"#);
        assert_ne!(tamper_signature(&t), t);
        let none = alg_none(&t);
        assert_eq!(decode(&none).unwrap().alg, "none");
        assert_eq!(decode(&none).unwrap().exp, Some(1));
    }
}
