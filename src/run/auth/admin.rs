//! `auth.admin`: the identity that manages the disposable users where a user cannot delete
//! itself (fastapi-users, Keycloak, Auth0, Cognito, djoser's staff). Its credentials come from a
//! JSON secret file or from templates (`{{ env.SMOKE_ADMIN_PASSWORD }}`); it logs in when a
//! step first runs as `auth: admin`, and again before its token expires. Nothing of it is
//! journaled: an entry keeps the config, which says where the credentials are.

use serde_json::Value as J;

use crate::load::config::{Admin, AdminCredentials};
use crate::run::auth::token::Token;
use crate::run::auth::{AuthError, Identity, render_setting, service_credentials};
use crate::run::ctx::{IdentityProvider, RunCtx};
use crate::secret::Secret;

/// The admin as this command knows it: its credentials (or why they could not be read: a run
/// that never needs the admin does not fail for it) and its token, once logged in.
pub(crate) struct AdminSession {
    /// Set when the session is made, or (a secrets manager's) when the admin is first needed.
    identity: std::sync::OnceLock<Result<Identity, String>>,
    /// `credentials_secret`'s id (a template), read into `identity` when first needed.
    secret: Option<String>,
    pub token: tokio::sync::Mutex<Option<Token>>,
    /// A client admin's identity provider, from the config this session runs under.
    pub idp: Option<Result<IdentityProvider, String>>,
    /// What its login captured (a refresh token its logout sends back): the admin's own, never
    /// journaled with the user.
    pub captures: std::sync::Mutex<serde_json::Map<String, J>>,
    /// It logged in during this command, so `admin.logout` has a session to end.
    pub logged_in: std::sync::atomic::AtomicBool,
}

impl AdminSession {
    /// Reads the admin's credentials and registers them with the sanitizer.
    pub fn load(ctx: &RunCtx, admin: &Admin) -> AdminSession {
        let render = |key: &str, t: &str| render_setting(&ctx.vars, &format!("auth.admin.{key}"), t).map_err(|e| e.to_string());
        let given = |(user_key, user), (secret_key, secret)| {
            render(user_key, user).and_then(|u| Ok(Identity { name: u, password: Secret::new(render(secret_key, secret)?) }))
        };
        let (identity, secret) = (
            std::sync::OnceLock::new(),
            match admin {
                Admin::Login { credentials: AdminCredentials::AwsSecret(id), .. } => Some(id.clone()),
                _ => None,
            },
        );
        let known = match admin {
            // Read from the secrets manager when the admin is first needed (`identity_now`).
            Admin::Login { credentials: AdminCredentials::AwsSecret(_), .. } => None,
            Admin::Login { credentials: AdminCredentials::File(path), .. } => {
                Some(service_credentials(&[], Some(path)).map_err(|e| format!("auth.admin: {e}")))
            }
            Admin::Login { credentials: AdminCredentials::Given { username, password }, .. } => {
                Some(given(("username", username.as_str()), ("password", password.as_str())))
            }
            // A client's id names it; its secret is masked like a password.
            Admin::Client { client, .. } => {
                Some(given(("client_id", client.client_id.as_str()), ("client_secret", client.client_secret.as_str())))
            }
            // A static token: masked like a password from the moment it is rendered.
            Admin::Token { value, .. } => {
                Some(render("token", value).map(|t| Identity { name: "admin token".into(), password: Secret::new(t) }))
            }
        };
        if let Some(known) = known {
            if let Ok(id) = &known {
                ctx.out.redactor.add(&id.password);
            }
            let _ = identity.set(known);
        }
        let idp = match admin {
            Admin::Client { client, .. } => Some(render("token_url", &client.token_url).and_then(|url| {
                let allow_http = ctx.config.gateway.allow_http;
                IdentityProvider::new(&url, allow_http, &ctx.net.http.gateway, ctx.net.http.settings.clone(), &ctx.run_id)
                    .map_err(|e| format!("auth.admin.token_url: {e}"))
            })),
            Admin::Login { .. } | Admin::Token { .. } => None,
        };
        AdminSession {
            identity,
            secret,
            token: tokio::sync::Mutex::new(None),
            idp,
            captures: Default::default(),
            logged_in: Default::default(),
        }
    }

    /// `admin.*` in templates: its username and password (a djoser staff user confirms a
    /// deletion with its own `current_password`).
    pub fn value(&self) -> Option<J> {
        let id = self.identity.get()?.as_ref().ok()?;
        Some(serde_json::json!({ "username": id.name, "email": id.name, "password": id.password.expose() }))
    }

    /// Its credentials, read from the secrets manager first if they live there (once per run).
    pub async fn identity_now(&self, ctx: &RunCtx, cancel: &tokio_util::sync::CancellationToken) -> Result<&Identity, AuthError> {
        if let (None, Some(id)) = (self.identity.get(), &self.secret) {
            let got = super::secret_store::identity(ctx, "auth.admin.credentials_secret.aws", id, cancel).await.map_err(|e| e.to_string());
            let _ = self.identity.set(got);
        }
        match self.identity.get() {
            Some(Ok(id)) => Ok(id),
            Some(Err(e)) => Err(AuthError::Credentials(e.clone())),
            None => Err(AuthError::Credentials("auth.admin: no credentials".into())),
        }
    }
}
