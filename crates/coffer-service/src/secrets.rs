//! The secrets API: set, get, update, and the shared lifecycle (list, versions, delete, recover,
//! purge, backup, restore) for secrets. Values are sealed with the vault's data key, bound to
//! vault, name and version.

use std::collections::BTreeMap;

use coffer_domain::{Attributes, VaultOp};
use coffer_store::{Deletion, ObjectKind, ObjectSummary, Version};
use zeroize::Zeroizing;

use crate::objects::{ListPage, SECRETS, aad, parse_name};
use crate::records::SecretMeta;
use crate::{Coffer, ServiceError, VaultSession};

/// Largest secret value Key Vault accepts, in bytes.
pub const MAX_VALUE_BYTES: usize = 25 * 1024;
/// Most tags an object may carry.
pub const MAX_TAGS: usize = 15;
const MAX_TAG_NAME: usize = 512;
const MAX_TAG_VALUE: usize = 256;
const MAX_CONTENT_TYPE: usize = 255;

/// A new secret version as the caller describes it.
#[derive(Debug, Default)]
pub struct SecretInput {
    pub value: Zeroizing<String>,
    pub content_type: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
}

/// Changes to a secret version; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct SecretUpdate {
    pub content_type: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
}

/// A secret version as returned to callers.
#[derive(Debug)]
pub struct SecretView {
    pub name: String,
    pub version: String,
    pub value: Option<Zeroizing<String>>,
    pub content_type: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub attributes: Attributes,
    pub recovery_level: &'static str,
    pub recoverable_days: Option<u32>,
    pub managed: bool,
    pub kid: Option<String>,
    pub deletion: Option<Deletion>,
}

pub(crate) fn validate_tags(tags: Option<&BTreeMap<String, String>>) -> Result<(), ServiceError> {
    let Some(tags) = tags else { return Ok(()) };
    if tags.len() > MAX_TAGS {
        return Err(ServiceError::BadParameter(format!(
            "Too many tags: {}. An object can have at most {MAX_TAGS} tags.",
            tags.len()
        )));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > MAX_TAG_NAME {
            return Err(ServiceError::BadParameter(format!(
                "Tag names must be 1-{MAX_TAG_NAME} characters long."
            )));
        }
        if v.chars().count() > MAX_TAG_VALUE {
            return Err(ServiceError::BadParameter(format!(
                "The value of tag '{}' is longer than {MAX_TAG_VALUE} characters.",
                k.chars().take(64).collect::<String>()
            )));
        }
    }
    Ok(())
}

fn validate_content_type(ct: Option<&String>) -> Result<(), ServiceError> {
    match ct {
        Some(c) if c.chars().count() > MAX_CONTENT_TYPE => Err(ServiceError::BadParameter(
            format!("contentType is longer than {MAX_CONTENT_TYPE} characters."),
        )),
        _ => Ok(()),
    }
}

impl Coffer {
    fn meta_of(v: &Version) -> Result<SecretMeta, ServiceError> {
        Ok(serde_json::from_slice(&v.meta)?)
    }

    fn secret_view(
        &self,
        s: &VaultSession,
        v: &Version,
        value: Option<Zeroizing<String>>,
        deletion: Option<Deletion>,
    ) -> Result<SecretView, ServiceError> {
        let m = Self::meta_of(v)?;
        Ok(SecretView {
            name: m.name,
            version: v.version.clone(),
            value,
            content_type: m.content_type,
            tags: m.tags,
            attributes: Attributes {
                enabled: m.enabled,
                not_before: m.nbf,
                expires: m.exp,
                created: v.created,
                updated: v.updated,
            },
            recovery_level: s.vault.recovery_level().as_str(),
            recoverable_days: s.vault.recoverable_days(),
            managed: m.managed,
            kid: m.kid,
            deletion,
        })
    }

    fn summary_view(&self, s: &VaultSession, r: ObjectSummary) -> Result<SecretView, ServiceError> {
        self.secret_view(s, &r.latest, None, r.deletion)
    }

