//! AWS Signature Version 4 for lifecycle steps with `auth: aws` (Cognito's admin calls) and for
//! Secrets Manager: the keys from the standard AWS environment (variables, then the shared files
//! of `AWS_PROFILE`), and the signing itself by AWS's own `aws-sigv4`. The signature is computed
//! over the request as it will be sent (host, content type, `x-amz-*` headers, body) and added
//! as ordinary headers, so no hop of the client needs to know about it.

use std::path::PathBuf;
use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use crate::secret::Secret;

/// IAM credentials: the access key id (not a secret: it names the key), the secret key and,
/// for temporary credentials, the session token. No `Debug`.
#[derive(Clone)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// Where they came from, for messages (`AWS_ACCESS_KEY_ID`, `profile smoke in ~/.aws/credentials`).
    pub source: String,
}

impl AwsKeys {
    /// The keys as the AWS CLI finds them: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and
    /// `AWS_SESSION_TOKEN`), else the profile `AWS_PROFILE` (or `default`) in
    /// `AWS_SHARED_CREDENTIALS_FILE` (`~/.aws/credentials`), then in `AWS_CONFIG_FILE`
    /// (`~/.aws/config`, `[profile NAME]`). `env` is the process environment as the CLI read it.
    pub fn from_env(env: &[(String, String)]) -> Result<AwsKeys, String> {
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
        match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => {
                return Ok(AwsKeys {
                    access_key_id: id.to_owned(),
                    secret_access_key: Secret::new(secret),
                    session_token: get("AWS_SESSION_TOKEN").map(Secret::new),
                    source: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
                });
            }
            (Some(_), None) => return Err("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into()),
            (None, Some(_)) => return Err("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into()),
            (None, None) => {}
        }
        let profile = get("AWS_PROFILE").unwrap_or("default");
        let home = get("HOME").map(PathBuf::from).or_else(dirs::home_dir);
        let file = |var: &str, name: &str| get(var).map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)));
        let config_section = if profile == "default" { "default".to_owned() } else { format!("profile {profile}") };
        for (path, section) in
            [(file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), profile.to_owned()), (file("AWS_CONFIG_FILE", "config"), config_section)]
        {
            let Some(path) = path else { continue };
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let values = ini_section(&text, &section);
            let value = |k: &str| values.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
            if let (Some(id), Some(secret)) = (value("aws_access_key_id"), value("aws_secret_access_key")) {
                return Ok(AwsKeys {
                    access_key_id: id,
                    secret_access_key: Secret::new(secret),
                    session_token: value("aws_session_token").map(Secret::new),
                    source: format!("profile {profile} in {}", path.display()),
                });
            }
        }
        Err(format!(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE with a profile `{profile}` in ~/.aws/credentials"
        ))
    }
}

/// The `key = value` pairs of `[section]` in an INI file as the AWS CLI writes them (`#` and `;`
/// comments, whitespace around `=`); later sections of the same name add to it.
fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    out
}

/// Where a signed request goes and as what: the region and the service's signing name
/// (`cognito-idp`, `secretsmanager`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningScope {
    pub region: String,
    pub service: String,
}

