//! The lifecycle every vault object family shares (secrets, keys, certificates): lookup, paged
//! listing, versions, soft delete, deleted lookup, recover, purge, backup and restore, written
//! once over a [`Family`]. Families check the caller's permission first, then call in here and
//! turn the rows into their own views.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use coffer_domain::ObjectName;
use coffer_store::{Deletion, ObjectKind, ObjectRef, ObjectSummary, StoreError, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use std::collections::HashMap;

use crate::records::{VAULT, VaultDoc};
use crate::{Coffer, ServiceError, VaultSession, keyring};

/// Largest page a list operation returns (`maxresults` range is 1..=25).
pub const MAX_PAGE: usize = 25;

/// What differs between families in the shared lifecycle: the store kind and the words of
/// Azure's messages.
pub(crate) struct Family {
    pub(crate) kind: ObjectKind,
    /// Capitalised, as messages start: "Secret", "Key", "Certificate".
    pub(crate) title: &'static str,
    /// Lowercase, inside sentences.
    pub(crate) noun: &'static str,
    /// Azure's error code for a missing object of this family.
    pub(crate) not_found_code: &'static str,
}

pub(crate) const SECRETS: Family = Family {
    kind: ObjectKind::Secret,
    title: "Secret",
    noun: "secret",
    not_found_code: "SecretNotFound",
};

pub(crate) const KEYS: Family = Family {
    kind: ObjectKind::Key,
    title: "Key",
    noun: "key",
    not_found_code: "KeyNotFound",
};

pub(crate) const CERTIFICATES: Family = Family {
    kind: ObjectKind::Certificate,
    title: "Certificate",
    noun: "certificate",
    not_found_code: "CertificateNotFound",
};

/// One page of a listing and the token for the next, if any.
#[derive(Debug)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    pub skiptoken: Option<String>,
}

impl<T> ListPage<T> {
    /// Turns each row into a view, keeping the page's continuation.
    pub(crate) fn try_map<U>(
        self,
        f: impl FnMut(T) -> Result<U, ServiceError>,
    ) -> Result<ListPage<U>, ServiceError> {
        Ok(ListPage {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            skiptoken: self.skiptoken,
        })
    }
}

/// The one field every family's version metadata has: the name as the caller spelled it.
#[derive(Deserialize)]
struct NamedMeta {
    name: String,
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

pub(crate) fn parse_name(name: &str) -> Result<ObjectName, ServiceError> {
    ObjectName::parse(name).map_err(|e| ServiceError::BadParameter(e.to_string()))
}

pub(crate) fn object_ref(s: &VaultSession, fam: &Family, name: &ObjectName) -> ObjectRef {
    ObjectRef {
        vault: s.doc.id.clone(),
        kind: fam.kind,
        name: name.canonical(),
    }
}

/// Associated data binding a sealed payload to its vault, kind, name and version.
pub(crate) fn aad(s: &VaultSession, kind: ObjectKind, canonical: &str, version: &str) -> Vec<u8> {
    format!(
        "coffer/v1/{}/{}/{canonical}/{version}",
        s.doc.id,
        kind.as_str()
    )
    .into_bytes()
}

pub(crate) fn not_found(fam: &Family, name: &str, version: Option<&str>) -> ServiceError {
    let id = match version {
        Some(v) => format!("{name}/{v}"),
        None => name.to_owned(),
    };
    ServiceError::NotFound {
        message: format!(
            "A {} with (name/id) {id} was not found in this key vault. If you recently deleted this {} you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
            fam.noun, fam.noun
        ),
        code: fam.not_found_code,
    }
}

pub(crate) fn deleted_not_found(fam: &Family, name: &str) -> ServiceError {
    ServiceError::NotFound {
        message: format!("Deleted {} not found: {name}", fam.title),
        code: fam.not_found_code,
    }
}

pub(crate) fn deleted_but_recoverable(fam: &Family, name: &str) -> ServiceError {
    ServiceError::DeletedButRecoverable(format!(
        "{} {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the {} can only be recovered or purged.",
        fam.title, fam.noun
    ))
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

/// Cuts a `limit + 1` read to `limit` rows and, if there was more, the token of the next page.
fn paginate<T>(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> &str) -> ListPage<T> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let skiptoken = if more {
        rows.last().map(|r| B64URL.encode(key(r).as_bytes()))
    } else {
        None
    };
    ListPage {
        items: rows,
        skiptoken,
    }
}

fn backup_aad(tenant: &str) -> String {
    format!("coffer/backup/v1/{}", tenant.to_ascii_lowercase())
}

impl Coffer {
    /// A version of a live object (latest when `version` is `None`), or the family's 404.
    pub(crate) async fn object_version(
        &self,
        s: &VaultSession,
        fam: &Family,
        name: &str,
        version: Option<&str>,
    ) -> Result<(ObjectName, Version), ServiceError> {
        let name = parse_name(name)?;
        let v = self
            .store
            .get_version(&object_ref(s, fam, &name), version)
            .await?
            .ok_or_else(|| not_found(fam, name.as_str(), version))?;
        Ok((name, v))
    }

