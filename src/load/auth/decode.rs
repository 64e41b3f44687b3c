//! Reading the flat `auth` block: every key of every mode into a [`Draft`], then the mode's
//! variant of [`Mode`], refusing keys that belong to another mode.

use std::path::{Path, PathBuf};

use crate::load::jsonpath::CompiledPath;

use super::*;
use crate::load::diag::SourceError;
use crate::load::suite::{self, AuthMode, Body, Step};
use crate::load::yaml::{Ctx, Node};

use super::draft::{AdminDraft, Draft, auth_step, default_paths};
use super::provider::{client_credentials, decode_provider};

pub(crate) fn decode_auth(ctx: Ctx<'_>, node: &Node) -> Result<AuthConfig, SourceError> {
    let mut a = Draft::default();
    let mut m = ctx.map(node, "`auth`")?;
    a.mode_pos = node.pos;
    if let Some(n) = m.get("mode") {
        a.mode_pos = n.pos;
        a.kind = match ctx.str(n, "`auth.mode`")? {
            "disposable" => AuthModeKind::Disposable,
            "service-account" => AuthModeKind::ServiceAccount,
            "client-credentials" => AuthModeKind::ClientCredentials,
            "api-key" => AuthModeKind::ApiKey,
            other => {
                return Err(ctx
                    .err(n, format!("unknown auth mode `{other}`"))
                    .with_help("use `disposable`, `service-account`, `client-credentials` or `api-key`"));
            }
        };
    }
    // In `client-credentials` mode `scope` is the OAuth scope, read with the client's keys.
    if let Some(n) = m.get("scope").filter(|_| a.kind != AuthModeKind::ClientCredentials) {
        a.scope = match ctx.str(n, "`auth.scope`")? {
            "run" => AuthScope::Run,
            "suite" => AuthScope::Suite,
            other => return Err(ctx.err(n, format!("unknown auth scope `{other}`")).with_help("use `run` or `suite`")),
        };
    }
    if let Some(n) = m.get("identity") {
        let mut im = ctx.map(n, "`auth.identity`")?;
        if let Some(e) = im.get("email") {
            a.email = ctx.str(e, "`identity.email`")?.to_owned();
        }
        im.finish(&["email"])?;
    }
    decode_lifecycle(ctx, &mut m, &mut a)?;
    decode_origins_and_signing(ctx, &mut m, &mut a)?;
    if let Some(n) = m.get("refresh_margin") {
        a.refresh_margin = ctx.duration(n, "`refresh_margin`")?;
    }
    if let Some(n) = m.get("max_token_ttl") {
        a.max_token_ttl = ctx.duration(n, "`max_token_ttl`")?;
    }
    if let Some(n) = m.get("clock_skew_tolerance") {
        a.clock_skew_tolerance = ctx.duration(n, "`clock_skew_tolerance`")?;
    }
    if let Some(n) = m.get("credentials_file") {
        a.credentials_file = Some(relative_to_config(ctx, ctx.str(n, "`credentials_file`")?));
    }
    decode_credentials_secret(ctx, &mut m, &mut a)?;
    if let Some(n) = m.get("cleanup_deadline") {
        a.cleanup_deadline = ctx.duration(n, "`cleanup_deadline`")?;
    }
    if let Some(n) = m.get("token_ttl") {
        a.token_ttl = Some(ctx.duration(n, "`token_ttl`")?);
    }
    if let Some(n) = m.get("admin") {
        a.admin = Some(decode_admin(ctx, n, &a.login)?);
    }
    admin_is_there(ctx, &a)?;
    not_circular(ctx, &a)?;
    decode_provider(ctx, node, &mut m, &mut a)?;
    m.finish(AUTH_KEYS)?;
    a.finish(ctx, node)
}

