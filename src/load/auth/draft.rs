//! The `auth` block as written — every key of every mode — and how it becomes the mode's
//! variant of [`Mode`].

use std::path::PathBuf;
use std::time::Duration;

use crate::load::jsonpath::CompiledPath;
use serde_json::json;

use super::*;
use crate::load::diag::{Pos, SourceError};
use crate::load::suite::{AuthMode, Body, Expect, RequestSpec, StatusPat, Step};
use crate::load::yaml::{Ctx, Node};

pub(crate) fn auth_step(name: &str, method: reqwest::Method, path: &str, body: Body, status: &[u16], auth: AuthMode) -> Step {
    Step {
        name: name.into(),
        pos: Pos::default(),
        auth: Some(auth),
        auth_probe: Some(false),
        request: RequestSpec {
            method,
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
        delay: None,
    }
}

pub(super) fn credentials_body() -> Body {
    Body::Json(json!({ "email": "{{ user.email }}", "password": "{{ user.password }}" }))
}

pub(super) fn default_paths(paths: &[&str]) -> Vec<CompiledPath> {
    paths.iter().map(|p| CompiledPath::parse(p).expect("default paths are valid")).collect()
}

/// The `auth` block as written: every key of every mode, read in one pass, then made into the
/// mode's variant by [`Draft::finish`] (which refuses keys of another mode that would change
/// nothing silently).
pub(super) struct Draft {
    pub(super) kind: AuthModeKind,
    pub(super) mode_pos: Pos,
    pub(super) scope: AuthScope,
    pub(super) email: String,
    pub(super) create: Vec<Step>,
    pub(super) login: Step,
    pub(super) token_paths: Vec<CompiledPath>,
    pub(super) token_cookie: Option<String>,
    pub(super) token_type: TokenType,
    pub(super) refresh: Option<Refresh>,
    pub(super) cleanup: Vec<Step>,
    pub(super) verify: Vec<Step>,
    pub(super) after_login: Vec<Step>,
    pub(super) identity_provider: Option<(String, Pos)>,
    pub(super) rate_limit_wait: Duration,
    pub(super) aws: Option<AwsSigning>,
    pub(super) preset: Option<String>,
    pub(super) credentials_secret: Option<String>,
    pub(super) refresh_margin: Duration,
    pub(super) max_token_ttl: Duration,
    pub(super) clock_skew_tolerance: Duration,
    pub(super) credentials_file: Option<PathBuf>,
    pub(super) cleanup_deadline: Duration,
    pub(super) token_ttl: Option<Duration>,
    pub(super) send: Bearer,
    pub(super) client: Option<ClientCredentials>,
    pub(super) api_key: Option<ApiKey>,
    /// `auth.admin` as written: its credentials, and its own login and token paths if any.
    pub(super) admin: Option<AdminDraft>,
}

impl Default for Draft {
    fn default() -> Self {
        Draft {
            kind: AuthModeKind::Disposable,
            mode_pos: Pos::default(),
            scope: AuthScope::Run,
            email: "smoke+{{ run.timestamp }}-{{ run.rand }}@example.test".into(),
            create: vec![auth_step(
                "create user",
                reqwest::Method::POST,
                "/api/auth/V1/auth/create",
                credentials_body(),
                &[200, 201],
                AuthMode::None,
            )],
            login: auth_step("login", reqwest::Method::POST, "/api/auth/V1/auth/login", credentials_body(), &[200], AuthMode::None),
            token_paths: default_paths(DEFAULT_TOKEN_PATHS),
            token_cookie: None,
            token_type: TokenType::Detect,
            refresh: None,
            cleanup: vec![auth_step(
                "delete user",
                reqwest::Method::DELETE,
                "/api/auth/V1/auth/user",
                Body::None,
                &[200, 202, 204, 404, 410],
                AuthMode::User,
            )],
            verify: Vec::new(),
            after_login: Vec::new(),
            identity_provider: None,
            rate_limit_wait: Duration::from_secs(30),
            aws: None,
            preset: None,
            credentials_secret: None,
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
        Login {
            step: self.login.clone(),
            token: self.token_at(),
            token_type: self.token_type,
            refresh: self.refresh.clone(),
            after_login: self.after_login.clone(),
        }
    }

    /// The admin, with what it borrows from the user's login resolved: its login step and where
    /// its token is. Modes without a login of their own need the admin's.
    pub(super) fn admin(&self, ctx: Option<(Ctx<'_>, &Node)>) -> Result<Option<Admin>, SourceError> {
        let (credentials, login, paths, logout) = match &self.admin {
            None => return Ok(None),
            Some(AdminDraft::Client(client)) => {
                // Its token travels as the user's would (a cookie login's admin: `Authorization: Bearer`).
                return Ok(Some(Admin::Client { client: client.clone(), send: self.send.clone() }));
            }
            Some(AdminDraft::Token { value, header }) => {
                let carry = match header {
                    Some(h) => Carry::Header(h.clone()),
                    None => Carry::Bearer(self.send.clone()),
                };
                return Ok(Some(Admin::Token { value: value.clone(), carry }));
            }
            Some(AdminDraft::Login { credentials, login, paths, logout }) => (credentials, login, paths, logout),
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
        Ok(Some(Admin::Login { credentials: credentials.clone(), login, token, logout: logout.clone() }))
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
            identity_provider: self.identity_provider,
            rate_limit_wait: self.rate_limit_wait,
            aws: self.aws,
            preset: self.preset,
        }
    }

    /// The mode's variant. The provider keys of another mode were refused by the decoder.
    pub(super) fn finish(mut self, ctx: Ctx<'_>, node: &Node) -> Result<AuthConfig, SourceError> {
        let admin = self.admin(Some((ctx, node)))?;
        Ok(match self.kind {
            AuthModeKind::Disposable => self.finish_disposable(admin),
            AuthModeKind::ServiceAccount => {
                let credentials = match (self.credentials_file.take(), self.credentials_secret.take()) {
                    (Some(file), None) => ServiceCredentials::File(file),
                    (None, Some(secret)) => ServiceCredentials::AwsSecret(secret),
                    (None, None) => ServiceCredentials::Env,
                    (Some(_), Some(_)) => {
                        return Err(
                            ctx.err(node, "a service account's credentials come from `credentials_file` or `credentials_secret`, not both")
                        );
                    }
                };
                let login = Box::new(self.user_login());
                self.into_config(Mode::ServiceAccount { login, credentials }, admin)
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

/// `auth.admin` as written: a client of the identity provider, or credentials with, if it
/// differs from the user's, its own login and token paths.
pub(super) enum AdminDraft {
    Client(ClientCredentials),
    Login {
        credentials: AdminCredentials,
        login: Option<Box<Step>>,
        paths: Option<Vec<CompiledPath>>,
        logout: Option<Box<Step>>,
    },
    /// `admin.token` (and `admin.header` when it is an API key).
    Token {
        value: String,
        header: Option<String>,
    },
}
