//! Token issuance for managed identities, in the two flavours `ManagedIdentityCredential`
//! speaks. A workload proves which identity it is:
//! - App Service style: by the identity's header (`X-IDENTITY-HEADER`), issued by `listSecrets`
//!   and stored only as a salted hash; `client_id`/`object_id`/`mi_res_id` must name that
//!   same identity.
//! - IMDS style: by its source address, bound to identities beforehand; `client_id`/`object_id`/
//!   `msi_res_id` choose among the identities bound to that address.
//!
//! Tokens carry `idtyp: "ManagedIdentity"` and `xms_mirid` (the identity's resource id), so
//! resources can tell them apart from application tokens.

use std::net::IpAddr;

use crate::management::binding_matches;
use crate::records::ManagedIdentityDoc;
use crate::{Coffer, ManagementError};

/// The query of a managed identity token request.
#[derive(Clone, Debug, Default)]
pub struct MiTokenRequest {
    pub resource: Option<String>,
    pub client_id: Option<String>,
    pub object_id: Option<String>,
    /// `mi_res_id` (App Service) or `msi_res_id` (IMDS).
    pub resource_id: Option<String>,
}

/// A token for a managed identity.
#[derive(Clone, Debug)]
pub struct MiToken {
    pub access_token: String,
    pub expires_in: i64,
    pub expires_on: i64,
    pub not_before: i64,
    /// The resource as the client asked for it.
    pub resource: String,
    pub client_id: String,
}

/// Why a managed identity token request was refused; `oauth_error` is the OAuth2 `error`.
#[derive(Debug, thiserror::Error)]
pub enum MiError {
    /// A parameter or header is missing or malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// No identity matches the request (none bound to the address, or a selector names none).
    #[error("{0}")]
    IdentityNotFound(String),
    /// The identity header is unknown, or no longer valid.
    #[error("{0}")]
    Unauthorized(String),
    /// The resource is not one this issuer mints tokens for.
    #[error("{0}")]
    UnknownResource(String),
    #[error("An internal error occurred while issuing the token.")]
    Internal(String),
}

impl MiError {
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::IdentityNotFound(_) => "invalid_request",
            Self::Unauthorized(_) => "unauthorized_client",
            Self::UnknownResource(_) => "invalid_resource",
            Self::Internal(_) => "server_error",
        }
    }
}

impl From<ManagementError> for MiError {
    fn from(e: ManagementError) -> Self {
        Self::Internal(e.to_string())
    }
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Which selector the request carries, if any (at most one is allowed).
enum Selector<'a> {
    None,
    ClientId(&'a str),
    ObjectId(&'a str),
    ResourceId(&'a str),
}

fn selector(req: &MiTokenRequest) -> Result<Selector<'_>, MiError> {
    let given: Vec<Selector<'_>> = [
        req.client_id.as_deref().map(Selector::ClientId),
        req.object_id.as_deref().map(Selector::ObjectId),
        req.resource_id.as_deref().map(Selector::ResourceId),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() > 1 {
        return Err(MiError::InvalidRequest(
            "Only one of client_id, object_id and mi_res_id/msi_res_id may be given.".to_owned(),
        ));
    }
    Ok(given.into_iter().next().unwrap_or(Selector::None))
}

impl Selector<'_> {
    fn matches(&self, d: &ManagedIdentityDoc) -> bool {
        match self {
            Self::None => true,
            Self::ClientId(c) => d.client_id.eq_ignore_ascii_case(c.trim()),
            Self::ObjectId(o) => d.principal_id.eq_ignore_ascii_case(o.trim()),
            Self::ResourceId(r) => d
                .resource_id
                .trim_end_matches('/')
                .eq_ignore_ascii_case(r.trim().trim_end_matches('/')),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::None => "no selector".to_owned(),
            Self::ClientId(c) => format!("client_id '{}'", clip(c)),
            Self::ObjectId(o) => format!("object_id '{}'", clip(o)),
            Self::ResourceId(r) => format!("resource id '{}'", clip(r)),
        }
    }
}

impl Coffer {
    /// App Service style (`GET /msi/token`, header `X-IDENTITY-HEADER`).
    pub async fn mi_token_app_service(
        &self,
        identity_header: Option<&str>,
        req: &MiTokenRequest,
    ) -> Result<MiToken, MiError> {
        let header = identity_header.map(str::trim).unwrap_or_default();
        if header.is_empty() {
            return Err(MiError::InvalidRequest(
                "The X-IDENTITY-HEADER header is required: set IDENTITY_HEADER to the identityHeader that listSecrets returned for the identity.".to_owned(),
            ));
        }
        let sel = selector(req)?;
        let resource = required_resource(req)?;
        let refused = || {
            MiError::Unauthorized(
                "The X-IDENTITY-HEADER value is not valid for any managed identity of this instance: it may have been replaced by a later listSecrets call, or its identity deleted.".to_owned(),
            )
        };
        let id = header
            .split_once('.')
            .map(|(id, _)| id)
            .ok_or_else(refused)?;
        let doc = self
            .identity_docs()
            .await?
            .into_iter()
            .map(|(d, _)| d)
            .find(|d| d.header.as_ref().is_some_and(|h| h.id == id))
            .ok_or_else(refused)?;
        let valid = doc
            .header
            .as_ref()
            .is_some_and(|h| coffer_crypto::password::verify(header, &h.hash));
        if !valid {
            return Err(refused());
        }
        if !sel.matches(&doc) {
            return Err(MiError::IdentityNotFound(format!(
                "Identity not found: the X-IDENTITY-HEADER belongs to the managed identity '{}' (client_id {}, object_id {}), which does not match the requested {}.",
                doc.resource_id,
                doc.client_id,
                doc.principal_id,
                sel.describe()
            )));
        }
        self.mint_mi_token(&doc, resource)
    }

