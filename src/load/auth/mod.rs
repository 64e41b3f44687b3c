//! The `auth` block of the config: one variant per mode, each holding only what its mode uses
//! (a `client-credentials` config has no create route, an `api-key` one no token), and the
//! decoder that reads the flat YAML block into it.

use std::path::PathBuf;
use std::time::Duration;

use crate::load::jsonpath::CompiledPath;

use crate::load::diag::Pos;
use crate::load::suite::Step;

mod cognito;
mod decode;
mod draft;
mod provider;
pub(crate) use decode::decode_auth;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthModeKind {
    Disposable,
    ServiceAccount,
    /// OAuth2 client credentials from an identity provider: no user is created or deleted.
    ClientCredentials,
    /// A static API key in a named header: no requests of its own at all.
    ApiKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScope {
    /// One user for the whole run.
    Run,
    /// One user per suite.
    Suite,
}

/// What every mode shares, and the mode with what only it uses.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub mode: Mode,
    /// Where `auth.mode` is written (the `auth` block's start when it is not), for `check`.
    pub mode_pos: Pos,
    pub scope: AuthScope,
    pub refresh_margin: Duration,
    pub max_token_ttl: Duration,
    pub clock_skew_tolerance: Duration,
    /// Deadline for teardown and cleanup after an interrupt.
    pub cleanup_deadline: Duration,
    /// `auth.token_ttl`: how long an opaque token lives when its answer does not say.
    pub token_ttl: Option<Duration>,
    /// `auth.admin`: the identity that manages the disposable users.
    pub admin: Option<Admin>,
    /// `auth.identity_provider`: the one origin besides the gateway that lifecycle steps may
    /// send `url:` requests to (a template, rendered once per run), and where it is written.
    pub identity_provider: Option<(String, Pos)>,
    /// `auth.rate_limit_wait`: the longest `Retry-After` a lifecycle step's 429 (or 503) is
    /// waited out for before it is sent again.
    pub rate_limit_wait: Duration,
    /// `auth.aws`: how lifecycle steps with `auth: aws` are signed (AWS Signature Version 4).
    pub aws: Option<AwsSigning>,
    /// The steps a preset (`auth.cognito`) expanded to, as config YAML, for `check --explain-auth`.
    pub preset: Option<String>,
}

/// `auth.aws: { region, service }`: the signing scope (templates, rendered when a step is
/// signed); the keys come from the standard AWS environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSigning {
    pub region: String,
    pub service: String,
}

#[derive(Debug, Clone)]
pub enum Mode {
    /// A user created, logged in and deleted per run (or per suite).
    Disposable {
        users: Box<Users>,
        login: Box<Login>,
    },
    /// An existing user that logs in, its credentials from where `credentials` says.
    ServiceAccount {
        login: Box<Login>,
        credentials: ServiceCredentials,
    },
    ClientCredentials {
        client: ClientCredentials,
        send: Bearer,
    },
    ApiKey(ApiKey),
}

/// Where a service account's username and password come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCredentials {
    /// `SMOKE_USERNAME` and `SMOKE_PASSWORD`.
    Env,
    /// `credentials_file`: a JSON secret `{"username": …, "password": …}`.
    File(PathBuf),
    /// `credentials_secret: { aws: ARN_OR_NAME }` (a template): AWS Secrets Manager's
    /// `GetSecretValue`, its `SecretString` that same JSON; read once per run.
    AwsSecret(String),
}

/// The disposable user's own routes. Each is one step or a list of them, run in order (a
/// Cognito user is `AdminCreateUser` then `AdminSetUserPassword`); the decoder never makes an
/// empty `create` or `cleanup`.
#[derive(Debug, Clone)]
pub struct Users {
    /// Template for the disposable identity's email.
    pub email: String,
    pub create: Vec<Step>,
    pub cleanup: Vec<Step>,
    /// How a deletion is proven. Empty: the user's login is refused (400/401/403, no token).
    /// Steps: the deletion is proven when they pass (e.g. `GET /api/users/{{ user_id }}` → 404).
    pub verify: Vec<Step>,
}

/// A login through the gateway, and where its answer holds the token.
#[derive(Debug, Clone)]
pub struct Login {
    pub step: Step,
    pub token: TokenAt,
    /// `login.token_type`: a JWT (claims read), an opaque token (no claims), or detected.
    pub token_type: TokenType,
    /// `login.refresh`: renew the token with a refresh token rather than a second login.
    pub refresh: Option<Refresh>,
    /// `auth.after_login`: steps run once, after the first login that succeeds, to learn facts
    /// about the user (its id from `GET /users/me`); their captures are the user's.
    pub after_login: Vec<Step>,
}

