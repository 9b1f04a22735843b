//! The secrets API: set, get, update, list, versions, soft delete, recover, purge, backup and
//! restore. Values are sealed with the vault's data key, bound to vault, name and version.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use coffer_domain::{Attributes, ObjectName};
use coffer_store::{Deletion, ObjectKind, ObjectRef, StoreError, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::records::SecretMeta;
use crate::{Coffer, ServiceError, VaultSession, keyring};

/// Largest secret value Key Vault accepts, in bytes.
pub const MAX_VALUE_BYTES: usize = 25 * 1024;
/// Most tags an object may carry.
pub const MAX_TAGS: usize = 15;
const MAX_TAG_NAME: usize = 512;
const MAX_TAG_VALUE: usize = 256;
const MAX_CONTENT_TYPE: usize = 255;
/// Largest page a list operation returns (`maxresults` range is 1..=25).
pub const MAX_PAGE: usize = 25;

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

/// One page of a listing and the token for the next, if any.
#[derive(Debug)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    pub skiptoken: Option<String>,
}

/// What a backup blob holds once opened.
#[derive(Serialize, Deserialize)]
struct BackupPayload {
    format: String,
    instance_id: String,
    tenant_id: String,
    kind: String,
    versions: Vec<BackupVersion>,
}

#[derive(Serialize, Deserialize)]
struct BackupVersion {
    version: String,
    created: i64,
    updated: i64,
    meta: String,
    value: String,
}

const BACKUP_FORMAT: &str = "coffer-backup-v1";

fn obj(s: &VaultSession, name: &ObjectName) -> ObjectRef {
    ObjectRef {
        vault: s.doc.id.clone(),
        kind: ObjectKind::Secret,
        name: name.canonical(),
    }
}

fn aad(s: &VaultSession, canonical: &str, version: &str) -> Vec<u8> {
    format!("coffer/v1/{}/secret/{canonical}/{version}", s.doc.id).into_bytes()
}

fn parse_name(name: &str) -> Result<ObjectName, ServiceError> {
    ObjectName::parse(name).map_err(|e| ServiceError::BadParameter(e.to_string()))
}