/// The lifecycle's steps: a preset (`cognito`) first, then `create`, `login`, `after_login`,
/// `cleanup` and `verify` as written, each one step or a list.
fn decode_lifecycle<'a>(ctx: Ctx<'a>, m: &mut crate::load::yaml::MapReader<'a>, a: &mut Draft) -> Result<(), SourceError> {
    if let Some(n) = m.get("cognito") {
        preset(ctx, n, a)?;
    }
    if let Some(n) = m.get("create") {
        a.create = auth_steps_from(ctx, n, &a.create[0], "`auth.create`")?;
    }
    if let Some(n) = m.get("login") {
        decode_login(ctx, n, a)?;
    }
    if let Some(n) = m.get("after_login") {
        let default =
            Step { expect: Default::default(), ..auth_step("after login", reqwest::Method::GET, "/", Body::None, &[], AuthMode::User) };
        a.after_login = auth_steps_from(ctx, n, &default, "`auth.after_login`")?;
    }
    if let Some(n) = m.get("cleanup") {
        a.cleanup = auth_steps_from(ctx, n, &a.cleanup[0], "`auth.cleanup`")?;
    }
    if let Some(n) = m.get("verify") {
        let default = auth_step("verify deletion", reqwest::Method::GET, "/", Body::None, &[401, 403, 404, 410], AuthMode::None);
        a.verify = auth_steps_from(ctx, n, &default, "`auth.verify`")?;
    }
    Ok(())
}

/// `identity_provider`, `rate_limit_wait` and `aws`: where lifecycle steps may go besides the
/// gateway, how long they wait out a rate limit, and how `auth: aws` steps are signed.
fn decode_origins_and_signing<'a>(ctx: Ctx<'a>, m: &mut crate::load::yaml::MapReader<'a>, a: &mut Draft) -> Result<(), SourceError> {
    if let Some(n) = m.get("identity_provider") {
        a.identity_provider = Some((ctx.str(n, "`auth.identity_provider`")?.to_owned(), n.pos));
    }
    if let Some(n) = m.get("rate_limit_wait") {
        a.rate_limit_wait = ctx.duration(n, "`rate_limit_wait`")?;
    }
    if let Some(n) = m.get("aws") {
        let mut am = ctx.map(n, "`auth.aws`")?;
        let mut need = |key: &str| -> Result<String, SourceError> {
            let v = am.get(key).ok_or_else(|| {
                ctx.err(n, format!("`auth.aws` needs `{key}`")).with_help("e.g. `aws: { region: us-east-1, service: cognito-idp }`")
            })?;
            ctx.text(v, &format!("`auth.aws.{key}`"))
        };
        a.aws = Some(AwsSigning { region: need("region")?, service: need("service")? });
        am.finish(&["region", "service"])?;
    }
    Ok(())
}

/// `credentials_secret: { aws: ARN_OR_NAME }`: a service account's credentials from AWS Secrets
/// Manager.
fn decode_credentials_secret<'a>(ctx: Ctx<'a>, m: &mut crate::load::yaml::MapReader<'a>, a: &mut Draft) -> Result<(), SourceError> {
    if let Some(n) = m.get("credentials_secret") {
        if a.kind != AuthModeKind::ServiceAccount {
            return Err(ctx.err(n, "`auth.credentials_secret` holds a service account's credentials: it needs `mode: service-account`"));
        }
        a.credentials_secret = Some(secret_id(ctx, n)?);
    }
    Ok(())
}

/// `credentials_secret: { aws: ARN_OR_NAME }`: the secret's id (a template).
fn secret_id(ctx: Ctx<'_>, n: &Node) -> Result<String, SourceError> {
    let mut sm = ctx.map(n, "`credentials_secret`")?;
    let aws = sm.get("aws").ok_or_else(|| {
        ctx.err(n, "`credentials_secret` names its store: `{ aws: ARN_OR_NAME }` (AWS Secrets Manager)")
            .with_help("e.g. `credentials_secret: { aws: \"{{ env.COGNITO_SERVICE_USER_SECRET_ARN }}\" }`")
    })?;
    let id = ctx.text(aws, "`credentials_secret.aws`")?;
    sm.finish(&["aws"])?;
    Ok(id)
}