/// Where an answer hands out the token, which also says how requests carry it.
#[derive(Debug, Clone)]
pub enum TokenAt {
    /// In the JSON body: the first path that yields a string wins; sent in a header.
    Body { paths: Vec<CompiledPath>, send: Bearer },
    /// `login.token: { cookie: NAME }`: a session cookie, sent back as that cookie.
    Cookie(String),
}

/// `auth.header` and `auth.scheme`: `Authorization: Bearer …` unless set (`JWT` for simplejwt,
/// `Token` for DRF; `""` for a bare token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bearer {
    pub header: String,
    pub scheme: String,
}

impl Default for Bearer {
    fn default() -> Self {
        Bearer { header: "Authorization".into(), scheme: "Bearer".into() }
    }
}

/// `auth.mode: client-credentials`: where and how the token is fetched. Values are templates
/// (`{{ env.SMOKE_CLIENT_SECRET }}`), rendered once per run.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scope: Option<String>,
    /// `auth_method: post`: the client's id and secret go in the form body, not HTTP Basic.
    pub in_body: bool,
}

/// `auth.mode: api-key`: the header, and its value (a template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub header: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenType {
    /// A JWT if it parses as one, else opaque.
    #[default]
    Detect,
    Jwt,
    Opaque,
}

/// `login.refresh`: a request (with `{{ refresh_token }}`) and where its answer holds the new
/// token and, optionally, the next refresh token.
#[derive(Debug, Clone)]
pub struct Refresh {
    pub step: Step,
    pub token_paths: Vec<CompiledPath>,
    pub refresh_paths: Vec<CompiledPath>,
    /// Where the first refresh token is in the login's answer ([`DEFAULT_REFRESH_PATHS`]).
    pub from_login: Vec<CompiledPath>,
}

/// Where the refresh token is in a login's answer, when the login does not capture
/// `refresh_token` itself.
pub const DEFAULT_REFRESH_PATHS: &[&str] = &["$.refresh_token", "$.refreshToken", "$.refresh"];

/// `auth.admin`: a second identity, logged in when a lifecycle or suite step first runs as
/// `auth: admin`. Its credentials are read here, never journaled: an entry keeps the config,
/// which names the file or the variables.
#[derive(Debug, Clone)]
pub enum Admin {
    /// A user that logs in through the gateway.
    Login {
        credentials: AdminCredentials,
        /// Its own login step, or the user's (with the admin's credentials).
        login: Box<Step>,
        /// Its own token paths, or the user's login's (and how the token travels).
        token: TokenAt,
        /// `admin.logout`: sent at the end of the run when the admin logged in (its login's
        /// captures in scope), so a run leaves no admin session behind.
        logout: Option<Box<Step>>,
    },
    /// A client of the identity provider (`token_url`, `client_id`, `client_secret`): its token
    /// comes from there, like `client-credentials` mode's.
    Client { client: ClientCredentials, send: Bearer },
    /// `admin.token`: a static token or API key (a template such as
    /// `{{ env.SMOKE_ADMIN_TOKEN }}`), nothing to log in or out.
    Token { value: String, carry: Carry },
}

/// How a static admin token travels: with `auth.scheme` in `auth.header`, or bare in its own
/// header (`admin.header`, an API-key header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carry {
    Bearer(Bearer),
    Header(String),
}

#[derive(Debug, Clone)]
pub enum AdminCredentials {
    /// A JSON secret `{"username": …, "password": …}` (extra fields ignored).
    File(PathBuf),
    /// Templates, such as `{{ env.SMOKE_ADMIN_PASSWORD }}`.
    Given { username: String, password: String },
    /// `credentials_secret: { aws: ARN_OR_NAME }`: AWS Secrets Manager, read when the admin is
    /// first needed.
    AwsSecret(String),
}

pub const DEFAULT_TOKEN_PATHS: &[&str] = &["$.token", "$.accessToken", "$.access_token", "$.jwt", "$.id_token"];

/// The login step's keys beyond a step's, in the order the decoder reads them.
pub const LOGIN_KEYS: &[&str] = &["token", "token_type", "refresh"];
pub const ADMIN_KEYS: &[&str] = &[
    "credentials_file",
    "credentials_secret",
    "username",
    "password",
    "login",
    "logout",
    "token_url",
    "client_id",
    "client_secret",
    "scope",
    "auth_method",
    "token",
    "header",
];
pub const AUTH_KEYS: &[&str] = &[
    "mode",
    "scope",
    "identity",
    "create",
    "login",
    "cleanup",
    "verify",
    "refresh_margin",
    "max_token_ttl",
    "clock_skew_tolerance",
    "credentials_file",
    "cleanup_deadline",
    "token_url",
    "client_id",
    "client_secret",
    "auth_method",
    "header",
    "value",
    "scheme",
    "token_ttl",
    "admin",
    "after_login",
    "identity_provider",
    "rate_limit_wait",
    "aws",
    "cognito",
    "credentials_secret",
];