fn not_found(name: &str, version: Option<&str>) -> ServiceError {
    let id = match version {
        Some(v) => format!("{name}/{v}"),
        None => name.to_owned(),
    };
    ServiceError::NotFound {
        message: format!(
            "A secret with (name/id) {id} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        ),
        code: "SecretNotFound",
    }
}

fn deleted_not_found(name: &str) -> ServiceError {
    ServiceError::NotFound {
        message: format!("Deleted Secret not found: {name}"),
        code: "SecretNotFound",
    }
}

fn deleted_but_recoverable(name: &str) -> ServiceError {
    ServiceError::DeletedButRecoverable(format!(
        "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
    ))
}

fn validate_tags(tags: Option<&BTreeMap<String, String>>) -> Result<(), ServiceError> {
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

/// Reads `maxresults`: absent means the largest page; outside 1..=25 is refused.
pub(crate) fn page_size(max: Option<u32>) -> Result<usize, ServiceError> {
    match max {
        None => Ok(MAX_PAGE),
        Some(n) if (1..=MAX_PAGE as u32).contains(&n) => Ok(n as usize),
        Some(n) => Err(ServiceError::BadParameter(format!(
            "Invalid maxresults value {n}: it must be between 1 and {MAX_PAGE}."
        ))),
    }
}

fn decode_skiptoken(token: Option<&str>) -> Result<Option<String>, ServiceError> {
    let Some(t) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    B64URL
        .decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(|| {
            ServiceError::BadParameter("The $skiptoken parameter is invalid.".to_owned())
        })
}

fn encode_skiptoken(last: &str) -> String {
    B64URL.encode(last.as_bytes())
}

impl Coffer {
    fn meta_of(v: &Version) -> Result<SecretMeta, ServiceError> {
        Ok(serde_json::from_slice(&v.meta)?)
    }

    fn view(
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

    fn open_value(
        &self,
        s: &VaultSession,
        canonical: &str,
        v: &Version,
    ) -> Result<Zeroizing<String>, ServiceError> {
        let plain = s.key.open(&aad(s, canonical, &v.version), &v.sealed)?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| ServiceError::Internal("secret value is not UTF-8".to_owned()))
    }

    /// `PUT /secrets/{name}`: stores a new version and returns it with its value.
    pub async fn set_secret(
        &self,
        s: &VaultSession,
        name: &str,
        input: SecretInput,
    ) -> Result<SecretView, ServiceError> {
        s.require("secrets", "set")?;
        let name = parse_name(name)?;
        if input.value.len() > MAX_VALUE_BYTES {
            return Err(ServiceError::BadParameter(format!(
                "The secret value is {} bytes long; Key Vault accepts at most {MAX_VALUE_BYTES} bytes (25 KiB).",
                input.value.len()
            )));
        }
        validate_tags(input.tags.as_ref())?;
        validate_content_type(input.content_type.as_ref())?;
        let now = self.now();
        let version = coffer_crypto::random::hex(16)?;
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
        let o = obj(s, &name);
        let record = Version {
            sealed: s
                .key
                .seal(&aad(s, &o.name, &version), input.value.as_bytes())?,
            version,
            created: now,
            updated: now,
            meta: serde_json::to_vec(&meta)?,
        };
        match self.store.append_version(&o, record.clone()).await {
            Ok(()) => {}
            Err(StoreError::DeletedButRecoverable) => {
                return Err(deleted_but_recoverable(name.as_str()));
            }
            Err(e) => return Err(e.into()),
        }
        self.view(s, &record, Some(input.value), None)
    }

    /// `GET /secrets/{name}/{version?}`: the value of a version (latest when `None`).
    pub async fn get_secret(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
    ) -> Result<SecretView, ServiceError> {
        s.require("secrets", "get")?;
        let name = parse_name(name)?;
        let o = obj(s, &name);
        let v = self
            .store
            .get_version(&o, version)
            .await?
            .ok_or_else(|| not_found(name.as_str(), version))?;
        // Key Vault serves secrets outside their nbf/exp window, but never a disabled one.
        if !Self::meta_of(&v)?.enabled {
            return Err(ServiceError::Disabled {
                message: "Operation get is not allowed on a disabled secret.".to_owned(),
                inner_code: "SecretDisabled",
            });
        }
        let value = self.open_value(s, &o.name, &v)?;
        self.view(s, &v, Some(value), None)
    }

    /// `PATCH /secrets/{name}/{version?}`: changes attributes, tags or content type.
    pub async fn update_secret(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
        upd: SecretUpdate,
    ) -> Result<SecretView, ServiceError> {
        s.require("secrets", "set")?;
        let name = parse_name(name)?;
        validate_tags(upd.tags.as_ref())?;
        validate_content_type(upd.content_type.as_ref())?;
        let o = obj(s, &name);
        let v = self
            .store
            .get_version(&o, version)
            .await?
            .ok_or_else(|| not_found(name.as_str(), version))?;
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
        let updated = match self
            .store
            .update_version(&o, &v.version, serde_json::to_vec(&m)?, self.now())
            .await
        {
            Ok(u) => u,
            Err(StoreError::NotFound) => return Err(not_found(name.as_str(), version)),
            Err(e) => return Err(e.into()),
        };
        self.view(s, &updated, None, None)
    }

    /// `GET /secrets`: one page of secrets (latest version of each, no values).
    pub async fn list_secrets(
        &self,
        s: &VaultSession,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<SecretView>, ServiceError> {
        s.require("secrets", "list")?;
        let limit = page_size(max)?;
        let after = decode_skiptoken(skiptoken)?;
        let rows = self
            .store
            .list_objects(
                &s.doc.id,
                ObjectKind::Secret,
                false,
                after.as_deref(),
                limit + 1,
            )
            .await?;
        self.page(s, rows, limit, |r| r.name.clone())
    }

    /// `GET /deletedsecrets`: one page of soft-deleted secrets.
    pub async fn list_deleted_secrets(
        &self,
        s: &VaultSession,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<SecretView>, ServiceError> {
        s.require("secrets", "list")?;
        let limit = page_size(max)?;
        let after = decode_skiptoken(skiptoken)?;
        let rows = self
            .store
            .list_objects(
                &s.doc.id,
                ObjectKind::Secret,
                true,
                after.as_deref(),
                limit + 1,
            )
            .await?;
        self.page(s, rows, limit, |r| r.name.clone())
    }

    fn page(
        &self,
        s: &VaultSession,
        mut rows: Vec<coffer_store::ObjectSummary>,
        limit: usize,
        key: impl Fn(&coffer_store::ObjectSummary) -> String,
    ) -> Result<ListPage<SecretView>, ServiceError> {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let skiptoken = if more {
            rows.last().map(|r| encode_skiptoken(&key(r)))
        } else {
            None
        };
        let items = rows
            .iter()
            .map(|r| self.view(s, &r.latest, None, r.deletion.clone()))
            .collect::<Result<_, _>>()?;
        Ok(ListPage { items, skiptoken })
    }

    /// `GET /secrets/{name}/versions`: one page of a secret's versions.
    pub async fn list_secret_versions(
        &self,
        s: &VaultSession,
        name: &str,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<SecretView>, ServiceError> {
        s.require("secrets", "list")?;
        let name = parse_name(name)?;
        let limit = page_size(max)?;
        let after = decode_skiptoken(skiptoken)?;
        let mut rows = match self
            .store
            .list_versions(&obj(s, &name), after.as_deref(), limit + 1)
            .await
        {
            Ok(r) => r,
            Err(StoreError::NotFound) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let more = rows.len() > limit;
        rows.truncate(limit);
        let skiptoken = if more {
            rows.last().map(|r| encode_skiptoken(&r.version))
        } else {
            None
        };
        let items = rows
            .iter()
            .map(|v| self.view(s, v, None, None))
            .collect::<Result<_, _>>()?;
        Ok(ListPage { items, skiptoken })
    }

    /// `DELETE /secrets/{name}`: soft-deletes (or, in a vault without soft delete, removes) a secret.
    pub async fn delete_secret(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<SecretView, ServiceError> {
        s.require("secrets", "delete")?;
        let name = parse_name(name)?;
        let o = obj(s, &name);
        let latest = self
            .store
            .get_version(&o, None)
            .await?
            .ok_or_else(|| not_found(name.as_str(), None))?;
        if !s.vault.soft_delete {
            match self.store.purge(&o).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            return self.view(s, &latest, None, None);
        }
        let now = self.now();
        let deletion = Deletion {
            deleted_date: now,
            scheduled_purge_date: now + i64::from(s.vault.retention_days) * 86_400,
        };
        match self.store.soft_delete(&o, deletion.clone()).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(not_found(name.as_str(), None)),
            Err(e) => return Err(e.into()),
        }
        self.view(s, &latest, None, Some(deletion))
    }

    /// `GET /deletedsecrets/{name}`.
    pub async fn get_deleted_secret(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<SecretView, ServiceError> {
        s.require("secrets", "list")?;
        let name = parse_name(name)?;
        let d = self
            .store
            .get_deleted(&obj(s, &name))
            .await?
            .ok_or_else(|| deleted_not_found(name.as_str()))?;
        self.view(s, &d.latest, None, d.deletion)
    }

    /// `POST /deletedsecrets/{name}/recover`: brings a soft-deleted secret back.
    pub async fn recover_deleted_secret(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<SecretView, ServiceError> {
        s.require("secrets", "recover")?;
        let name = parse_name(name)?;
        let o = obj(s, &name);
        match self.store.recover(&o).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(deleted_not_found(name.as_str())),
            Err(e) => return Err(e.into()),
        }
        let v = self
            .store
            .get_version(&o, None)
            .await?
            .ok_or_else(|| not_found(name.as_str(), None))?;
        self.view(s, &v, None, None)
    }

    /// `DELETE /deletedsecrets/{name}`: removes a soft-deleted secret for good.
    pub async fn purge_deleted_secret(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<(), ServiceError> {
        s.require("secrets", "purge")?;
        let name = parse_name(name)?;
        let o = obj(s, &name);
        if self.store.get_deleted(&o).await?.is_none() {
            return Err(deleted_not_found(name.as_str()));
        }
        if !s.vault.recovery_level().allows_purge() {
            return Err(ServiceError::PurgeProtected(format!(
                "Operation \"purge\" is not allowed on secret {} because purge protection is enabled on vault '{}'. The secret will be purged automatically after its scheduled purge date.",
                name.as_str(),
                s.doc.name
            )));
        }
        match self.store.purge(&o).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(deleted_not_found(name.as_str())),
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /secrets/{name}/backup`: every version, sealed for this instance and tenant.
    pub async fn backup_secret(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<String, ServiceError> {
        s.require("secrets", "backup")?;
        let name = parse_name(name)?;
        let o = obj(s, &name);
        let mut versions = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = match self.store.list_versions(&o, after.as_deref(), 100).await {
                Ok(p) => p,
                Err(StoreError::NotFound) => return Err(not_found(name.as_str(), None)),
                Err(e) => return Err(e.into()),
            };
            let done = page.len() < 100;
            after = page.last().map(|v| v.version.clone());
            versions.extend(page);
            if done {
                break;
            }
        }
        if versions.is_empty() {
            return Err(not_found(name.as_str(), None));
        }
        // The backup must restore with the same latest version: put it last.
        let latest = self.store.get_version(&o, None).await?.map(|v| v.version);
        versions.sort_by_key(|v| (Some(&v.version) == latest.as_ref(), v.created));
        let keys = keyring::instance_keys(self.store.as_ref(), &self.root).await?;
        let mut out = Vec::with_capacity(versions.len());
        for v in &versions {
            let value = s.key.open(&aad(s, &o.name, &v.version), &v.sealed)?;
            out.push(BackupVersion {
                version: v.version.clone(),
                created: v.created,
                updated: v.updated,
                meta: B64.encode(&v.meta),
                value: B64.encode(&value[..]),
            });
        }
        let payload = Zeroizing::new(serde_json::to_vec(&BackupPayload {
            format: BACKUP_FORMAT.to_owned(),
            instance_id: keys.instance_id.clone(),
            tenant_id: s.doc.tenant_id.clone(),
            kind: "secret".to_owned(),
            versions: out,
        })?);
        let sealed = keys
            .backup
            .seal(backup_aad(&s.doc.tenant_id).as_bytes(), &payload)?;
        Ok(B64URL.encode(sealed))
    }

    /// `POST /secrets/restore`: recreates a secret from a backup blob of this instance and tenant.
    pub async fn restore_secret(
        &self,
        s: &VaultSession,
        blob: &str,
    ) -> Result<SecretView, ServiceError> {
        s.require("secrets", "restore")?;
        let corrupt = || {
            ServiceError::BadParameter(
                "The backup blob is corrupt, was altered, or was not made by this Coffer instance for a vault of this tenant.".to_owned(),
            )
        };
        let raw = B64URL
            .decode(blob.trim_end_matches('='))
            .map_err(|_| corrupt())?;
        let keys = keyring::instance_keys(self.store.as_ref(), &self.root).await?;
        let plain = keys
            .backup
            .open(backup_aad(&s.doc.tenant_id).as_bytes(), &raw)
            .map_err(|_| corrupt())?;
        let payload: BackupPayload = serde_json::from_slice(&plain).map_err(|_| corrupt())?;
        if payload.format != BACKUP_FORMAT
            || payload.kind != "secret"
            || payload.versions.is_empty()
        {
            return Err(ServiceError::BadParameter(
                "The backup blob does not hold a secret.".to_owned(),
            ));
        }
        let first: SecretMeta = serde_json::from_slice(
            &B64.decode(&payload.versions[0].meta)
                .map_err(|_| corrupt())?,
        )?;
        let name = parse_name(&first.name)?;
        let o = obj(s, &name);
        let mut versions = Vec::with_capacity(payload.versions.len());
        for v in &payload.versions {
            let value = Zeroizing::new(B64.decode(&v.value).map_err(|_| corrupt())?);
            versions.push(Version {
                version: v.version.clone(),
                created: v.created,
                updated: v.updated,
                meta: B64.decode(&v.meta).map_err(|_| corrupt())?,
                sealed: s.key.seal(&aad(s, &o.name, &v.version), &value)?,
            });
        }
        match self.store.restore(&o, versions).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(ServiceError::Conflict(format!(
                    "Secret {} already exists in vault '{}'; a backup can only be restored under a name that is not in use.",
                    name.as_str(),
                    s.doc.name
                )));
            }
            Err(StoreError::DeletedButRecoverable) => {
                return Err(deleted_but_recoverable(name.as_str()));
            }
            Err(e) => return Err(e.into()),
        }
        let v = self
            .store
            .get_version(&o, None)
            .await?
            .ok_or_else(|| not_found(name.as_str(), None))?;
        self.view(s, &v, None, None)
    }

    /// Purges soft-deleted objects whose retention has ended. Returns how many were purged.
    pub async fn purge_expired(&self) -> Result<usize, ServiceError> {
        let due = self.store.due_for_purge(self.now(), 500).await?;
        let mut n = 0;
        for o in due {
            match self.store.purge(&o).await {
                Ok(()) => n += 1,
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(n)
    }
}

fn backup_aad(tenant: &str) -> String {
    format!("coffer/backup/v1/{}", tenant.to_ascii_lowercase())
}
