//! The keys of the token-provider modes (`client-credentials`, `api-key`) and of an admin that is
//! a client of an identity provider, and how a token travels (`auth.header`, `auth.scheme`).

use super::draft::Draft;
use super::*;
use crate::load::diag::SourceError;
use crate::load::yaml::{Ctx, MapReader, Node};

/// `token_url`, `client_id`, `client_secret`, `scope` and `auth_method` of a client of the
/// identity provider (`prefix` names where, for messages; `need` says what a missing key
/// lacks): `None` when none of them is written, an error when some are missing.
pub(super) fn client_credentials<'a>(
    ctx: Ctx<'a>,
    node: &Node,
    m: &mut MapReader<'a>,
    prefix: &str,
    need: &dyn Fn(&str) -> String,
) -> Result<Option<ClientCredentials>, SourceError> {
    let mut text =
        |key: &str| -> Result<Option<String>, SourceError> { m.get(key).map(|n| ctx.text(n, &format!("`{prefix}{key}`"))).transpose() };
    let (token_url, client_id, client_secret, scope) = (text("token_url")?, text("client_id")?, text("client_secret")?, text("scope")?);
    let auth_method = m.get("auth_method");
    if [&token_url, &client_id, &client_secret, &scope].iter().all(|v| v.is_none()) && auth_method.is_none() {
        return Ok(None);
    }
    let in_body = match auth_method.map(|n| ctx.str(n, "`auth_method`")).transpose()? {
        None | Some("basic") => false,
        Some("post") => true,
        Some(other) => {
            return Err(ctx
                .err(auth_method.unwrap_or(node), format!("unknown auth_method `{other}`"))
                .with_help("use `basic` (the default) or `post`"));
        }
    };
    let need = |what: &str| ctx.err(node, need(what));
    Ok(Some(ClientCredentials {
        token_url: token_url.ok_or_else(|| need("token_url"))?,
        client_id: client_id.ok_or_else(|| need("client_id"))?,
        client_secret: client_secret.ok_or_else(|| need("client_secret"))?,
        scope,
        in_body,
    }))
}

/// `auth.header` must be a header name; `auth.scheme` one word, for token modes, and neither for
/// a session cookie.
fn check_token_header(ctx: Ctx<'_>, node: &Node, a: &mut Draft, header: Option<&str>, scheme: Option<&Node>) -> Result<(), SourceError> {
    if let Some(h) = header
        && reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err()
    {
        return Err(ctx.err(node, format!("`{h}` is not a valid header name")));
    }
    if let Some(n) = scheme {
        let text = ctx.str(n, "`auth.scheme`")?;
        if a.kind == AuthModeKind::ApiKey {
            return Err(ctx
                .err(n, "`auth.scheme` does not apply to `api-key` mode: the key is sent as `value` renders")
                .with_help("write the scheme into `value`, e.g. `value: \"Key {{ env.SMOKE_API_KEY }}\"`"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ctx.err(n, format!("`auth.scheme` must be one word (e.g. `Bearer`, `JWT`, `Token`) or \"\", not {text:?}")));
        }
        a.send.scheme = text.to_owned();
    }
    if a.token_cookie.is_some() && (scheme.is_some() || header.is_some()) {
        return Err(ctx.err(
            scheme.unwrap_or(node),
            "`auth.scheme` and `auth.header` do not apply to a session cookie (`login.token: { cookie: … }`)",
        ));
    }
    Ok(())
}

/// The keys of `client-credentials` and `api-key`: required by their mode, refused by others.
pub(super) fn decode_provider<'a>(ctx: Ctx<'a>, node: &Node, m: &mut MapReader<'a>, a: &mut Draft) -> Result<(), SourceError> {
    let text = |m: &mut MapReader<'a>, key: &str| -> Result<Option<String>, SourceError> {
        m.get(key).map(|n| ctx.text(n, &format!("`auth.{key}`"))).transpose()
    };
    let (header, value) = (text(m, "header")?, text(m, "value")?);
    let scheme = m.get("scheme");
    check_token_header(ctx, node, a, header.as_deref(), scheme)?;
    let mode = a.kind;
    let message = |what: &str| format!("auth mode `{}` needs `{what}`", mode.name());
    match a.kind {
        AuthModeKind::ClientCredentials => {
            if let Some(h) = &header {
                a.send.header = h.clone();
            }
            // `scope` is the OAuth scope here (the decoder did not read it as `run|suite`).
            let client = client_credentials(ctx, node, m, "auth.", &message)?;
            a.client = Some(client.ok_or_else(|| ctx.err(node, message("token_url")))?);
        }
        AuthModeKind::ApiKey => {
            let header = header.ok_or_else(|| ctx.err(node, message("header")))?;
            a.api_key = Some(ApiKey { header, value: value.ok_or_else(|| ctx.err(node, message("value")))? });
        }
        AuthModeKind::Disposable | AuthModeKind::ServiceAccount => {
            if let Some(h) = header {
                a.send.header = h;
            }
            let stray = ["token_url", "client_id", "client_secret", "auth_method"].into_iter().find(|k| m.get(k).is_some());
            if let Some(key) = stray.or(value.is_some().then_some("value")) {
                return Err(ctx
                    .err(node, format!("`auth.{key}` belongs to another auth mode"))
                    .with_help("set `mode: client-credentials` or `mode: api-key`"));
            }
        }
    }
    Ok(())
}
