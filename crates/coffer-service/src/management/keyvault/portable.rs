//! Portable vault contents (`coffer vault export` / `import`): every live secret, key and
//! certificate with all its versions, opened from this instance's sealing so that another
//! instance can seal them with its own keys, plus the vault's per-object documents (rotation
//! policies, certificate issuers and contacts) and its settings. The caller (the CLI) encrypts
//! the result under a key of its user's choosing before it touches a disk. Keys held in a
//! PKCS#11 token cannot leave it: they (and certificates whose key they are) are skipped and
//! named. Soft-deleted objects and pending certificate operations are not carried.

use std::collections::{BTreeMap, HashSet};

use coffer_domain::{ObjectName, Principal};
use coffer_store::{DocMode, DocWrite, ObjectKind, ObjectRef, StoreError, Version};
use zeroize::Zeroizing;

use crate::certificates::{CERT_CONTACTS, CERT_ISSUER};
use crate::keys::record::ROTATION_POLICY;
use crate::management::{ManagementError, bad, clip};
use crate::objects::{CERTIFICATES, Family, KEYS, SECRETS, aad};
use crate::{Coffer, ServiceError, VaultSession};

/// Document kinds that belong to one vault, keyed `<vault id>` or `<vault id>/<name>`.
const VAULT_DOC_KINDS: &[&str] = &[ROTATION_POLICY, CERT_ISSUER, CERT_CONTACTS];
const PAGE: usize = 100;

/// One version, opened.
#[derive(Clone)]
pub struct PortableVersion {
    pub version: String,
    pub created: i64,
    pub updated: i64,
    /// The version's metadata record (attributes, tags, policy), as stored.
    pub meta: Vec<u8>,
    /// The plaintext payload: a secret value or key material.
    pub value: Zeroizing<Vec<u8>>,
}

/// One object: `kind` is `secret`, `key` or `certificate`; `name` its canonical name.
#[derive(Clone)]
pub struct PortableObject {
    pub kind: String,
    pub name: String,
    /// Oldest first, the current version last.
    pub versions: Vec<PortableVersion>,
}

/// A per-vault document: `suffix` is its id after the vault id (empty or `/<name>`).
#[derive(Clone, Debug)]
pub struct PortableDoc {
    pub kind: String,
    pub suffix: String,
    pub body: Vec<u8>,
}

/// The vault settings a new vault can be created with.
#[derive(Clone, Debug)]
pub struct PortableSettings {
    pub retention_days: u32,
    pub purge_protection: bool,
    pub tags: BTreeMap<String, String>,
    pub sku: String,
    pub default_action: String,
    pub bypass: String,
    pub ip_rules: Vec<String>,
    pub public_network_disabled: bool,
}

/// What `export_vault` returns.
pub struct VaultExport {
    pub vault: String,
    pub settings: PortableSettings,
    pub objects: Vec<PortableObject>,
    pub docs: Vec<PortableDoc>,
    /// What could not be exported, one sentence each.
    pub skipped: Vec<String>,
}

/// What an import did (or, when only checking, would clash with).
#[derive(Clone, Debug, Default)]
pub struct ImportOutcome {
    pub imported: usize,
    pub replaced: usize,
}

fn family(kind: &str) -> Option<&'static Family> {
    match kind {
        "secret" => Some(&SECRETS),
        "key" => Some(&KEYS),
        "certificate" => Some(&CERTIFICATES),
        _ => None,
    }
}

fn internal(e: ServiceError) -> ManagementError {
    ManagementError::Service(e)
}

impl Coffer {
    async fn portable_session(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
        verb: &str,
    ) -> Result<VaultSession, ManagementError> {
        let sub = self
            .authorize_vault(caller, subscription, rg, vault, verb)
            .await?;
        let (doc, _) = self.vault_in(&sub, rg, vault).await?;
        self.require_vault_tenant(caller, &doc, verb.trim_end_matches("/action"))?;
        self.system_session(&doc.name)
            .await
            .map_err(internal)?
            .ok_or_else(|| ManagementError::NotFound {
                code: "ResourceNotFound",
                message: format!("The vault '{}' was not found.", clip(vault)),
            })
    }

