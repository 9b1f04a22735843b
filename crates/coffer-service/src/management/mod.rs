//! The management (ARM) plane, one module per resource provider: `resources` (subscriptions,
//! tenants, locations, providers, resource groups and the generic resource listing:
//! `Microsoft.Resources`), `identities` (`Microsoft.ManagedIdentity`) and `keyvault`
//! (`Microsoft.KeyVault`). This module holds what they share: the error type, the scope
//! checks (every operation takes the authenticated caller and checks that it belongs to the
//! subscription's tenant before it touches the store), resource-group look-ups and the common
//! validation of locations and tags. A new provider is a new file plus a line in [`PROVIDERS`].

pub mod apim;
mod identities;
mod keyvault;
mod resources;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeMap;

use coffer_domain::Principal;
use coffer_identity::TokenError;
use coffer_store::StoreError;

pub(crate) use identities::binding_matches;
pub use identities::{
    BOOTSTRAP_IDENTITY, BootstrapIdentity, IdentitySecrets, IdentityView,
    SYSTEM_ASSIGNED_IDENTITY_TYPE, USER_ASSIGNED_IDENTITY_TYPE,
};
pub(crate) use keyvault::vault_resource_id;
pub use keyvault::{
    AUDIT_EVENTS_NAMESPACE, AccessPolicyInput, AccessPolicyUpdate, DIAGNOSTIC_SETTING_TYPE,
    DeletedVaultView, DiagnosticLog, DiagnosticMetric, DiagnosticSetting, DoctorReport,
    DoctorRequest, Fault, ImportOutcome, NameAvailability, NetworkAclsInput, PortableDoc,
    PortableObject, PortableSettings, PortableVersion, TESTING_NAMESPACE, TestSettings, VAULT_TYPE,
    VaultExport, VaultInput, VaultView, VirtualNetworkRule,
};
pub use resources::{
    GenericResourceView, ProviderView, ResourceGroupView, SubscriptionView, TenantView,
};
pub(crate) use resources::{resource_group_write, rg_key, subscription_write};

use crate::records::{RESOURCE_GROUP, ResourceGroupDoc, SUBSCRIPTION, SubscriptionDoc};
use crate::{Coffer, ServiceError};

/// The resource group every instance has.
pub const DEFAULT_RESOURCE_GROUP: &str = "coffer-rg";
/// The one location of a Coffer instance; other location names are accepted and kept as given.
pub const DEFAULT_LOCATION: &str = "local";

/// A resource provider namespace and the resource types it offers.
pub(crate) struct Provider {
    pub(crate) namespace: &'static str,
    pub(crate) resource_types: &'static [&'static str],
}

/// The resource providers this instance serves, each always `Registered` (clients that find a
/// namespace unregistered try to register it and poll).
const PROVIDERS: &[&Provider] = &[
    &identities::PROVIDER,
    &keyvault::PROVIDER,
    &apim::PROVIDER,
    &resources::PROVIDER,
];

/// Whether a resource of subscription `doc_sub` and group `doc_rg` lies in `subscription` (and
/// in group `rg`, if given); ids compare case-insensitively, as ARM's do.
pub(crate) fn in_scope(doc_sub: &str, doc_rg: &str, subscription: &str, rg: Option<&str>) -> bool {
    doc_sub.eq_ignore_ascii_case(subscription)
        && rg.is_none_or(|rg| doc_rg.eq_ignore_ascii_case(rg))
}

const MAX_TAGS: usize = 50;
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
    /// The request is invalid.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// The caller may not act on this scope.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The subscription, resource group or resource does not exist.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// The request clashes with the resource's state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// `If-Match` named another version of the entity than the current one.
    #[error("{message}")]
    PreconditionFailed { message: String },
    /// A use case shared with the data plane failed; its own kind decides the answer.
    #[error(transparent)]
    Service(ServiceError),
    /// Something on our side failed; the message is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ManagementError {
    fn from(e: StoreError) -> Self {
        match e {
            e @ StoreError::Unavailable(_) => Self::Service(e.into()),
            e => Self::Internal(format!("store: {e}")),
        }
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
        Self::Service(e)
    }
}

fn bad(code: &'static str, message: String) -> ManagementError {
    ManagementError::BadRequest { code, message }
}

fn concurrent() -> ManagementError {
    ManagementError::Conflict {
        code: "Conflict",
        message: "The resource changed concurrently; try again.".to_owned(),
    }
}

/// The body of a resource PUT or PATCH that Coffer looks at; other properties are ignored.
#[derive(Clone, Debug, Default)]
pub struct ResourceInput {
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

fn rg_id(subscription: &str, rg: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{rg}")
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
}

#[cfg(test)]
mod tests {
    use coffer_store::{DocMode, DocWrite, Store};
    use coffer_store_sqlite::SqliteStore;
    use std::sync::Arc;

    use super::testing::{app, caller};
    use super::*;
    use crate::records::INSTANCE;

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

    #[test]
    fn service_errors_keep_their_kind() {
        let e = ManagementError::from(ServiceError::BadParameter("no".into()));
        assert!(matches!(
            e,
            ManagementError::Service(ServiceError::BadParameter(_))
        ));
    }

    #[test]
    fn locations_and_scopes() {
        assert_eq!(normalize_location("West Europe"), "westeurope");
        assert!(validate_location("local").is_ok());
        assert!(validate_location("no/slash").is_err());
        assert_eq!(
            scope_parts("/subscriptions/S/resourcegroups/RG/providers/X/y/z"),
            ("S".to_owned(), "RG".to_owned())
        );
        assert_eq!(scope_parts("/tenants/t"), (String::new(), String::new()));
    }
}