    /// Adds a version; a soft-deleted name is the family's 409.
    pub(crate) async fn append_object_version(
        &self,
        s: &VaultSession,
        fam: &Family,
        name: &ObjectName,
        record: Version,
    ) -> Result<(), ServiceError> {
        match self
            .store
            .append_version(&object_ref(s, fam, name), record)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::DeletedButRecoverable) => {
                Err(deleted_but_recoverable(fam, name.as_str()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces a version's metadata.
    pub(crate) async fn update_object_meta(
        &self,
        s: &VaultSession,
        fam: &Family,
        name: &ObjectName,
        version: &str,
        meta: Vec<u8>,
    ) -> Result<Version, ServiceError> {
        match self
            .store
            .update_version(&object_ref(s, fam, name), version, meta, self.vault_now(s))
            .await
        {
            Ok(u) => Ok(u),
            Err(StoreError::NotFound) => Err(not_found(fam, name.as_str(), Some(version))),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of live (or soft-deleted) objects, latest version each.
    pub(crate) async fn list_object_rows(
        &self,
        s: &VaultSession,
        fam: &Family,
        deleted: bool,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<ObjectSummary>, ServiceError> {
        let limit = page_size(max)?;
        let after = decode_skiptoken(skiptoken)?;
        let rows = self
            .store
            .list_objects(&s.doc.id, fam.kind, deleted, after.as_deref(), limit + 1)
            .await?;
        Ok(paginate(rows, limit, |r| &r.name))
    }

    /// One page of an object's versions; an unknown object has none.
    pub(crate) async fn list_version_rows(
        &self,
        s: &VaultSession,
        fam: &Family,
        name: &str,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<Version>, ServiceError> {
        let name = parse_name(name)?;
        let limit = page_size(max)?;
        let after = decode_skiptoken(skiptoken)?;
        let rows = match self
            .store
            .list_versions(&object_ref(s, fam, &name), after.as_deref(), limit + 1)
            .await
        {
            Ok(r) => r,
            Err(StoreError::NotFound) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(paginate(rows, limit, |v| &v.version))
    }

    /// Soft-deletes an object (or removes it, in a vault without soft delete). Returns its latest
    /// version and the deletion state, if it was kept.
    pub(crate) async fn delete_object(
        &self,
        s: &VaultSession,
        fam: &Family,
        name: &str,
    ) -> Result<(Version, Option<Deletion>), ServiceError> {
        let (name, latest) = self.object_version(s, fam, name, None).await?;
        let o = object_ref(s, fam, &name);
        if !s.vault.soft_delete {
            match self.purge_stored(s, &o).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            return Ok((latest, None));
        }
        let now = self.vault_now(s);
        let deletion = Deletion {
            deleted_date: now,
            scheduled_purge_date: now + i64::from(s.vault.retention_days) * 86_400,
        };
        match self.store.soft_delete(&o, deletion.clone()).await {
            Ok(()) => Ok((latest, Some(deletion))),
            Err(StoreError::NotFound) => Err(not_found(fam, name.as_str(), None)),
            Err(e) => Err(e.into()),
        }
    }

    /// A soft-deleted object with its latest version.
    pub(crate) async fn deleted_object(
        &self,
        s: &VaultSession,
        fam: &Family,
        name: &str,
    ) -> Result<ObjectSummary, ServiceError> {
        let name = parse_name(name)?;
        self.store
            .get_deleted(&object_ref(s, fam, &name))
            .await?
            .ok_or_else(|| deleted_not_found(fam, name.as_str()))
    }

    /// Brings a soft-deleted object back; returns its latest version.
    pub(crate) async fn recover_object(
        &self,
        s: &VaultSession,
        fam: &Family,
        name: &str,
    ) -> Result<Version, ServiceError> {
        let name = parse_name(name)?;
        let o = object_ref(s, fam, &name);
        match self.store.recover(&o).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(deleted_not_found(fam, name.as_str())),
            Err(e) => return Err(e.into()),
        }
        self.store
            .get_version(&o, None)
            .await?
            .ok_or_else(|| not_found(fam, name.as_str(), None))
    }

    /// Removes a soft-deleted object for good, unless the vault's purge protection forbids it.
    pub(crate) async fn purge_object(
        &self,
        s: &VaultSession,
        fam: &Family,
        name: &str,
    ) -> Result<(), ServiceError> {
        let name = parse_name(name)?;
        let o = object_ref(s, fam, &name);
        if self.store.get_deleted(&o).await?.is_none() {
            return Err(deleted_not_found(fam, name.as_str()));
        }
        if !s.vault.recovery_level().allows_purge() {
            return Err(ServiceError::PurgeProtected(format!(
                "Operation \"purge\" is not allowed on {} {} because purge protection is enabled on vault '{}'. The {} will be purged automatically after its scheduled purge date.",
                fam.noun,
                name.as_str(),
                s.doc.name,
                fam.noun
            )));
        }
        match self.purge_stored(s, &o).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(deleted_not_found(fam, name.as_str())),
            Err(e) => Err(e.into()),
        }
    }

    /// Purges one object from the store, then gives back what its versions held outside it: a
    /// key's objects in the PKCS#11 token.
    pub(crate) async fn purge_stored(
        &self,
        s: &VaultSession,
        o: &ObjectRef,
    ) -> Result<(), StoreError> {
        let removed = self.store.purge(o).await?;
        if o.kind == ObjectKind::Key {
            self.release_key_versions(s, &o.name, &removed).await;
        }
        Ok(())
    }

    /// Every version of an object, the latest last.
    pub(crate) async fn all_versions(
        &self,
        s: &VaultSession,
        fam: &Family,
        name: &ObjectName,
    ) -> Result<Vec<Version>, ServiceError> {
        let o = object_ref(s, fam, name);
        let mut versions = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = match self.store.list_versions(&o, after.as_deref(), 100).await {
                Ok(p) => p,
                Err(StoreError::NotFound) => return Err(not_found(fam, name.as_str(), None)),
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
            return Err(not_found(fam, name.as_str(), None));
        }
        let latest = self.store.get_version(&o, None).await?.map(|v| v.version);
        versions.sort_by_key(|v| (Some(&v.version) == latest.as_ref(), v.created));
        Ok(versions)
    }

    /// Every version of an object, opened and sealed again for this instance and tenant.
    pub(crate) async fn backup_object(
        &self,
        s: &VaultSession,
        fam: &Family,
        name: &str,
    ) -> Result<String, ServiceError> {
        let name = parse_name(name)?;
        let versions = self.all_versions(s, fam, &name).await?;
        let canonical = name.canonical();
        let keys = keyring::instance_keys(self.store.as_ref(), &self.root).await?;
        let mut out = Vec::with_capacity(versions.len());
        for v in &versions {
            let value = s
                .key
                .open(&aad(s, fam.kind, &canonical, &v.version), &v.sealed)?;
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
            kind: fam.kind.as_str().to_owned(),
            versions: out,
        })?);
        let sealed = keys
            .backup
            .seal(backup_aad(&s.doc.tenant_id).as_bytes(), &payload)?;
        Ok(B64URL.encode(sealed))
    }

    /// Recreates an object from a backup blob of this instance and tenant; returns its latest
    /// version.
    pub(crate) async fn restore_object(
        &self,
        s: &VaultSession,
        fam: &Family,
        blob: &str,
    ) -> Result<Version, ServiceError> {
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
        let Some(first) = payload.versions.first() else {
            return Err(corrupt());
        };
        if payload.format != BACKUP_FORMAT || payload.kind != fam.kind.as_str() {
            return Err(ServiceError::BadParameter(format!(
                "The backup blob does not hold a {}.",
                fam.noun
            )));
        }
        let first: NamedMeta =
            serde_json::from_slice(&B64.decode(&first.meta).map_err(|_| corrupt())?)
                .map_err(|_| corrupt())?;
        let name = parse_name(&first.name)?;
        let o = object_ref(s, fam, &name);
        let mut versions = Vec::with_capacity(payload.versions.len());
        for v in &payload.versions {
            let value = Zeroizing::new(B64.decode(&v.value).map_err(|_| corrupt())?);
            versions.push(Version {
                version: v.version.clone(),
                created: v.created,
                updated: v.updated,
                meta: B64.decode(&v.meta).map_err(|_| corrupt())?,
                sealed: s.key.seal(&aad(s, fam.kind, &o.name, &v.version), &value)?,
            });
        }
        match self.store.restore(&o, versions).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(ServiceError::Conflict(format!(
                    "{} {} already exists in vault '{}'; a backup can only be restored under a name that is not in use.",
                    fam.title,
                    name.as_str(),
                    s.doc.name
                )));
            }
            Err(StoreError::DeletedButRecoverable) => {
                return Err(deleted_but_recoverable(fam, name.as_str()));
            }
            Err(e) => return Err(e.into()),
        }
        self.store
            .get_version(&o, None)
            .await?
            .ok_or_else(|| not_found(fam, name.as_str(), None))
    }

    /// Purges soft-deleted objects whose retention has ended. Returns how many were purged.
    pub async fn purge_expired(&self) -> Result<usize, ServiceError> {
        let now = self.now();
        let mut names: HashMap<String, String> = HashMap::new();
        let mut ahead: Vec<(String, i64)> = Vec::new();
        for d in self.store.list_docs(VAULT).await? {
            let v: VaultDoc = serde_json::from_slice(&d.body)?;
            if let Some(offset) = v.testing.clock_offset_secs.filter(|o| *o > 0) {
                ahead.push((v.id.clone(), offset));
            }
            names.insert(v.id, v.name);
        }
        let mut due = self.store.due_for_purge(now, 500).await?;
        // A vault whose test clock runs ahead purges what is due by its own time.
        for (id, offset) in ahead {
            for o in self
                .store
                .due_for_purge(now.saturating_add(offset), 500)
                .await?
            {
                if o.vault == id && !due.contains(&o) {
                    due.push(o);
                }
            }
        }
        if due.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        for o in due {
            let session = match names.get(&o.vault) {
                Some(name) => self.system_session(name).await?,
                None => None,
            };
            let purged = match &session {
                Some(s) => self.purge_stored(s, &o).await,
                // A vault being purged itself: its objects go with it, nothing to open.
                None => self.store.purge(&o).await.map(|_| ()),
            };
            match purged {
                Ok(()) => n += 1,
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(n)
    }
}
