//! Token issuance for the client-credentials grant (v1 `resource`, v2 `scope`), and the
//! authentication of vault requests by their bearer token.

use coffer_domain::Principal;
use coffer_identity::{
    AccessTokenRequest, Expectation, IssuedToken, TokenError, TokenVersion, bearer_token,
    decode_unverified, validate,
};

use crate::records::VaultDoc;
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
    /// v1 endpoint.
    pub resource: Option<String>,
    /// v2 endpoint.
    pub scope: Option<String>,
}

impl Coffer {
    /// Handles `POST /{tenant}/oauth2/token` (`v2 = false`) and `/oauth2/v2.0/token` (`v2 = true`).
    pub async fn issue_token(
        &self,
        tenant_id: &str,
        req: TokenRequest,
        v2: bool,
    ) -> Result<(IssuedToken, String), AuthError> {
        if self.tenant(tenant_id).await?.is_none() {
            return Err(AuthError::TenantNotFound(tenant_id.to_owned()));
        }
        let grant = req
            .grant_type
            .as_deref()
            .ok_or(AuthError::MissingParameter("grant_type"))?;
        if grant != "client_credentials" {
            return Err(AuthError::UnsupportedGrantType(
                grant.chars().take(64).collect(),
            ));
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
            scope_resource(scope)
                .ok_or_else(|| AuthError::InvalidScope(scope.chars().take(200).collect()))?
        } else {
            req.resource
                .clone()
                .ok_or(AuthError::MissingParameter("resource"))?
        };
        let secret = req
            .client_secret
            .as_deref()
            .ok_or(AuthError::MissingParameter(
                "client_assertion' or 'client_secret",
            ))?;
        let app = self
            .authenticate_client(tenant_id, client_id, secret)
            .await?;
        let audience =
            self.resource_audience(&requested)
                .ok_or_else(|| AuthError::UnknownResource {
                    resource: requested.chars().take(200).collect(),
                    tenant: tenant_id.to_owned(),
                })?;
        let token = self.mint_token(
            &app.tenant_id,
            &audience,
            &app.app_id,
            &app.object_id,
            serde_json::Map::new(),
        )?;
        Ok((token, audience))
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

    /// Validates the `Authorization` header of a request to `vault`.
    pub(crate) fn authenticate(
        &self,
        authorization: Option<&str>,
        vault: &VaultDoc,
    ) -> Result<Principal, ServiceError> {
        let token = bearer_token(authorization).map_err(|error| ServiceError::Unauthenticated {
            error,
            tenant_id: vault.tenant_id.clone(),
        })?;
        let audiences = [self.settings.vault_resource()];
        let keys = self.signing_keys();
        let valid = validate(
            token,
            &keys,
            &Expectation {
                audiences: &audiences,
                tenant_id: &vault.tenant_id,
                issuer: &self.issuer,
                now: self.now(),
                skew_secs: self.settings.clock_skew_secs,
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
        Ok(Principal {
            tenant_id: valid.tenant_id,
            object_id: valid.object_id,
            app_id: valid.app_id,
            issuer,
        })
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
