//! `Microsoft.Resources`: subscriptions, tenants, locations, resource providers and resource
//! groups. Deleting a resource group deletes the resources of every provider in it.

use std::collections::BTreeMap;

use coffer_domain::Principal;
use coffer_store::{DocMode, DocWrite, StoreError};

use super::{
    DEFAULT_LOCATION, ManagementError, PROVIDERS, Provider, ResourceInput, WRITE_ATTEMPTS, bad,
    clip, concurrent, rg_id, validate_location, validate_tags,
};
use crate::records::{RESOURCE_GROUP, ResourceGroupDoc, SUBSCRIPTION, SubscriptionDoc, TenantDoc};
use crate::{Coffer, ServiceError};

pub(super) const PROVIDER: Provider = Provider {
    namespace: "Microsoft.Resources",
    resource_types: &["subscriptions", "resourceGroups", "tenants"],
};

pub(crate) fn rg_key(subscription: &str, rg: &str) -> String {
    format!(
        "{}/{}",
        subscription.to_ascii_lowercase(),
        rg.to_ascii_lowercase()
    )
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

/// An item of the generic resource listing (`GET /subscriptions/{s}/resources`).
#[derive(Clone, Debug)]
pub struct GenericResourceView {
    pub id: String,
    pub name: String,
    /// `Microsoft.KeyVault/vaults`, `Microsoft.ManagedIdentity/userAssignedIdentities`…
    pub kind: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
}

/// A resource provider namespace, always registered.
#[derive(Clone, Debug)]
pub struct ProviderView {
    pub namespace: String,
    pub resource_types: Vec<String>,
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

impl Coffer {
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
            .find(|p| p.namespace.eq_ignore_ascii_case(namespace))
            .map(|p| provider_view(p))
            .ok_or_else(|| ManagementError::NotFound {
                code: "InvalidResourceNamespace",
                message: format!(
                    "The resource namespace '{}' is invalid. This Coffer instance serves {}.",
                    clip(namespace),
                    PROVIDERS
                        .iter()
                        .map(|p| p.namespace)
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
        Ok(PROVIDERS.iter().map(|p| provider_view(p)).collect())
    }

    /// Every resource of a subscription (or of one of its groups), of every provider, ordered
    /// by id: what `GET /subscriptions/{s}/resources` lists before its `$filter`.
    pub async fn list_resources(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: Option<&str>,
    ) -> Result<Vec<GenericResourceView>, ManagementError> {
        let scope = match rg {
            Some(rg) => rg_id(&clip(subscription), &clip(rg)),
            None => format!("/subscriptions/{}", clip(subscription)),
        };
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.Resources/resources/read",
                &scope,
            )
            .await?;
        if let Some(rg) = rg {
            self.existing_rg(&sub.id, rg).await?;
        }
        let mut out: Vec<GenericResourceView> = self
            .vault_resources(&sub.id, rg)
            .await?
            .into_iter()
            .map(|v| GenericResourceView {
                id: v.id,
                name: v.name,
                kind: super::VAULT_TYPE.to_owned(),
                location: v.location,
                tags: v.tags,
            })
            .collect();
        out.extend(self.identity_resources(&sub.id, rg).await?);
        out.extend(self.apim_resources(&sub.id, rg).await?);
        out.sort_by_key(|r| r.id.to_ascii_lowercase());
        Ok(out)
    }

    // ---- resource groups -------------------------------------------------------------------

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

    /// Deletes a resource group with the resources in it: identities (their tokens stay valid
    /// until they expire, as in Azure) and vaults (soft-deleted when soft delete is on).
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
            // Every provider removes what it keeps in the group, in the same batch.
            writes.extend(self.identity_deletes_in(&sub.id, rg).await?);
            let gateways = self.apim_deletes_in(&sub.id, rg).await?;
            let any_gateway = !gateways.is_empty();
            writes.extend(gateways);
            let (vault_writes, purged) = self.vault_deletes_in(&sub.id, rg).await?;
            writes.extend(vault_writes);
            match self.store.write_docs(writes).await {
                Ok(()) => {
                    for doc in purged {
                        self.purge_vault_objects(&doc).await?;
                    }
                    self.forget_all_vaults();
                    if any_gateway {
                        self.gateway_changed();
                    }
                    return Ok(());
                }
                // Something in it changed meanwhile: look again.
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }
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

fn provider_view(p: &Provider) -> ProviderView {
    ProviderView {
        namespace: p.namespace.to_owned(),
        resource_types: p.resource_types.iter().map(|t| (*t).to_owned()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_group_names() {
        assert!(validate_rg_name("coffer-rg").is_ok());
        assert!(validate_rg_name("a.b_(c)").is_ok());
        assert!(validate_rg_name("ends.").is_err());
        assert!(validate_rg_name("").is_err());
        assert!(validate_rg_name("sl/ash").is_err());
    }
}