/// `auth.cognito`: the preset's YAML, decoded as if written here; the keys written beside it
/// (read after this) replace the preset's.
fn preset(ctx: Ctx<'_>, node: &Node, a: &mut Draft) -> Result<(), SourceError> {
    if !a.kind.logs_in() {
        return Err(ctx.err(node, format!("`auth.cognito` is for `disposable` and `service-account` modes, not `{}`", a.kind.name())));
    }
    let text = super::cognito::expand(ctx, node, a.kind)?;
    let root = crate::load::yaml::parse(ctx.file, &text).map_err(|e| ctx.err(node, format!("the cognito preset does not load: {e}")))?;
    let mut pm = ctx.map(&root, "the cognito preset")?;
    if let Some(n) = pm.get("identity_provider") {
        a.identity_provider = Some((ctx.str(n, "`identity_provider`")?.to_owned(), node.pos));
    }
    if let Some(n) = pm.get("aws") {
        let mut am = ctx.map(n, "`aws`")?;
        let (region, service) = (am.get("region"), am.get("service"));
        if let (Some(r), Some(s)) = (region, service) {
            a.aws = Some(AwsSigning { region: ctx.text(r, "`region`")?, service: ctx.text(s, "`service`")? });
        }
    }
    if let Some(n) = pm.get("create") {
        a.create = at(auth_steps_from(ctx, n, &a.create[0], "`create`")?, node);
    }
    if let Some(n) = pm.get("login") {
        decode_login(ctx, n, a)?;
        a.login.pos = node.pos;
        if let Some(r) = a.refresh.as_mut() {
            r.step.pos = node.pos;
        }
    }
    if let Some(n) = pm.get("cleanup") {
        a.cleanup = at(auth_steps_from(ctx, n, &a.cleanup[0], "`cleanup`")?, node);
    }
    if let Some(n) = pm.get("verify") {
        let default = auth_step("verify deletion", reqwest::Method::GET, "/", Body::None, &[], AuthMode::None);
        a.verify = at(auth_steps_from(ctx, n, &default, "`verify`")?, node);
    }
    a.preset = Some(text);
    Ok(())
}

/// Steps a preset made, blamed on the preset's key (their own positions are in its YAML).
fn at(steps: Vec<Step>, node: &Node) -> Vec<Step> {
    steps
        .into_iter()
        .map(|mut s| {
            s.pos = node.pos;
            s.request.path_pos = node.pos;
            s
        })
        .collect()
}

/// A path in the config, relative to the config file like every other path in it.
fn relative_to_config(ctx: Ctx<'_>, text: &str) -> PathBuf {
    let p = PathBuf::from(text);
    if p.is_relative() { ctx.file.parent().unwrap_or(Path::new(".")).join(p) } else { p }
}

/// `auth.login`: its step, where the token is (`token`, `token_type`) and how it is renewed
/// (`refresh`).
fn decode_login(ctx: Ctx<'_>, n: &Node, a: &mut Draft) -> Result<(), SourceError> {
    let (step, extra) = auth_step_from(ctx, n, &a.login, LOGIN_KEYS)?;
    a.login = step;
    let (token, token_type, refresh) = (extra[0], extra[1], extra[2]);
    if let Some(t) = token.filter(|t| matches!(t.value, crate::load::yaml::Value::Map(_))) {
        // `token: { cookie: sid }`: the login answers with a session cookie.
        let mut tm = ctx.map(t, "`login.token`")?;
        let c = tm.get("cookie").ok_or_else(|| ctx.err(t, "`login.token` is a JSONPath, a list of them, or `{ cookie: NAME }`"))?;
        a.token_cookie = Some(ctx.str(c, "`token.cookie`")?.to_owned());
        tm.finish(&["cookie"])?;
    } else if let Some(t) = token {
        a.token_paths = token_paths(ctx, t, "`login.token`")?;
    }
    if let Some(t) = token_type {
        a.token_type = match ctx.str(t, "`login.token_type`")? {
            "jwt" => TokenType::Jwt,
            "opaque" => TokenType::Opaque,
            other => {
                return Err(ctx.err(t, format!("unknown token_type `{other}`")).with_help("use `jwt` or `opaque` (default: detected)"));
            }
        };
    }
    if let Some(r) = refresh {
        let default = auth_step("refresh", reqwest::Method::POST, "/", Body::None, &[200], AuthMode::None);
        let (step, extra) = auth_step_from(ctx, r, &default, &["token", "refresh_token"])?;
        let token = extra[0].map(|t| token_paths(ctx, t, "`refresh.token`")).transpose()?.unwrap_or_else(|| a.token_paths.clone());
        let next = extra[1].map(|t| token_paths(ctx, t, "`refresh.refresh_token`")).transpose()?.unwrap_or_default();
        a.refresh = Some(Refresh { step, token_paths: token, refresh_paths: next, from_login: default_paths(DEFAULT_REFRESH_PATHS) });
    }
    Ok(())
}

