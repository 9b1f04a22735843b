//! Token issuance (v1 `resource`, v2 `scope`): the client-credentials grant with a client secret
//! or a certificate assertion, the password grant for users, and the dispatch of the
//! interactive grants (authorization code, refresh token, device code; see `interactive/`) to a
//! common user grant; and the authentication of vault, management and Graph requests by their
//! bearer token.

use coffer_domain::Principal;
use coffer_identity::{
    AccessTokenRequest, Expectation, IssuedToken, TokenError, TokenVersion, bearer_token,
    decode_unverified, validate,
};

use crate::audit::AuditIdentity;
use crate::directory::clip;
use crate::interactive::Requested;
use crate::records::{ApplicationDoc, UserDoc, VaultDoc};
use crate::token_cache::Caller;
use crate::{AuthError, Coffer, ServiceError};

/// The resources this issuer mints tokens for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Graph,
    Management,
    Vault,
}

impl Resource {
    pub const ALL: [Self; 3] = [Self::Vault, Self::Management, Self::Graph];
}

/// The form fields of a token request that matter to the issuer.
#[derive(Debug, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Certificate credential: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// Certificate credential: a JWT signed with a registered certificate's key.
    pub client_assertion: Option<String>,
    /// Password grant: the user principal name.
    pub username: Option<String>,
    /// Password grant: the user's password.
    pub password: Option<String>,
    /// v1 endpoint.
    pub resource: Option<String>,
    /// v2 endpoint.
    pub scope: Option<String>,
    /// Authorization code grant: the code, the redirect URI it was sent to, the PKCE verifier.
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    /// Refresh token grant.
    pub refresh_token: Option<String>,
    /// Device code grant.
    pub device_code: Option<String>,
    /// MSAL's `client_info=1`: answer with `client_info` (`{"uid","utid"}`, base64url).
    pub client_info: bool,
}

/// A token the endpoint issued, with what the response carries besides it.
#[derive(Debug, Clone)]
pub struct IssuedGrant {
    pub token: IssuedToken,
    /// The audience of the token (the v1 response's `resource`).
    pub resource: String,
    /// Password grant only: an OpenID Connect id token for the client (MSAL builds its account
    /// from it) and MSAL's `client_info` (`{"uid","utid"}`, base64url).
    pub id_token: Option<String>,
    pub client_info: Option<String>,
    /// Delegated grants that asked for `offline_access`: an opaque refresh token.
    pub refresh_token: Option<String>,
    /// Delegated grants: the granted scopes.
    pub scope: Option<String>,
}

/// How the client proved who it is: Azure's `appidacr` (0 none, 1 secret, 2 certificate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    Public,
    Secret,
    Certificate,
}

impl ClientAuth {
    fn acr(self) -> &'static str {
        match self {
            Self::Public => "0",
            Self::Secret => "1",
            Self::Certificate => "2",
        }
    }
}

/// Whether a user grant comes with a refresh token, and whether it replaces one.
#[derive(Clone, Debug)]
pub(crate) enum RefreshPlan {
    None,
    Issue {
        confidential: bool,
    },
    /// Rotation: the token with record id `old_id` is removed in the same write.
    Rotate {
        confidential: bool,
        old_id: String,
    },
}

/// A token for a signed-in user through an application (a compound identity).
pub(crate) struct UserGrant<'a> {
    pub(crate) app: &'a ApplicationDoc,
    pub(crate) auth: ClientAuth,
    pub(crate) user: &'a UserDoc,
    /// The access token's audience (canonical spelling).
    pub(crate) audience: String,
    pub(crate) requested: Requested,
    pub(crate) id_token: bool,
    /// Echoed in the id token (the authorization request's `nonce`).
    pub(crate) nonce: Option<&'a str>,
    pub(crate) client_info: bool,
    pub(crate) refresh: RefreshPlan,
    pub(crate) v2: bool,
}

const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
const GRANT_PASSWORD: &str = "password";
const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
const GRANT_REFRESH_TOKEN: &str = "refresh_token";
const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The v1 endpoint's older spelling of the device code grant.
const GRANT_DEVICE_CODE_V1: &str = "device_code";
/// The delegated scope of user tokens (Azure's name for "act as the signed-in user").
const USER_SCOPE: &str = "user_impersonation";

impl Coffer {
    /// Handles `POST /{tenant}/oauth2/token` (`v2 = false`) and `/oauth2/v2.0/token` (`v2 = true`).
    pub async fn issue_token(
        &self,
        tenant_id: &str,
        req: TokenRequest,
        v2: bool,
    ) -> Result<(IssuedToken, String), AuthError> {
        let g = self.issue_token_grant(tenant_id, req, v2).await?;
        Ok((g.token, g.resource))
    }

