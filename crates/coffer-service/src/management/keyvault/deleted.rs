//! Soft-deleted vaults: listed and read under `deletedVaults`, recovered by a PUT with
//! `createMode: recover` (same id and data key, so every object comes back), purged by hand
//! (`POST …/deletedVaults/{name}/purge`, refused under purge protection) or once their retention
//! ends. Purging removes the record first, so the name is free at once, then the objects; objects
//! left behind by an interrupted purge belong to a vault id no record names, and a vault made
//! later under the same name has a new id, so they can never be read again.

use coffer_domain::Principal;
use coffer_store::{DocMode, DocWrite, ObjectKind, ObjectRef, StoreError};

use super::{DeletedVaultView, VaultView, deleted_vault_not_found};
use crate::Coffer;
use crate::management::{ManagementError, WRITE_ATTEMPTS, clip, concurrent, normalize_location};
use crate::records::{DELETED_VAULT, SubscriptionDoc, VaultDoc};
use crate::vaults::vault_write;

/// Objects purged per store call when a vault is purged.
const PURGE_PAGE: usize = 100;

/// Documents the data plane keeps per vault, with ids `<vault id>` or `<vault id>/<name>`:
/// certificate contacts, issuers, pending operations and policies (`certificates/`), and key
/// rotation policies (`keys/`). A purge removes them with the objects.
const PER_VAULT_DOCS: &[&str] = &[
    "cert-contacts",
    "cert-issuer",
    "cert-pending",
    crate::certificates::CERT_POLICY,
    "key-rotation-policy",
];

