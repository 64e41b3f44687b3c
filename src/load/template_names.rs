//! What the loader knows of template syntax: what marks a template, and the names every scope
//! holds. Rendering is `eval::template`.

/// True when `s` needs rendering at all; everything else is used verbatim (the hot path).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// Names every template may use without defining them.
pub const BUILTINS: &[&str] = &["run", "env", "user", "vars", "uuid", "request"];
/// `request.*`: the request being sent (its reqId, for `$.headers['X-Request-Id']: "{{ request.id }}"`).
pub const REQUEST_FIELDS: &[&str] = &["id"];
/// The attributes of `run`.
pub const RUN_FIELDS: &[&str] = &["id", "timestamp", "started_at", "rand", "gateway"];
/// The attributes of `user` once the auth lifecycle has an identity.
pub const USER_FIELDS: &[&str] = &["email", "password", "id", "username"];
