//! Reading the flat `auth` block: every key of every mode into a [`Draft`], then the mode's
//! variant of [`Mode`], refusing keys that belong to another mode.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use serde_json_path::JsonPath;

use super::*;
use crate::load::diag::{Pos, SourceError};
use crate::load::suite::{self, AuthMode, Body, Expect, RequestSpec, StatusPat, Step};
use crate::load::yaml::{Ctx, MapReader, Node};

pub(crate) fn auth_step(name: &str, method: &str, path: &str, body: Body, status: &[u16], auth: AuthMode) -> Step {
    Step {
        name: name.into(),
        pos: Pos::default(),
        auth: Some(auth),
        auth_probe: Some(false),
        request: RequestSpec {
            method: method.into(),
            path: path.into(),
            path_pos: Pos::default(),
            headers: Vec::new(),
            body,
            follow_redirects: false,
            timeout: None,
        },
        expect: Expect { status: Some(status.iter().map(|s| StatusPat::Code(*s)).collect()), ..Expect::default() },
        capture: Vec::new(),
        eventually: None,
    }
}

fn credentials_body() -> Body {
    Body::Json(json!({ "email": "{{ user.email }}", "password": "{{ user.password }}" }))
}

fn default_paths(paths: &[&str]) -> Vec<(String, JsonPath)> {
    paths.iter().map(|p| (p.to_string(), JsonPath::parse(p).expect("default paths are valid"))).collect()
}

/// The `auth` block as written: every key of every mode, read in one pass, then made into the
/// mode's variant by [`Draft::finish`] (which refuses keys of another mode that would change
/// nothing silently).
pub(super) struct Draft {
    kind: AuthModeKind,
    mode_pos: Pos,
    scope: AuthScope,
    email: String,
    create: Step,
    login: Step,
    token_paths: Vec<(String, JsonPath)>,
    token_cookie: Option<String>,
    token_type: TokenType,
    refresh: Option<Refresh>,
    cleanup: Step,
    verify: Option<Step>,
    refresh_margin: Duration,
    max_token_ttl: Duration,
    clock_skew_tolerance: Duration,
    credentials_file: Option<PathBuf>,
    cleanup_deadline: Duration,
    token_ttl: Option<Duration>,
    send: Bearer,
    client: Option<ClientCredentials>,
    api_key: Option<ApiKey>,
    /// `auth.admin` as written: its credentials, and its own login and token paths if any.
    admin: Option<AdminDraft>,
}

impl Default for Draft {
    fn default() -> Self {
        Draft {
            kind: AuthModeKind::Disposable,
            mode_pos: Pos::default(),
            scope: AuthScope::Run,
            email: "smoke+{{ run.timestamp }}-{{ run.rand }}@example.test".into(),
            create: auth_step("create user", "POST", "/api/auth/V1/auth/create", credentials_body(), &[200, 201], AuthMode::None),
            login: auth_step("login", "POST", "/api/auth/V1/auth/login", credentials_body(), &[200], AuthMode::None),
            token_paths: default_paths(DEFAULT_TOKEN_PATHS),
            token_cookie: None,
            token_type: TokenType::Detect,
            refresh: None,
            cleanup: auth_step("delete user", "DELETE", "/api/auth/V1/auth/user", Body::None, &[200, 202, 204, 404, 410], AuthMode::User),
            verify: None,
            refresh_margin: Duration::from_secs(30),
            max_token_ttl: Duration::from_secs(3600),
            clock_skew_tolerance: Duration::from_secs(60),
            credentials_file: None,
            cleanup_deadline: Duration::from_secs(15),
            token_ttl: None,
            send: Bearer::default(),
            client: None,
            api_key: None,
            admin: None,
        }
    }
}

impl Draft {
    fn token_at(&self) -> TokenAt {
        match &self.token_cookie {
            Some(name) => TokenAt::Cookie(name.clone()),
            None => TokenAt::Body { paths: self.token_paths.clone(), send: self.send.clone() },
        }
    }