impl Coffer {
    /// Soft-deleted vaults of a subscription, ordered by name.
    pub async fn list_deleted_vaults(
        &self,
        caller: &Principal,
        subscription: &str,
    ) -> Result<Vec<DeletedVaultView>, ManagementError> {
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.KeyVault/deletedVaults/read",
                &format!("/subscriptions/{}", clip(subscription)),
            )
            .await?;
        Ok(self
            .vault_records(DELETED_VAULT)
            .await?
            .into_iter()
            .filter(|(d, _)| d.subscription_id.eq_ignore_ascii_case(&sub.id))
            .map(|(d, _)| d.deleted_view())
            .collect())
    }

    /// The soft-deleted vault `name` of a subscription and location.
    async fn deleted_in(
        &self,
        sub: &SubscriptionDoc,
        location: &str,
        name: &str,
    ) -> Result<(VaultDoc, u64), ManagementError> {
        match self.vault_record(DELETED_VAULT, name).await? {
            Some((d, rev))
                if d.subscription_id.eq_ignore_ascii_case(&sub.id)
                    && d.location == normalize_location(location) =>
            {
                Ok((d, rev))
            }
            _ => Err(deleted_vault_not_found(name)),
        }
    }

    pub async fn get_deleted_vault(
        &self,
        caller: &Principal,
        subscription: &str,
        location: &str,
        name: &str,
    ) -> Result<DeletedVaultView, ManagementError> {
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.KeyVault/locations/deletedVaults/read",
                &format!("/subscriptions/{}", clip(subscription)),
            )
            .await?;
        Ok(self
            .deleted_in(&sub, location, name)
            .await?
            .0
            .deleted_view())
    }

    /// Purges a soft-deleted vault and everything in it; refused while purge protection holds.
    pub async fn purge_deleted_vault(
        &self,
        caller: &Principal,
        subscription: &str,
        location: &str,
        name: &str,
    ) -> Result<(), ManagementError> {
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.KeyVault/locations/deletedVaults/purge/action",
                &format!("/subscriptions/{}", clip(subscription)),
            )
            .await?;
        let (doc, _) = self.deleted_in(&sub, location, name).await?;
        if doc.purge_protection {
            return Err(ManagementError::Conflict {
                code: "PurgeProtectionEnabled",
                message: format!(
                    "The vault '{}' has purge protection enabled: it cannot be purged and is removed for good when its retention ends ({}).",
                    doc.name,
                    iso(doc.deleted.as_ref().map_or(0, |d| d.scheduled_purge))
                ),
            });
        }
        self.purge_vault_record(&doc).await
    }

    /// Removes a soft-deleted vault's record, then its objects.
    async fn purge_vault_record(&self, doc: &VaultDoc) -> Result<(), ManagementError> {
        match self
            .store
            .write_docs(vec![DocWrite::Delete {
                kind: DELETED_VAULT.to_owned(),
                id: doc.name.clone(),
            }])
            .await
        {
            // Gone already: recovered or purged meanwhile, so there is nothing left to purge.
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        self.purge_vault_objects(doc).await
    }

    /// Removes for good every object (live or deleted, of every kind) of the vault `vault_id`,
    /// and the documents kept beside them.
    pub(in crate::management) async fn purge_vault_objects(
        &self,
        doc: &VaultDoc,
    ) -> Result<(), ManagementError> {
        let vault_id = doc.id.as_str();
        // Keys kept in a PKCS#11 token are destroyed there too, which needs the vault's data
        // key to open their handles.
        let session = self.detached_session(doc)?;
        let prefix = format!("{vault_id}/");
        for kind in PER_VAULT_DOCS {
            let deletes: Vec<DocWrite> = self
                .store
                .list_docs(kind)
                .await?
                .into_iter()
                .filter(|d| d.id == vault_id || d.id.starts_with(&prefix))
                .map(|d| DocWrite::Delete {
                    kind: (*kind).to_owned(),
                    id: d.id,
                })
                .collect();
            if !deletes.is_empty() {
                match self.store.write_docs(deletes).await {
                    Ok(()) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for kind in [ObjectKind::Secret, ObjectKind::Key, ObjectKind::Certificate] {
            for deleted in [false, true] {
                loop {
                    let page = self
                        .store
                        .list_objects(vault_id, kind, deleted, None, PURGE_PAGE)
                        .await?;
                    if page.is_empty() {
                        break;
                    }
                    for o in page {
                        let obj = ObjectRef {
                            vault: vault_id.to_owned(),
                            kind,
                            name: o.name,
                        };
                        match self.purge_stored(&session, &obj).await {
                            Ok(_) | Err(StoreError::NotFound) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `createMode: recover`: brings the soft-deleted vault `name` back into this resource
    /// group, with its settings, data key and objects.
    pub(super) async fn recover_vault(
        &self,
        sub: &SubscriptionDoc,
        rg: &str,
        name: &str,
    ) -> Result<VaultView, ManagementError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some((mut doc, _)) = self.vault_record(DELETED_VAULT, name).await? else {
                return Err(deleted_vault_not_found(name));
            };
            if !doc.subscription_id.eq_ignore_ascii_case(&sub.id) {
                return Err(deleted_vault_not_found(name));
            }
            doc.deleted = None;
            doc.resource_group = rg.to_owned();
            let writes = vec![
                DocWrite::Delete {
                    kind: DELETED_VAULT.to_owned(),
                    id: doc.name.clone(),
                },
                vault_write(&doc, DocMode::Create)?,
            ];
            match self.store.write_docs(writes).await {
                Ok(()) => {
                    self.forget_vault(&doc.name);
                    return Ok(doc.vault_view(self.vault_uri(&doc.name), 1));
                }
                Err(StoreError::NotFound | StoreError::AlreadyExists) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }

    /// Purges the soft-deleted vaults whose retention has ended (purge protection or not).
    /// Returns how many were purged.
    pub async fn purge_expired_vaults(&self) -> Result<usize, ManagementError> {
        let now = self.now();
        let mut n = 0;
        for (doc, _) in self.vault_records(DELETED_VAULT).await? {
            if doc
                .deleted
                .as_ref()
                .is_some_and(|d| d.scheduled_purge <= now)
            {
                self.purge_vault_record(&doc).await?;
                n += 1;
            }
        }
        Ok(n)
    }
}

fn iso(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}