    /// The token endpoint: the client-credentials grant (client secret or certificate assertion)
    /// and the resource-owner password grant for users (through an application).
    pub async fn issue_token_grant(
        &self,
        tenant_id: &str,
        req: TokenRequest,
        v2: bool,
    ) -> Result<IssuedGrant, AuthError> {
        if self.tenant(tenant_id).await?.is_none() {
            return Err(AuthError::TenantNotFound(clip(tenant_id, 100)));
        }
        let grant = req
            .grant_type
            .as_deref()
            .ok_or(AuthError::MissingParameter("grant_type"))?;
        match grant {
            GRANT_CLIENT_CREDENTIALS | GRANT_PASSWORD => {}
            GRANT_AUTHORIZATION_CODE => return self.redeem_code(tenant_id, &req, v2).await,
            GRANT_REFRESH_TOKEN => return self.redeem_refresh_token(tenant_id, &req, v2).await,
            GRANT_DEVICE_CODE | GRANT_DEVICE_CODE_V1 => {
                return self.poll_device_code(tenant_id, &req, v2).await;
            }
            other => return Err(AuthError::UnsupportedGrantType(clip(other, 64))),
        }
        let client_id = req
            .client_id
            .as_deref()
            .ok_or(AuthError::MissingParameter("client_id"))?;
        let requested = if v2 {
            let scope = req
                .scope
                .as_deref()
                .ok_or(AuthError::MissingParameter("scope"))?;
            scope_resource(scope).ok_or_else(|| AuthError::InvalidScope(clip(scope, 200)))?
        } else {
            req.resource
                .clone()
                .ok_or(AuthError::MissingParameter("resource"))?
        };
        let user_credentials = if grant == GRANT_PASSWORD {
            Some((
                req.username
                    .as_deref()
                    .ok_or(AuthError::MissingParameter("username"))?,
                req.password
                    .as_deref()
                    .ok_or(AuthError::MissingParameter("password"))?,
            ))
        } else {
            None
        };
        let (app, client_auth) = self
            .authenticate_token_client(tenant_id, client_id, &req, grant == GRANT_PASSWORD)
            .await?;
        // The user is checked after the client, so a wrong client never learns about users.
        let user = match user_credentials {
            Some((username, password)) => Some(
                self.authenticate_user(tenant_id, username, password)
                    .await?,
            ),
            None => None,
        };
        let audience =
            self.resource_audience(&requested)
                .ok_or_else(|| AuthError::UnknownResource {
                    resource: clip(&requested, 200),
                    tenant: clip(tenant_id, 100),
                })?;
        let mut extra = serde_json::Map::new();
        extra.insert("appidacr".to_owned(), client_auth.acr().into());
        let Some(user) = user else {
            let token = self.mint_token(
                &app.tenant_id,
                &audience,
                &app.app_id,
                &app.object_id,
                extra,
            )?;
            return Ok(IssuedGrant {
                token,
                resource: audience,
                id_token: None,
                client_info: None,
                refresh_token: None,
                scope: None,
            });
        };
        let offline = !v2
            || req
                .scope
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .any(|s| s == "offline_access");
        let requested = Requested {
            resource: Some(requested),
            openid: true,
            offline_access: offline,
            ..Requested::default()
        };
        self.user_grant(UserGrant {
            app: &app,
            auth: client_auth,
            user: &user,
            audience,
            requested,
            id_token: true,
            nonce: None,
            client_info: true,
            refresh: if offline {
                RefreshPlan::Issue {
                    confidential: client_auth != ClientAuth::Public,
                }
            } else {
                RefreshPlan::None
            },
            v2,
        })
        .await
    }

