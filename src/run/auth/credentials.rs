//! Where credentials come from: a fresh password for a disposable user, a service account's
//! (or the admin's) from the environment or a JSON secret file.

use super::*;
use crate::run::ctx::Vars;

/// A config value that is a template (`{{ env.SMOKE_CLIENT_SECRET }}`), rendered in the run's
/// scope; `key` names it in errors (`auth.client_secret`). Nothing is a credential.
pub fn render_setting(vars: &Vars, key: &str, template: &str) -> Result<String, AuthError> {
    let v = vars.templates.render_str(template, &vars.base).map_err(|e| AuthError::template(key, e.message))?;
    if v.is_empty() {
        return Err(AuthError::Credentials(format!("`{key}` renders to nothing (is its environment variable set?)")));
    }
    Ok(v)
}

/// 24+ characters with letters, digits and symbols, from the OS RNG.
pub fn random_password() -> Secret {
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const SYMBOL: &[u8] = b"-_.!#%+=";
    let mut rng = rand::rng();
    let all: Vec<u8> = [LOWER, UPPER, DIGIT, SYMBOL].concat();
    let mut chars: Vec<u8> = vec![
        LOWER[rng.random_range(0..LOWER.len())],
        UPPER[rng.random_range(0..UPPER.len())],
        DIGIT[rng.random_range(0..DIGIT.len())],
        SYMBOL[rng.random_range(0..SYMBOL.len())],
    ];
    while chars.len() < 28 {
        chars.push(all[rng.random_range(0..all.len())]);
    }
    // Shuffle so the classes are not in fixed positions.
    for i in (1..chars.len()).rev() {
        chars.swap(i, rng.random_range(0..=i));
    }
    Secret::new(String::from_utf8(chars).expect("ascii"))
}

/// Service-account credentials from `SMOKE_USERNAME`/`SMOKE_PASSWORD` or a JSON secret file.
/// Errors name the variable, file and field, never a value.
pub fn service_credentials(env: &[(String, String)], file: Option<&std::path::Path>) -> Result<Identity, AuthError> {
    if let Some(path) = file {
        let text = crate::load::suite::read_regular(path)
            .map_err(|e| AuthError::Credentials(format!("cannot read credentials file {}: {e}", path.display())))
            .and_then(|b| {
                String::from_utf8(b).map_err(|_| AuthError::Credentials(format!("credentials file {} is not valid UTF-8", path.display())))
            })?;
        let v: J = serde_json::from_str(&text).map_err(|e| {
            AuthError::Credentials(format!(
                "credentials file {} is not valid JSON (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        let field = |name: &str| -> Result<String, AuthError> {
            match v.get(name) {
                Some(J::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(_) => {
                    Err(AuthError::Credentials(format!("credentials file {}: field `{name}` must be a non-empty string", path.display())))
                }
                None => Err(AuthError::Credentials(format!("credentials file {}: missing field `{name}`", path.display()))),
            }
        };
        if !v.is_object() {
            return Err(AuthError::Credentials(format!(
                "credentials file {} must hold a JSON object with `username` and `password`",
                path.display()
            )));
        }
        return Ok(Identity { name: field("username")?, password: Secret::new(field("password")?) });
    }
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    match (get("SMOKE_USERNAME"), get("SMOKE_PASSWORD")) {
        (Some(u), Some(p)) => Ok(Identity { name: u, password: Secret::new(p) }),
        (None, _) => Err(AuthError::Credentials("service-account mode needs SMOKE_USERNAME (or auth.credentials_file)".into())),
        (_, None) => Err(AuthError::Credentials("service-account mode needs SMOKE_PASSWORD (or auth.credentials_file)".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_and_mixed() {
        for _ in 0..50 {
            let p = random_password();
            let s = p.expose();
            assert!(s.len() >= 24);
            assert!(s.chars().any(|c| c.is_ascii_lowercase()));
            assert!(s.chars().any(|c| c.is_ascii_uppercase()));
            assert!(s.chars().any(|c| c.is_ascii_digit()));
            assert!(s.chars().any(|c| !c.is_ascii_alphanumeric()));
        }
        assert_ne!(random_password().expose(), random_password().expose());
    }

    #[test]
    fn service_credentials_from_env_and_file() {
        let env = vec![("SMOKE_USERNAME".to_owned(), "svc".to_owned()), ("SMOKE_PASSWORD".to_owned(), "pw-123456".to_owned())];
        let id = service_credentials(&env, None).unwrap();
        assert_eq!(id.name, "svc");
        let e = service_credentials(&env[..1], None).err().unwrap();
        assert!(e.to_string().contains("SMOKE_PASSWORD"));

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret.json");
        std::fs::write(&f, r#"{"username":"svc","password":"s3cr3t-value","extra":1}"#).unwrap();
        assert_eq!(service_credentials(&[], Some(&f)).unwrap().name, "svc");
        std::fs::write(&f, r#"{"username":"svc","pass":"s3cr3t-value"}"#).unwrap();
        let msg = service_credentials(&[], Some(&f)).err().unwrap().to_string();
        assert!(msg.contains("missing field `password`") && !msg.contains("s3cr3t"), "{msg}");
        std::fs::write(&f, "{not json s3cr3t").unwrap();
        let msg = service_credentials(&[], Some(&f)).err().unwrap().to_string();
        assert!(msg.contains("not valid JSON") && !msg.contains("s3cr3t"), "{msg}");
    }
}