    fn open_value(
        &self,
        s: &VaultSession,
        canonical: &str,
        v: &Version,
    ) -> Result<Zeroizing<String>, ServiceError> {
        let plain = s.key.open(
            &aad(s, ObjectKind::Secret, canonical, &v.version),
            &v.sealed,
        )?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| ServiceError::Internal("secret value is not UTF-8".to_owned()))
    }

    /// Seals a value as a new secret version with `meta`; shared by `set_secret` and the managed
    /// secrets of certificates.
    pub(crate) fn secret_version(
        &self,
        s: &VaultSession,
        canonical: &str,
        version: String,
        value: &[u8],
        meta: &SecretMeta,
    ) -> Result<Version, ServiceError> {
        let now = self.vault_now(s);
        Ok(Version {
            sealed: s
                .key
                .seal(&aad(s, ObjectKind::Secret, canonical, &version), value)?,
            version,
            created: now,
            updated: now,
            meta: serde_json::to_vec(meta)?,
        })
    }

    /// A certificate's secret changes only with its certificate: setting or deleting it directly
    /// is Key Vault's 403 `SecretManagedByKeyVault`.
    async fn refuse_if_managed(
        &self,
        s: &VaultSession,
        name: &str,
        op: &str,
    ) -> Result<(), ServiceError> {
        match self.object_version(s, &SECRETS, name, None).await {
            Ok((_, v)) if Self::meta_of(&v)?.managed => Err(ServiceError::Disabled {
                message: format!(
                    "Operation \"{op}\" is not allowed as this object's lifetime is managed by Key Vault."
                ),
                inner_code: "SecretManagedByKeyVault",
            }),
            Ok(_) | Err(ServiceError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `PUT /secrets/{name}`: stores a new version and returns it with its value.
    pub async fn set_secret(
        &self,
        s: &VaultSession,
        name: &str,
        input: SecretInput,
    ) -> Result<SecretView, ServiceError> {
        s.require(VaultOp::SecretSet)?;
        let name = parse_name(name)?;
        if input.value.len() > MAX_VALUE_BYTES {
            return Err(ServiceError::BadParameter(format!(
                "The secret value is {} bytes long; Key Vault accepts at most {MAX_VALUE_BYTES} bytes (25 KiB).",
                input.value.len()
            )));
        }
        validate_tags(input.tags.as_ref())?;
        validate_content_type(input.content_type.as_ref())?;
        self.refuse_if_managed(s, name.as_str(), "set").await?;
        let meta = SecretMeta {
            name: name.as_str().to_owned(),
            content_type: input.content_type,
            tags: input.tags,
            enabled: input.enabled.unwrap_or(true),
            nbf: input.nbf,
            exp: input.exp,
            managed: false,
            kid: None,
        };
        let version = coffer_crypto::random::hex(16)?;
        let record =
            self.secret_version(s, &name.canonical(), version, input.value.as_bytes(), &meta)?;
        self.append_object_version(s, &SECRETS, &name, record.clone())
            .await?;
        self.secret_view(s, &record, Some(input.value), None)
    }

    /// `GET /secrets/{name}/{version?}`: the value of a version (latest when `None`).
    pub async fn get_secret(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
    ) -> Result<SecretView, ServiceError> {
        s.require(VaultOp::SecretGet)?;
        let (name, v) = self.object_version(s, &SECRETS, name, version).await?;
        // Key Vault serves secrets outside their nbf/exp window, but never a disabled one.
        if !Self::meta_of(&v)?.enabled {
            return Err(ServiceError::Disabled {
                message: "Operation get is not allowed on a disabled secret.".to_owned(),
                inner_code: "SecretDisabled",
            });
        }
        let value = self.open_value(s, &name.canonical(), &v)?;
        self.secret_view(s, &v, Some(value), None)
    }

    /// `PATCH /secrets/{name}/{version?}`: changes attributes, tags or content type.
    pub async fn update_secret(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
        upd: SecretUpdate,
    ) -> Result<SecretView, ServiceError> {
        s.require(VaultOp::SecretUpdate)?;
        validate_tags(upd.tags.as_ref())?;
        validate_content_type(upd.content_type.as_ref())?;
        let (name, v) = self.object_version(s, &SECRETS, name, version).await?;
        let mut m = Self::meta_of(&v)?;
        if let Some(ct) = upd.content_type {
            m.content_type = Some(ct);
        }
        if let Some(t) = upd.tags {
            m.tags = Some(t);
        }
        if let Some(e) = upd.enabled {
            m.enabled = e;
        }
        if upd.nbf.is_some() {
            m.nbf = upd.nbf;
        }
        if upd.exp.is_some() {
            m.exp = upd.exp;
        }
        let updated = self
            .update_object_meta(s, &SECRETS, &name, &v.version, serde_json::to_vec(&m)?)
            .await?;
        self.secret_view(s, &updated, None, None)
    }

    /// `GET /secrets`: one page of secrets (latest version of each, no values).
    pub async fn list_secrets(
        &self,
        s: &VaultSession,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<SecretView>, ServiceError> {
        s.require(VaultOp::SecretList)?;
        self.list_object_rows(s, &SECRETS, false, max, skiptoken)
            .await?
            .try_map(|r| self.summary_view(s, r))
    }

    /// `GET /deletedsecrets`: one page of soft-deleted secrets.
    pub async fn list_deleted_secrets(
        &self,
        s: &VaultSession,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<SecretView>, ServiceError> {
        s.require(VaultOp::SecretListDeleted)?;
        self.list_object_rows(s, &SECRETS, true, max, skiptoken)
            .await?
            .try_map(|r| self.summary_view(s, r))
    }

    /// `GET /secrets/{name}/versions`: one page of a secret's versions.
    pub async fn list_secret_versions(
        &self,
        s: &VaultSession,
        name: &str,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<SecretView>, ServiceError> {
        s.require(VaultOp::SecretListVersions)?;
        self.list_version_rows(s, &SECRETS, name, max, skiptoken)
            .await?
            .try_map(|v| self.secret_view(s, &v, None, None))
    }

    /// `DELETE /secrets/{name}`: soft-deletes (or, in a vault without soft delete, removes) a secret.
    pub async fn delete_secret(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<SecretView, ServiceError> {
        s.require(VaultOp::SecretDelete)?;
        self.refuse_if_managed(s, name, "delete").await?;
        let (latest, deletion) = self.delete_object(s, &SECRETS, name).await?;
        self.secret_view(s, &latest, None, deletion)
    }

    /// `GET /deletedsecrets/{name}`.
    pub async fn get_deleted_secret(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<SecretView, ServiceError> {
        s.require(VaultOp::SecretGetDeleted)?;
        let d = self.deleted_object(s, &SECRETS, name).await?;
        self.summary_view(s, d)
    }

    /// `POST /deletedsecrets/{name}/recover`: brings a soft-deleted secret back.
    pub async fn recover_deleted_secret(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<SecretView, ServiceError> {
        s.require(VaultOp::SecretRecover)?;
        let v = self.recover_object(s, &SECRETS, name).await?;
        self.secret_view(s, &v, None, None)
    }

    /// `DELETE /deletedsecrets/{name}`: removes a soft-deleted secret for good.
    pub async fn purge_deleted_secret(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<(), ServiceError> {
        s.require(VaultOp::SecretPurge)?;
        self.purge_object(s, &SECRETS, name).await
    }

    /// `POST /secrets/{name}/backup`: every version, sealed for this instance and tenant.
    pub async fn backup_secret(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<String, ServiceError> {
        s.require(VaultOp::SecretBackup)?;
        self.backup_object(s, &SECRETS, name).await
    }

    /// `POST /secrets/restore`: recreates a secret from a backup blob of this instance and tenant.
    pub async fn restore_secret(
        &self,
        s: &VaultSession,
        blob: &str,
    ) -> Result<SecretView, ServiceError> {
        s.require(VaultOp::SecretRestore)?;
        let v = self.restore_object(s, &SECRETS, blob).await?;
        self.secret_view(s, &v, None, None)
    }
}