    fn user_login(&self) -> Login {
        Login { step: self.login.clone(), token: self.token_at(), token_type: self.token_type, refresh: self.refresh.clone() }
    }

    /// The admin, with what it borrows from the user's login resolved: its login step and where
    /// its token is. Modes without a login of their own need the admin's.
    fn admin(&self, ctx: Option<(Ctx<'_>, &Node)>) -> Result<Option<Admin>, SourceError> {
        let (credentials, login, paths) = match &self.admin {
            None => return Ok(None),
            Some(AdminDraft::Client(client)) => {
                // Its token travels as the user's would (a cookie login's admin: `Authorization: Bearer`).
                return Ok(Some(Admin::Client { client: client.clone(), send: self.send.clone() }));
            }
            Some(AdminDraft::Login { credentials, login, paths }) => (credentials, login, paths),
        };
        let login = match (login, self.kind.logs_in()) {
            (Some(step), _) => step.clone(),
            (None, true) => Box::new(Step { name: "admin login".into(), ..self.login.clone() }),
            (None, false) => {
                let (ctx, node) = ctx.expect("a decoded config has a node");
                return Err(ctx.err(node, format!("`auth.admin` needs its own `login` in auth mode `{}`", self.kind.name())).with_help(
                    "add `admin.login` with its `request` and `token`, or make it a client (`token_url`, `client_id`, `client_secret`)",
                ));
            }
        };
        let send = if self.kind.logs_in() || self.kind == AuthModeKind::ClientCredentials { self.send.clone() } else { Bearer::default() };
        let token = match (paths, self.kind.logs_in()) {
            (Some(p), _) => TokenAt::Body { paths: p.clone(), send },
            (None, true) => self.token_at(),
            (None, false) => TokenAt::Body { paths: default_paths(DEFAULT_TOKEN_PATHS), send },
        };
        Ok(Some(Admin::Login { credentials: credentials.clone(), login, token }))
    }

    pub(super) fn finish_disposable(self, admin: Option<Admin>) -> AuthConfig {
        let users =
            Users { email: self.email.clone(), create: self.create.clone(), cleanup: self.cleanup.clone(), verify: self.verify.clone() };
        let login = Box::new(self.user_login());
        self.into_config(Mode::Disposable { users: Box::new(users), login }, admin)
    }

    fn into_config(self, mode: Mode, admin: Option<Admin>) -> AuthConfig {
        AuthConfig {
            mode,
            mode_pos: self.mode_pos,
            scope: self.scope,
            refresh_margin: self.refresh_margin,
            max_token_ttl: self.max_token_ttl,
            clock_skew_tolerance: self.clock_skew_tolerance,
            cleanup_deadline: self.cleanup_deadline,
            token_ttl: self.token_ttl,
            admin,
        }
    }

    /// The mode's variant. The provider keys of another mode were refused by the decoder.
    fn finish(mut self, ctx: Ctx<'_>, node: &Node) -> Result<AuthConfig, SourceError> {
        let admin = self.admin(Some((ctx, node)))?;
        Ok(match self.kind {
            AuthModeKind::Disposable => self.finish_disposable(admin),
            AuthModeKind::ServiceAccount => {
                let (login, credentials_file) = (Box::new(self.user_login()), self.credentials_file.take());
                self.into_config(Mode::ServiceAccount { login, credentials_file }, admin)
            }
            AuthModeKind::ClientCredentials => {
                let client = self.client.take().expect("the decoder requires client credentials in this mode");
                let send = self.send.clone();
                self.into_config(Mode::ClientCredentials { client, send }, admin)
            }
            AuthModeKind::ApiKey => {
                let key = self.api_key.take().expect("the decoder requires a header and value in this mode");
                self.into_config(Mode::ApiKey(key), admin)
            }
        })
    }
}

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
    let oauth_scope = if a.kind == AuthModeKind::ClientCredentials { m.get("scope") } else { None };
    if let Some(n) = m.get("scope").filter(|_| oauth_scope.is_none()) {
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
    if let Some(n) = m.get("create") {
        a.create = auth_step_from(ctx, n, &a.create, &[])?.0;
    }
    if let Some(n) = m.get("login") {
        decode_login(ctx, n, &mut a)?;
    }
    if let Some(n) = m.get("cleanup") {
        a.cleanup = auth_step_from(ctx, n, &a.cleanup, &[])?.0;
    }
    if let Some(n) = m.get("verify") {
        let default = auth_step("verify deletion", "GET", "/", Body::None, &[401, 403, 404, 410], AuthMode::None);
        a.verify = Some(auth_step_from(ctx, n, &default, &[])?.0);
    }
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
    decode_provider(ctx, node, &mut m, &mut a, oauth_scope)?;
    m.finish(AUTH_KEYS)?;
    a.finish(ctx, node)
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
        let default = auth_step("refresh", "POST", "/", Body::None, &[200], AuthMode::None);
        let (step, extra) = auth_step_from(ctx, r, &default, &["token", "refresh_token"])?;
        let token = extra[0].map(|t| token_paths(ctx, t, "`refresh.token`")).transpose()?.unwrap_or_else(|| a.token_paths.clone());
        let next = extra[1].map(|t| token_paths(ctx, t, "`refresh.refresh_token`")).transpose()?.unwrap_or_default();
        a.refresh = Some(Refresh { step, token_paths: token, refresh_paths: next, from_login: default_paths(DEFAULT_REFRESH_PATHS) });
    }
    Ok(())
}

