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
    // An ARN names a resource (`COGNITO_SERVICE_USER_SECRET_ARN` is where the secret is, not
    // the secret): errors must be able to say which one.
    if n.ends_with("_arn") {
        return false;
    }
    ["token", "secret", "password", "passwd", "key", "jwt", "auth", "session", "cookie", "credential"].iter().any(|w| n.contains(w))
}

/// Keys under which an auth answer hands out a credential: the secret-named ones, and the bare
/// `access` and `refresh` of simplejwt (`{"refresh": …, "access": …}`).
pub fn is_token_key(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    is_secret_name(&n) || n.starts_with("access") || n.starts_with("refresh")
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

/// The sanitizer every byte of output passes through: the console, the live view, every
/// report, log lines, annotations, summaries and top-level errors. In this order it
/// 1. masks every secret the run knows (tokens, passwords, credential-header values,
///    secret-named environment values, the config's `secrets:`) in its plain, JSON-escaped,
///    percent-encoded and base64 forms, and any fragment of 12 or more characters of them, so
///    a value shortened by a message, a column or a byte cap is still masked;
/// 2. escapes control bytes (ESC, CR, C1, bidi overrides) so a response body cannot move the
///    cursor or forge a line;
/// 3. truncates, when asked ([`Redactor::clean`]), after masking.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<RwLock<Known>>,
}

/// Fragments of at least this many characters of a secret are masked wherever they appear.
pub const FRAGMENT: usize = 12;

#[derive(Default)]
struct Known {
    /// Every form of every secret, longest first (so a secret containing another masks whole).
    forms: Vec<String>,
    /// Every `FRAGMENT`-byte window of every ASCII form at least that long.
    windows: std::collections::HashSet<[u8; FRAGMENT], WindowHash>,
}

/// One lookup per byte of output and one insert per window of every secret (a CI job's
/// tokens can be a kilobyte each): a multiply-xor hash of the 12 bytes instead of SipHash. The
/// keys are the run's own secrets, never chosen by a server.
#[derive(Clone, Copy, Default)]
struct WindowHash;

impl std::hash::BuildHasher for WindowHash {
    type Hasher = WindowHasher;
    fn build_hasher(&self) -> WindowHasher {
        WindowHasher(0)
    }
}

struct WindowHasher(u64);

impl std::hash::Hasher for WindowHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, _: usize) {}
    fn finish(&self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} forms)", self.inner.read().map(|s| s.forms.len()).unwrap_or(0))
    }
}