    /// IMDS style (`GET /metadata/identity/oauth2/token`, header `Metadata: true`): the
    /// identities bound to the caller's source address, narrowed by the selector.
    pub async fn mi_token_imds(
        &self,
        peer: Option<IpAddr>,
        req: &MiTokenRequest,
    ) -> Result<MiToken, MiError> {
        let sel = selector(req)?;
        let resource = required_resource(req)?;
        let Some(peer) = peer else {
            return Err(MiError::IdentityNotFound(
                "Identity not found: the source address of the request is unknown.".to_owned(),
            ));
        };
        let peer = peer.to_canonical();
        let bound: Vec<ManagedIdentityDoc> = self
            .identity_docs()
            .await?
            .into_iter()
            .map(|(d, _)| d)
            .filter(|d| d.imds_addresses.iter().any(|b| binding_matches(b, peer)))
            .collect();
        if bound.is_empty() {
            return Err(MiError::IdentityNotFound(format!(
                "Identity not found: no managed identity is bound to the source address {peer}. Bind one with PUT <identity resource id>/imdsBindings on the management endpoint."
            )));
        }
        let doc = match sel {
            Selector::None => {
                let system: Vec<&ManagedIdentityDoc> = bound.iter().filter(|d| d.system).collect();
                let only = match bound.as_slice() {
                    [one] => Some(one),
                    _ => None,
                };
                match (system.as_slice(), only) {
                    ([one], _) => (*one).clone(),
                    ([], Some(one)) => one.clone(),
                    _ => {
                        return Err(MiError::InvalidRequest(format!(
                            "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request ({} identities are bound to {peer}).",
                            bound.len()
                        )));
                    }
                }
            }
            ref sel => bound
                .iter()
                .find(|d| sel.matches(d))
                .cloned()
                .ok_or_else(|| {
                    MiError::IdentityNotFound(format!(
                        "Identity not found: no managed identity with {} is bound to the source address {peer}.",
                        sel.describe()
                    ))
                })?,
        };
        self.mint_mi_token(&doc, resource)
    }

    pub(crate) fn mint_mi_token(
        &self,
        doc: &ManagedIdentityDoc,
        resource: &str,
    ) -> Result<MiToken, MiError> {
        let audience = self.resource_audience(resource).ok_or_else(|| {
            MiError::UnknownResource(format!(
                "AADSTS500011: The resource principal named {} was not found in the tenant named {}. This instance issues tokens for {}, {} and {}.",
                clip(resource),
                doc.tenant_id,
                self.audience_of(crate::Resource::Vault),
                self.audience_of(crate::Resource::Management),
                self.audience_of(crate::Resource::Graph),
            ))
        })?;
        let mut extra = serde_json::Map::new();
        // Azure marks managed identity tokens with "2" (certificate-like credential).
        extra.insert("appidacr".to_owned(), "2".into());
        extra.insert("idtyp".to_owned(), "ManagedIdentity".into());
        extra.insert("xms_mirid".to_owned(), doc.resource_id.clone().into());
        let t = self
            .mint_token(
                &doc.tenant_id,
                &audience,
                &doc.client_id,
                &doc.principal_id,
                extra,
            )
            .map_err(|e| MiError::Internal(e.to_string()))?;
        Ok(MiToken {
            access_token: t.access_token,
            expires_in: t.expires_in,
            expires_on: t.expires_on,
            not_before: t.not_before,
            resource: resource.to_owned(),
            client_id: doc.client_id.clone(),
        })
    }
}

fn required_resource(req: &MiTokenRequest) -> Result<&str, MiError> {
    req.resource
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            MiError::InvalidRequest("Required query parameter 'resource' is missing.".to_owned())
        })
}