/// `auth: admin` on a lifecycle step names an identity that must be configured.
fn admin_is_there(ctx: Ctx<'_>, a: &Draft) -> Result<(), SourceError> {
    for st in [&a.create, &a.login, &a.cleanup].into_iter().chain(a.verify.as_ref()) {
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
fn token_paths(ctx: Ctx<'_>, node: &Node, what: &str) -> Result<Vec<(String, JsonPath)>, SourceError> {
    ctx.list(node)
        .into_iter()
        .map(|p| {
            let text = ctx.str(p, what)?;
            Ok((text.to_owned(), suite::parse_jsonpath(ctx, p, text)?))
        })
        .collect()
}

/// `auth.admin` as written: a client of the identity provider, or credentials with, if it
/// differs from the user's, its own login and token paths.
enum AdminDraft {
    Client(ClientCredentials),
    Login { credentials: AdminCredentials, login: Option<Box<Step>>, paths: Option<Vec<(String, JsonPath)>> },
}

/// `auth.admin`: where its credentials come from and, if it differs from the user's, its login.
fn decode_admin(ctx: Ctx<'_>, node: &Node, user_login: &Step) -> Result<AdminDraft, SourceError> {
    let mut m = ctx.map(node, "`auth.admin`")?;
    let file = m.get("credentials_file").map(|n| ctx.str(n, "`admin.credentials_file`")).transpose()?;
    let username = m.get("username").map(|n| ctx.text(n, "`admin.username`")).transpose()?;
    let password = m.get("password").map(|n| ctx.text(n, "`admin.password`")).transpose()?;
    let login = m.get("login");
    let client = client_credentials(ctx, node, &mut m, "admin.")?;
    let credentials = match (file, username, password, client) {
        (None, None, None, Some(client)) => {
            if let Some(n) = login {
                return Err(
                    ctx.err(n, "an admin that is a client of the identity provider has no `login`: its token comes from `token_url`")
                );
            }
            m.finish(ADMIN_KEYS)?;
            return Ok(AdminDraft::Client(client));
        }
        (Some(f), None, None, None) => AdminCredentials::File(relative_to_config(ctx, f)),
        (None, Some(username), Some(password), None) => AdminCredentials::Given { username, password },
        _ => {
            return Err(ctx
                .err(node, "`auth.admin` needs `credentials_file`, or both `username` and `password`, or a client (`token_url`, `client_id`, `client_secret`)")
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
    m.finish(ADMIN_KEYS)?;
    Ok(AdminDraft::Login { credentials, login, paths })
}

/// `token_url`, `client_id`, `client_secret`, `scope` and `auth_method` of a client of the
/// identity provider (`prefix` names where, for messages): `None` when none of them is written,
/// an error when some are missing.
fn client_credentials<'a>(
    ctx: Ctx<'a>,
    node: &Node,
    m: &mut MapReader<'a>,
    prefix: &str,
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
    let need = |what: &str| ctx.err(node, format!("a client of the identity provider needs `{prefix}{what}`"));
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
fn decode_provider<'a>(ctx: Ctx<'a>, node: &Node, m: &mut MapReader<'a>, a: &mut Draft, scope: Option<&Node>) -> Result<(), SourceError> {
    let text = |m: &mut MapReader<'a>, key: &str| -> Result<Option<String>, SourceError> {
        m.get(key).map(|n| ctx.text(n, &format!("`auth.{key}`"))).transpose()
    };
    let (token_url, client_id, client_secret) = (text(m, "token_url")?, text(m, "client_id")?, text(m, "client_secret")?);
    let auth_method = m.get("auth_method");
    let (header, value) = (text(m, "header")?, text(m, "value")?);
    let scheme = m.get("scheme");
    check_token_header(ctx, node, a, header.as_deref(), scheme)?;
    let mode = a.kind;
    let need = |what: &str| ctx.err(node, format!("auth mode `{}` needs `{what}`", mode.name()));
    match a.kind {
        AuthModeKind::ClientCredentials => {
            let in_body = match auth_method.map(|n| ctx.str(n, "`auth_method`")).transpose()? {
                None | Some("basic") => false,
                Some("post") => true,
                Some(other) => {
                    return Err(ctx
                        .err(auth_method.unwrap_or(node), format!("unknown auth_method `{other}`"))
                        .with_help("use `basic` (the default) or `post`"));
                }
            };
            if let Some(h) = &header {
                a.send.header = h.clone();
            }
            a.client = Some(ClientCredentials {
                token_url: token_url.ok_or_else(|| need("token_url"))?,
                client_id: client_id.ok_or_else(|| need("client_id"))?,
                client_secret: client_secret.ok_or_else(|| need("client_secret"))?,
                scope: scope.map(|n| ctx.text(n, "`auth.scope`")).transpose()?,
                in_body,
            });
        }
        AuthModeKind::ApiKey => {
            let header = header.ok_or_else(|| need("header"))?;
            a.api_key = Some(ApiKey { header, value: value.ok_or_else(|| need("value"))? });
        }
        AuthModeKind::Disposable | AuthModeKind::ServiceAccount => {
            if let Some(h) = header {
                a.send.header = h;
            }
            let method = auth_method.map(|_| String::new());
            let stray = [
                ("token_url", &token_url),
                ("client_id", &client_id),
                ("client_secret", &client_secret),
                ("auth_method", &method),
                ("value", &value),
            ];
            if let Some((key, _)) = stray.iter().find(|(_, v)| v.is_some()) {
                return Err(ctx
                    .err(node, format!("`auth.{key}` belongs to another auth mode"))
                    .with_help("set `mode: client-credentials` or `mode: api-key`"));
            }
        }
    }
    Ok(())
}

/// An auth step: like a suite step, but `expect` defaults to the built-in one and the step keeps
/// the default auth mode unless it says otherwise. Returns the `extra` keys' nodes, in order.
fn auth_step_from<'a>(ctx: Ctx<'a>, node: &'a Node, default: &Step, extra: &[&str]) -> Result<(Step, Vec<Option<&'a Node>>), SourceError> {
    let mut m = ctx.map(node, "an auth step")?;
    let has_expect = m.keys().any(|k| k == "expect");
    let has_name = m.keys().any(|k| k == "name");
    let mut step = suite::decode_step(ctx, node, &mut m)?;
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
