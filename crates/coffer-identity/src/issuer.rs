//! The token issuer: builds and signs Entra-ID-shaped v1/v2 access tokens and the
//! OpenID discovery document that MSAL-based SDKs fetch before asking for a token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use crate::error::IdentityError;
use crate::keys::KeySet;

/// Which Entra ID token format to issue (and which issuer string it carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenVersion {
    /// v1.0 tokens: `"ver":"1.0"`, `appid`/`appidacr`, issuer `{authority}/{tenant}/`.
    V1,
    /// v2.0 tokens: `"ver":"2.0"`, `azp`/`azpacr`, issuer `{authority}/{tenant}/v2.0`.
    V2,
}

impl TokenVersion {
    /// The `ver` claim value.
    pub fn ver(self) -> &'static str {
        match self {
            TokenVersion::V1 => "1.0",
            TokenVersion::V2 => "2.0",
        }
    }
}

/// What the issuer puts in an access token.
#[derive(Debug, Clone)]
pub struct AccessTokenRequest<'a> {
    /// Tenant the token is issued in (`tid`, and part of `iss`).
    pub tenant_id: &'a str,
    /// Resource exactly as the token's `aud`.
    pub audience: &'a str,
    /// Client id of the application (`appid` in v1, `azp` in v2).
    pub app_id: &'a str,
    /// `oid`/`sub` of the service principal or user.
    pub object_id: &'a str,
    /// V1 → `"ver":"1.0"`, `appid`, `appidacr`; V2 → `"ver":"2.0"`, `azp`, `azpacr`.
    pub version: TokenVersion,
    /// Seconds from `now` until `exp`.
    pub lifetime_secs: i64,
    /// Unix seconds; becomes `iat` and `nbf`.
    pub now: i64,
    /// Additional claims (e.g. `idtyp`, `xms_mirid`) appended after the standard ones.
    /// May set `appidacr`/`azpacr` (default "1"); any other standard claim is refused.
    pub extra: Map<String, Value>,
}

/// A signed access token and the times a token endpoint reports alongside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWT.
    pub access_token: String,
    /// Lifetime in seconds (`exp - iat`).
    pub expires_in: i64,
    /// `exp`, unix seconds.
    pub expires_on: i64,
    /// `nbf`, unix seconds.
    pub not_before: i64,
}

/// Claims this crate sets itself; `extra` may not override them. (`appidacr`/`azpacr`
/// are the exception: a caller that authenticated the client with a certificate sets
/// them to "2" through `extra`.)
const RESERVED_CLAIMS: &[&str] = &[
    "aud", "iss", "iat", "nbf", "exp", "appid", "azp", "idp", "oid", "sub", "tid", "uti", "ver",
];

/// Issues tokens for one authority (scheme, host and port the clients were told).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    authority: String,
}

impl Issuer {
    /// `authority` is e.g. `https://login.localhost:8443`; trailing slashes are dropped
    /// so every derived URL has exactly one slash between parts.
    pub fn new(authority: &str) -> Issuer {
        Issuer {
            authority: authority.trim_end_matches('/').to_owned(),
        }
    }

    /// The authority without a trailing slash.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// `iss` for a tenant: V1 `{authority}/{tenant}/`, V2 `{authority}/{tenant}/v2.0`
    /// (the same shapes as `sts.windows.net/{tid}/` and `login.microsoftonline.com/{tid}/v2.0`).
    pub fn issuer_for(&self, tenant_id: &str, version: TokenVersion) -> String {
        match version {
            TokenVersion::V1 => format!("{}/{}/", self.authority, tenant_id),
            TokenVersion::V2 => format!("{}/{}/v2.0", self.authority, tenant_id),
        }
    }

