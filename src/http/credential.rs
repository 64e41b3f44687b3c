//! How a request carries the run's credential, and how it appears where a secret must not.

use crate::secret::Secret;

/// How a request carries the run's credential.
#[derive(Clone)]
pub enum Credential {
    /// A token after a scheme in a header: `Authorization: Bearer <token>` by default,
    /// `Authorization: JWT <token>` (simplejwt), a bare token (`scheme: ""`), `X-Auth-Token`…
    Token { header: String, scheme: String, secret: Secret },
    /// An API key in a named header.
    Header(String, Secret),
    /// A session cookie: `Cookie: <name>=<value>`.
    Cookie(String, Secret),
}

impl Credential {
    /// The same kind of credential with another secret (a forgery, for probes).
    pub fn with_secret(&self, s: Secret) -> Credential {
        match self {
            Credential::Token { header, scheme, .. } => Credential::Token { header: header.clone(), scheme: scheme.clone(), secret: s },
            Credential::Header(h, _) => Credential::Header(h.clone(), s),
            Credential::Cookie(c, _) => Credential::Cookie(c.clone(), s),
        }
    }

    pub fn secret(&self) -> &Secret {
        match self {
            Credential::Token { secret: s, .. } | Credential::Header(_, s) | Credential::Cookie(_, s) => s,
        }
    }

    /// The header it goes in, and that header's value.
    pub(crate) fn header(&self) -> (String, String) {
        match self {
            Credential::Token { header, scheme, secret } => (header.to_ascii_lowercase(), with_scheme(scheme, secret.expose())),
            Credential::Header(h, s) => (h.clone(), s.expose().to_owned()),
            Credential::Cookie(c, s) => ("cookie".into(), format!("{c}={}", s.expose())),
        }
    }
}

/// `Bearer abc`, or `abc` alone when the scheme is empty.
pub fn with_scheme(scheme: &str, token: &str) -> String {
    if scheme.is_empty() { token.to_owned() } else { format!("{scheme} {token}") }
}