/// The headers that make a request signed (`authorization`, `x-amz-date`, and
/// `x-amz-security-token` with temporary keys), for a request to `url` with these headers
/// (only `content-type` and `x-amz-*` are signed, with `host`) and this body.
pub fn signature_headers(
    keys: &AwsKeys,
    scope: &SigningScope,
    method: &str,
    url: &url::Url,
    headers: &[(String, String)],
    body: &[u8],
    at: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(format!("`{url}` has no host to sign for")),
    };
    let mut signed: Vec<(String, String)> = vec![("host".into(), host)];
    signed.extend(
        headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .filter(|(k, _)| k == "content-type" || (k.starts_with("x-amz-") && k != "x-amz-date" && k != "x-amz-security-token")),
    );
    let credentials = aws_credential_types::Credentials::new(
        &keys.access_key_id,
        keys.secret_access_key.expose(),
        keys.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "smokegate",
    );
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&scope.region)
        .name(&scope.service)
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot sign: {e}"))?
        .into();
    let request =
        SignableRequest::new(method, url.as_str(), signed.iter().map(|(k, v)| (k.as_str(), v.as_str())), SignableBody::Bytes(body))
            .map_err(|e| format!("cannot sign this request: {e}"))?;
    let (instructions, _signature) = sign(request, &params).map_err(|e| format!("cannot sign: {e}"))?.into_parts();
    Ok(instructions.headers().map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> AwsKeys {
        // The example keys of AWS's SigV4 documentation and test suite.
        AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
            source: "test".into(),
        }
    }

    /// AWS's published test vector `get-vanilla` (the SigV4 test suite): the same signature.
    #[test]
    fn the_sigv4_test_suites_vanilla_get_signs_as_published() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160); // 20150830T123600Z
        let url = url::Url::parse("https://example.amazonaws.com/").unwrap();
        let scope = SigningScope { region: "us-east-1".into(), service: "service".into() };
        let h = signature_headers(&keys(), &scope, "GET", &url, &[], b"", at).unwrap();
        let auth = &h.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert!(h.iter().any(|(k, v)| k == "x-amz-date" && v == "20150830T123600Z"));
    }

    /// A Cognito call signs its content type and target, and temporary keys add the token.
    #[test]
    fn content_type_and_target_are_signed_and_a_session_token_is_sent() {
        let mut k = keys();
        k.session_token = Some(Secret::new("session-token-value"));
        let url = url::Url::parse("http://127.0.0.1:5000/").unwrap();
        let scope = SigningScope { region: "us-east-1".into(), service: "cognito-idp".into() };
        let headers = [
            ("Content-Type".to_owned(), "application/x-amz-json-1.1".to_owned()),
            ("X-Amz-Target".to_owned(), "AWSCognitoIdentityProviderService.AdminDeleteUser".to_owned()),
            ("X-Request-Id".to_owned(), "r1".to_owned()),
        ];
        let h = signature_headers(&k, &scope, "POST", &url, &headers, b"{}", SystemTime::now()).unwrap();
        let auth = &h.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert!(auth.contains("/us-east-1/cognito-idp/aws4_request"), "{auth}");
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"), "{auth}");
        assert!(h.iter().any(|(k, v)| k == "x-amz-security-token" && v == "session-token-value"));
    }

    #[test]
    fn keys_come_from_the_variables_then_the_profile_files() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        std::fs::write(&creds, "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\n[smoke]\n# a comment\naws_access_key_id=AKIASMOKE\naws_secret_access_key=s2\naws_session_token = t2\n").unwrap();
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            let mut v: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            v.push(("AWS_SHARED_CREDENTIALS_FILE".into(), creds.display().to_string()));
            v.push(("AWS_CONFIG_FILE".into(), dir.path().join("none").display().to_string()));
            v
        };
        let k = AwsKeys::from_env(&env(&[("AWS_ACCESS_KEY_ID", "AKIAENV"), ("AWS_SECRET_ACCESS_KEY", "s0")])).unwrap();
        assert_eq!((k.access_key_id.as_str(), k.secret_access_key.expose(), k.session_token.is_none()), ("AKIAENV", "s0", true));
        let k = AwsKeys::from_env(&env(&[])).unwrap();
        assert_eq!(k.access_key_id, "AKIADEFAULT");
        let k = AwsKeys::from_env(&env(&[("AWS_PROFILE", "smoke")])).unwrap();
        assert_eq!((k.access_key_id.as_str(), k.session_token.map(|t| t.expose().to_owned())), ("AKIASMOKE", Some("t2".into())));
        let e = AwsKeys::from_env(&env(&[("AWS_PROFILE", "nope")])).err().unwrap();
        assert!(e.contains("no AWS credentials") && e.contains("`nope`"), "{e}");
        let e = AwsKeys::from_env(&env(&[("AWS_ACCESS_KEY_ID", "AKIAENV")])).err().unwrap();
        assert!(e.contains("AWS_SECRET_ACCESS_KEY is not"), "{e}");
    }
}