    /// Every live object of a vault with all versions opened, its per-vault documents and
    /// settings. Only principals of the vault's tenant with write access to it may.
    pub async fn export_vault(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
    ) -> Result<VaultExport, ManagementError> {
        let s = self
            .portable_session(caller, subscription, rg, vault, "export/action")
            .await?;
        let mut objects = Vec::new();
        let mut skipped = Vec::new();
        // Certificates (and their managed secrets) whose managed key lives in the token.
        let mut hsm_managed: HashSet<String> = HashSet::new();
        for fam in [&KEYS, &SECRETS, &CERTIFICATES] {
            let mut after: Option<String> = None;
            loop {
                let page = self
                    .store
                    .list_objects(&s.doc.id, fam.kind, false, after.as_deref(), PAGE)
                    .await?;
                after = page.last().map(|o| o.name.clone());
                for summary in &page {
                    let canonical = summary.name.clone();
                    if fam.kind != ObjectKind::Key && hsm_managed.contains(&canonical) {
                        skipped.push(format!(
                            "{} '{canonical}': its key is an HSM key, which cannot leave the token",
                            fam.noun
                        ));
                        continue;
                    }
                    let name = ObjectName::parse(&canonical)
                        .map_err(|e| internal(ServiceError::Internal(e.to_string())))?;
                    let versions = self.all_versions(&s, fam, &name).await.map_err(internal)?;
                    if fam.kind == ObjectKind::Key
                        && let Some(managed) = hsm_key(&versions)
                    {
                        skipped.push(format!(
                            "key '{canonical}': an HSM key, which cannot leave the token"
                        ));
                        if managed {
                            hsm_managed.insert(canonical);
                        }
                        continue;
                    }
                    let mut out = Vec::with_capacity(versions.len());
                    for v in versions {
                        let value = s
                            .key
                            .open(&aad(&s, fam.kind, &canonical, &v.version), &v.sealed)
                            .map_err(|e| internal(e.into()))?;
                        out.push(PortableVersion {
                            version: v.version,
                            created: v.created,
                            updated: v.updated,
                            meta: v.meta,
                            value,
                        });
                    }
                    objects.push(PortableObject {
                        kind: fam.kind.as_str().to_owned(),
                        name: canonical,
                        versions: out,
                    });
                }
                if page.len() < PAGE {
                    break;
                }
            }
        }
        let mut docs = Vec::new();
        for kind in VAULT_DOC_KINDS {
            for d in self.store.list_docs(kind).await? {
                let Some(suffix) = d.id.strip_prefix(&s.doc.id) else {
                    continue;
                };
                if suffix.is_empty() || suffix.starts_with('/') {
                    docs.push(PortableDoc {
                        kind: (*kind).to_owned(),
                        suffix: suffix.to_owned(),
                        body: d.body,
                    });
                }
            }
        }
        let v = &s.doc;
        Ok(VaultExport {
            vault: v.name.clone(),
            settings: PortableSettings {
                retention_days: v.retention_days,
                purge_protection: v.purge_protection,
                tags: v.tags.clone(),
                sku: v.sku.clone(),
                default_action: v.network_acls.default_action.clone(),
                bypass: v.network_acls.bypass.clone(),
                ip_rules: v.network_acls.ip_rules.clone(),
                public_network_disabled: v.public_network_disabled,
            },
            objects,
            docs,
            skipped,
        })
    }