impl AuthConfig {
    pub fn kind(&self) -> AuthModeKind {
        self.mode.kind()
    }

    /// The login, in the modes that log in through the gateway.
    pub fn login(&self) -> Option<&Login> {
        match &self.mode {
            Mode::Disposable { login, .. } | Mode::ServiceAccount { login, .. } => Some(login),
            Mode::ClientCredentials { .. } | Mode::ApiKey(_) => None,
        }
    }

    /// How the token travels (or the key, which has no token).
    pub fn sent_as(&self) -> Result<TokenAt, &ApiKey> {
        match &self.mode {
            Mode::Disposable { login, .. } | Mode::ServiceAccount { login, .. } => Ok(login.token.clone()),
            Mode::ClientCredentials { send, .. } => Ok(TokenAt::Body { paths: Vec::new(), send: send.clone() }),
            Mode::ApiKey(key) => Err(key),
        }
    }

    /// The steps that run before the suites (create, login, after_login), whose captures
    /// suites may read.
    pub fn before_suites(&self) -> Vec<&Step> {
        let mut out = Vec::new();
        if let Mode::Disposable { users, .. } = &self.mode {
            out.extend(&users.create);
        }
        if let Some(l) = self.login() {
            out.push(&l.step);
            out.extend(&l.after_login);
        }
        out
    }

    /// Every lifecycle step the user's identity runs, in the order a run sends them (create,
    /// login, after_login, refresh, cleanup, verify), for `check`'s walks over templates and
    /// captures: each may read what the ones before it captured. The admin's are
    /// [`AuthConfig::admin_steps`].
    pub fn steps(&self) -> Vec<&Step> {
        let mut out = self.before_suites();
        if let Some(r) = self.login().and_then(|l| l.refresh.as_ref()) {
            out.push(&r.step);
        }
        if let Mode::Disposable { users, .. } = &self.mode {
            out.extend(&users.cleanup);
            out.extend(&users.verify);
        }
        out
    }

    /// Every template the lifecycle renders (its steps', the admin's, the identity provider,
    /// the signing scope, the identity), for what a journal entry must keep to finish it.
    pub fn template_texts(&self) -> Vec<String> {
        let steps = self.steps().into_iter().chain(self.admin_steps()).flat_map(|s| s.templates()).map(|(t, _)| t);
        let mut out: Vec<String> = steps.collect();
        out.extend(self.identity_provider.iter().map(|(t, _)| t.clone()));
        out.extend(self.aws.iter().flat_map(|a| [a.region.clone(), a.service.clone()]));
        if let Mode::Disposable { users, .. } = &self.mode {
            out.push(users.email.clone());
        }
        out
    }

    /// The admin's own steps, in order (its login, its logout): they see the admin's captures,
    /// not the user's.
    pub fn admin_steps(&self) -> Vec<&Step> {
        match &self.admin {
            Some(Admin::Login { login, logout, .. }) => std::iter::once(&**login).chain(logout.as_deref()).collect(),
            _ => Vec::new(),
        }
    }
}

impl Mode {
    pub fn kind(&self) -> AuthModeKind {
        match self {
            Mode::Disposable { .. } => AuthModeKind::Disposable,
            Mode::ServiceAccount { .. } => AuthModeKind::ServiceAccount,
            Mode::ClientCredentials { .. } => AuthModeKind::ClientCredentials,
            Mode::ApiKey(_) => AuthModeKind::ApiKey,
        }
    }
}

/// What each mode does, asked of the mode rather than matched on where it matters.
impl AuthModeKind {
    pub fn name(self) -> &'static str {
        match self {
            AuthModeKind::Disposable => "disposable",
            AuthModeKind::ServiceAccount => "service-account",
            AuthModeKind::ClientCredentials => "client-credentials",
            AuthModeKind::ApiKey => "api-key",
        }
    }

    /// It creates (and so must delete and journal) a user per run.
    pub fn creates_users(self) -> bool {
        matches!(self, AuthModeKind::Disposable)
    }

    /// Its identity logs in through the gateway's login route.
    pub fn logs_in(self) -> bool {
        matches!(self, AuthModeKind::Disposable | AuthModeKind::ServiceAccount)
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        draft::Draft::default().finish_disposable(None)
    }
}