/// The encoded forms a secret can take in output: as it is, inside a JSON string, percent-
/// encoded (form and path style), and base64 (standard and URL-safe, at each of the three byte
/// alignments, so `base64("user:" + password)` in a Basic header is caught too).
fn forms_of(value: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut out = vec![value.to_owned()];
    let json = serde_json::to_string(value).unwrap_or_default();
    out.push(json.trim_matches('"').to_owned());
    out.push(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
    let (mut upper, mut lower) = (String::new(), String::new());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            upper.push(b as char);
            lower.push(b as char);
        } else {
            upper.push_str(&format!("%{b:02X}"));
            lower.push_str(&format!("%{b:02x}"));
        }
    }
    out.push(upper);
    out.push(lower);
    for k in 0..3usize {
        let mut bytes = vec![0u8; k];
        bytes.extend_from_slice(value.as_bytes());
        let bits = bytes.len() * 8;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let enc = engine.encode(&bytes);
            // Drop the characters that carry bits of the unknown bytes around the secret.
            let skip = (k * 8).div_ceil(6);
            let end = if bits % 6 == 0 { enc.len() } else { enc.len() - 1 };
            if end > skip {
                out.push(enc[skip..end].to_owned());
            }
        }
    }
    out.retain(|f| f.len() >= 4);
    out.sort();
    out.dedup();
    out
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
        self.add_value(secret.expose());
    }

    fn add_value(&self, value: &str) {
        if value.len() < 4 {
            return;
        }
        let Ok(mut k) = self.inner.write() else { return };
        if k.forms.iter().any(|f| f == value) {
            return;
        }
        for form in forms_of(value) {
            if form.is_ascii() && form.len() >= FRAGMENT {
                for w in form.as_bytes().windows(FRAGMENT) {
                    k.windows.insert(w.try_into().expect("window length"));
                }
            }
            if !k.forms.contains(&form) {
                k.forms.push(form);
            }
        }
        k.forms.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }

    /// Registers the value of a header when it carries credentials (`Authorization`, `Cookie`,
    /// `X-Api-Key`, anything secret-named): an upstream that echoes it back prints nothing.
    pub fn add_header(&self, name: &str, value: &str) {
        if SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) || is_secret_name(name) {
            self.add_value(value);
            // `Bearer xyz`, `Basic xyz`: the credential itself too.
            if let Some((scheme, cred)) = value.split_once(' ') {
                self.add_value(cred.trim());
                // `Basic base64(user:password)`: an upstream may echo it decoded.
                if scheme.eq_ignore_ascii_case("basic") {
                    use base64::Engine;
                    let decoded =
                        base64::engine::general_purpose::STANDARD.decode(cred.trim()).ok().and_then(|b| String::from_utf8(b).ok());
                    if let Some((_, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                        self.add_value(password);
                    }
                }
            }
        }
    }

    /// Registers what a response hands out as credentials: `Set-Cookie` values (a session is a
    /// credential) and, when `secret_fields` is set (auth responses), every string under a
    /// secret-named JSON key (`refreshToken`, `apiKey`, `session_id`, …).
    pub fn add_response(&self, headers: &reqwest::header::HeaderMap, body: &[u8], secret_fields: bool) {
        for v in headers.get_all(reqwest::header::SET_COOKIE) {
            let text = String::from_utf8_lossy(v.as_bytes());
            match cookie::Cookie::parse(text.as_ref()) {
                Ok(c) => self.add_value(c.value()),
                // Not a cookie the crate reads: its value is still a credential.
                Err(_) => {
                    if let Some((_, value)) = text.split(';').next().and_then(|kv| kv.split_once('=')) {
                        self.add_value(value.trim());
                    }
                }
            }
        }
        if !secret_fields || body.len() > 1 << 20 {
            return;
        }
        fn walk(r: &Redactor, v: &serde_json::Value, secret: bool) {
            match v {
                serde_json::Value::String(s) if secret && s.len() >= 8 => r.add_value(s),
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(r, x, secret)),
                // The key right above a value names it (`{"session": {"user": email}}` is not a secret).
                serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| walk(r, x, is_token_key(k))),
                _ => {}
            }
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
            walk(self, &v, false);
        }
    }

    /// Registers the values of secret-named environment variables (`*_TOKEN`, `*_API_KEY`,
    /// `*_PASSWORD`, …) that are long enough to be secrets.
    pub fn add_env<'a>(&self, env: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (k, v) in env {
            // A path (`GOOGLE_APPLICATION_CREDENTIALS=/etc/sa.json`) names where a secret is,
            // and masking it would mask that path wherever it is printed.
            if is_secret_env_name(k) && v.len() >= 8 && !(v.starts_with('/') && std::path::Path::new(v).exists()) {
                self.add_value(v);
            }
        }
    }

    /// Masks, then escapes control bytes. Newlines and tabs are kept.
    pub fn redact(&self, text: &str) -> String {
        let masked = self.mask(text);
        if masked.chars().any(is_dangerous) { escape_controls(&masked) } else { masked }
    }

    /// [`Redactor::redact`], then truncates to `max` characters (with `…`).
    pub fn clean(&self, text: &str, max: usize) -> String {
        let t = self.redact(text);
        if t.chars().count() <= max { t } else { format!("{}…", t.chars().take(max).collect::<String>()) }
    }

    /// Masks token-shaped text, then every known secret form and every fragment of
    /// `FRAGMENT`+ characters of one.
    pub fn mask(&self, text: &str) -> String {
        let Ok(k) = self.inner.read() else { return text.to_owned() };
        // Shapes first: a JWT whose head is also a known token's is masked whole, not after it.
        let mut out = mask_shapes(text);
        for f in &k.forms {
            // A form longer than the text cannot be in it (and a substring search sets itself up
            // from the needle: a kilobyte token, for every form, for every short text).
            if f.len() <= out.len() && out.contains(f.as_str()) {
                out = out.replace(f.as_str(), MASK);
            }
        }
        if k.windows.is_empty() || out.len() < FRAGMENT {
            return out;
        }
        let bytes = out.as_bytes();
        let mut hit = vec![false; bytes.len()];
        let mut any = false;
        for (i, w) in bytes.windows(FRAGMENT).enumerate() {
            if k.windows.contains(<&[u8; FRAGMENT]>::try_from(w).expect("window length")) {
                hit[i..i + FRAGMENT].iter_mut().for_each(|h| *h = true);
                any = true;
            }
        }
        if !any {
            return out;
        }
        // Windows are ASCII, so every run of hits starts and ends on a character boundary.
        let mut masked = String::with_capacity(out.len());
        let mut i = 0;
        while i < bytes.len() {
            if hit[i] {
                masked.push_str(MASK);
                while i < bytes.len() && hit[i] {
                    i += 1;
                }
            } else {
                let start = i;
                while i < bytes.len() && !hit[i] {
                    i += 1;
                }
                masked.push_str(&out[start..i]);
            }
        }
        masked
    }

    /// Masks a header value when the header is a credential header.
    pub fn header_value(&self, name: &str, value: &str) -> String {
        if SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) || is_secret_name(name) {
            MASK.to_owned()
        } else {
            self.redact(value)
        }
    }
}