    /// Issues the answer of every delegated grant: the access token for the user through the
    /// application, and as asked the id token, `client_info` and a (rotated) refresh token.
    pub(crate) async fn user_grant(&self, g: UserGrant<'_>) -> Result<IssuedGrant, AuthError> {
        let user = g.user;
        let mut extra = serde_json::Map::new();
        extra.insert("appidacr".to_owned(), g.auth.acr().into());
        extra.insert("amr".to_owned(), serde_json::json!(["pwd"]));
        extra.insert("idtyp".to_owned(), "user".into());
        extra.insert("name".to_owned(), user.display_name.clone().into());
        extra.insert("scp".to_owned(), USER_SCOPE.into());
        extra.insert(
            "unique_name".to_owned(),
            user.user_principal_name.clone().into(),
        );
        extra.insert("upn".to_owned(), user.user_principal_name.clone().into());
        let token = self.mint_token(
            &user.tenant_id,
            &g.audience,
            &g.app.app_id,
            &user.object_id,
            extra,
        )?;
        let id_token = if g.id_token {
            Some(self.id_token(&g.app.app_id, user, g.nonce)?.access_token)
        } else {
            None
        };
        let client_info = g.client_info.then(|| {
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                serde_json::json!({"uid": user.object_id, "utid": user.tenant_id}).to_string(),
            )
        });
        let refresh_token = match self.refresh_token_writes(&g.app.app_id, user, &g.refresh)? {
            Some((t, writes)) => match self.store.write_docs(writes).await {
                Ok(()) => Some(t),
                // The token being rotated was used by a concurrent request.
                Err(coffer_store::StoreError::NotFound) => {
                    return Err(AuthError::InvalidRefreshToken);
                }
                Err(e) => return Err(ServiceError::from(e).into()),
            },
            None => None,
        };
        let scope = if g.v2 {
            g.requested.granted(&g.audience)
        } else {
            USER_SCOPE.to_owned()
        };
        Ok(IssuedGrant {
            token,
            resource: g.audience,
            id_token,
            client_info,
            refresh_token,
            scope: Some(scope),
        })
    }

    /// Authenticates the client of a token request: by certificate assertion, by secret, or,
    /// for the password grant of a public client (`isFallbackPublicClient`), not at all.
    pub(crate) async fn authenticate_token_client(
        &self,
        tenant_id: &str,
        client_id: &str,
        req: &TokenRequest,
        password_grant: bool,
    ) -> Result<(ApplicationDoc, ClientAuth), AuthError> {
        if let Some(assertion) = req.client_assertion.as_deref() {
            let app = self
                .authenticate_assertion(
                    tenant_id,
                    client_id,
                    req.client_assertion_type.as_deref(),
                    assertion,
                )
                .await?;
            return Ok((app, ClientAuth::Certificate));
        }
        if let Some(secret) = req.client_secret.as_deref() {
            let app = self
                .authenticate_client(tenant_id, client_id, secret)
                .await?;
            return Ok((app, ClientAuth::Secret));
        }
        if password_grant {
            let app = self.client_app(tenant_id, client_id).await?;
            if app.public_client {
                return Ok((app, ClientAuth::Public));
            }
        }
        Err(AuthError::ClientCredentialRequired)
    }

    /// An OpenID Connect id token for a user signing in to `client_id` (audience: the client),
    /// carrying the authorization request's `nonce` when it had one.
    fn id_token(
        &self,
        client_id: &str,
        user: &UserDoc,
        nonce: Option<&str>,
    ) -> Result<IssuedToken, AuthError> {
        let mut extra = serde_json::Map::new();
        if let Some(n) = nonce {
            extra.insert("nonce".to_owned(), n.into());
        }
        extra.insert("name".to_owned(), user.display_name.clone().into());
        extra.insert(
            "preferred_username".to_owned(),
            user.user_principal_name.clone().into(),
        );
        let keys = self.signing_keys();
        self.issuer
            .issue(
                &keys,
                &AccessTokenRequest {
                    tenant_id: &user.tenant_id,
                    audience: client_id,
                    app_id: client_id,
                    object_id: &user.object_id,
                    version: TokenVersion::V2,
                    lifetime_secs: self.settings.token_lifetime_secs,
                    now: self.now(),
                    extra,
                },
            )
            .map_err(|e| AuthError::Internal(e.to_string()))
    }

    /// The audience for a requested resource, or `None` if this issuer does not know it. The
    /// audience is spelled as the resource's canonical form, whatever slashes the client added.
    pub(crate) fn resource_audience(&self, requested: &str) -> Option<String> {
        let want = requested.trim_end_matches('/');
        Resource::ALL
            .iter()
            .map(|r| self.audience_of(*r))
            .find(|aud| aud.trim_end_matches('/').eq_ignore_ascii_case(want))
    }

    /// The canonical audience of one of this instance's resources.
    pub fn audience_of(&self, r: Resource) -> String {
        match r {
            Resource::Graph => self.settings.graph_resource(),
            Resource::Management => self.settings.management_resource(),
            Resource::Vault => self.settings.vault_resource(),
        }
    }

    /// Validates a bearer token for the management or Graph endpoint: signed by this issuer, for
    /// that resource, from a tenant this instance knows. Returns the caller and its claims.
    pub async fn authenticate_for(
        &self,
        authorization: Option<&str>,
        resource: Resource,
    ) -> Result<(Principal, serde_json::Map<String, serde_json::Value>), TokenError> {
        let token = bearer_token(authorization)?;
        // The tenant is read from the unverified token only to pick the expected issuer; the
        // signature, issuer and tenant are all checked by `validate` below.
        let (_, claims) = decode_unverified(token)?;
        let tenant = claims
            .get("tid")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        if !self.tenant_exists(&tenant).await.unwrap_or(false) {
            return Err(TokenError::UntrustedIssuer {
                expected: format!("{}/<tenant of this instance>/", self.issuer.authority()),
                found: claims
                    .get("iss")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect(),
            });
        }
        let audiences = [self.audience_of(resource)];
        let keys = self.signing_keys();
        let valid = validate(
            token,
            &keys,
            &Expectation {
                audiences: &audiences,
                tenant_id: &tenant,
                issuer: &self.issuer,
                now: self.now(),
                skew_secs: self.settings.clock_skew_secs,
            },
        )?;
        let issuer = valid
            .claims
            .get("iss")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        Ok((
            Principal {
                tenant_id: valid.tenant_id,
                object_id: valid.object_id,
                app_id: valid.app_id,
                issuer,
            },
            valid.claims,
        ))
    }

    /// Signs an access token for a principal of this directory. `extra` carries claims such as
    /// `idtyp`/`xms_mirid` for managed identities.
    pub fn mint_token(
        &self,
        tenant_id: &str,
        audience: &str,
        app_id: &str,
        object_id: &str,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<IssuedToken, AuthError> {
        let keys = self.signing_keys();
        self.issuer
            .issue(
                &keys,
                &AccessTokenRequest {
                    tenant_id,
                    audience,
                    app_id,
                    object_id,
                    version: TokenVersion::V1,
                    lifetime_secs: self.settings.token_lifetime_secs,
                    now: self.now(),
                    extra,
                },
            )
            .map_err(|e| AuthError::Internal(e.to_string()))
    }

    /// Validates the `Authorization` header of a request to `vault`: the caller, and the claims
    /// of its token that the audit log keeps.
    pub(crate) fn authenticate(
        &self,
        authorization: Option<&str>,
        vault: &VaultDoc,
    ) -> Result<Caller, ServiceError> {
        let token = bearer_token(authorization).map_err(|error| ServiceError::Unauthenticated {
            error,
            tenant_id: vault.tenant_id.clone(),
        })?;
        let now = self.now();
        let skew = self.settings.clock_skew_secs;
        if let Some(c) = self.token_cache.get(token, &vault.tenant_id, now, skew) {
            return Ok(c);
        }
        let audiences = [self.settings.vault_resource()];
        let keys = self.signing_keys();
        let valid = validate(
            token,
            &keys,
            &Expectation {
                audiences: &audiences,
                tenant_id: &vault.tenant_id,
                issuer: &self.issuer,
                now,
                skew_secs: skew,
            },
        )
        .map_err(|error| ServiceError::Unauthenticated {
            error,
            tenant_id: vault.tenant_id.clone(),
        })?;
        let issuer = valid
            .claims
            .get("iss")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let identity = AuditIdentity::from_token(&valid);
        let principal = Principal {
            tenant_id: valid.tenant_id,
            object_id: valid.object_id,
            app_id: valid.app_id,
            issuer,
        };
        let not_before = valid
            .claims
            .get("nbf")
            .and_then(|v| v.as_i64())
            .unwrap_or(i64::MIN);
        let caller = (principal, identity);
        self.token_cache.put(
            token,
            &vault.tenant_id,
            caller.clone(),
            not_before,
            valid.expires_at,
            now,
        );
        Ok(caller)
    }
}

/// The resource named by a v2 `scope` (`<resource>/.default`, possibly among other scopes).
fn scope_resource(scope: &str) -> Option<String> {
    scope
        .split_whitespace()
        .find_map(|s| s.strip_suffix("/.default"))
        .map(|r| r.trim_end_matches('/').to_owned())
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::scope_resource;

    #[test]
    fn scopes() {
        assert_eq!(
            scope_resource("https://vault.localhost:8443/.default").as_deref(),
            Some("https://vault.localhost:8443")
        );
        assert_eq!(
            scope_resource("https://m.localhost:8443//.default offline_access").as_deref(),
            Some("https://m.localhost:8443")
        );
        assert_eq!(scope_resource("openid"), None);
        assert_eq!(scope_resource("/.default"), None);
    }
}
