//! Secret hygiene. Tokens and passwords live in [`Secret`], whose `Debug`/`Display` never show
//! the value; [`Redactor`] is the final pass every output goes through, in case a secret was
//! echoed back by a server or rendered into a path.

use std::fmt;
use std::sync::{Arc, RwLock};

use secrecy::{ExposeSecret, SecretString};

pub const MASK: &str = "***";

/// Headers whose values are always masked in any output.
pub const SECRET_HEADERS: &[&str] = &["authorization", "cookie", "set-cookie", "proxy-authorization"];

/// Names (captures, query parameters, vars) that hold secrets.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["token", "secret", "password", "passwd", "key", "jwt", "auth", "session", "cookie", "credential"].iter().any(|w| n.contains(w))
}

/// A secret string. Clone is cheap; the value is only reachable through [`Secret::expose`].
#[derive(Clone)]
pub struct Secret(Arc<SecretString>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::new(SecretString::from(value.into())))
    }

    /// The value, for the one place it is needed (a header, a body, a file of mode 0600).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// The set of secret values known to this run; every line of output passes through `redact`.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<Secret>>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.read().map(|s| s.len()).unwrap_or(0))
    }
}

impl Redactor {
    /// The process's redactor: the one every command and the `RUST_LOG` writer share, so a
    /// secret learned anywhere is masked everywhere.
    pub fn global() -> Redactor {
        static GLOBAL: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(Redactor::default).clone()
    }

    /// Registers a value to mask. Very short values are ignored: masking every "a" would make
    /// output unreadable and they are not secrets worth the name.
    pub fn add(&self, secret: &Secret) {
        if secret.expose().len() < 4 {
            return;
        }
        if let Ok(mut s) = self.secrets.write() {
            if !s.iter().any(|x| x.expose() == secret.expose()) {
                s.push(secret.clone());
                // Longest first, so a secret containing another is masked whole.
                s.sort_by_key(|x| std::cmp::Reverse(x.expose().len()));
            }
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let Ok(secrets) = self.secrets.read() else { return text.to_owned() };
        let mut out = text.to_owned();
        for s in secrets.iter() {
            if out.contains(s.expose()) {
                out = out.replace(s.expose(), MASK);
            }
        }
        out
    }

    /// Masks a header value when the header is a credential header.
    pub fn header_value(&self, name: &str, value: &str) -> String {
        if SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) { MASK.to_owned() } else { self.redact(value) }
    }
}

/// Masks the values of secret-looking query parameters in a path: `/x?token=abc` → `/x?token=***`.
pub fn redact_query(path: &str) -> String {
    let Some((base, query)) = path.split_once('?') else { return path.to_owned() };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_name(k) => format!("{k}={MASK}"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("eyJ-very-secret");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "eyJ-very-secret");
    }

    #[test]
    fn redactor_masks_longest_first() {
        let r = Redactor::default();
        r.add(&Secret::new("abcd"));
        r.add(&Secret::new("abcdefgh"));
        assert_eq!(r.redact("x abcdefgh y abcd"), "x *** y ***");
        assert_eq!(r.header_value("Authorization", "Bearer zz"), "***");
        assert_eq!(r.header_value("x-other", "abcd"), "***");
    }

    #[test]
    fn query_secrets_are_masked() {
        assert_eq!(redact_query("/a?api_key=1&x=2&access_token=3"), "/a?api_key=***&x=2&access_token=***");
        assert_eq!(redact_query("/a"), "/a");
    }

    #[test]
    fn secret_names() {
        assert!(is_secret_name("access_token") && is_secret_name("apiKey") && is_secret_name("user_password"));
        assert!(!is_secret_name("order_id"));
    }
}

/// A `tracing` writer that masks the run's secrets in every log line (`RUST_LOG=trace` included).
pub struct RedactingWriter {
    redactor: Redactor,
    buf: Vec<u8>,
}

impl std::io::Write for RedactingWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        // One event is one writer: redact the whole line at once, so no secret is split.
        let text = self.redactor.redact(&String::from_utf8_lossy(&self.buf));
        let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
    }
}

/// Makes a [`RedactingWriter`] per log event.
#[derive(Clone)]
pub struct RedactingMakeWriter(pub Redactor);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingMakeWriter {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter { redactor: self.0.clone(), buf: Vec::new() }
    }
}