/// A token's own request cannot need that token: the login or refresh as `auth: user`, the
/// admin's login as `auth: admin` (each would wait for itself).
fn not_circular(ctx: Ctx<'_>, a: &Draft) -> Result<(), SourceError> {
    let refresh = a.refresh.as_ref().map(|r| &r.step);
    let user = [Some(&a.login), refresh].into_iter().flatten().find(|s| s.auth == Some(AuthMode::User));
    let admin = match &a.admin {
        Some(AdminDraft::Login { login: Some(l), .. }) => Some(&**l).filter(|s| s.auth == Some(AuthMode::Admin)),
        _ => None,
    };
    match (user, admin) {
        (Some(st), _) => Err(SourceError::new(
            ctx.file,
            st.pos,
            format!("auth step `{}` runs as `auth: user`, but it is what gets the user's token", st.name),
        )
        .with_help("use `auth: none` (the default): a refresh sends `{{ refresh_token }}`, not the access token")),
        (None, Some(st)) => Err(SourceError::new(
            ctx.file,
            st.pos,
            format!("auth step `{}` runs as `auth: admin`, but it is what gets the admin's token", st.name),
        )
        .with_help("drop `auth: admin` from `admin.login`")),
        (None, None) => Ok(()),
    }
}

/// `auth: admin` on a lifecycle step names an identity that must be configured.
fn admin_is_there(ctx: Ctx<'_>, a: &Draft) -> Result<(), SourceError> {
    let steps = a.create.iter().chain([&a.login]).chain(&a.after_login).chain(&a.cleanup).chain(&a.verify);
    for st in steps.clone() {
        if st.auth == Some(AuthMode::Aws) && a.aws.is_none() {
            return Err(SourceError::new(ctx.file, st.pos, format!("auth step `{}` is signed (`auth: aws`), but `auth.aws` is not configured", st.name))
                .with_help("add `auth.aws: { region: us-east-1, service: cognito-idp }`; the keys come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"));
        }
    }
    for st in steps {
        if st.auth == Some(AuthMode::Admin) && a.admin.is_none() {
            return Err(SourceError::new(
                ctx.file,
                st.pos,
                format!("auth step `{}` runs as `auth: admin`, but `auth.admin` is not configured", st.name),
            )
            .with_help("add `auth.admin` with `credentials_file` (or `username` and `password`) and, if its login differs, `login`"));
        }
    }
    Ok(())
}

/// A list of JSONPaths (or one) where a token is in an answer.
fn token_paths(ctx: Ctx<'_>, node: &Node, what: &str) -> Result<Vec<CompiledPath>, SourceError> {
    ctx.list(node).into_iter().map(|p| suite::parse_jsonpath(ctx, p, ctx.str(p, what)?)).collect()
}

