//! The bootstrap managed identity: a user-assigned identity `dev-app` in the default resource
//! group whose access policy on the default vault grants every data permission, so an app run
//! with only the App Service-style `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` that `coffer serve`
//! prints gets tokens through `DefaultAzureCredential` without a code change (no MSAL instance
//! discovery is involved on that path).

use coffer_domain::{AccessPolicy, Permissions};
use coffer_store::{DocMode, DocWrite, StoreError};

use super::{identity_put, new_identity_header, user_identity_id};
use crate::bootstrap::{BOOTSTRAP_ID, BootstrapInfo};
use crate::management::DEFAULT_LOCATION;
use crate::records::{INSTANCE, ManagedIdentityDoc, VAULT, VaultDoc};
use crate::vaults::{policy_doc, vault_write};
use crate::{Coffer, ServiceError};

/// Name of the managed identity every instance gets, with access to the default vault.
pub const BOOTSTRAP_IDENTITY: &str = "dev-app";

/// The bootstrap identity; `header` is set when a new App Service-style header was issued
/// (the one the caller already had is unknown, lost or revoked).
#[derive(Clone, Debug)]
pub struct BootstrapIdentity {
    pub resource_id: String,
    pub client_id: String,
    pub principal_id: String,
    pub header: Option<String>,
}

impl Coffer {
    /// Makes the bootstrap identity on an instance that never had it, or checks `known_header`
    /// (kept by the caller, e.g. in the data directory) against it and issues a new one if it no
    /// longer opens it. `None` when an operator deleted the identity: it is not made again.
    pub async fn bootstrap_identity(
        &self,
        known_header: Option<&str>,
    ) -> Result<Option<BootstrapIdentity>, ServiceError> {
        for _ in 0..3 {
            let Some((info, rev)) = self.stored_bootstrap().await? else {
                return Err(ServiceError::Internal(
                    "the instance is not bootstrapped".to_owned(),
                ));
            };
            let Some(id) = info.identity_id.clone() else {
                match self.create_bootstrap_identity(info, rev).await? {
                    Some(made) => return Ok(Some(made)),
                    // Another node (or start) made it first: check it like an existing one.
                    None => continue,
                }
            };
            let Some((doc, _)) = self.identity_doc(&id).await.map_err(internal)? else {
                return Ok(None);
            };
            let still_valid = known_header.is_some_and(|h| {
                let id_part = h.split('.').next().unwrap_or_default();
                doc.header.as_ref().is_some_and(|rec| {
                    rec.id == id_part && coffer_crypto::password::verify(h, &rec.hash)
                })
            });
            let header = if still_valid {
                None
            } else {
                Some(
                    self.rotate_identity_header(&id)
                        .await
                        .map_err(internal)?
                        .identity_header,
                )
            };
            return Ok(Some(BootstrapIdentity {
                resource_id: doc.resource_id,
                client_id: doc.client_id,
                principal_id: doc.principal_id,
                header,
            }));
        }
        Err(ServiceError::Internal(
            "the bootstrap identity kept changing under concurrent starts".to_owned(),
        ))
    }

    /// One transaction: the identity, its access policy on the default vault (if that vault
    /// still exists) and the mark in the bootstrap record.
    async fn create_bootstrap_identity(
        &self,
        mut info: BootstrapInfo,
        rev: u64,
    ) -> Result<Option<BootstrapIdentity>, ServiceError> {
        let resource_id = user_identity_id(
            &info.subscription_id,
            &info.resource_group,
            BOOTSTRAP_IDENTITY,
        );
        let (header, rec) = new_identity_header(self.now()).map_err(internal)?;
        let doc = ManagedIdentityDoc {
            tenant_id: info.tenant_id.clone(),
            system: false,
            resource_id: resource_id.clone(),
            subscription_id: info.subscription_id.clone(),
            resource_group: info.resource_group.clone(),
            name: BOOTSTRAP_IDENTITY.to_owned(),
            location: DEFAULT_LOCATION.to_owned(),
            tags: [("coffer".to_owned(), "bootstrap".to_owned())].into(),
            principal_id: uuid::Uuid::new_v4().to_string(),
            client_id: uuid::Uuid::new_v4().to_string(),
            created: self.now(),
            header: Some(rec),
            imds_addresses: Vec::new(),
        };
        let mut writes = vec![identity_put(&doc, DocMode::Create).map_err(internal)?];
        if let Some(d) = self.store.get_doc(VAULT, &info.vault).await? {
            let mut vault: VaultDoc = serde_json::from_slice(&d.body)?;
            vault.access_policies.push(policy_doc(AccessPolicy {
                tenant_id: info.tenant_id.clone(),
                object_id: doc.principal_id.clone(),
                application_id: None,
                permissions: Permissions::all(),
            }));
            writes.push(vault_write(&vault, DocMode::Update(d.revision))?);
        }
        info.identity_id = Some(resource_id.clone());
        writes.push(DocWrite::Put {
            kind: INSTANCE.to_owned(),
            id: BOOTSTRAP_ID.to_owned(),
            body: serde_json::to_vec(&info)?,
            mode: DocMode::Update(rev),
        });
        match self.store.write_docs(writes).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists | StoreError::PreconditionFailed) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        self.forget_vault(&info.vault);
        Ok(Some(BootstrapIdentity {
            resource_id,
            client_id: doc.client_id,
            principal_id: doc.principal_id,
            header: Some(header),
        }))
    }
}

fn internal(e: crate::ManagementError) -> ServiceError {
    ServiceError::Internal(format!("bootstrap identity: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn made_once_with_a_policy_on_the_default_vault_and_its_header_kept_while_valid() {
        let (coffer, _clock, _s) = crate::testing::setup().await;
        let first = coffer.bootstrap_identity(None).await.unwrap().unwrap();
        let header = first.header.clone().unwrap();
        let vault = coffer
            .store
            .get_doc(VAULT, crate::DEFAULT_VAULT)
            .await
            .unwrap()
            .unwrap();
        let vault: VaultDoc = serde_json::from_slice(&vault.body).unwrap();
        assert!(
            vault
                .access_policies
                .iter()
                .any(|p| p.object_id == first.principal_id)
        );
        // A known, valid header is kept; the identity is not made twice.
        let again = coffer
            .bootstrap_identity(Some(&header))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.client_id, first.client_id);
        assert!(again.header.is_none());
        // A lost or wrong one is replaced, and the old one stops working.
        let fresh = coffer
            .bootstrap_identity(Some("nope.nope"))
            .await
            .unwrap()
            .unwrap()
            .header
            .unwrap();
        assert_ne!(fresh, header);
        let third = coffer
            .bootstrap_identity(Some(&header))
            .await
            .unwrap()
            .unwrap();
        assert!(third.header.is_some());
    }
}
