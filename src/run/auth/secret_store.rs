//! A service account's credentials from AWS Secrets Manager (`credentials_secret: { aws: … }`):
//! one signed `GetSecretValue` per run, its `SecretString` a JSON object with `username` and
//! `password` (other fields ignored: seed 004's secret carries notes for operators). The
//! endpoint is found as the AWS CLI finds it (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, then
//! `AWS_ENDPOINT_URL`, then the region's), and is contacted for this request only. Errors name
//! the secret, never its value. Also the AWS signing both it and `auth: aws` lifecycle steps use
//! (`aws_keys`, `sign`).

use std::time::SystemTime;

use serde_json::Value as J;
use tokio_util::sync::CancellationToken;

use crate::eval::step;
use crate::http::aws::{AwsKeys, SigningScope, signature_headers};
use crate::http::client::{ClientSettings, CrumbCtx, HttpClient, Outgoing, SendError};
use crate::report::event::Phase;
use crate::run::auth::{AuthError, Identity};
use crate::run::ctx::{IdentityProvider, RunCtx};
use crate::run::exchange::{self, Judge};
use crate::secret::Secret;

/// The credentials the secret `id` (a template: its ARN or name; `key` names the setting)
/// holds, read once per run whoever asks (a service account, an admin, one per suite).
pub async fn identity(ctx: &RunCtx, key: &str, id: &str, cancel: &CancellationToken) -> Result<Identity, AuthError> {
    let id = super::render_setting(&ctx.vars, key, id)?;
    // Held across the read: a second asker waits for the first's answer.
    let mut cache = ctx.fetched_secrets.lock().await;
    if !cache.contains_key(&id) {
        let got = fetch(ctx, &id, cancel).await.map(|(user, password)| (user, Secret::new(password)));
        cache.insert(id.clone(), got);
    }
    match &cache[&id] {
        Ok((name, password)) => Ok(Identity { name: name.clone(), password: password.clone() }),
        Err(e) => Err(AuthError::Credentials(e.clone())),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The region of the secret: its ARN's (`arn:aws:secretsmanager:REGION:…`), else `auth.aws`'s,
/// else `AWS_REGION` or `AWS_DEFAULT_REGION`.
fn region(ctx: &RunCtx, id: &str) -> Result<String, String> {
    if let Some(r) = id.strip_prefix("arn:").and_then(|rest| rest.split(':').nth(2)).filter(|r| !r.is_empty()) {
        return Ok(r.to_owned());
    }
    if let Some(aws) = &ctx.config.auth.aws {
        return super::render_setting(&ctx.vars, "auth.aws.region", &aws.region).map_err(|e| e.to_string());
    }
    env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .ok_or_else(|| format!("the secret `{id}` is not an ARN and no region is known: set AWS_REGION (or `auth.aws.region`)"))
}

async fn fetch(ctx: &RunCtx, id: &str, cancel: &CancellationToken) -> Result<(String, String), String> {
    let what = format!("the secret `{id}`");
    let region = region(ctx, id)?;
    let endpoint = env("AWS_ENDPOINT_URL_SECRETS_MANAGER")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"));
    let (gw, path) = IdentityProvider::check(&endpoint, ctx.config.gateway.allow_http, &ctx.net.http.gateway)
        .map_err(|e| format!("{what}: Secrets Manager endpoint {endpoint}: {e}"))?;
    let client = HttpClient::new(gw, aws_settings(&ctx.net.http.settings), &ctx.run_id).map_err(|e| format!("{what}: {e}"))?;
    let keys = aws_keys(ctx).map_err(|e| format!("{what}: {e}"))?;
    let path = if path.is_empty() { "/".to_owned() } else { path };
    let mut out = Outgoing::new(reqwest::Method::POST, &path);
    out.headers =
        vec![("content-type".into(), "application/x-amz-json-1.1".into()), ("x-amz-target".into(), "secretsmanager.GetSecretValue".into())];
    let body = serde_json::to_vec(&serde_json::json!({ "SecretId": id })).unwrap_or_default();
    out.body = Some((body.into(), "application/x-amz-json-1.1"));
    sign(ctx, &client, &mut out, &keys, SigningScope { region, service: "secretsmanager".into() }).map_err(|e| format!("{what}: {e}"))?;
    let cc = CrumbCtx { suite: None, step: Some("GetSecretValue".into()), phase: Phase::Secret, attempt: 1 };
    let ok = |s: u16| (200..300).contains(&s);
    let judged = exchange::send_via(ctx, &client, &out, &cc, Judge::Status { accept: &ok, expected: "2xx" }, cancel).await;
    if matches!(judged.error, Some(SendError::Cancelled)) {
        return Err(format!("{what}: interrupted"));
    }
    let Some(resp) = judged.response.as_ref().filter(|_| judged.verdict.class.is_none()) else {
        // The error's own type names the cause (`ResourceNotFoundException`, `AccessDeniedException`).
        let kind = judged.response.as_ref().and_then(|r| error_type(&r.body)).map(|t| format!(" ({t})")).unwrap_or_default();
        let why = judged.verdict.message.unwrap_or_default();
        return Err(format!("{what} could not be read: {why}{kind}"));
    };
    let answer = step::parse_json(&resp.body).map_err(|e| format!("{what}: the answer is {e}"))?;
    let text = answer.get("SecretString").and_then(J::as_str).ok_or_else(|| format!("{what} has no `SecretString` (a binary secret?)"))?;
    let Ok(fields) = serde_json::from_str::<J>(text) else {
        ctx.out.redactor.add(&Secret::new(text));
        return Err(format!("{what}: its SecretString is not JSON (expected {{\"username\": …, \"password\": …}})"));
    };
    // Every field is masked before anything could say it, but the user's name: it is who logs
    // in, not a secret (masking the whole string blanked it out of "logged in as").
    for (k, v) in fields.as_object().into_iter().flatten() {
        match v.as_str() {
            Some(s) if k != "username" => ctx.out.redactor.add(&Secret::new(s)),
            _ => {}
        }
    }
    let field = |k: &str| fields.get(k).and_then(J::as_str).filter(|v| !v.is_empty()).map(str::to_owned);
    let password = field("password").ok_or_else(|| format!("{what}: its SecretString has no `password` string"))?;
    ctx.out.redactor.add(&Secret::new(&password));
    let username = field("username").ok_or_else(|| format!("{what}: its SecretString has no `username` string"))?;
    Ok((username, password))
}

/// The AWS keys from the environment (see [`AwsKeys::from_env`]), masked from here on.
pub(crate) fn aws_keys(ctx: &RunCtx) -> Result<AwsKeys, String> {
    let keys = AwsKeys::from_env(&std::env::vars().collect::<Vec<_>>())?;
    ctx.out.redactor.add(&keys.secret_access_key);
    if let Some(t) = &keys.session_token {
        ctx.out.redactor.add(t);
    }
    Ok(keys)
}

/// Signs `out` (AWS SigV4 in `scope`) as `client` will send it: the URL it resolves to, its
/// content type, `x-amz-*` headers and body. Only the signature is masked: the rest of the
/// `Authorization` header names the key id, date, region and service, which masking would
/// blank out of every message (an ARN names its service). A replay line signs anew.
pub(crate) fn sign(ctx: &RunCtx, client: &HttpClient, out: &mut Outgoing, keys: &AwsKeys, scope: SigningScope) -> Result<(), String> {
    let url = client.gateway.resolve(&out.path).map_err(|e| e.to_string())?;
    let mut headers = out.headers.clone();
    if let Some((_, ct)) = out.body.as_ref().filter(|_| !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"))) {
        headers.push(("content-type".into(), (*ct).to_owned()));
    }
    let body = out.body.as_ref().map(|(b, _)| b.as_ref()).unwrap_or_default();
    for (k, v) in signature_headers(keys, &scope, out.method.as_str(), &url, &headers, body, SystemTime::now())? {
        if let Some((_, sig)) = v.rsplit_once("Signature=").filter(|_| k == "authorization") {
            ctx.out.redactor.add(&Secret::new(sig));
        }
        out.headers.push((k, v));
    }
    out.signed = Some(scope);
    Ok(())
}

/// An AWS error's type: `__type` of a JSON error (its `#` prefix dropped), or `<Code>` of an
/// XML one (an IAM-style refusal of the signature). Never the message, which may quote input.
fn error_type(body: &[u8]) -> Option<String> {
    let name =
        |t: &str| t.rsplit('#').next().unwrap_or(t).chars().take(80).filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect::<String>();
    if let Ok(J::Object(o)) = serde_json::from_slice::<J>(body) {
        return o.get("__type").and_then(J::as_str).map(name).filter(|t| !t.is_empty());
    }
    let text = String::from_utf8_lossy(body);
    let code = text.split_once("<Code>")?.1.split_once("</Code>")?.0;
    Some(name(code)).filter(|t| !t.is_empty())
}

/// The client settings for an AWS endpoint: `AWS_CA_BUNDLE` adds roots, as for the AWS CLI,
/// when `--cacert` does not.
pub(crate) fn aws_settings(settings: &ClientSettings) -> ClientSettings {
    let mut s = settings.clone();
    if s.cacert.is_none() {
        s.cacert = env("AWS_CA_BUNDLE").map(Into::into);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cause's type is named (JSON `__type`, or XML `<Code>`), never the message.
    #[test]
    fn an_aws_errors_type_is_named_without_its_message() {
        let json = br#"{"__type": "com.amazonaws#ResourceNotFoundException", "message": "Secrets Manager can't find smokegate/x"}"#;
        assert_eq!(error_type(json).as_deref(), Some("ResourceNotFoundException"));
        let xml = b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>the key s3cr3t</Message></Error></ErrorResponse>";
        assert_eq!(error_type(xml).as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(error_type(b"not json, no code"), None);
        assert_eq!(error_type(br#"{"message": "no type"}"#), None);
    }
}