/// `auth.admin`: where its credentials come from and, if it differs from the user's, its login.
fn decode_admin(ctx: Ctx<'_>, node: &Node, user_login: &Step) -> Result<AdminDraft, SourceError> {
    let mut m = ctx.map(node, "`auth.admin`")?;
    let file = m.get("credentials_file").map(|n| ctx.str(n, "`admin.credentials_file`")).transpose()?;
    let username = m.get("username").map(|n| ctx.text(n, "`admin.username`")).transpose()?;
    let password = m.get("password").map(|n| ctx.text(n, "`admin.password`")).transpose()?;
    let login = m.get("login");
    let logout = m.get("logout");
    let token = m.get("token").map(|n| ctx.text(n, "`admin.token`").map(|t| (n, t))).transpose()?;
    let secret = m.get("credentials_secret").map(|n| secret_id(ctx, n)).transpose()?;
    let header = m.get("header").map(|n| ctx.str(n, "`admin.header`").map(|h| (n, h))).transpose()?;
    let need = |what: &str| format!("a client of the identity provider needs `admin.{what}`");
    let client = client_credentials(ctx, node, &mut m, "admin.", &need)?;
    if let Some((n, h)) = header {
        if token.is_none() {
            return Err(ctx.err(n, "`admin.header` is where a static `admin.token` goes: it needs `admin.token`"));
        }
        if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
            return Err(ctx.err(n, format!("`{h}` is not a valid header name")));
        }
    }
    if let Some((tnode, value)) = token {
        // A static token: nothing to log in with, in or out.
        let other = [("credentials_file", file.is_some()), ("username", username.is_some()), ("password", password.is_some())]
            .into_iter()
            .chain([("credentials_secret", secret.is_some())])
            .chain([("token_url", client.is_some()), ("login", login.is_some()), ("logout", logout.is_some())])
            .find(|(_, set)| *set);
        if let Some((key, _)) = other {
            return Err(ctx
                .err(tnode, format!("`admin.token` is a static token: `admin.{key}` does not go with it"))
                .with_help("keep `token` (and `header` for an API-key header), or drop it for a login or a client"));
        }
        m.finish(ADMIN_KEYS)?;
        return Ok(AdminDraft::Token { value, header: header.map(|(_, h)| h.to_owned()) });
    }
    let credentials = match (file, username, password, client) {
        (None, None, None, None) if let Some(id) = secret => AdminCredentials::AwsSecret(id),
        (None, None, None, Some(client)) => {
            if let Some(n) = login.or(logout) {
                return Err(ctx.err(
                    n,
                    "an admin that is a client of the identity provider has no `login` or `logout`: its token comes from `token_url`",
                ));
            }
            m.finish(ADMIN_KEYS)?;
            return Ok(AdminDraft::Client(client));
        }
        (Some(f), None, None, None) => AdminCredentials::File(relative_to_config(ctx, f)),
        (None, Some(username), Some(password), None) => AdminCredentials::Given { username, password },
        _ => {
            return Err(ctx
                .err(node, "`auth.admin` needs `credentials_file` or `credentials_secret`, or both `username` and `password`, or a client (`token_url`, `client_id`, `client_secret`), or a static `token`")
                .with_help("e.g. `username: \"{{ env.SMOKE_ADMIN_EMAIL }}\"` and `password: \"{{ env.SMOKE_ADMIN_PASSWORD }}\"`"));
        }
    };
    let (login, paths) = match login {
        Some(n) => {
            let default = Step { name: "admin login".into(), ..user_login.clone() };
            let (step, extra) = auth_step_from(ctx, n, &default, &["token"])?;
            (Some(Box::new(step)), extra[0].map(|t| token_paths(ctx, t, "`admin.login.token`")).transpose()?)
        }
        None => (None, None),
    };
    let logout = match logout {
        Some(n) => {
            let default = auth_step("admin logout", reqwest::Method::POST, "/", Body::None, &[], AuthMode::Admin);
            let step = Step { expect: Default::default(), ..default };
            Some(Box::new(auth_step_from(ctx, n, &step, &[])?.0))
        }
        None => None,
    };
    m.finish(ADMIN_KEYS)?;
    Ok(AdminDraft::Login { credentials, login, paths, logout })
}

/// A lifecycle phase written as one step or a list of them, run in order. Unnamed steps of a
/// list are numbered after the default's name (`create user 2/2`).
fn auth_steps_from(ctx: Ctx<'_>, node: &Node, default: &Step, what: &str) -> Result<Vec<Step>, SourceError> {
    let crate::load::yaml::Value::Seq(items) = &node.value else {
        return Ok(vec![auth_step_from(ctx, node, default, &[])?.0]);
    };
    if items.is_empty() {
        return Err(ctx.err(node, format!("{what} is an empty list")).with_help("write one step, or a list of steps"));
    }
    let many = items.len() > 1;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let name = if many { format!("{} {}/{}", default.name, i + 1, items.len()) } else { default.name.clone() };
            Ok(auth_step_from(ctx, item, &Step { name, ..default.clone() }, &[])?.0)
        })
        .collect()
}

/// An auth step: like a suite step, but `expect` defaults to the built-in one and the step keeps
/// the default auth mode unless it says otherwise. Returns the `extra` keys' nodes, in order.
fn auth_step_from<'a>(ctx: Ctx<'a>, node: &'a Node, default: &Step, extra: &[&str]) -> Result<(Step, Vec<Option<&'a Node>>), SourceError> {
    let mut m = ctx.map(node, "an auth step")?;
    let has_expect = m.keys().any(|k| k == "expect");
    let has_name = m.keys().any(|k| k == "name");
    let mut step = suite::decode_step(ctx, node, &mut m)?;
    if step.delay.is_some() {
        return Err(ctx.err(node, "an auth step has no `delay`: it runs when the lifecycle needs it"));
    }
    let extra_node: Vec<Option<&'a Node>> = extra.iter().map(|k| m.get(k)).collect();
    let mut known: Vec<&str> = suite::STEP_KEYS.to_vec();
    known.extend_from_slice(extra);
    m.finish(&known)?;
    if !has_expect {
        step.expect = default.expect.clone();
    }
    if !has_name {
        step.name = default.name.clone();
    }
    if step.auth.is_none() {
        step.auth = default.auth;
    }
    Ok((step, extra_node))
}
