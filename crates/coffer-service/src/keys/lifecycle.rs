//! The kind-independent lifecycle of keys (list, versions, delete, deleted, recover, purge,
//! backup, restore): thin wrappers over `objects` with the keys' permissions, views and rules
//! (a certificate's managed key is deleted with its certificate; token-held keys have no backup).

use coffer_domain::VaultOp;

use super::{KeyView, provider};
use crate::objects::{KEYS, ListPage};
use crate::{Coffer, ServiceError, VaultSession};

impl Coffer {
    /// `GET /keys`.
    pub async fn list_keys(
        &self,
        s: &VaultSession,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<KeyView>, ServiceError> {
        s.require(VaultOp::KeyList)?;
        self.list_object_rows(s, &KEYS, false, max, skiptoken)
            .await?
            .try_map(|r| self.key_summary(s, r))
    }

    /// `GET /deletedkeys`.
    pub async fn list_deleted_keys(
        &self,
        s: &VaultSession,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<KeyView>, ServiceError> {
        s.require(VaultOp::KeyListDeleted)?;
        self.list_object_rows(s, &KEYS, true, max, skiptoken)
            .await?
            .try_map(|r| self.key_summary(s, r))
    }

    /// `GET /keys/{name}/versions`.
    pub async fn list_key_versions(
        &self,
        s: &VaultSession,
        name: &str,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<KeyView>, ServiceError> {
        s.require(VaultOp::KeyListVersions)?;
        self.list_version_rows(s, &KEYS, name, max, skiptoken)
            .await?
            .try_map(|v| self.key_view(s, &v, None))
    }

    /// `DELETE /keys/{name}`.
    pub async fn delete_key(&self, s: &VaultSession, name: &str) -> Result<KeyView, ServiceError> {
        s.require(VaultOp::KeyDelete)?;
        let (_, latest) = self.object_version(s, &KEYS, name, None).await?;
        if Self::key_meta(&latest)?.managed {
            return Err(ServiceError::BadParameter(format!(
                "Key {name} is managed by a certificate; delete the certificate instead."
            )));
        }
        let (latest, deletion) = self.delete_object(s, &KEYS, name).await?;
        self.key_view(s, &latest, deletion)
    }

    /// `GET /deletedkeys/{name}`.
    pub async fn get_deleted_key(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<KeyView, ServiceError> {
        s.require(VaultOp::KeyGetDeleted)?;
        let d = self.deleted_object(s, &KEYS, name).await?;
        self.key_summary(s, d)
    }

    /// `POST /deletedkeys/{name}/recover`.
    pub async fn recover_deleted_key(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<KeyView, ServiceError> {
        s.require(VaultOp::KeyRecover)?;
        let v = self.recover_object(s, &KEYS, name).await?;
        self.key_view(s, &v, None)
    }

    /// `DELETE /deletedkeys/{name}`.
    pub async fn purge_deleted_key(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<(), ServiceError> {
        s.require(VaultOp::KeyPurge)?;
        self.purge_object(s, &KEYS, name).await
    }

    /// `POST /keys/{name}/backup`. Keys held by the token are refused: their private half cannot
    /// leave it, and a backup that only names a token object would not survive its purge.
    pub async fn backup_key(&self, s: &VaultSession, name: &str) -> Result<String, ServiceError> {
        s.require(VaultOp::KeyBackup)?;
        let (name, _) = self.object_version(s, &KEYS, name, None).await?;
        // Every version goes into the backup, and a name can hold token and software versions
        // (a software key imported over an HSM one), so each is checked, not only the latest.
        for v in self.all_versions(s, &KEYS, &name).await? {
            let m = Self::key_meta(&v)?;
            if m.provider != provider::SOFTWARE {
                return Err(ServiceError::BadParameter(format!(
                    "Key {} has a version in the HSM ({}) whose private key cannot leave it, so it cannot be backed up.",
                    m.name, v.version
                )));
            }
        }
        self.backup_object(s, &KEYS, name.as_str()).await
    }

    /// `POST /keys/restore`.
    pub async fn restore_key(&self, s: &VaultSession, blob: &str) -> Result<KeyView, ServiceError> {
        s.require(VaultOp::KeyRestore)?;
        let v = self.restore_object(s, &KEYS, blob).await?;
        self.key_view(s, &v, None)
    }
}
