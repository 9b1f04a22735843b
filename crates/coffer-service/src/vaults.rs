//! Vaults: lookup by name, creation, and the per-request session that authenticates the caller
//! and checks its access policy before any object is touched.

use coffer_crypto::DataKey;
use coffer_domain::policy::{Decision, evaluate};
use coffer_domain::{AccessPolicy, Permissions, Principal, Vault};
use coffer_store::{DocMode, DocWrite};

use crate::records::{AccessPolicyDoc, PermissionsDoc, VAULT, VaultDoc};
use crate::{Coffer, ServiceError, keyring};

/// An authenticated caller inside one vault.
pub struct VaultSession {
    pub(crate) doc: VaultDoc,
    pub(crate) vault: Vault,
    pub(crate) principal: Principal,
    pub(crate) key: DataKey,
}

impl VaultSession {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn vault_name(&self) -> &str {
        &self.doc.name
    }

    /// Requires `permission` in `family`; a 403 naming caller, permission and vault otherwise.
    pub(crate) fn require(&self, family: &str, permission: &str) -> Result<(), ServiceError> {
        match evaluate(
            &self.vault.access_policies,
            &self.principal,
            family,
            permission,
        ) {
            Decision::Allow(_) => Ok(()),
            Decision::DenyMissingPermission | Decision::DenyNoPolicy => {
                Err(ServiceError::Forbidden(format!(
                    "The user, group or application '{}' does not have {family} {permission} permission on key vault '{};location=local'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
                    self.principal.describe(),
                    self.doc.name
                )))
            }
        }
    }
}

impl Coffer {
    pub(crate) async fn vault_doc(&self, name: &str) -> Result<Option<VaultDoc>, ServiceError> {
        match self
            .store
            .get_doc(VAULT, &name.to_ascii_lowercase())
            .await?
        {
            Some(d) => Ok(Some(serde_json::from_slice(&d.body)?)),
            None => Ok(None),
        }
    }

    /// Starts a request to vault `name`: the vault must exist and the bearer token must be valid.
    pub async fn open_vault(
        &self,
        name: &str,
        authorization: Option<&str>,
    ) -> Result<VaultSession, ServiceError> {
        let Some(doc) = self.vault_doc(name).await? else {
            return Err(ServiceError::VaultNotFound(format!(
                "No vault named '{}' exists on this Coffer instance. Vault URLs have the form {}.",
                name.chars().take(64).collect::<String>(),
                self.settings.vault_url("<vault-name>")
            )));
        };
        let principal = self.authenticate(authorization, &doc)?;
        let key = keyring::vault_key(&self.root, &doc)?;
        let vault = to_domain(&doc);
        Ok(VaultSession {
            doc,
            vault,
            principal,
            key,
        })
    }

    /// Creates a vault in `tenant_id` with soft delete (90 days) and the given access policies.
    pub(crate) fn new_vault_write(
        &self,
        name: &str,
        tenant_id: &str,
        policies: Vec<AccessPolicy>,
    ) -> Result<DocWrite, ServiceError> {
        let id = uuid::Uuid::new_v4().to_string();
        let doc = VaultDoc {
            wrapped_key: keyring::new_vault_key(&self.root, &id)?,
            id,
            name: name.to_ascii_lowercase(),
            tenant_id: tenant_id.to_owned(),
            soft_delete: true,
            retention_days: coffer_domain::vault::DEFAULT_RETENTION_DAYS,
            purge_protection: false,
            access_policies: policies.into_iter().map(policy_doc).collect(),
        };
        Ok(DocWrite::Put {
            kind: VAULT.to_owned(),
            id: doc.name.clone(),
            body: serde_json::to_vec(&doc)?,
            mode: DocMode::Create,
        })
    }
}

fn policy_doc(p: AccessPolicy) -> AccessPolicyDoc {
    AccessPolicyDoc {
        tenant_id: p.tenant_id,
        object_id: p.object_id,
        application_id: p.application_id,
        permissions: PermissionsDoc {
            keys: p.permissions.keys,
            secrets: p.permissions.secrets,
            certificates: p.permissions.certificates,
            storage: p.permissions.storage,
        },
    }
}

pub(crate) fn to_domain(doc: &VaultDoc) -> Vault {
    Vault {
        name: doc.name.clone(),
        tenant_id: doc.tenant_id.clone(),
        soft_delete: doc.soft_delete,
        retention_days: doc.retention_days,
        purge_protection: doc.purge_protection,
        access_policies: doc
            .access_policies
            .iter()
            .map(|p| AccessPolicy {
                tenant_id: p.tenant_id.clone(),
                object_id: p.object_id.clone(),
                application_id: p.application_id.clone(),
                permissions: Permissions {
                    keys: p.permissions.keys.clone(),
                    secrets: p.permissions.secrets.clone(),
                    certificates: p.permissions.certificates.clone(),
                    storage: p.permissions.storage.clone(),
                },
            })
            .collect(),
    }
}
