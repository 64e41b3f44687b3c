//! What a token source hands out, and how long it lives: a JWT (its claims read), an opaque
//! token (its lifetime from the answer's `expires_in`/`expires_at`, or `auth.token_ttl`, or
//! until a 401), or a session cookie (its `Max-Age`). One place decides when a token is due.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::load::jsonpath::CompiledPath;
use serde_json::Value as J;

use crate::eval::step;
use crate::http::client::Response;
use crate::load::config::TokenType;
use crate::run::jwt::{self, JwtInfo};
use crate::secret::Secret;

/// A token, what is known of it, and the refresh token that came with it.
pub(crate) struct Token {
    pub secret: Secret,
    pub info: JwtInfo,
    /// When we got it (our clock).
    pub obtained: SystemTime,
    /// `login.refresh`: what renews it without a login.
    pub refresh: Option<Secret>,
    pub renewal: Renewal,
}

/// When a token is renewed. A token that arrives already due would be followed by another just
/// like it (the issuer's clock is behind the gateway's, or it hands out spent tokens): renewing
/// it by the margin would log in again before every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Renewal {
    /// Within the refresh margin of its expiry.
    BeforeExpiry,
    /// It arrived within the margin: when it expires.
    AtExpiry,
    /// Its expiry is unknown (opaque, without `expires_in` or `token_ttl`), or it arrived
    /// expired: when a request with it is refused (401).
    WhenRefused,
    /// Refused with a 401 while `WhenRefused`: the next request renews it first.
    Refused,
}

/// What [`Token::arrived`] found wrong with a token's lifetime, for a warning (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Within its refresh margin: used until its last call, then renewed.
    Due {
        left_ms: i64,
        margin_ms: i64,
    },
    /// Past its last call already, not yet expired: used until refused.
    Spent {
        left_ms: i64,
    },
    Expired {
        ago_ms: i64,
    },
}

impl Token {
    pub fn new(secret: Secret, info: JwtInfo) -> Token {
        let renewal = if info.exp.is_some() { Renewal::BeforeExpiry } else { Renewal::WhenRefused };
        Token { secret, info, obtained: SystemTime::now(), refresh: None, renewal }
    }

    /// A newly issued token: if it is already due, renewed later than the margin says (see
    /// [`Renewal`]), and what to warn about.
    pub fn arrived(&mut self, skew: i64, margin: Duration) -> Option<Arrival> {
        self.arrived_at(now_ms(), skew, margin)
    }

    fn arrived_at(&mut self, now: i64, skew: i64, margin: Duration) -> Option<Arrival> {
        if !self.due_at(now, skew, margin) {
            return None;
        }
        let (left_ms, lifetime) = self.left_at(now, skew)?;
        let (arrival, renewal) = if left_ms <= 0 {
            (Arrival::Expired { ago_ms: -left_ms }, Renewal::WhenRefused)
        } else if left_ms <= last_call(lifetime) {
            (Arrival::Spent { left_ms }, Renewal::WhenRefused)
        } else {
            (Arrival::Due { left_ms, margin_ms: margin_ms(margin, lifetime) }, Renewal::AtExpiry)
        };
        self.renewal = renewal;
        Some(arrival)
    }

    /// A request with it was answered 401.
    pub fn refuse(&mut self) {
        if self.renewal == Renewal::WhenRefused {
            self.renewal = Renewal::Refused;
        }
    }

    /// Whole seconds until it expires by the gateway's clock (ours plus `skew`), and its
    /// lifetime; `None` when nothing says (an opaque token without `expires_in` or `token_ttl`).
    pub fn remaining(&self, skew: i64) -> Option<(i64, i64)> {
        self.left_at(now_ms(), skew).map(|(ms, lifetime)| (ms.div_euclid(1000), lifetime))
    }