/// Text shaped like a credential, whether or not this run knows it: a JWT (`eyJ` segments, also
/// cut short) and the credential after `Bearer`, `Basic`, `Token` or `JWT` (8+ characters with a
/// digit, or 20+; so `Token expired` stays readable).
pub fn mask_shapes(text: &str) -> String {
    // Both shapes need `eyJ` or a space (`\s` as the scheme pattern reads it): most of what is
    // redacted (a path, an assertion's `o1`) has neither, and skips the two regexes.
    if !may_hold_shape(text) {
        return text.to_owned();
    }
    shapes_by_regex(text)
}

fn may_hold_shape(text: &str) -> bool {
    text.contains("eyJ") || text.bytes().any(|b| matches!(b, b'\t'..=b'\r' | b' '))
}

fn shapes_by_regex(text: &str) -> String {
    use std::sync::OnceLock;
    static JWT: OnceLock<regex::Regex> = OnceLock::new();
    static SCHEME: OnceLock<regex::Regex> = OnceLock::new();
    let jwt = JWT.get_or_init(|| regex::Regex::new(r"(?-u)eyJ[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*){0,2}").expect("valid"));
    let scheme = SCHEME.get_or_init(|| regex::Regex::new(r"(?i-u)\b(bearer|basic|token|jwt)(\s+)([A-Za-z0-9._~+/=-]{8,})").expect("valid"));
    let out = jwt.replace_all(text, MASK);
    let out = scheme.replace_all(&out, |c: &regex::Captures<'_>| {
        let cred = &c[3];
        if cred == MASK || !(cred.len() >= 20 || cred.bytes().any(|b| b.is_ascii_digit())) {
            c[0].to_owned()
        } else {
            format!("{}{}{MASK}", &c[1], &c[2])
        }
    });
    out.into_owned()
}

/// Environment variable names whose values are secrets: the last `_`-separated part (or the
/// last two, `API_KEY`) names a credential. A name of one part is a credential only when it is
/// unmistakably one (`TOKEN`, `PASSWORD`): the shell's `PWD` and `OLDPWD` are paths.
pub fn is_secret_env_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    // An ARN names where a secret is kept (`COGNITO_SERVICE_USER_SECRET_ARN`), and AWS's
    // endpoint variables where a service is (`AWS_ENDPOINT_URL_SECRETS_MANAGER`): not secrets.
    if matches!(n.as_str(), "PWD" | "OLDPWD" | "PASS" | "KEY" | "AUTH") || n.ends_with("_ARN") || n.starts_with("AWS_ENDPOINT_URL") {
        return false;
    }
    let last = n.rsplit('_').next().unwrap_or("");
    ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "PWD", "KEY", "APIKEY", "JWT", "COOKIE", "CREDENTIALS", "CREDENTIAL", "AUTH"]
        .contains(&last)
        || n.contains("SECRET")
        || n.contains("PASSWORD")
        || n.contains("TOKEN")
}

