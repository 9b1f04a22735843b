//! The management (ARM) plane: subscriptions, resource groups, resource providers and managed
//! identities, user-assigned (resources of their own) and system-assigned (attached to another
//! resource, such as a gateway). Every operation here takes the authenticated caller and checks
//! that it belongs to the subscription's tenant before it touches the store.

use std::collections::BTreeMap;
use std::net::IpAddr;

use coffer_domain::Principal;
use coffer_identity::TokenError;
use coffer_store::{DocMode, DocWrite, StoreError};

use crate::records::{
    IdentityHeaderDoc, MANAGED_IDENTITY, ManagedIdentityDoc, RESOURCE_GROUP, ResourceGroupDoc,
    SUBSCRIPTION, SubscriptionDoc, TenantDoc,
};
use crate::{Coffer, ServiceError};

/// The resource group every instance has.
pub const DEFAULT_RESOURCE_GROUP: &str = "coffer-rg";
/// The one location of a Coffer instance; other location names are accepted and kept as given.
pub const DEFAULT_LOCATION: &str = "local";
/// Resource type of user-assigned identities.
pub const USER_ASSIGNED_IDENTITY_TYPE: &str = "Microsoft.ManagedIdentity/userAssignedIdentities";
/// Resource type of the system-assigned identity of a resource.
pub const SYSTEM_ASSIGNED_IDENTITY_TYPE: &str = "Microsoft.ManagedIdentity/identities";

/// The resource providers this instance serves, each always `Registered`, with the resource
/// types they offer.
const PROVIDERS: &[(&str, &[&str])] = &[
    (
        "Microsoft.ManagedIdentity",
        &["userAssignedIdentities", "identities"],
    ),
    ("Microsoft.KeyVault", &["vaults", "deletedVaults"]),
    ("Microsoft.ApiManagement", &["service"]),
    (
        "Microsoft.Resources",
        &["subscriptions", "resourceGroups", "tenants"],
    ),
];

const MAX_TAGS: usize = 50;
const MAX_IMDS_BINDINGS: usize = 64;
/// Retries of an optimistic read-modify-write before giving up with a conflict.
const WRITE_ATTEMPTS: usize = 5;

/// Why a management request failed. The HTTP layer maps each kind to ARM's status; `code` is
/// ARM's error code and `message` its text.
#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    /// The bearer token was refused; `tenant_id` names where a valid one comes from.
    #[error("{error}")]
    Unauthenticated {
        error: TokenError,
        tenant_id: String,
    },
    /// 400: the request is invalid.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 403: the caller may not act on this scope.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 404: the subscription, resource group or resource does not exist.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 409: the request clashes with the resource's state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Something on our side failed; the message is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ManagementError {
    fn from(e: StoreError) -> Self {
        Self::Internal(format!("store: {e}"))
    }
}

impl From<serde_json::Error> for ManagementError {
    fn from(e: serde_json::Error) -> Self {
        Self::Internal(format!("record encoding: {e}"))
    }
}

impl From<coffer_crypto::CryptoError> for ManagementError {
    fn from(e: coffer_crypto::CryptoError) -> Self {
        Self::Internal(format!("crypto: {e}"))
    }
}

impl From<ServiceError> for ManagementError {
    fn from(e: ServiceError) -> Self {
        Self::Internal(e.to_string())
    }
}

fn bad(code: &'static str, message: String) -> ManagementError {
    ManagementError::BadRequest { code, message }
}

/// A subscription as ARM shows it.
#[derive(Clone, Debug)]
pub struct SubscriptionView {
    pub subscription_id: String,
    pub tenant_id: String,
    pub display_name: String,
}

/// A tenant as ARM's `/tenants` shows it.
#[derive(Clone, Debug)]
pub struct TenantView {
    pub tenant_id: String,
    pub display_name: String,
}

/// A resource group.
#[derive(Clone, Debug)]
pub struct ResourceGroupView {
    /// `/subscriptions/{s}/resourceGroups/{name}`.
    pub id: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
}

/// A managed identity, user- or system-assigned.
#[derive(Clone, Debug)]
pub struct IdentityView {
    /// The identity's ARM id: the user-assigned identity's own id, or
    /// `<owner>/providers/Microsoft.ManagedIdentity/identities/default`.
    pub id: String,
    /// The resource its tokens name in `xms_mirid`: the identity itself or its owner.
    pub resource_id: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub tenant_id: String,
    /// Object id of its service principal: the `oid` of its tokens.
    pub principal_id: String,
    /// Its application id: the `appid` of its tokens.
    pub client_id: String,
    pub system_assigned: bool,
}

/// A resource provider namespace, always registered.
#[derive(Clone, Debug)]
pub struct ProviderView {
    pub namespace: String,
    pub resource_types: Vec<String>,
}