    /// Milliseconds left at `now` (ms since the epoch, our clock), and the lifetime in seconds.
    /// `exp` is a whole second; our clock is read to the millisecond, since in whole seconds a
    /// token with 0.9 s left reads as 1 s or 0 s (expired) by where in its second it arrived.
    fn left_at(&self, now: i64, skew: i64) -> Option<(i64, i64)> {
        let exp = self.info.exp?;
        let issued = self
            .info
            .iat
            .unwrap_or_else(|| self.obtained.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64).saturating_add(skew));
        Some((exp.saturating_mul(1000).saturating_sub(now.saturating_add(skew.saturating_mul(1000))), exp.saturating_sub(issued)))
    }

    /// Due for renewal: within `margin` of its expiry (the margin capped at half its lifetime,
    /// so a 2 s token is not renewed before every request), or as its [`Renewal`] says.
    pub fn due(&self, skew: i64, margin: Duration) -> bool {
        self.due_at(now_ms(), skew, margin)
    }

    fn due_at(&self, now: i64, skew: i64, margin: Duration) -> bool {
        let left = || self.left_at(now, skew);
        match self.renewal {
            Renewal::BeforeExpiry => left().is_some_and(|(left, lifetime)| left <= margin_ms(margin, lifetime)),
            Renewal::AtExpiry => left().is_some_and(|(left, lifetime)| left <= last_call(lifetime)),
            Renewal::WhenRefused => false,
            Renewal::Refused => true,
        }
    }
}

/// The refresh margin of a token living `lifetime` s, in ms: capped at half its lifetime.
fn margin_ms(margin: Duration, lifetime: i64) -> i64 {
    (margin.as_millis() as i64).min(lifetime.saturating_mul(500))
}

/// How long before its expiry a token that arrived due is renewed, in ms: a second early (a
/// request sent in its last moments would reach the gateway expired), or a quarter of its
/// lifetime when that is shorter, so a 2 s token arriving with 0.8 s left is still used.
fn last_call(lifetime: i64) -> i64 {
    lifetime.saturating_mul(250).clamp(0, 1000)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Why an answer holds no usable token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error("no token in the answer (looked at {0})")]
    Missing(String),
    #[error("the token is not a JWT ({0}); set `login.token_type: opaque` if that is expected")]
    NotJwt(jwt::JwtError),
}

impl From<TokenError> for crate::run::auth::AuthError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Missing(looked) => crate::run::auth::AuthError::TokenMissing(looked),
            TokenError::NotJwt(j) => crate::run::auth::AuthError::Malformed(j),
        }
    }
}

/// The first string at `paths` in a JSON answer.
pub(crate) fn select_str(body: &J, paths: &[CompiledPath]) -> Option<String> {
    paths.iter().find_map(|path| step::value_at(path, body).and_then(|v| v.as_str().map(str::to_owned)))
}

/// The token of an answer: at the first of `paths` that yields a string; a JWT's claims read,
/// an opaque token's lifetime taken from `expires_in` (seconds), `expires_at` (seconds since
/// the epoch, or RFC 3339) or `ttl`, whichever is known first.
pub(crate) fn from_answer(body: &J, paths: &[CompiledPath], kind: TokenType, ttl: Option<Duration>) -> Result<Token, TokenError> {
    let text =
        select_str(body, paths).ok_or_else(|| TokenError::Missing(paths.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join(", ")))?;
    let secret = Secret::new(text);
    let now = now_secs();
    let stated = body.get("expires_in").and_then(J::as_i64).map(|s| now.saturating_add(s)).or_else(|| match body.get("expires_at") {
        Some(J::Number(n)) => n.as_i64(),
        Some(J::String(s)) => chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp()),
        _ => None,
    });
    // Detected: a JWT-shaped string (`eyJ…`, three segments) must be a JWT — a broken one is not
    // taken for an opaque token; anything else is opaque.
    let jwt_shaped = secret.expose().starts_with("eyJ") && secret.expose().split('.').count() == 3;
    let decoded = match kind {
        TokenType::Opaque => None,
        TokenType::Detect if !jwt_shaped => None,
        TokenType::Jwt | TokenType::Detect => Some(jwt::decode(secret.expose()).map_err(TokenError::NotJwt)?),
    };
    let info = match decoded {
        // A stated lifetime shorter than the claims' wins: the server knows best.
        Some(mut info) => {
            if let Some(at) = stated {
                info.exp = Some(info.exp.map_or(at, |x| x.min(at)));
            }
            info
        }
        None => {
            let exp = stated.or_else(|| ttl.map(|t| now + t.as_secs() as i64));
            JwtInfo { alg: "opaque".into(), exp, iat: exp.map(|_| now), claims: Default::default() }
        }
    };
    Ok(Token::new(secret, info))
}