    /// Signs an access token with the key set's current key.
    pub fn issue(
        &self,
        keys: &KeySet,
        req: &AccessTokenRequest<'_>,
    ) -> Result<IssuedToken, IdentityError> {
        if req.lifetime_secs <= 0 {
            return Err(IdentityError::InvalidLifetime(req.lifetime_secs));
        }
        let exp = req
            .now
            .checked_add(req.lifetime_secs)
            .ok_or(IdentityError::TimeOverflow {
                now: req.now,
                lifetime: req.lifetime_secs,
            })?;
        if let Some(name) = req
            .extra
            .keys()
            .find(|k| RESERVED_CLAIMS.contains(&k.as_str()))
        {
            return Err(IdentityError::ReservedClaim(name.clone()));
        }

        let key = keys.current();
        // Field order follows a real Azure token so decoded tokens read the same.
        let header = Ordered(vec![
            ("typ", json!("JWT")),
            ("alg", json!("RS256")),
            ("x5t", json!(key.kid())),
            ("kid", json!(key.kid())),
        ]);
        let (app_claim, acr_claim) = match req.version {
            TokenVersion::V1 => ("appid", "appidacr"),
            TokenVersion::V2 => ("azp", "azpacr"),
        };
        let mut claims = vec![
            ("aud", json!(req.audience)),
            ("iss", json!(self.issuer_for(req.tenant_id, req.version))),
            ("iat", json!(req.now)),
            ("nbf", json!(req.now)),
            ("exp", json!(exp)),
            (app_claim, json!(req.app_id)),
            // "1": the client authenticated with a secret, unless `extra` says otherwise
            // (Azure uses "2" for a certificate, "0" for a public client).
            (
                acr_claim,
                req.extra
                    .get(acr_claim)
                    .cloned()
                    .unwrap_or_else(|| json!("1")),
            ),
            (
                "idp",
                json!(self.issuer_for(req.tenant_id, TokenVersion::V1)),
            ),
            ("oid", json!(req.object_id)),
            ("sub", json!(req.object_id)),
            ("tid", json!(req.tenant_id)),
            ("uti", json!(unique_token_id()?)),
            ("ver", json!(req.version.ver())),
        ];
        claims.extend(
            req.extra
                .iter()
                .filter(|(k, _)| k.as_str() != acr_claim)
                .map(|(k, v)| (k.as_str(), v.clone())),
        );
        let claims = Ordered(claims);

        let header_json =
            serde_json::to_vec(&header).map_err(|e| IdentityError::Signing(e.to_string()))?;
        let claims_json =
            serde_json::to_vec(&claims).map_err(|e| IdentityError::Signing(e.to_string()))?;
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header_json),
            URL_SAFE_NO_PAD.encode(claims_json)
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), key.encoding_key(), Algorithm::RS256)
                .map_err(|e| IdentityError::Signing(e.to_string()))?;

        Ok(IssuedToken {
            access_token: format!("{message}.{signature}"),
            expires_in: req.lifetime_secs,
            expires_on: exp,
            not_before: req.now,
        })
    }

    /// The OpenID discovery document for a tenant. MSAL fetches
    /// `{authority}/{tenant}/v2.0/.well-known/openid-configuration` (V2); the v1 document
    /// lives at `{authority}/{tenant}/.well-known/openid-configuration`. MSAL JS requires
    /// `issuer`'s scheme, host and port to equal the authority's, which `issuer_for` ensures.
    pub fn openid_configuration(&self, tenant_id: &str, version: TokenVersion) -> Value {
        let base = format!("{}/{}", self.authority, tenant_id);
        let (authorize, token, keys, logout, devicecode) = match version {
            TokenVersion::V1 => (
                format!("{base}/oauth2/authorize"),
                format!("{base}/oauth2/token"),
                format!("{base}/discovery/keys"),
                format!("{base}/oauth2/logout"),
                format!("{base}/oauth2/devicecode"),
            ),
            TokenVersion::V2 => (
                format!("{base}/oauth2/v2.0/authorize"),
                format!("{base}/oauth2/v2.0/token"),
                format!("{base}/discovery/v2.0/keys"),
                format!("{base}/oauth2/v2.0/logout"),
                format!("{base}/oauth2/v2.0/devicecode"),
            ),
        };
        let app_claims: &[&str] = match version {
            TokenVersion::V1 => &["appid", "appidacr"],
            TokenVersion::V2 => &["azp", "azpacr"],
        };
        let mut claims_supported = vec![
            "aud", "iss", "iat", "nbf", "exp", "idp", "oid", "sub", "tid", "uti", "ver",
        ];
        claims_supported.extend_from_slice(app_claims);
        json!({
            "issuer": self.issuer_for(tenant_id, version),
            "authorization_endpoint": authorize,
            "token_endpoint": token,
            "device_authorization_endpoint": devicecode,
            "jwks_uri": keys,
            "end_session_endpoint": logout,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported":
                ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "password",
                "urn:ietf:params:oauth:grant-type:device_code",
            ],
            "request_uri_parameter_supported": false,
            "tenant_region_scope": null,
            "cloud_instance_name": self.cloud_instance_name(),
            "claims_supported": claims_supported,
        })
    }

    /// Azure reports `microsoftonline.com` for `login.microsoftonline.com`: the authority
    /// host (and port) without its `login.` label.
    fn cloud_instance_name(&self) -> String {
        let host = self
            .authority
            .split_once("://")
            .map_or(self.authority.as_str(), |(_, rest)| rest);
        let host = host.split('/').next().unwrap_or(host);
        host.strip_prefix("login.").unwrap_or(host).to_owned()
    }
}

/// `uti`: base64url of 16 random bytes, 22 characters like Azure's.
fn unique_token_id() -> Result<String, IdentityError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| IdentityError::Signing("random source failed".to_owned()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A JSON object that serialises its members in the given order (serde_json's `Map`
/// sorts keys unless the `preserve_order` feature is on somewhere in the build).
struct Ordered<'a>(Vec<(&'a str, Value)>);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}
