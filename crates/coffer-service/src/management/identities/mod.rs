//! `Microsoft.ManagedIdentity`: user-assigned identities (resources of their own) and
//! system-assigned ones (attached to another resource, such as a gateway), with the credentials
//! their workloads present to the token endpoints: the App Service-style header and the source
//! addresses bound for the IMDS-style endpoint.

mod bootstrap;
mod imds;
mod system;

pub use bootstrap::{BOOTSTRAP_IDENTITY, BootstrapIdentity};

use std::collections::BTreeMap;

use coffer_domain::Principal;
use coffer_store::{DocMode, DocWrite, StoreError};

use super::{
    ManagementError, Provider, ResourceInput, WRITE_ATTEMPTS, bad, clip, concurrent, in_scope,
    rg_id, validate_location, validate_tags,
};
use crate::Coffer;
use crate::records::{IdentityHeaderDoc, MANAGED_IDENTITY, ManagedIdentityDoc};

/// Resource type of user-assigned identities.
pub const USER_ASSIGNED_IDENTITY_TYPE: &str = "Microsoft.ManagedIdentity/userAssignedIdentities";
/// Resource type of the system-assigned identity of a resource.
pub const SYSTEM_ASSIGNED_IDENTITY_TYPE: &str = "Microsoft.ManagedIdentity/identities";

pub(super) const PROVIDER: Provider = Provider {
    namespace: "Microsoft.ManagedIdentity",
    resource_types: &["userAssignedIdentities", "identities"],
};

pub(crate) use imds::binding_matches;

const MAX_IMDS_BINDINGS: usize = 64;

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

fn identity_key(resource_id: &str) -> String {
    resource_id.to_ascii_lowercase()
}

fn user_identity_id(subscription: &str, rg: &str, name: &str) -> String {
    format!(
        "{}/providers/{USER_ASSIGNED_IDENTITY_TYPE}/{name}",
        rg_id(subscription, rg)
    )
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
impl Coffer {
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

    pub(crate) async fn identity_doc(
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

impl Coffer {
    /// User-assigned identities of a subscription (or group) as generic resources.
    pub(in crate::management) async fn identity_resources(
        &self,
        subscription: &str,
        rg: Option<&str>,
    ) -> Result<Vec<super::GenericResourceView>, ManagementError> {
        Ok(self
            .identity_docs()
            .await?
            .into_iter()
            .filter(|(d, _)| {
                !d.system && in_scope(&d.subscription_id, &d.resource_group, subscription, rg)
            })
            .map(|(d, _)| super::GenericResourceView {
                id: d.resource_id,
                name: d.name,
                kind: USER_ASSIGNED_IDENTITY_TYPE.to_owned(),
                location: d.location,
                tags: d.tags,
            })
            .collect())
    }

    /// Deletes of every user-assigned identity in a resource group, for the group's own delete.
    pub(super) async fn identity_deletes_in(
        &self,
        subscription: &str,
        rg: &str,
    ) -> Result<Vec<DocWrite>, ManagementError> {
        Ok(self
            .identity_docs()
            .await?
            .into_iter()
            .filter(|(doc, _)| {
                in_scope(
                    &doc.subscription_id,
                    &doc.resource_group,
                    subscription,
                    Some(rg),
                )
            })
            .map(|(doc, _)| DocWrite::Delete {
                kind: MANAGED_IDENTITY.to_owned(),
                id: identity_key(&doc.resource_id),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_identity_name("id-1_x").is_ok());
        assert!(validate_identity_name("ab").is_err());
        assert!(validate_identity_name("-ab").is_err());
    }
}