/// A session cookie from `Set-Cookie` (`login.token: { cookie: NAME }`): it lives as long as
/// the server says (`Max-Age`, else `Expires`; RFC 6265), or for the run.
pub(crate) fn from_cookie(name: &str, resp: &Response) -> Option<Token> {
    let c = resp
        .headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|text| cookie::Cookie::parse(text).ok())
        .find(|c| c.name() == name)?;
    let now = now_secs();
    let exp = match (c.max_age(), c.expires_datetime()) {
        (Some(age), _) => Some(now + age.whole_seconds()),
        (None, Some(at)) => Some(at.unix_timestamp()),
        (None, None) => None,
    };
    let info = JwtInfo { alg: "cookie".into(), exp, iat: Some(now), claims: Default::default() };
    Some(Token::new(Secret::new(c.value().to_owned()), info))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt_token(iat: i64, exp: i64) -> Token {
        Token::new(Secret::new("t-1234"), JwtInfo { alg: "HS256".into(), exp: Some(exp), iat: Some(iat), claims: Default::default() })
    }

    fn paths(p: &[&str]) -> Vec<CompiledPath> {
        p.iter().map(|t| CompiledPath::parse(t).unwrap()).collect()
    }

    #[test]
    fn opaque_tokens_live_as_the_answer_says_or_as_configured() {
        let p = paths(&["$.auth_token"]);
        let t = from_answer(&serde_json::json!({"auth_token": "9f8e7d6c5b4a"}), &p, TokenType::Detect, None).unwrap();
        assert_eq!((t.info.alg.as_str(), t.info.exp), ("opaque", None), "used until a 401");
        let t = from_answer(&serde_json::json!({"auth_token": "9f8e7d6c5b4a", "expires_in": 60}), &p, TokenType::Detect, None).unwrap();
        assert!((58..=60).contains(&t.remaining(0).unwrap().0));
        let t =
            from_answer(&serde_json::json!({"auth_token": "9f8e7d6c5b4a"}), &p, TokenType::Opaque, Some(Duration::from_secs(120))).unwrap();
        assert_eq!(t.remaining(0).unwrap().1, 120);
        let at = chrono::Utc::now() + chrono::Duration::seconds(90);
        let t = from_answer(&serde_json::json!({"auth_token": "x1234567", "expires_at": at.to_rfc3339()}), &p, TokenType::Detect, None)
            .unwrap();
        assert!((88..=90).contains(&t.remaining(0).unwrap().0));
        let e = from_answer(&serde_json::json!({"auth_token": "9f8e7d6c5b4a"}), &p, TokenType::Jwt, None).err().unwrap();
        assert!(e.to_string().contains("not a JWT"), "{e}");
        let e = from_answer(&serde_json::json!({"other": 1}), &p, TokenType::Detect, None).err().unwrap();
        assert!(e.to_string().contains("$.auth_token"), "{e}");
    }

    #[test]
    fn a_refused_token_is_due_and_a_token_without_expiry_is_not() {
        let mut t =
            Token::new(Secret::new("opaque-1234"), JwtInfo { alg: "opaque".into(), exp: None, iat: None, claims: Default::default() });
        assert!(!t.due(0, Duration::from_secs(30)));
        t.refuse();
        assert!(t.due(0, Duration::from_secs(30)));
    }

    /// A token issued due is renewed at its expiry; one issued expired, when refused; a fresh
    /// one by the margin (capped at half its lifetime), as before.
    #[test]
    fn a_token_that_arrives_due_is_renewed_later_than_the_margin() {
        let margin = Duration::from_secs(30);
        let token = jwt_token;
        let now = now_secs();
        let mut fresh = token(now, now + 300);
        assert_eq!(fresh.arrived(0, margin), None);
        assert_eq!(fresh.renewal, Renewal::BeforeExpiry);
        assert!(token(now - 280, now + 20).due(0, margin), "20 s left of 300: due by the margin");

        let mut nearly = token(now - 600, now + 20);
        assert!(matches!(nearly.arrived(0, margin), Some(Arrival::Due { left_ms: 19_001..=20_000, margin_ms: 30_000 })));
        assert!(!nearly.due(0, margin), "used until it expires");
        assert!(nearly.due(19, margin), "and renewed a second before, by the gateway's clock (19 s ahead)");
        nearly.refuse();
        assert_eq!(nearly.renewal, Renewal::AtExpiry, "a 401 with time left is the API's verdict, not the token's expiry");

        let mut spent = token(now - 600, now - 60);
        assert!(matches!(spent.arrived(0, margin), Some(Arrival::Expired { ago_ms: 60_000..=60_999 })));
        assert!(!spent.due(0, margin), "used until refused");
        spent.refuse();
        assert!(spent.due(0, margin));

        // By the clock of a gateway 100 s behind ours, a token 30 s past our clock is fresh.
        assert_eq!(token(now - 600, now - 30).arrived(-100, margin), None);
    }

    /// `exp` is a whole second and our clock is read to the millisecond: a 2 s token that
    /// arrives with 0.85 s left is due (its margin is capped at 1 s) but not expired, is used
    /// until a quarter of its lifetime is left, then renewed; one with 0.3 s left is spent.
    #[test]
    fn a_short_token_is_judged_to_the_millisecond() {
        let margin = Duration::from_secs(30);
        let token = || jwt_token(100, 102);
        let mut t = token();
        assert!(!t.due_at(100_999, 0, margin), "1.001 s left of 2 s");
        assert_eq!(t.arrived_at(101_150, 0, margin), Some(Arrival::Due { left_ms: 850, margin_ms: 1000 }));
        assert_eq!(t.renewal, Renewal::AtExpiry);
        assert!(!t.due_at(101_499, 0, margin));
        assert!(t.due_at(101_500, 0, margin), "renewed with 0.5 s left");
        assert_eq!(t.remaining(0).map(|r| r.1), Some(2));

        let mut spent = token();
        assert_eq!(spent.arrived_at(101_700, 0, margin), Some(Arrival::Spent { left_ms: 300 }));
        assert_eq!(spent.renewal, Renewal::WhenRefused);
        assert_eq!(token().arrived_at(102_000, 0, margin), Some(Arrival::Expired { ago_ms: 0 }));
        // 2 s ahead, the gateway's clock says 101.15 s is already 103.15 s.
        assert_eq!(token().arrived_at(101_150, 2, margin), Some(Arrival::Expired { ago_ms: 1150 }));
        assert_eq!(last_call(600), 1000, "a second early for a token of minutes");

        // Claims at the ends of i64 are judged, not overflowed.
        for (iat, exp) in [(i64::MIN, i64::MAX), (i64::MAX, i64::MIN), (0, i64::MIN), (i64::MIN, 0)] {
            let mut t = jwt_token(iat, exp);
            let _ = (t.arrived_at(i64::MAX, i64::MIN, margin), t.due_at(i64::MIN, i64::MAX, margin), t.remaining(i64::MAX));
        }
    }

    /// RFC 6265: attribute names in any case, `Max-Age` over `Expires`, the named cookie only.
    #[test]
    fn a_cookie_session_lives_as_its_set_cookie_says() {
        let resp = |cookies: &[&str]| {
            let mut headers = reqwest::header::HeaderMap::new();
            for c in cookies {
                headers.append(reqwest::header::SET_COOKIE, c.parse().unwrap());
            }
            Response {
                status: 200,
                headers,
                body: bytes::Bytes::new(),
                url: "http://127.0.0.1/".parse().unwrap(),
                date: None,
                total: Duration::ZERO,
            }
        };
        let now = now_secs();
        let t = from_cookie("sid", &resp(&["other=1; Max-Age=5", "sid=s3cr3t-v4lue; path=/; mAx-AgE=600; HttpOnly"])).unwrap();
        assert_eq!(t.secret.expose(), "s3cr3t-v4lue");
        assert!((now + 599..=now + 601).contains(&t.info.exp.unwrap()));
        let t = from_cookie("sid", &resp(&["sid=v; Expires=Wed, 21 Oct 2099 07:28:00 GMT"])).unwrap();
        assert_eq!(t.info.exp, Some(4_096_250_880));
        let t = from_cookie("sid", &resp(&["sid=v; Expires=Wed, 21 Oct 2099 07:28:00 GMT; Max-Age=60"])).unwrap();
        assert!(t.info.exp.unwrap() <= now + 61, "Max-Age wins over Expires");
        assert_eq!(from_cookie("sid", &resp(&["sid=v"])).unwrap().info.exp, None);
        assert!(from_cookie("sid", &resp(&["session=v; Max-Age=60"])).is_none());
    }
}