/// Control bytes as visible escapes: a body cannot clear the screen, move the cursor, rewrite
/// a line (`\r`) or reorder text (bidi overrides). Newline and tab stay.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(is_dangerous) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_dangerous(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Control and C1 characters (but newline and tab), bidi overrides and isolates, and the
/// private-use areas (U+E000–U+F8FF, planes 15–16), which terminals and fonts give meanings of
/// their own.
fn is_dangerous(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{e000}'..='\u{f8ff}' | '\u{f0000}'..='\u{10ffff}')
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
    fn token_shapes_are_masked_and_words_after_a_scheme_are_not() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert_eq!(mask_shapes(&format!("got {jwt} back")), "got *** back");
        assert_eq!(mask_shapes("cut short: eyJhbGciOi…"), "cut short: ***…");
        assert_eq!(mask_shapes("Authorization: Token 9f8e7d6c5b4a39281716"), "Authorization: Token ***");
        assert_eq!(mask_shapes("basic dXNlcjpwYXNzd29yZA=="), "basic ***");
        for plain in ["Token expired", "Bearer realm=\"api\"", "JWT verification failed", "Bearer $SMOKEGATE_TOKEN"] {
            assert_eq!(mask_shapes(plain), plain);
        }
        // The shortcut past the regexes skips only text they would leave as it is.
        for t in ["o1", "/api/orders/o1", "bearer\u{b}9f8e7d6c5b4a39281716", "Token\t9f8e7d6c5b4a3", "x.eyJhbGciOi", "tokenabcdefgh1"] {
            if !may_hold_shape(t) {
                assert_eq!(shapes_by_regex(t), t, "{t:?}");
            } else {
                assert_ne!(shapes_by_regex(t), t, "{t:?}");
            }
        }
    }

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("eyJ-very-secret");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "eyJ-very-secret");
    }

    #[test]
    fn fragments_and_encodings_are_masked() {
        let r = Redactor::default();
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzbW9rZSJ9.c2lnLXZlcnktc2VjcmV0LXNpZ25hdHVyZQ";
        r.add(&Secret::new(token));
        // Cut by a message width: the fragment is still masked.
        let cut = &token[..40];
        assert_eq!(r.redact(&format!("got \"Bearer {cut}…\"")), "got \"Bearer ***…\"");
        // The tail of a token at the start of a text.
        assert!(!r.redact(&token[30..]).contains(&token[40..52]));
        let pw = "p%ss:w\"rd/with+symbols=ok";
        r.add(&Secret::new(pw));
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("smoke@example.test:{pw}"));
        for text in [
            pw.to_owned(),
            serde_json::to_string(pw).unwrap(),
            url::form_urlencoded::byte_serialize(pw.as_bytes()).collect::<String>(),
            format!("Authorization: Basic {basic}"),
        ] {
            let out = r.redact(&text);
            assert!(out.contains(MASK), "{text} → {out}");
            assert!(!out.contains("with+symbols") && !out.contains("with%2Bsymbols"), "{out}");
        }
    }

    #[test]
    fn control_bytes_are_escaped_after_masking() {
        let r = Redactor::default();
        assert_eq!(
            r.redact("a\x1b[2J\x1b[1A✓ all good\rX\u{202e}z\nnext\tcol"),
            "a\\u{1b}[2J\\u{1b}[1A✓ all good\\u{d}X\\u{202e}z\nnext\tcol"
        );
        assert_eq!(r.clean("abcdef", 3), "abc…");
    }

    #[test]
    fn a_basic_credential_is_masked_decoded_too() {
        use base64::Engine;
        let r = Redactor::default();
        let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("svc:Sup3r-S3cret-pw"));
        r.add_header("Authorization", &header);
        assert_eq!(r.redact("login svc:Sup3r-S3cret-pw failed"), "login svc:*** failed");
    }

    #[test]
    fn credentials_a_response_hands_out_are_secrets() {
        let r = Redactor::default();
        let mut h = reqwest::header::HeaderMap::new();
        h.append(reqwest::header::SET_COOKIE, "sid=abc123session-cookie; Path=/; HttpOnly".parse().unwrap());
        r.add_response(
            &h,
            br#"{"user":{"id":"u1","email":"a@b.c"},"refreshToken":"rt-0123456789","auth":{"apiKey":"ak-0123456789"},"session":{"user":"smoke@example.test"},"tokens":["tk-0123456789"]}"#,
            true,
        );
        assert_eq!(
            r.redact("abc123session-cookie rt-0123456789 ak-0123456789 tk-0123456789 u1 a@b.c smoke@example.test"),
            "*** *** *** *** u1 a@b.c smoke@example.test"
        );
        let r = Redactor::default();
        r.add_response(&reqwest::header::HeaderMap::new(), br#"{"apiKey":"ak-0123456789"}"#, false);
        assert_eq!(r.redact("ak-0123456789"), "ak-0123456789", "step responses: only cookies");
    }

    #[test]
    fn secret_env_names() {
        for n in ["SMOKE_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "CLIENT_SECRET", "SMOKE_CLIENT_SECRET_V2", "BASIC_AUTH"] {
            assert!(is_secret_env_name(n), "{n}");
        }
        for n in
            ["SMOKE_AUTH_MODE", "PATH", "HOME", "KEYBOARD_LAYOUT", "COGNITO_SERVICE_USER_SECRET_ARN", "AWS_ENDPOINT_URL_SECRETS_MANAGER"]
        {
            assert!(!is_secret_env_name(n), "{n}");
        }
        let r = Redactor::default();
        r.add_env([("SMOKE_API_KEY", "k-1234567890abcdef"), ("USE_TOKEN", "true"), ("SMOKE_AUTH_MODE", "disposable")]);
        assert_eq!(r.redact("k-1234567890abcdef true disposable"), "*** true disposable");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn windows(s: &str) -> Vec<String> {
            let b = s.as_bytes();
            if b.len() < FRAGMENT {
                vec![s.to_owned()]
            } else {
                b.windows(FRAGMENT).map(|w| String::from_utf8_lossy(w).into_owned()).collect()
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
            /// For random secrets, embedded in any encoding and cut at every width, before or
            /// after the sanitizer runs, no 12-character window of any form survives.
            #[test]
            fn no_window_of_a_secret_survives_any_truncation(
                secret in "[A-Za-z0-9%\"\\/+=:._~ -]{12,60}",
                before in "[a-z \":{]{0,20}",
                after in "[a-z \"}]{0,20}",
                enc in 0usize..5,
            ) {
                use base64::Engine;
                let r = Redactor::default();
                r.add(&Secret::new(secret.clone()));
                let shown = match enc {
                    0 => secret.clone(),
                    1 => serde_json::to_string(&secret).unwrap(),
                    2 => url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
                    3 => base64::engine::general_purpose::STANDARD.encode(format!("user:{secret}")),
                    _ => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&secret),
                };
                let text = format!("{before}{shown}{after}");
                let forbidden: Vec<String> = forms_of(&secret).iter().filter(|f| f.len() >= FRAGMENT).flat_map(|f| windows(f)).collect();
                let n = text.chars().count();
                for width in 0..=n {
                    let cut: String = text.chars().take(width).collect();
                    let tail: String = text.chars().skip(width).collect();
                    for out in [r.redact(&cut), r.clean(&text, width), r.redact(&tail)] {
                        for w in &forbidden {
                            prop_assert!(!out.contains(w.as_str()), "window {w:?} of {shown:?} survived in {out:?}");
                        }
                    }
                }
            }
        }
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
        // Where a secret is kept names it, and is not it.
        assert!(!is_secret_name("COGNITO_SERVICE_USER_SECRET_ARN") && is_secret_name("SECRET_ARN_VALUE"));
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