/// The body of a resource PUT or PATCH that Coffer looks at; other properties are ignored.
#[derive(Clone, Debug, Default)]
pub struct ResourceInput {
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

/// What a workload needs to get tokens for an identity through the App Service-style endpoint
/// (`IDENTITY_ENDPOINT` and `IDENTITY_HEADER`). The header is shown only here, once.
#[derive(Clone, Debug)]
pub struct IdentitySecrets {
    pub identity_endpoint: String,
    pub identity_header: String,
}

impl ManagedIdentityDoc {
    pub(crate) fn view(&self) -> IdentityView {
        let (id, name) = if self.system {
            (
                format!(
                    "{}/providers/Microsoft.ManagedIdentity/identities/default",
                    self.resource_id
                ),
                "default".to_owned(),
            )
        } else {
            (self.resource_id.clone(), self.name.clone())
        };
        IdentityView {
            id,
            resource_id: self.resource_id.clone(),
            name,
            location: self.location.clone(),
            tags: self.tags.clone(),
            tenant_id: self.tenant_id.clone(),
            principal_id: self.principal_id.clone(),
            client_id: self.client_id.clone(),
            system_assigned: self.system,
        }
    }
}

pub(crate) fn rg_key(subscription: &str, rg: &str) -> String {
    format!(
        "{}/{}",
        subscription.to_ascii_lowercase(),
        rg.to_ascii_lowercase()
    )
}

fn identity_key(resource_id: &str) -> String {
    resource_id.to_ascii_lowercase()
}

fn rg_id(subscription: &str, rg: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{rg}")
}

fn user_identity_id(subscription: &str, rg: &str, name: &str) -> String {
    format!(
        "{}/providers/{USER_ASSIGNED_IDENTITY_TYPE}/{name}",
        rg_id(subscription, rg)
    )
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// ARM spells locations lowercase without spaces (`West Europe` is `westeurope`).
fn normalize_location(l: &str) -> String {
    l.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn validate_location(l: &str) -> Result<String, ManagementError> {
    let n = normalize_location(l);
    if n.is_empty() || n.len() > 64 || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(bad(
            "LocationNotAvailableForResourceGroup",
            format!("The provided location '{}' is not valid.", clip(l)),
        ));
    }
    Ok(n)
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), ManagementError> {
    if tags.len() > MAX_TAGS {
        return Err(bad(
            "InvalidTag",
            format!(
                "The resource has {} tags; at most {MAX_TAGS} are allowed.",
                tags.len()
            ),
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 512 || v.chars().count() > 256 {
            return Err(bad(
                "InvalidTagNameCharacters",
                format!(
                    "The tag '{}' is invalid: names have 1 to 512 characters, values at most 256.",
                    clip(k)
                ),
            ));
        }
    }
    Ok(())
}

/// Resource group names: 1 to 90 letters, digits, `-`, `_`, `.`, `(`, `)`, not ending in `.`.
pub(crate) fn validate_rg_name(name: &str) -> Result<(), ManagementError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 90
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
    if ok {
        Ok(())
    } else {
        Err(bad(
            "InvalidResourceGroupName",
            format!(
                "The provided resource group name '{}' is invalid. Resource group names have 1 to 90 characters: letters, digits, '-', '_', '.', '(' and ')', and do not end in '.'.",
                clip(name)
            ),
        ))
    }
}

/// User-assigned identity names: 3 to 128 letters, digits, `-` and `_`, starting with a letter
/// or digit.
fn validate_identity_name(name: &str) -> Result<(), ManagementError> {
    let ok = (3..=128).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(bad(
            "InvalidResourceName",
            format!(
                "Resource name '{}' is invalid. The name can be between 3 and 128 characters long, must start with a letter or number, and can contain only letters, numbers, hyphens and underscores.",
                clip(name)
            ),
        ))
    }
}

pub(crate) fn subscription_write(doc: &SubscriptionDoc) -> Result<DocWrite, ServiceError> {
    Ok(DocWrite::Put {
        kind: SUBSCRIPTION.to_owned(),
        id: doc.id.to_ascii_lowercase(),
        body: serde_json::to_vec(doc)?,
        mode: DocMode::Create,
    })
}

pub(crate) fn resource_group_write(doc: &ResourceGroupDoc) -> Result<DocWrite, ServiceError> {
    Ok(DocWrite::Put {
        kind: RESOURCE_GROUP.to_owned(),
        id: rg_key(&doc.subscription_id, &doc.name),
        body: serde_json::to_vec(doc)?,
        mode: DocMode::Create,
    })
}

fn identity_put(doc: &ManagedIdentityDoc, mode: DocMode) -> Result<DocWrite, ManagementError> {
    Ok(DocWrite::Put {
        kind: MANAGED_IDENTITY.to_owned(),
        id: identity_key(&doc.resource_id),
        body: serde_json::to_vec(doc)?,
        mode,
    })
}

/// A fresh App Service-style identity header (`<id>.<secret>`) and the record that checks it.
fn new_identity_header(now: i64) -> Result<(String, IdentityHeaderDoc), ManagementError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let raw = coffer_crypto::random::bytes(32)?;
    let secret = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
    let header = format!("{id}.{secret}");
    let doc = IdentityHeaderDoc {
        id,
        hash: coffer_crypto::password::hash(&header)?,
        created: now,
    };
    Ok((header, doc))
}

/// Parses an IMDS binding (an IP address or a CIDR prefix) into its canonical network form.
pub(crate) fn parse_binding(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip, Some(len.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let ip = ip.parse::<IpAddr>().ok()?.to_canonical();
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    if len > max {
        return None;
    }
    Some((mask(ip, len), len))
}

fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

fn canonical_binding(s: &str) -> Option<String> {
    let (net, len) = parse_binding(s)?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    Some(if len == max {
        net.to_string()
    } else {
        format!("{net}/{len}")
    })
}

/// Whether a source address falls under a binding.
pub(crate) fn binding_matches(binding: &str, peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    match parse_binding(binding) {
        Some((net, len)) => net.is_ipv4() == peer.is_ipv4() && mask(peer, len) == net,
        None => false,
    }
}

impl Coffer {
    /// Authenticates a management request: a token for the management resource from a tenant of
    /// this instance. A refusal names the tenant of `subscription` (when it exists) or the
    /// default tenant, for the challenge.
    pub async fn authenticate_management(
        &self,
        authorization: Option<&str>,
        subscription: Option<&str>,
    ) -> Result<Principal, ManagementError> {
        match self
            .authenticate_for(authorization, crate::Resource::Management)
            .await
        {
            Ok((principal, _)) => Ok(principal),
            Err(error) => {
                let mut tenant_id = None;
                if let Some(s) = subscription
                    && let Ok(Some((sub, _))) = self.subscription_doc(s).await
                {
                    tenant_id = Some(sub.tenant_id);
                }
                let tenant_id = match tenant_id {
                    Some(t) => t,
                    None => self.default_tenant().await?,
                };
                Err(ManagementError::Unauthenticated { error, tenant_id })
            }
        }
    }

    /// The tenant created at first start.
    pub async fn default_tenant(&self) -> Result<String, ManagementError> {
        Ok(self
            .stored_bootstrap()
            .await?
            .map(|(b, _)| b.tenant_id)
            .unwrap_or_default())
    }

    async fn subscription_doc(
        &self,
        id: &str,
    ) -> Result<Option<(SubscriptionDoc, u64)>, ManagementError> {
        match self
            .store
            .get_doc(SUBSCRIPTION, &id.to_ascii_lowercase())
            .await?
        {
            Some(d) => Ok(Some((serde_json::from_slice(&d.body)?, d.revision))),
            None => Ok(None),
        }
    }

    /// The subscription, if the caller may perform `action` on `scope` in it.
    async fn authorize(
        &self,
        caller: &Principal,
        subscription: &str,
        action: &str,
        scope: &str,
    ) -> Result<SubscriptionDoc, ManagementError> {
        let Some((sub, _)) = self.subscription_doc(subscription).await? else {
            return Err(ManagementError::NotFound {
                code: "SubscriptionNotFound",
                message: format!(
                    "The subscription '{}' could not be found.",
                    clip(subscription)
                ),
            });
        };
        if !sub.tenant_id.eq_ignore_ascii_case(&caller.tenant_id) {
            return Err(ManagementError::Forbidden {
                code: "AuthorizationFailed",
                message: format!(
                    "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid: the subscription belongs to tenant '{}', the caller to tenant '{}'. If access was recently granted, please refresh your credentials.",
                    caller.app_id.as_deref().unwrap_or(&caller.object_id),
                    caller.object_id,
                    sub.tenant_id,
                    caller.tenant_id
                ),
            });
        }
        Ok(sub)
    }

    // ---- subscriptions and tenants ---------------------------------------------------------

    /// The subscriptions of the caller's tenant.
    pub async fn list_subscriptions(
        &self,
        caller: &Principal,
    ) -> Result<Vec<SubscriptionView>, ManagementError> {
        let mut out = Vec::new();
        for d in self.store.list_docs(SUBSCRIPTION).await? {
            let s: SubscriptionDoc = serde_json::from_slice(&d.body)?;
            if s.tenant_id.eq_ignore_ascii_case(&caller.tenant_id) {
                out.push(subscription_view(s));
            }
        }
        Ok(out)
    }

    pub async fn get_subscription(
        &self,
        caller: &Principal,
        subscription: &str,
    ) -> Result<SubscriptionView, ManagementError> {
        let scope = format!("/subscriptions/{}", clip(subscription));
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.Resources/subscriptions/read",
                &scope,
            )
            .await?;
        Ok(subscription_view(sub))
    }

    /// The tenants the caller can see: its own.
    pub async fn list_tenants(
        &self,
        caller: &Principal,
    ) -> Result<Vec<TenantView>, ManagementError> {
        let doc = self
            .store
            .get_doc(
                crate::records::TENANT,
                &caller.tenant_id.to_ascii_lowercase(),
            )
            .await?;
        Ok(match doc {
            Some(d) => {
                let t: TenantDoc = serde_json::from_slice(&d.body)?;
                vec![TenantView {
                    tenant_id: t.id,
                    display_name: t.display_name,
                }]
            }
            None => Vec::new(),
        })
    }

    /// The locations of a subscription (Coffer has one).
    pub async fn list_locations(
        &self,
        caller: &Principal,
        subscription: &str,
    ) -> Result<Vec<String>, ManagementError> {
        let scope = format!("/subscriptions/{}", clip(subscription));
        self.authorize(
            caller,
            subscription,
            "Microsoft.Resources/subscriptions/locations/read",
            &scope,
        )
        .await?;
        Ok(vec![DEFAULT_LOCATION.to_owned()])
    }

    // ---- resource providers ----------------------------------------------------------------

    /// A resource provider namespace; every namespace Coffer serves is registered.
    pub async fn get_provider(
        &self,
        caller: &Principal,
        subscription: &str,
        namespace: &str,
    ) -> Result<ProviderView, ManagementError> {
        let scope = format!(
            "/subscriptions/{}/providers/{}",
            clip(subscription),
            clip(namespace)
        );
        self.authorize(
            caller,
            subscription,
            "Microsoft.Resources/subscriptions/providers/read",
            &scope,
        )
        .await?;
        PROVIDERS
            .iter()
            .find(|(ns, _)| ns.eq_ignore_ascii_case(namespace))
            .map(|(ns, types)| provider_view(ns, types))
            .ok_or_else(|| ManagementError::NotFound {
                code: "InvalidResourceNamespace",
                message: format!(
                    "The resource namespace '{}' is invalid. This Coffer instance serves {}.",
                    clip(namespace),
                    PROVIDERS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    pub async fn list_providers(
        &self,
        caller: &Principal,
        subscription: &str,
    ) -> Result<Vec<ProviderView>, ManagementError> {
        let scope = format!("/subscriptions/{}", clip(subscription));
        self.authorize(
            caller,
            subscription,
            "Microsoft.Resources/subscriptions/providers/read",
            &scope,
        )
        .await?;
        Ok(PROVIDERS
            .iter()
            .map(|(ns, types)| provider_view(ns, types))
            .collect())
    }

    // ---- resource groups -------------------------------------------------------------------

    async fn rg_doc(
        &self,
        subscription: &str,
        rg: &str,
    ) -> Result<Option<(ResourceGroupDoc, u64)>, ManagementError> {
        match self
            .store
            .get_doc(RESOURCE_GROUP, &rg_key(subscription, rg))
            .await?
        {
            Some(d) => Ok(Some((serde_json::from_slice(&d.body)?, d.revision))),
            None => Ok(None),
        }
    }

    async fn existing_rg(
        &self,
        subscription: &str,
        rg: &str,
    ) -> Result<(ResourceGroupDoc, u64), ManagementError> {
        self.rg_doc(subscription, rg)
            .await?
            .ok_or_else(|| ManagementError::NotFound {
                code: "ResourceGroupNotFound",
                message: format!("Resource group '{}' could not be found.", clip(rg)),
            })
    }

    pub async fn list_resource_groups(
        &self,
        caller: &Principal,
        subscription: &str,
    ) -> Result<Vec<ResourceGroupView>, ManagementError> {
        let scope = format!("/subscriptions/{}", clip(subscription));
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                &scope,
            )
            .await?;
        let mut out = Vec::new();
        for d in self.store.list_docs(RESOURCE_GROUP).await? {
            let rg: ResourceGroupDoc = serde_json::from_slice(&d.body)?;
            if rg.subscription_id.eq_ignore_ascii_case(&sub.id) {
                out.push(rg_view(&rg));
            }
        }
        Ok(out)
    }

    pub async fn get_resource_group(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
    ) -> Result<ResourceGroupView, ManagementError> {
        let scope = rg_id(&clip(subscription), &clip(rg));
        self.authorize(
            caller,
            subscription,
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            &scope,
        )
        .await?;
        Ok(rg_view(&self.existing_rg(subscription, rg).await?.0))
    }

    /// Creates or updates a resource group; `true` when it was created. Its location cannot change.
    pub async fn put_resource_group(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        input: ResourceInput,
    ) -> Result<(ResourceGroupView, bool), ManagementError> {
        validate_rg_name(rg)?;
        let scope = rg_id(&clip(subscription), rg);
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.Resources/subscriptions/resourceGroups/write",
                &scope,
            )
            .await?;
        let location = match input.location.as_deref() {
            Some(l) => validate_location(l)?,
            None => {
                return Err(bad(
                    "LocationRequired",
                    "The location property is required for this definition.".to_owned(),
                ));
            }
        };
        let tags = input.tags.unwrap_or_default();
        validate_tags(&tags)?;
        for _ in 0..WRITE_ATTEMPTS {
            let (doc, mode, created) = match self.rg_doc(&sub.id, rg).await? {
                Some((mut doc, rev)) => {
                    if doc.location != location {
                        return Err(ManagementError::Conflict {
                            code: "InvalidResourceGroupLocation",
                            message: format!(
                                "Invalid resource group location '{location}'. The Resource group already exists in location '{}'.",
                                doc.location
                            ),
                        });
                    }
                    doc.tags = tags.clone();
                    (doc, DocMode::Update(rev), false)
                }
                None => (
                    ResourceGroupDoc {
                        subscription_id: sub.id.clone(),
                        name: rg.to_owned(),
                        location: location.clone(),
                        tags: tags.clone(),
                        created: self.now(),
                    },
                    DocMode::Create,
                    true,
                ),
            };
            let write = DocWrite::Put {
                kind: RESOURCE_GROUP.to_owned(),
                id: rg_key(&sub.id, rg),
                body: serde_json::to_vec(&doc)?,
                mode,
            };
            match self.store.write_docs(vec![write]).await {
                Ok(()) => return Ok((rg_view(&doc), created)),
                Err(StoreError::AlreadyExists | StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }

    /// Replaces a resource group's tags (PATCH); other properties cannot change.
    pub async fn patch_resource_group(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        tags: Option<BTreeMap<String, String>>,
    ) -> Result<ResourceGroupView, ManagementError> {
        let scope = rg_id(&clip(subscription), &clip(rg));
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.Resources/subscriptions/resourceGroups/write",
                &scope,
            )
            .await?;
        if let Some(t) = &tags {
            validate_tags(t)?;
        }
        for _ in 0..WRITE_ATTEMPTS {
            let (mut doc, rev) = self.existing_rg(&sub.id, rg).await?;
            if let Some(t) = &tags {
                doc.tags = t.clone();
            }
            let write = DocWrite::Put {
                kind: RESOURCE_GROUP.to_owned(),
                id: rg_key(&sub.id, rg),
                body: serde_json::to_vec(&doc)?,
                mode: DocMode::Update(rev),
            };
            match self.store.write_docs(vec![write]).await {
                Ok(()) => return Ok(rg_view(&doc)),
                Err(StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }

    /// Deletes a resource group with the identities in it (their tokens stay valid until they
    /// expire, as in Azure). Vaults and gateways are not in resource groups yet.
    pub async fn delete_resource_group(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
    ) -> Result<(), ManagementError> {
        let scope = rg_id(&clip(subscription), &clip(rg));
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.Resources/subscriptions/resourceGroups/delete",
                &scope,
            )
            .await?;
        for _ in 0..WRITE_ATTEMPTS {
            self.existing_rg(&sub.id, rg).await?;
            let mut writes = vec![DocWrite::Delete {
                kind: RESOURCE_GROUP.to_owned(),
                id: rg_key(&sub.id, rg),
            }];
            for (doc, _) in self.identity_docs().await? {
                if doc.subscription_id.eq_ignore_ascii_case(&sub.id)
                    && doc.resource_group.eq_ignore_ascii_case(rg)
                {
                    writes.push(DocWrite::Delete {
                        kind: MANAGED_IDENTITY.to_owned(),
                        id: identity_key(&doc.resource_id),
                    });
                }
            }
            match self.store.write_docs(writes).await {
                Ok(()) => return Ok(()),
                // Something in it changed meanwhile: look again.
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }

    // ---- managed identities: records -------------------------------------------------------

    pub(crate) async fn identity_docs(
        &self,
    ) -> Result<Vec<(ManagedIdentityDoc, u64)>, ManagementError> {
        self.store
            .list_docs(MANAGED_IDENTITY)
            .await?
            .iter()
            .map(|d| Ok((serde_json::from_slice(&d.body)?, d.revision)))
            .collect()
    }

    async fn identity_doc(
        &self,
        resource_id: &str,
    ) -> Result<Option<(ManagedIdentityDoc, u64)>, ManagementError> {
        match self
            .store
            .get_doc(MANAGED_IDENTITY, &identity_key(resource_id))
            .await?
        {
            Some(d) => Ok(Some((serde_json::from_slice(&d.body)?, d.revision))),
            None => Ok(None),
        }
    }

    /// Read-modify-write of an identity record; `f` may refuse with an error.
    async fn modify_identity<T>(
        &self,
        resource_id: &str,
        not_found: impl Fn() -> ManagementError,
        mut f: impl FnMut(&mut ManagedIdentityDoc) -> Result<T, ManagementError>,
    ) -> Result<(ManagedIdentityDoc, T), ManagementError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some((mut doc, rev)) = self.identity_doc(resource_id).await? else {
                return Err(not_found());
            };
            let out = f(&mut doc)?;
            match self
                .store
                .write_docs(vec![identity_put(&doc, DocMode::Update(rev))?])
                .await
            {
                Ok(()) => return Ok((doc, out)),
                Err(StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }

    /// Issues a new App Service-style header for the identity whose tokens name `resource_id`
    /// (a user-assigned identity's id, or the owner of a system-assigned one). The previous
    /// header stops working.
    pub async fn rotate_identity_header(
        &self,
        resource_id: &str,
    ) -> Result<IdentitySecrets, ManagementError> {
        let now = self.now();
        let (_, header) = self
            .modify_identity(
                resource_id,
                || identity_not_found(resource_id),
                |doc| {
                    let (header, rec) = new_identity_header(now)?;
                    doc.header = Some(rec);
                    Ok(header)
                },
            )
            .await?;
        Ok(IdentitySecrets {
            identity_endpoint: self.identity_endpoint(),
            identity_header: header,
        })
    }

    /// Replaces the source addresses (IPs or CIDR prefixes) allowed to get tokens for an
    /// identity from the IMDS-style endpoint. Returns them in canonical form.
    pub async fn set_imds_bindings(
        &self,
        resource_id: &str,
        addresses: &[String],
    ) -> Result<Vec<String>, ManagementError> {
        if addresses.len() > MAX_IMDS_BINDINGS {
            return Err(bad(
                "InvalidRequestContent",
                format!("At most {MAX_IMDS_BINDINGS} addresses can be bound to one identity."),
            ));
        }
        let mut canon = Vec::with_capacity(addresses.len());
        for a in addresses {
            let c = canonical_binding(a).ok_or_else(|| {
                bad(
                    "InvalidRequestContent",
                    format!(
                        "'{}' is not an IP address or CIDR prefix (such as 127.0.0.1, 10.1.0.0/16 or ::1).",
                        clip(a)
                    ),
                )
            })?;
            if !canon.contains(&c) {
                canon.push(c);
            }
        }
        let (doc, ()) = self
            .modify_identity(
                resource_id,
                || identity_not_found(resource_id),
                |doc| {
                    doc.imds_addresses = canon.clone();
                    Ok(())
                },
            )
            .await?;
        Ok(doc.imds_addresses)
    }

    /// The source addresses bound to an identity for the IMDS-style endpoint.
    pub async fn imds_bindings(&self, resource_id: &str) -> Result<Vec<String>, ManagementError> {
        match self.identity_doc(resource_id).await? {
            Some((d, _)) => Ok(d.imds_addresses),
            None => Err(identity_not_found(resource_id)),
        }
    }

    /// The App Service-style token endpoint of this instance (`IDENTITY_ENDPOINT`).
    pub fn identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.settings.authority())
    }

    // ---- user-assigned identities ----------------------------------------------------------

    /// Creates or updates a user-assigned identity. On creation it also returns its first
    /// App Service-style header (ARM never shows it; `listSecrets` issues a new one).
    pub async fn put_user_assigned_identity(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        input: ResourceInput,
    ) -> Result<(IdentityView, Option<String>), ManagementError> {
        validate_identity_name(name)?;
        let scope = user_identity_id(&clip(subscription), &clip(rg), name);
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.ManagedIdentity/userAssignedIdentities/write",
                &scope,
            )
            .await?;
        let (group, _) = self.existing_rg(&sub.id, rg).await?;
        let tags = input.tags.unwrap_or_default();
        validate_tags(&tags)?;
        let location = input
            .location
            .as_deref()
            .map(validate_location)
            .transpose()?;
        let resource_id = user_identity_id(&sub.id, &group.name, name);
        for _ in 0..WRITE_ATTEMPTS {
            let (doc, mode, header) = match self.identity_doc(&resource_id).await? {
                Some((mut doc, rev)) => {
                    if let Some(l) = &location
                        && *l != doc.location
                    {
                        return Err(ManagementError::Conflict {
                            code: "InvalidResourceLocation",
                            message: format!(
                                "The resource '{}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{l}'. Please select a new resource name.",
                                doc.name, doc.location, doc.resource_group
                            ),
                        });
                    }
                    doc.tags = tags.clone();
                    (doc, DocMode::Update(rev), None)
                }
                None => {
                    let Some(location) = location.clone() else {
                        return Err(bad(
                            "LocationRequired",
                            "The location property is required for this definition.".to_owned(),
                        ));
                    };
                    let (header, rec) = new_identity_header(self.now())?;
                    let doc = ManagedIdentityDoc {
                        tenant_id: sub.tenant_id.clone(),
                        system: false,
                        resource_id: resource_id.clone(),
                        subscription_id: sub.id.clone(),
                        resource_group: group.name.clone(),
                        name: name.to_owned(),
                        location,
                        tags: tags.clone(),
                        principal_id: uuid::Uuid::new_v4().to_string(),
                        client_id: uuid::Uuid::new_v4().to_string(),
                        created: self.now(),
                        header: Some(rec),
                        imds_addresses: Vec::new(),
                    };
                    (doc, DocMode::Create, Some(header))
                }
            };
            match self.store.write_docs(vec![identity_put(&doc, mode)?]).await {
                Ok(()) => return Ok((doc.view(), header)),
                Err(StoreError::AlreadyExists | StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }

    /// Replaces a user-assigned identity's tags (PATCH).
    pub async fn patch_user_assigned_identity(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        tags: Option<BTreeMap<String, String>>,
    ) -> Result<IdentityView, ManagementError> {
        let resource_id = self
            .authorize_identity(caller, subscription, rg, name, "write")
            .await?;
        if let Some(t) = &tags {
            validate_tags(t)?;
        }
        let (doc, ()) = self
            .modify_identity(
                &resource_id,
                || user_identity_not_found(rg, name),
                |doc| {
                    if let Some(t) = &tags {
                        doc.tags = t.clone();
                    }
                    Ok(())
                },
            )
            .await?;
        Ok(doc.view())
    }

    /// Checks the caller and the resource group; returns the identity's resource id.
    async fn authorize_identity(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        verb: &str,
    ) -> Result<String, ManagementError> {
        let scope = user_identity_id(&clip(subscription), &clip(rg), &clip(name));
        let action = format!("Microsoft.ManagedIdentity/userAssignedIdentities/{verb}");
        let sub = self
            .authorize(caller, subscription, &action, &scope)
            .await?;
        let (group, _) = self.existing_rg(&sub.id, rg).await?;
        Ok(user_identity_id(&sub.id, &group.name, name))
    }

    pub async fn get_user_assigned_identity(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
    ) -> Result<IdentityView, ManagementError> {
        let resource_id = self
            .authorize_identity(caller, subscription, rg, name, "read")
            .await?;
        match self.identity_doc(&resource_id).await? {
            Some((d, _)) if !d.system => Ok(d.view()),
            _ => Err(user_identity_not_found(rg, name)),
        }
    }

    /// Deletes a user-assigned identity; `false` if there was none.
    pub async fn delete_user_assigned_identity(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
    ) -> Result<bool, ManagementError> {
        let resource_id = self
            .authorize_identity(caller, subscription, rg, name, "delete")
            .await?;
        match self.identity_doc(&resource_id).await? {
            Some((d, _)) if !d.system => {}
            _ => return Ok(false),
        }
        self.delete_identity_doc(&resource_id).await
    }

    /// User-assigned identities of a subscription, or of one of its resource groups.
    pub async fn list_user_assigned_identities(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: Option<&str>,
    ) -> Result<Vec<IdentityView>, ManagementError> {
        let scope = match rg {
            Some(rg) => rg_id(&clip(subscription), &clip(rg)),
            None => format!("/subscriptions/{}", clip(subscription)),
        };
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.ManagedIdentity/userAssignedIdentities/read",
                &scope,
            )
            .await?;
        if let Some(rg) = rg {
            self.existing_rg(&sub.id, rg).await?;
        }
        let mut out: Vec<IdentityView> = self
            .identity_docs()
            .await?
            .into_iter()
            .map(|(d, _)| d)
            .filter(|d| {
                !d.system
                    && d.subscription_id.eq_ignore_ascii_case(&sub.id)
                    && rg.is_none_or(|rg| d.resource_group.eq_ignore_ascii_case(rg))
            })
            .map(|d| d.view())
            .collect();
        out.sort_by_key(|a| a.id.to_ascii_lowercase());
        Ok(out)
    }

    /// `listSecrets` (a Coffer action): a new App Service-style header for a user-assigned
    /// identity and the endpoint to use it with. The previous header stops working.
    pub async fn list_identity_secrets(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
    ) -> Result<IdentitySecrets, ManagementError> {
        let resource_id = self
            .authorize_identity(caller, subscription, rg, name, "listSecrets/action")
            .await?;
        self.ensure_user_identity(&resource_id, rg, name).await?;
        self.rotate_identity_header(&resource_id).await
    }

    /// The source addresses bound to a user-assigned identity (a Coffer extension).
    pub async fn get_identity_imds_bindings(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
    ) -> Result<Vec<String>, ManagementError> {
        let resource_id = self
            .authorize_identity(caller, subscription, rg, name, "read")
            .await?;
        self.ensure_user_identity(&resource_id, rg, name).await?;
        self.imds_bindings(&resource_id).await
    }

    /// Replaces the source addresses bound to a user-assigned identity (a Coffer extension).
    pub async fn put_identity_imds_bindings(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        addresses: &[String],
    ) -> Result<Vec<String>, ManagementError> {
        let resource_id = self
            .authorize_identity(caller, subscription, rg, name, "write")
            .await?;
        self.ensure_user_identity(&resource_id, rg, name).await?;
        self.set_imds_bindings(&resource_id, addresses).await
    }

    async fn ensure_user_identity(
        &self,
        resource_id: &str,
        rg: &str,
        name: &str,
    ) -> Result<(), ManagementError> {
        match self.identity_doc(resource_id).await? {
            Some((d, _)) if !d.system => Ok(()),
            _ => Err(user_identity_not_found(rg, name)),
        }
    }

    // ---- system-assigned identities ----------------------------------------------------------

    /// Gives the resource `resource_id` (e.g. a gateway) a system-assigned identity in `tenant_id`,
    /// or returns the one it has. A new identity comes with its first App Service-style header.
    pub async fn ensure_system_identity(
        &self,
        tenant_id: &str,
        resource_id: &str,
        location: &str,
    ) -> Result<(IdentityView, Option<String>), ManagementError> {
        for _ in 0..WRITE_ATTEMPTS {
            if let Some((d, _)) = self.identity_doc(resource_id).await? {
                if d.system {
                    return Ok((d.view(), None));
                }
                return Err(ManagementError::Conflict {
                    code: "Conflict",
                    message: format!(
                        "'{}' is a user-assigned identity, not a resource that can have a system-assigned one.",
                        clip(resource_id)
                    ),
                });
            }
            let (subscription_id, resource_group) = scope_parts(resource_id);
            let name = resource_id
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let (header, rec) = new_identity_header(self.now())?;
            let doc = ManagedIdentityDoc {
                tenant_id: tenant_id.to_owned(),
                system: true,
                resource_id: resource_id.to_owned(),
                subscription_id,
                resource_group,
                name,
                location: normalize_location(location),
                tags: BTreeMap::new(),
                principal_id: uuid::Uuid::new_v4().to_string(),
                client_id: uuid::Uuid::new_v4().to_string(),
                created: self.now(),
                header: Some(rec),
                imds_addresses: Vec::new(),
            };
            match self
                .store
                .write_docs(vec![identity_put(&doc, DocMode::Create)?])
                .await
            {
                Ok(()) => return Ok((doc.view(), Some(header))),
                Err(StoreError::AlreadyExists) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }

    /// The system-assigned identity of a resource, if it has one.
    pub async fn system_identity(
        &self,
        resource_id: &str,
    ) -> Result<Option<IdentityView>, ManagementError> {
        Ok(match self.identity_doc(resource_id).await? {
            Some((d, _)) if d.system => Some(d.view()),
            _ => None,
        })
    }

    /// Removes a resource's system-assigned identity; `false` if it had none.
    pub async fn remove_system_identity(&self, resource_id: &str) -> Result<bool, ManagementError> {
        match self.identity_doc(resource_id).await? {
            Some((d, _)) if d.system => {}
            _ => return Ok(false),
        }
        self.delete_identity_doc(resource_id).await
    }

    /// Removes an identity's record; `false` if it was already gone.
    async fn delete_identity_doc(&self, resource_id: &str) -> Result<bool, ManagementError> {
        match self
            .store
            .write_docs(vec![DocWrite::Delete {
                kind: MANAGED_IDENTITY.to_owned(),
                id: identity_key(resource_id),
            }])
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET {scope}/providers/Microsoft.ManagedIdentity/identities/default`: the system-assigned
    /// identity of the resource `scope`.
    pub async fn get_system_identity(
        &self,
        caller: &Principal,
        scope: &str,
    ) -> Result<IdentityView, ManagementError> {
        let (subscription, _) = scope_parts(scope);
        self.authorize(
            caller,
            &subscription,
            "Microsoft.ManagedIdentity/identities/read",
            &clip(scope),
        )
        .await?;
        self.system_identity(scope)
            .await?
            .ok_or_else(|| ManagementError::NotFound {
                code: "ResourceNotFound",
                message: format!(
                    "The resource '{}' has no system-assigned managed identity.",
                    clip(scope)
                ),
            })
    }
}

/// `(subscription, resource group)` of a resource id such as
/// `/subscriptions/{s}/resourceGroups/{rg}/providers/...` (empty strings where absent).
pub(crate) fn scope_parts(resource_id: &str) -> (String, String) {
    let segs: Vec<&str> = resource_id.trim_matches('/').split('/').collect();
    let mut sub = String::new();
    let mut rg = String::new();
    let mut i = 0;
    while i + 1 < segs.len() {
        if segs[i].eq_ignore_ascii_case("subscriptions") && sub.is_empty() {
            sub = segs[i + 1].to_owned();
        } else if segs[i].eq_ignore_ascii_case("resourceGroups") && rg.is_empty() {
            rg = segs[i + 1].to_owned();
        }
        i += 1;
    }
    (sub, rg)
}

fn subscription_view(s: SubscriptionDoc) -> SubscriptionView {
    SubscriptionView {
        subscription_id: s.id,
        tenant_id: s.tenant_id,
        display_name: s.display_name,
    }
}

fn rg_view(rg: &ResourceGroupDoc) -> ResourceGroupView {
    ResourceGroupView {
        id: rg_id(&rg.subscription_id, &rg.name),
        name: rg.name.clone(),
        location: rg.location.clone(),
        tags: rg.tags.clone(),
    }
}

fn provider_view(ns: &str, types: &[&str]) -> ProviderView {
    ProviderView {
        namespace: ns.to_owned(),
        resource_types: types.iter().map(|t| (*t).to_owned()).collect(),
    }
}

fn concurrent() -> ManagementError {
    ManagementError::Conflict {
        code: "Conflict",
        message: "The resource changed concurrently; try again.".to_owned(),
    }
}

fn user_identity_not_found(rg: &str, name: &str) -> ManagementError {
    ManagementError::NotFound {
        code: "ResourceNotFound",
        message: format!(
            "The Resource '{USER_ASSIGNED_IDENTITY_TYPE}/{}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            clip(name),
            clip(rg)
        ),
    }
}

fn identity_not_found(resource_id: &str) -> ManagementError {
    ManagementError::NotFound {
        code: "ResourceNotFound",
        message: format!("No managed identity belongs to '{}'.", clip(resource_id)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use coffer_crypto::RootKey;
    use coffer_domain::SystemClock;
    use coffer_store::Store;
    use coffer_store_sqlite::SqliteStore;

    use super::*;
    use crate::Settings;
    use crate::records::INSTANCE;

    async fn app(store: Arc<SqliteStore>) -> Coffer {
        let settings = Settings {
            domain: "localhost".into(),
            port: 8443,
            token_lifetime_secs: 3600,
            clock_skew_secs: 300,
        };
        Coffer::open(
            store,
            RootKey::generate().unwrap(),
            Arc::new(SystemClock),
            settings,
        )
        .await
        .unwrap()
    }

    fn caller(tenant: &str) -> Principal {
        Principal {
            tenant_id: tenant.to_owned(),
            object_id: "oid".to_owned(),
            app_id: Some("appid".to_owned()),
            issuer: String::new(),
        }
    }

    #[tokio::test]
    async fn an_old_instance_gets_its_management_scope() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let coffer = app(Arc::clone(&store)).await;
        let first = coffer.bootstrap().await.unwrap();
        assert_eq!(first.resource_group, DEFAULT_RESOURCE_GROUP);
        // Rewrite the bootstrap record as an earlier version wrote it, and drop the scope.
        let doc = store.get_doc(INSTANCE, "bootstrap").await.unwrap().unwrap();
        let mut old: serde_json::Value = serde_json::from_slice(&doc.body).unwrap();
        let obj = old.as_object_mut().unwrap();
        obj.remove("subscription_id");
        obj.remove("resource_group");
        store
            .write_docs(vec![
                DocWrite::Put {
                    kind: INSTANCE.to_owned(),
                    id: "bootstrap".to_owned(),
                    body: serde_json::to_vec(&old).unwrap(),
                    mode: DocMode::Update(doc.revision),
                },
                DocWrite::Delete {
                    kind: SUBSCRIPTION.to_owned(),
                    id: first.subscription_id.clone(),
                },
                DocWrite::Delete {
                    kind: RESOURCE_GROUP.to_owned(),
                    id: rg_key(&first.subscription_id, DEFAULT_RESOURCE_GROUP),
                },
            ])
            .await
            .unwrap();
        let again = coffer.bootstrap().await.unwrap();
        assert_eq!(again.tenant_id, first.tenant_id);
        assert_eq!(again.resource_group, DEFAULT_RESOURCE_GROUP);
        assert_eq!(again.subscription_id.len(), 36);
        let me = caller(&again.tenant_id);
        let subs = coffer.list_subscriptions(&me).await.unwrap();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].subscription_id, again.subscription_id);
        coffer
            .get_resource_group(&me, &again.subscription_id, "COFFER-RG")
            .await
            .unwrap();
        // Stable from then on; a deleted default group comes back at the next start.
        coffer
            .delete_resource_group(&me, &again.subscription_id, DEFAULT_RESOURCE_GROUP)
            .await
            .unwrap();
        let third = coffer.bootstrap().await.unwrap();
        assert_eq!(third.subscription_id, again.subscription_id);
        coffer
            .get_resource_group(&me, &again.subscription_id, DEFAULT_RESOURCE_GROUP)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn other_tenants_may_not_act() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let coffer = app(store).await;
        let boot = coffer.bootstrap().await.unwrap();
        let stranger = caller("11111111-1111-1111-1111-111111111111");
        assert!(
            coffer
                .list_subscriptions(&stranger)
                .await
                .unwrap()
                .is_empty()
        );
        let e = coffer
            .put_user_assigned_identity(
                &stranger,
                &boot.subscription_id,
                DEFAULT_RESOURCE_GROUP,
                "sneaky",
                ResourceInput {
                    location: Some("local".into()),
                    tags: None,
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ManagementError::Forbidden {
                    code: "AuthorizationFailed",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = coffer
            .get_subscription(&caller(&boot.tenant_id), "nope")
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            ManagementError::NotFound {
                code: "SubscriptionNotFound",
                ..
            }
        ));
    }

    #[tokio::test]
    async fn system_assigned_identities() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let coffer = app(store).await;
        let boot = coffer.bootstrap().await.unwrap();
        let owner = format!(
            "/subscriptions/{}/resourceGroups/coffer-rg/providers/Microsoft.ApiManagement/service/gw",
            boot.subscription_id
        );
        let (v, header) = coffer
            .ensure_system_identity(&boot.tenant_id, &owner, "local")
            .await
            .unwrap();
        assert!(header.is_some() && v.system_assigned);
        assert_eq!(v.name, "default");
        assert!(v.id.ends_with("/providers/Microsoft.ManagedIdentity/identities/default"));
        let (again, none) = coffer
            .ensure_system_identity(&boot.tenant_id, &owner, "local")
            .await
            .unwrap();
        assert!(none.is_none());
        assert_eq!(again.principal_id, v.principal_id);
        let me = caller(&boot.tenant_id);
        let got = coffer
            .get_system_identity(&me, &owner.to_lowercase())
            .await
            .unwrap();
        assert_eq!(got.client_id, v.client_id);
        // Its header gets tokens naming the owner in xms_mirid.
        let secrets = coffer.rotate_identity_header(&owner).await.unwrap();
        let t = coffer
            .mi_token_app_service(
                Some(&secrets.identity_header),
                &crate::MiTokenRequest {
                    resource: Some("https://vault.localhost:8443".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let (_, claims) = coffer_identity::decode_unverified(&t.access_token).unwrap();
        assert_eq!(claims["xms_mirid"], owner.as_str());
        assert_eq!(claims["oid"], v.principal_id.as_str());
        // System identities are not listed as user-assigned ones.
        let listed = coffer
            .list_user_assigned_identities(&me, &boot.subscription_id, None)
            .await
            .unwrap();
        assert!(listed.is_empty());
        assert!(coffer.remove_system_identity(&owner).await.unwrap());
        assert!(!coffer.remove_system_identity(&owner).await.unwrap());
        assert!(coffer.system_identity(&owner).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn imds_selection() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let coffer = app(store).await;
        let boot = coffer.bootstrap().await.unwrap();
        let me = caller(&boot.tenant_id);
        let mut ids = Vec::new();
        for name in ["one-id", "two-id"] {
            let (v, _) = coffer
                .put_user_assigned_identity(
                    &me,
                    &boot.subscription_id,
                    DEFAULT_RESOURCE_GROUP,
                    name,
                    ResourceInput {
                        location: Some("local".into()),
                        tags: None,
                    },
                )
                .await
                .unwrap();
            coffer
                .set_imds_bindings(&v.resource_id, &["10.0.0.0/8".to_owned()])
                .await
                .unwrap();
            ids.push(v);
        }
        let req = |client_id: Option<&str>| crate::MiTokenRequest {
            resource: Some("https://vault.localhost:8443".into()),
            client_id: client_id.map(str::to_owned),
            ..Default::default()
        };
        let peer: IpAddr = "10.1.2.3".parse().unwrap();
        // Two identities bound: a selector is needed.
        let e = coffer
            .mi_token_imds(Some(peer), &req(None))
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("Multiple user assigned identities"),
            "{e}"
        );
        let t = coffer
            .mi_token_imds(Some(peer), &req(Some(&ids[1].client_id)))
            .await
            .unwrap();
        assert_eq!(t.client_id, ids[1].client_id);
        // Another address gets nothing.
        let e = coffer
            .mi_token_imds(
                Some("192.0.2.1".parse().unwrap()),
                &req(Some(&ids[1].client_id)),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, crate::MiError::IdentityNotFound(_)));
        // With one left bound, no selector is needed.
        coffer
            .set_imds_bindings(&ids[0].resource_id, &[])
            .await
            .unwrap();
        let t = coffer.mi_token_imds(Some(peer), &req(None)).await.unwrap();
        assert_eq!(t.client_id, ids[1].client_id);
    }

    #[test]
    fn bindings() {
        assert_eq!(canonical_binding("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(
            canonical_binding("10.1.2.3/16").as_deref(),
            Some("10.1.0.0/16")
        );
        assert_eq!(
            canonical_binding("::ffff:127.0.0.1").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(canonical_binding("::1").as_deref(), Some("::1"));
        assert_eq!(canonical_binding("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(canonical_binding("1.2.3.4/33"), None);
        assert_eq!(canonical_binding("localhost"), None);
        assert!(binding_matches(
            "10.1.0.0/16",
            "10.1.200.3".parse().unwrap()
        ));
        assert!(!binding_matches("10.1.0.0/16", "10.2.0.1".parse().unwrap()));
        assert!(binding_matches(
            "127.0.0.1",
            "::ffff:127.0.0.1".parse().unwrap()
        ));
        assert!(!binding_matches("127.0.0.1", "::1".parse().unwrap()));
        assert!(binding_matches("::/0", "::1".parse().unwrap()));
    }

    #[test]
    fn names_and_scopes() {
        assert!(validate_rg_name("coffer-rg").is_ok());
        assert!(validate_rg_name("a.b_(c)").is_ok());
        assert!(validate_rg_name("ends.").is_err());
        assert!(validate_rg_name("").is_err());
        assert!(validate_rg_name("sl/ash").is_err());
        assert!(validate_identity_name("id-1_x").is_ok());
        assert!(validate_identity_name("ab").is_err());
        assert!(validate_identity_name("-ab").is_err());
        assert_eq!(normalize_location("West Europe"), "westeurope");
        assert_eq!(
            scope_parts("/subscriptions/S/resourcegroups/RG/providers/X/y/z"),
            ("S".to_owned(), "RG".to_owned())
        );
        assert_eq!(scope_parts("/tenants/t"), (String::new(), String::new()));
    }
}
