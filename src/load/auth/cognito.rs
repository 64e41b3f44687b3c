//! `auth.cognito`: an Amazon Cognito user pool in a few lines. The preset is the lifecycle a
//! user would write by hand, as YAML, decoded like any other config, so `check --explain-auth`
//! prints exactly what runs, and any key written beside `cognito` (`create`, `login`, …) wins.
//!
//! Disposable users: `AdminCreateUser` (its message suppressed) then `AdminSetUserPassword`
//! (permanent), both signed (`auth: aws`); `InitiateAuth` with `USER_PASSWORD_AUTH`, renewed
//! with `REFRESH_TOKEN_AUTH`; `AdminDeleteUser`, signed; the proof is a signed `AdminGetUser`
//! answered `UserNotFoundException` (a refused `InitiateAuth` is not one: Cognito refuses a
//! throttled login with a 400 too). A service account logs in and refreshes only. Every request goes to the pool's
//! endpoint, declared as the identity provider: `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`,
//! else `AWS_ENDPOINT_URL`, else `https://cognito-idp.<region>.amazonaws.com`, as the AWS CLI
//! chooses.

use super::AuthModeKind;
use crate::load::diag::SourceError;
use crate::load::yaml::{Ctx, Node};

pub(super) const KEYS: &[&str] = &["user_pool_id", "client_id", "region", "token"];

/// The preset for `node` (`auth.cognito`) in auth mode `kind`, as config YAML (the `auth`
/// block's keys, without `auth:`).
pub(super) fn expand(ctx: Ctx<'_>, node: &Node, kind: AuthModeKind) -> Result<String, SourceError> {
    let mut m = ctx.map(node, "`auth.cognito`")?;
    let mut text = |key: &str| m.get(key).map(|n| ctx.text(n, &format!("`cognito.{key}`"))).transpose();
    let (pool, client, region, token) = (text("user_pool_id")?, text("client_id")?, text("region")?, text("token")?);
    m.finish(KEYS)?;
    let need = |what: &str| ctx.err(node, format!("`auth.cognito` needs `{what}`"));
    let client = client.ok_or_else(|| need("client_id").with_help("e.g. `client_id: \"{{ env.COGNITO_CLIENT_ID }}\"`"))?;
    let region = region.ok_or_else(|| need("region").with_help("e.g. `region: us-east-1`"))?;
    let token = match token.as_deref() {
        None | Some("access") => "AccessToken",
        Some("id") => "IdToken",
        Some(other) => {
            return Err(ctx
                .err(node, format!("unknown `cognito.token` `{other}`"))
                .with_help("use `access` (the default) or `id`: the token the gateway takes"));
        }
    };
    let endpoint = endpoint(&region)
        .ok_or_else(|| ctx.err(node, "`cognito.region` is a region (`us-east-1`) or one template (`{{ env.AWS_REGION }}`)"))?;
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let url = q(&format!("{endpoint}/"));
    let call = |op: &str| {
        format!(
            "method: POST, url: {url}, headers: {{ Content-Type: application/x-amz-json-1.1, X-Amz-Target: AWSCognitoIdentityProviderService.{op} }}"
        )
    };
    let client = q(&client);
    let username = if kind == AuthModeKind::Disposable { "{{ user.email }}" } else { "{{ user.username }}" };
    let mut out = format!("identity_provider: {}\naws: {{ region: {}, service: cognito-idp }}\n", q(&endpoint), q(&region));
    if kind == AuthModeKind::Disposable {
        let pool = q(&pool.ok_or_else(|| need("user_pool_id").with_help("e.g. `user_pool_id: \"{{ env.COGNITO_USER_POOL_ID }}\"`"))?);
        out.push_str(&format!(
            "create:\n  - name: AdminCreateUser\n    request: {{ {}, json: {{ UserPoolId: {pool}, Username: \"{username}\", TemporaryPassword: \"{{{{ user.password }}}}\", MessageAction: SUPPRESS, UserAttributes: [{{ Name: email, Value: \"{username}\" }}, {{ Name: email_verified, Value: \"true\" }}] }} }}\n    auth: aws\n    expect: {{ status: 200 }}\n  - name: AdminSetUserPassword\n    request: {{ {}, json: {{ UserPoolId: {pool}, Username: \"{username}\", Password: \"{{{{ user.password }}}}\", Permanent: true }} }}\n    auth: aws\n    expect: {{ status: 200 }}\n",
            call("AdminCreateUser"),
            call("AdminSetUserPassword"),
        ));
        out.push_str(&format!(
            "cleanup:\n  name: AdminDeleteUser\n  request: {{ {}, json: {{ UserPoolId: {pool}, Username: \"{username}\" }} }}\n  auth: aws\n  expect: {{ status: 200 }}\n",
            call("AdminDeleteUser")
        ));
        // The proof: the pool no longer knows the user. A refused `InitiateAuth` is not one
        // (Cognito answers a throttled or unconfirmed login with a 400 as well).
        out.push_str(&format!(
            "verify:\n  name: AdminGetUser (gone)\n  request: {{ {}, json: {{ UserPoolId: {pool}, Username: \"{username}\" }} }}\n  auth: aws\n  expect: {{ status: 400, json: {{ $.__type: UserNotFoundException }} }}\n",
            call("AdminGetUser")
        ));
    } else if pool.is_some() {
        return Err(ctx.err(node, "`cognito.user_pool_id` is for disposable users (their admin calls); a service account only logs in"));
    }
    out.push_str(&format!(
        "login:\n  name: InitiateAuth\n  request: {{ {}, json: {{ AuthFlow: USER_PASSWORD_AUTH, ClientId: {client}, AuthParameters: {{ USERNAME: \"{username}\", PASSWORD: \"{{{{ user.password }}}}\" }} }} }}\n  auth: none\n  expect: {{ status: 200 }}\n  token: $.AuthenticationResult.{token}\n  capture: {{ refresh_token: $.AuthenticationResult.RefreshToken }}\n  refresh:\n    name: InitiateAuth (refresh)\n    request: {{ {}, json: {{ AuthFlow: REFRESH_TOKEN_AUTH, ClientId: {client}, AuthParameters: {{ REFRESH_TOKEN: \"{{{{ refresh_token }}}}\" }} }} }}\n    expect: {{ status: 200 }}\n    token: $.AuthenticationResult.{token}\n",
        call("InitiateAuth"),
        call("InitiateAuth"),
    ));
    Ok(out)
}

/// The pool's endpoint as a template: the AWS CLI's endpoint variables, else the region's.
fn endpoint(region: &str) -> Option<String> {
    let region_expr = match region.trim().strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
        Some(inner) if !inner.contains("{{") && !inner.contains("}}") => {
            format!("'https://cognito-idp.' ~ ({}) ~ '.amazonaws.com'", inner.trim())
        }
        Some(_) => return None,
        None if region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !region.is_empty() => {
            format!("'https://cognito-idp.{region}.amazonaws.com'")
        }
        None => return None,
    };
    Some(format!("{{{{ env.AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER | default(env.AWS_ENDPOINT_URL | default({region_expr})) }}}}"))
}