    /// Writes exported objects and documents into a vault. Objects whose names are in use
    /// (live or soft-deleted) are refused, naming them, unless `force`: then they are purged
    /// and replaced (never in a vault with purge protection). With `check_only`, only the
    /// names are checked and nothing is written. Everything is checked before anything is
    /// written.
    #[allow(clippy::too_many_arguments)]
    pub async fn import_vault(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
        objects: Vec<PortableObject>,
        docs: Vec<PortableDoc>,
        force: bool,
        check_only: bool,
    ) -> Result<ImportOutcome, ManagementError> {
        let s = self
            .portable_session(caller, subscription, rg, vault, "import/action")
            .await?;
        let mut refs = Vec::with_capacity(objects.len());
        let mut clashes = Vec::new();
        for o in &objects {
            let fam = family(&o.kind).ok_or_else(|| {
                bad(
                    "InvalidImport",
                    format!(
                        "'{}' is not an object kind (secret, key or certificate).",
                        clip(&o.kind)
                    ),
                )
            })?;
            let name = ObjectName::parse(&o.name).map_err(|e| {
                bad(
                    "InvalidImport",
                    format!("Object name '{}': {e}", clip(&o.name)),
                )
            })?;
            if !check_only {
                validate_versions(o, &name)?;
            }
            let r = ObjectRef {
                vault: s.doc.id.clone(),
                kind: fam.kind,
                name: name.canonical(),
            };
            if self.store.get_version(&r, None).await?.is_some()
                || self.store.get_deleted(&r).await?.is_some()
            {
                clashes.push(format!("{} {}", fam.noun, r.name));
            }
            refs.push(r);
        }
        for d in &docs {
            if !VAULT_DOC_KINDS.contains(&d.kind.as_str())
                || !(d.suffix.is_empty()
                    || (d.suffix.starts_with('/') && d.suffix[1..].chars().all(|c| c != '/')))
            {
                return Err(bad(
                    "InvalidImport",
                    format!("'{}' is not a vault document kind.", clip(&d.kind)),
                ));
            }
        }
        if !clashes.is_empty() && !force {
            return Err(ManagementError::Conflict {
                code: "ObjectsExist",
                message: format!(
                    "Vault '{}' has {} of the objects in the file: {}. Nothing was imported; import with --force to replace them.",
                    s.doc.name,
                    clashes.len(),
                    list(&clashes)
                ),
            });
        }
        if !clashes.is_empty() && s.doc.purge_protection {
            return Err(ManagementError::Conflict {
                code: "PurgeProtected",
                message: format!(
                    "Vault '{}' has purge protection, so {} cannot be replaced. Nothing was imported.",
                    s.doc.name,
                    list(&clashes)
                ),
            });
        }
        let mut outcome = ImportOutcome::default();
        if check_only {
            outcome.replaced = clashes.len();
            return Ok(outcome);
        }
        for (o, r) in objects.into_iter().zip(refs) {
            let existed = self.store.get_version(&r, None).await?.is_some()
                || self.store.get_deleted(&r).await?.is_some();
            if existed {
                match self.store.purge(&r).await {
                    Ok(_) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
                outcome.replaced += 1;
            }
            let mut versions = Vec::with_capacity(o.versions.len());
            for v in o.versions {
                versions.push(Version {
                    sealed: s
                        .key
                        .seal(&aad(&s, r.kind, &r.name, &v.version), &v.value)
                        .map_err(|e| internal(e.into()))?,
                    version: v.version,
                    created: v.created,
                    updated: v.updated,
                    meta: v.meta,
                });
            }
            self.store.restore(&r, versions).await?;
            outcome.imported += 1;
        }
        let writes: Vec<DocWrite> = docs
            .into_iter()
            .map(|d| DocWrite::Put {
                kind: d.kind,
                id: format!("{}{}", s.doc.id, d.suffix),
                body: d.body,
                mode: DocMode::Overwrite,
            })
            .collect();
        if !writes.is_empty() {
            self.store.write_docs(writes).await?;
        }
        Ok(outcome)
    }
}

/// `Some(managed)` if any version of a key is held by a PKCS#11 token.
fn hsm_key(versions: &[Version]) -> Option<bool> {
    let mut hsm = None;
    for v in versions {
        let meta: serde_json::Value = serde_json::from_slice(&v.meta).unwrap_or_default();
        if meta["provider"].as_str().is_some_and(|p| p != "software") {
            hsm = Some(meta["managed"].as_bool().unwrap_or(false));
        }
    }
    hsm
}

fn validate_versions(o: &PortableObject, name: &ObjectName) -> Result<(), ManagementError> {
    let invalid = |why: &str| {
        bad(
            "InvalidImport",
            format!("{} '{}': {why}", o.kind, clip(&o.name)),
        )
    };
    if o.versions.is_empty() {
        return Err(invalid("it has no versions."));
    }
    let mut seen = HashSet::new();
    for v in &o.versions {
        let ok =
            (1..=64).contains(&v.version.len()) && v.version.chars().all(|c| c.is_ascii_hexdigit());
        if !ok || !seen.insert(v.version.to_ascii_lowercase()) {
            return Err(invalid("a version id is malformed or repeated."));
        }
        let meta: serde_json::Value = serde_json::from_slice(&v.meta)
            .map_err(|_| invalid("a version's metadata is not JSON."))?;
        let named = meta["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_str()));
        if !named {
            return Err(invalid("a version's metadata names another object."));
        }
        if meta["provider"].as_str().is_some_and(|p| p != "software") {
            return Err(invalid("HSM keys cannot be imported."));
        }
    }
    Ok(())
}

/// The first few entries, then how many more.
fn list(items: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut out = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        out.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    out
}
