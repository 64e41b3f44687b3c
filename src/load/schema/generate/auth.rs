//! The `auth` block of the config file, as the schema documents it.

use schemars::JsonSchema;
use serde::Serialize;

use super::{DurationDoc, LifecycleStepDoc};

#[derive(JsonSchema, Serialize)]
#[serde(rename_all = "kebab-case")]
enum AuthModeKind {
    Disposable,
    ServiceAccount,
    /// OAuth2 client credentials from `token_url`: no user is created.
    ClientCredentials,
    /// A static key in `header`: no requests of its own.
    ApiKey,
}

#[derive(JsonSchema, Serialize)]
#[serde(rename_all = "lowercase")]
enum AuthScope {
    Run,
    Suite,
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthDoc {
    mode: Option<AuthModeKind>,
    /// `run`: one user for all suites; `suite`: one per suite. With `client-credentials`: the
    /// OAuth2 scope to ask for (`orders:read`).
    scope: Option<ScopeDoc>,
    identity: Option<IdentityDoc>,
    /// One step or a list, in order; the user is journaled before the first is sent.
    create: Option<LifecycleSteps>,
    /// A step, plus `token`.
    login: Option<LoginStepDoc>,
    /// Steps run once after the first successful login, with the user's token by default (to
    /// learn its id from `GET /users/me`); their captures are the user's.
    after_login: Option<LifecycleSteps>,
    /// One step or a list, in order.
    cleanup: Option<LifecycleSteps>,
    /// How the user's deletion is proven, when a refused login cannot say it: steps that
    /// pass only once the user is gone (default expectation: 401, 403, 404 or 410).
    verify: Option<LifecycleSteps>,
    /// The one origin besides the gateway that lifecycle steps may send `url:` requests to
    /// (a template); suite steps may not.
    identity_provider: Option<String>,
    /// How long the `Retry-After` waits of a lifecycle step's 429s (or 503s) may add up to
    /// before the step fails (default 30s; each wait at least a second).
    rate_limit_wait: Option<DurationDoc>,
    /// How `auth: aws` lifecycle steps are signed (AWS SigV4); the keys come from
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (`AWS_SESSION_TOKEN`) or `AWS_PROFILE`.
    aws: Option<AwsDoc>,
    /// An Amazon Cognito user pool: expands to the lifecycle (`check --explain-auth` prints it);
    /// keys written beside it replace the preset's.
    cognito: Option<CognitoDoc>,
    /// `service-account`: the credentials from a secrets manager, read once per run.
    credentials_secret: Option<CredentialsSecretDoc>,
    refresh_margin: Option<DurationDoc>,
    max_token_ttl: Option<DurationDoc>,
    clock_skew_tolerance: Option<DurationDoc>,
    /// Service-account secret: JSON `{"username": …, "password": …}`.
    credentials_file: Option<String>,
    /// How long teardown and cleanup may take after Ctrl-C/SIGTERM.
    cleanup_deadline: Option<DurationDoc>,
    /// `client-credentials`: the identity provider's token endpoint, the one origin besides the
    /// gateway that is contacted (for token requests only).
    token_url: Option<String>,
    client_id: Option<String>,
    /// A template such as `{{ env.SMOKE_CLIENT_SECRET }}`; masked in every output.
    client_secret: Option<String>,
    /// How the client authenticates: HTTP Basic (default) or in the form body.
    auth_method: Option<ClientAuthMethod>,
    /// The header the token goes in (default `Authorization`); in `api-key` mode, the header
    /// the key goes in (required).
    header: Option<String>,
    /// `api-key`: the key (a template); masked in every output.
    value: Option<String>,
    /// What precedes the token in `header`: `Bearer` (default), `JWT`, `Token`, or `""` for a
    /// bare token. Not in `api-key` mode.
    scheme: Option<String>,
    /// How long an opaque token lives when its login answer does not say (`expires_in`).
    token_ttl: Option<DurationDoc>,
    admin: Option<AdminDoc>,
}

#[derive(JsonSchema, Serialize)]
#[serde(untagged)]
enum ScopeDoc {
    Users(AuthScope),
    OAuth(String),
}

#[derive(JsonSchema, Serialize)]
#[serde(rename_all = "lowercase")]
enum ClientAuthMethod {
    Basic,
    Post,
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct IdentityDoc {
    email: Option<String>,
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct LoginStepDoc {
    #[serde(flatten)]
    step: LifecycleStepDoc,
    /// JSONPath(s) to the token in the login response (the first present wins), or
    /// `{ cookie: NAME }` when the login answers with a session cookie.
    token: Option<TokenPaths>,
    /// `jwt` (claims read), `opaque` (no claims; its lifetime from `expires_in`/`expires_at` or
    /// `auth.token_ttl`, else used until a 401), or detected (the default).
    token_type: Option<TokenTypeDoc>,
    /// Renew the token with a refresh token (`{{ refresh_token }}`: the login's capture of that
    /// name, else `$.refresh_token`, `$.refreshToken` or `$.refresh` of its answer) instead of a
    /// second login; a refused refresh falls back to a login.
    refresh: Option<RefreshDoc>,
}

#[derive(JsonSchema, Serialize)]
#[serde(rename_all = "lowercase")]
enum TokenTypeDoc {
    Jwt,
    Opaque,
}

#[derive(JsonSchema, Serialize)]
struct RefreshDoc {
    #[serde(flatten)]
    step: LifecycleStepDoc,
    /// Where the new token is in the answer (default: the login's `token`).
    token: Option<TokenPaths>,
    /// Where the next refresh token is, when the server rotates them.
    refresh_token: Option<TokenPaths>,
}

/// `auth.admin`: the identity that manages the disposable users (creates, deletes, verifies
/// them as `auth: admin`). Its credentials are never journaled.
#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct AdminDoc {
    /// A JSON secret `{"username": …, "password": …}` (extra fields ignored), relative to the
    /// config file.
    credentials_file: Option<String>,
    /// In place of `credentials_file`: AWS Secrets Manager (`{ aws: ARN_OR_NAME }`), read once
    /// per run when the admin is first needed.
    credentials_secret: Option<CredentialsSecretDoc>,
    /// With `password`, in place of `credentials_file`: templates such as
    /// `{{ env.SMOKE_ADMIN_EMAIL }}`.
    username: Option<String>,
    password: Option<String>,
    /// Its login (default: the user's, with the admin's credentials as `user.*`); templates
    /// see `admin.username` and `admin.password`.
    login: Option<AdminLoginDoc>,
    /// In place of credentials and a login: the admin is a client of an identity provider
    /// (OAuth2 client credentials), its token fetched from here (another origin, used only for
    /// that request).
    token_url: Option<String>,
    /// A template, e.g. `{{ env.SMOKE_ADMIN_CLIENT_ID }}`.
    client_id: Option<String>,
    /// A template, e.g. `{{ env.SMOKE_ADMIN_CLIENT_SECRET }}`; masked everywhere.
    client_secret: Option<String>,
    /// The OAuth scope to ask for.
    scope: Option<String>,
    /// How the client authenticates: HTTP Basic (default) or in the form body.
    auth_method: Option<ClientAuthMethod>,
    /// In place of credentials and a login: a static admin token or API key (a template such as
    /// `{{ env.SMOKE_ADMIN_TOKEN }}`), sent with `auth.scheme` in `auth.header`; masked everywhere.
    token: Option<String>,
    /// With `token`: the header it goes in as it is, without a scheme (an API-key header).
    header: Option<String>,
    /// Sent at the end of the run when the admin logged in, with its login's captures in scope.
    logout: Option<LifecycleStepDoc>,
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct AwsDoc {
    /// `us-east-1` (a template).
    region: String,
    /// The service's signing name: `cognito-idp`, `secretsmanager`, `execute-api`.
    service: String,
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct CognitoDoc {
    /// Disposable users only (their admin calls): `{{ env.COGNITO_USER_POOL_ID }}`.
    user_pool_id: Option<String>,
    /// An app client without a secret, with `USER_PASSWORD_AUTH` and `REFRESH_TOKEN_AUTH`.
    client_id: String,
    /// The endpoint is `https://cognito-idp.<region>.amazonaws.com`, or
    /// `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER` / `AWS_ENDPOINT_URL` when set.
    region: String,
    /// Which token the gateway takes: `access` (default) or `id`.
    token: Option<CognitoToken>,
}

#[derive(JsonSchema, Serialize)]
#[serde(rename_all = "lowercase")]
enum CognitoToken {
    Access,
    Id,
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct CredentialsSecretDoc {
    /// An AWS Secrets Manager secret's ARN or name (a template); its `SecretString` is JSON with
    /// `username` and `password`.
    aws: String,
}

/// One lifecycle step, or a list of them run in order.
#[derive(JsonSchema, Serialize)]
#[serde(untagged)]
enum LifecycleSteps {
    One(Box<LifecycleStepDoc>),
    Many(Vec<LifecycleStepDoc>),
}

#[derive(JsonSchema, Serialize)]
struct AdminLoginDoc {
    #[serde(flatten)]
    step: LifecycleStepDoc,
    token: Option<TokenPaths>,
}

#[derive(JsonSchema, Serialize)]
#[serde(untagged)]
enum TokenPaths {
    One(String),
    Many(Vec<String>),
    Cookie(CookieDoc),
}

#[derive(JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
struct CookieDoc {
    cookie: String,
}
