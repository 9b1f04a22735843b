//! Vaults: lookup by name, creation, and the per-request session that authenticates the caller
//! and checks its access policy before any object is touched.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use coffer_crypto::DataKey;
use coffer_domain::net::{Bypass, DefaultAction, PublicNetworkAccess};
use coffer_domain::policy::{Decision, evaluate};
use coffer_domain::throttle::{KeySize, Transaction, TransactionKind};
use coffer_domain::{
    AccessPolicy, CertificatePermission, IpRule, KeyPermission, NetworkAcls, Permissions,
    Principal, SecretPermission, StoragePermission, Vault, VaultOp,
};
use coffer_store::{DocMode, DocWrite};

use crate::audit::DenyCheck;
use crate::audit::Throttling;
use crate::records::{AccessPolicyDoc, PermissionsDoc, VAULT, VaultDoc};
use crate::request::RequestFacts;
use crate::throttle::Throttle;
use crate::{Coffer, ServiceError, keyring};

/// An authenticated caller inside one vault.
pub struct VaultSession {
    pub(crate) doc: Arc<VaultDoc>,
    pub(crate) vault: Arc<Vault>,
    pub(crate) principal: Principal,
    pub(crate) key: Arc<DataKey>,
    /// Where the access-policy decision is noted for the request's audit entry.
    pub(crate) facts: Arc<RequestFacts>,
    /// Throttling, for a caller's request (background work is not throttled).
    pub(crate) throttle: Option<Arc<Throttle>>,
    /// This node's fault counters, when the vault has a fault injected.
    pub(crate) faults: Option<Arc<FaultCounters>>,
}

/// How many requests each vault with an injected fault has seen since the fault was written
/// (its generation), on this node.
#[derive(Default)]
pub(crate) struct FaultCounters {
    seen: RwLock<HashMap<String, Arc<(String, AtomicU64)>>>,
}

impl FaultCounters {
    /// The index of this request among those the fault `generation` of vault `id` has seen.
    fn next(&self, id: &str, generation: &str) -> u64 {
        let current = self
            .seen
            .read()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .filter(|c| c.0 == generation);
        let counter = match current {
            Some(c) => c,
            None => {
                let Ok(mut map) = self.seen.write() else {
                    return 0;
                };
                let entry = map
                    .entry(id.to_owned())
                    .or_insert_with(|| Arc::new((generation.to_owned(), AtomicU64::new(0))));
                if entry.0 != generation {
                    *entry = Arc::new((generation.to_owned(), AtomicU64::new(0)));
                }
                Arc::clone(entry)
            }
        };
        counter.1.fetch_add(1, Ordering::Relaxed)
    }
}

/// How long a vault's settings are served from memory before being read again. Short, so that
/// policy changes made by another node of a shared store apply within moments.
const VAULT_CACHE_TTL: Duration = Duration::from_secs(2);

/// A vault's record, its domain view and its unwrapped data key, read together.
#[derive(Clone)]
struct CachedVault {
    fetched: Instant,
    doc: Arc<VaultDoc>,
    vault: Arc<Vault>,
    key: Arc<DataKey>,
}

/// Recently used vaults, so a request does not re-read and re-parse its vault's record and
/// unwrap its data key every time.
#[derive(Default)]
pub(crate) struct VaultCache {
    entries: RwLock<HashMap<String, CachedVault>>,
}

impl VaultCache {
    fn get(&self, name: &str) -> Option<CachedVault> {
        let map = self.entries.read().ok()?;
        map.get(name)
            .filter(|c| c.fetched.elapsed() < VAULT_CACHE_TTL)
            .cloned()
    }

    fn put(&self, name: String, entry: CachedVault) {
        if let Ok(mut map) = self.entries.write() {
            map.insert(name, entry);
        }
    }

    fn remove(&self, name: &str) {
        if let Ok(mut map) = self.entries.write() {
            map.remove(name);
        }
    }

    fn clear(&self) {
        if let Ok(mut map) = self.entries.write() {
            map.clear();
        }
    }
}

impl VaultSession {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn vault_name(&self) -> &str {
        &self.doc.name
    }

    /// Requires the permission `op` needs (see [`VaultOp::permission`]); a 403 naming caller,
    /// permission and vault otherwise.
    pub(crate) fn require(&self, op: VaultOp) -> Result<(), ServiceError> {
        let Some(permission) = op.permission() else {
            return Ok(());
        };
        let decision = evaluate(&self.vault.access_policies, &self.principal, permission);
        self.facts.update(|f| {
            f.access_policy_match = Some(matches!(decision, Decision::Allow(_)));
        });
        let id = match decision {
            Decision::Allow(_) => {
                self.inject_fault(op)?;
                if op.transaction_kind() == TransactionKind::Vault {
                    return self.throttle(Transaction::Vault);
                }
                return Ok(());
            }
            Decision::DenyMissingPermission => "MissingPermission",
            Decision::DenyNoPolicy => "NoAccessPolicy",
        };
        self.facts.deny(DenyCheck::AccessPolicy, id);
        Err(ServiceError::Forbidden(format!(
            "The user, group or application '{}' does not have {} {} permission on key vault '{};location={}'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
            self.principal.describe(),
            permission.family(),
            permission.name(),
            self.doc.name,
            self.doc.location
        )))
    }
}

impl VaultSession {
    /// Answers with the fault the vault's test settings inject, if this request gets it.
    fn inject_fault(&self, op: VaultOp) -> Result<(), ServiceError> {
        let (Some(faults), Some(fault)) = (&self.faults, &self.doc.testing.fault) else {
            return Ok(());
        };
        if fault
            .operation
            .as_deref()
            .is_some_and(|o| !o.eq_ignore_ascii_case(op.audit_name()))
        {
            return Ok(());
        }
        let index = faults.next(&self.doc.id, &fault.generation);
        if !coffer_domain::throttle::fault_applies(index, fault.count, fault.percent) {
            return Ok(());
        }
        let message = format!(
            "Fault injected by the test settings of vault '{}' (coffer vault test-mode).",
            self.doc.name
        );
        self.facts.deny(DenyCheck::Throttling, "InjectedFault");
        Err(if fault.status == 429 {
            ServiceError::Throttled {
                message,
                retry_after_secs: 1,
            }
        } else {
            ServiceError::Unavailable {
                message,
                retry_after_secs: 1,
            }
        })
    }

    /// Counts a transaction on a key of type `kty` (`RSA`, `EC-HSM`, ...) of `size` for `op`,
    /// once the key is known; see [`VaultOp::transaction_kind`]. Operations that count as vault
    /// transactions were counted by [`VaultSession::require`].
    pub(crate) fn throttle_key(
        &self,
        op: VaultOp,
        kty: &str,
        size: Option<KeySize>,
    ) -> Result<(), ServiceError> {
        let create = match op.transaction_kind() {
            TransactionKind::Vault => return Ok(()),
            TransactionKind::KeyCreate => true,
            TransactionKind::KeyOther => false,
        };
        let hsm = kty.ends_with("-HSM");
        let size = size.unwrap_or(if kty.starts_with("EC") {
            KeySize::P256
        } else if kty.starts_with("oct") {
            KeySize::Oct
        } else {
            KeySize::Rsa2048
        });
        self.throttle(Transaction::Key { size, hsm, create })
    }

    /// Takes one `t` transaction from this vault's and its subscription's budgets; the 429 that
    /// names the spent limit otherwise, noted for the audit entry.
    fn throttle(&self, t: Transaction) -> Result<(), ServiceError> {
        let Some(throttle) = &self.throttle else {
            return Ok(());
        };
        let cap = self.doc.testing.throttle_limit;
        let Err(hit) = throttle.check(&self.doc.id, &self.doc.subscription_id, t, cap) else {
            return Ok(());
        };
        let name = hit.name();
        let message = format!(
            "Request was not processed because too many requests were received. Vault '{}' reached its {} limit of {}. Retry after {} seconds.",
            self.doc.name, hit.scope, name, hit.retry_after_secs
        );
        self.facts.update(|f| {
            f.throttling = Some(Throttling {
                limit: name,
                retry_after_secs: hit.retry_after_secs,
            });
        });
        self.facts.deny(DenyCheck::Throttling, "Throttled");
        Err(ServiceError::Throttled {
            message,
            retry_after_secs: hit.retry_after_secs,
        })
    }
}

impl Coffer {
    /// The time in vault `s`: the instance's clock plus the vault's test clock offset.
    pub(crate) fn vault_now(&self, s: &VaultSession) -> i64 {
        self.now()
            .saturating_add(s.doc.testing.clock_offset_secs.unwrap_or(0))
    }

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

    async fn cached_vault(&self, name: &str) -> Result<Option<CachedVault>, ServiceError> {
        let name = name.to_ascii_lowercase();
        if let Some(c) = self.vaults.get(&name) {
            return Ok(Some(c));
        }
        let Some(doc) = self.vault_doc(&name).await? else {
            return Ok(None);
        };
        let entry = CachedVault {
            fetched: Instant::now(),
            key: Arc::new(keyring::vault_key(&self.root, &doc)?),
            vault: Arc::new(to_domain(&doc)),
            doc: Arc::new(doc),
        };
        self.vaults.put(name, entry.clone());
        Ok(Some(entry))
    }

    /// Starts a request to vault `name` from `client`, in Key Vault's order: the vault must
    /// exist, the bearer token must be valid, and the firewall must let the client in (the
    /// access policy is checked by each use case). What each step found goes into `facts`.
    /// With the vault's audit log on and the writer refusing (fail-closed), nothing is served.
    pub async fn open_vault(
        &self,
        name: &str,
        authorization: Option<&str>,
        client: IpAddr,
        facts: &Arc<RequestFacts>,
    ) -> Result<VaultSession, ServiceError> {
        let Some(cached) = self.cached_vault(name).await? else {
            return Err(ServiceError::VaultNotFound(format!(
                "No vault named '{}' exists on this Coffer instance. Vault URLs have the form {}.",
                name.chars().take(64).collect::<String>(),
                self.settings.vault_url("<vault-name>")
            )));
        };
        let audit_enabled = cached.doc.audit_enabled();
        facts.update(|f| {
            f.vault = Some(cached.doc.name.clone());
            f.resource_id = Some(crate::management::vault_resource_id(&cached.doc));
            f.audit_enabled = audit_enabled;
            f.test_mode = !cached.doc.testing.is_off();
        });
        if audit_enabled && !self.audit_accepting() {
            facts.deny(DenyCheck::AuditUnavailable, "AuditUnavailable");
            return Err(ServiceError::AuditUnavailable(format!(
                "The audit log of vault '{}' cannot be written at the moment and this instance runs with --audit-fail-closed, so the request was not served. Retry later.",
                cached.doc.name
            )));
        }
        let (principal, identity) = match self.authenticate(authorization, &cached.doc) {
            Ok(c) => c,
            Err(e) => {
                if let ServiceError::Unauthenticated { error, .. } = &e {
                    facts.deny(DenyCheck::Token, error.code());
                }
                return Err(e);
            }
        };
        facts.update(|f| f.identity = Some(identity));
        self.check_firewall(
            &cached.doc,
            &cached.vault.network_acls,
            &principal,
            client,
            facts,
        )
        .await?;
        let faults = cached
            .doc
            .testing
            .fault
            .is_some()
            .then(|| Arc::clone(&self.faults));
        Ok(VaultSession {
            doc: cached.doc,
            vault: cached.vault,
            principal,
            key: cached.key,
            facts: Arc::clone(facts),
            throttle: self.throttle().cloned(),
            faults,
        })
    }

    /// A session for the instance's own background work in vault `name` (rotation, renewal),
    /// acting as no caller: it is never handed to a request.
    pub(crate) async fn system_session(
        &self,
        name: &str,
    ) -> Result<Option<VaultSession>, ServiceError> {
        let Some(cached) = self.cached_vault(name).await? else {
            return Ok(None);
        };
        Ok(Some(VaultSession {
            principal: Principal {
                tenant_id: cached.doc.tenant_id.clone(),
                object_id: String::new(),
                app_id: None,
                issuer: "coffer".to_owned(),
            },
            doc: cached.doc,
            vault: cached.vault,
            key: cached.key,
            facts: Arc::default(),
            throttle: None,
            faults: None,
        }))
    }

    /// A system session over a vault record that is not served (a deleted vault being purged),
    /// read straight from `doc` rather than the cache.
    pub(crate) fn detached_session(&self, doc: &VaultDoc) -> Result<VaultSession, ServiceError> {
        Ok(VaultSession {
            principal: Principal {
                tenant_id: doc.tenant_id.clone(),
                object_id: String::new(),
                app_id: None,
                issuer: "coffer".to_owned(),
            },
            key: Arc::new(keyring::vault_key(&self.root, doc)?),
            vault: Arc::new(to_domain(doc)),
            doc: Arc::new(doc.clone()),
            facts: Arc::default(),
            throttle: None,
            faults: None,
        })
    }

    /// A new vault's record in `tenant_id`, with its own data key, soft delete (90 days), no
    /// firewall and the given access policies; the caller places it (subscription, group).
    pub(crate) fn new_vault_doc(
        &self,
        name: &str,
        tenant_id: &str,
        policies: Vec<AccessPolicy>,
    ) -> Result<VaultDoc, ServiceError> {
        let id = uuid::Uuid::new_v4().to_string();
        Ok(VaultDoc {
            wrapped_key: keyring::new_vault_key(&self.root, &id)?,
            id,
            name: name.to_ascii_lowercase(),
            tenant_id: tenant_id.to_owned(),
            soft_delete: true,
            retention_days: coffer_domain::vault::DEFAULT_RETENTION_DAYS,
            purge_protection: false,
            access_policies: policies.into_iter().map(policy_doc).collect(),
            subscription_id: String::new(),
            resource_group: String::new(),
            location: crate::DEFAULT_LOCATION.to_owned(),
            tags: Default::default(),
            sku: "standard".to_owned(),
            network_acls: Default::default(),
            public_network_disabled: false,
            enabled_for_deployment: false,
            enabled_for_disk_encryption: false,
            enabled_for_template_deployment: false,
            created: self.now(),
            deleted: None,
            diagnostic_settings: Vec::new(),
            testing: Default::default(),
        })
    }

    /// Forgets this node's cached copy of a vault, so its next request reads the record again.
    /// Other nodes of a shared store see a change when their copy expires (`VAULT_CACHE_TTL`).
    pub(crate) fn forget_vault(&self, name: &str) {
        self.vaults.remove(&name.to_ascii_lowercase());
    }

    /// Names of the vaults this instance serves (not soft-deleted), sorted: for the hosts-file
    /// line the server prints at start.
    pub async fn vault_names(&self) -> Result<Vec<String>, ServiceError> {
        let mut names: Vec<String> = self
            .store
            .list_docs(VAULT)
            .await?
            .into_iter()
            .map(|d| d.id)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Forgets every cached vault (after a change to many at once).
    pub(crate) fn forget_all_vaults(&self) {
        self.vaults.clear();
    }
}

/// Writes a vault's record (kind [`VAULT`], keyed by its name).
pub(crate) fn vault_write(doc: &VaultDoc, mode: DocMode) -> Result<DocWrite, ServiceError> {
    Ok(DocWrite::Put {
        kind: VAULT.to_owned(),
        id: doc.name.clone(),
        body: serde_json::to_vec(doc)?,
        mode,
    })
}

pub(crate) fn policy_doc(p: AccessPolicy) -> AccessPolicyDoc {
    AccessPolicyDoc {
        tenant_id: p.tenant_id,
        object_id: p.object_id,
        application_id: p.application_id,
        permissions: PermissionsDoc {
            keys: names(&p.permissions.keys, |k| k.as_str()),
            secrets: names(&p.permissions.secrets, |k| k.as_str()),
            certificates: names(&p.permissions.certificates, |k| k.as_str()),
            storage: names(&p.permissions.storage, |k| k.as_str()),
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
                permissions: permissions_of(&p.permissions),
            })
            .collect(),
        network_acls: network_acls_of(doc),
    }
}

/// The stored firewall as the domain evaluates it. Values were validated when written; one this
/// build cannot read (written by a newer one) is skipped, and an unknown action denies.
pub(crate) fn network_acls_of(doc: &VaultDoc) -> NetworkAcls {
    let a = &doc.network_acls;
    NetworkAcls {
        default_action: DefaultAction::parse(&a.default_action).unwrap_or(DefaultAction::Deny),
        bypass: Bypass::parse(&a.bypass).unwrap_or(Bypass::None),
        ip_rules: a
            .ip_rules
            .iter()
            .filter_map(|r| IpRule::parse(r).ok())
            .collect(),
        public_network_access: if doc.public_network_disabled {
            PublicNetworkAccess::Disabled
        } else {
            PublicNetworkAccess::Enabled
        },
    }
}

fn names<P: Copy>(ps: &[P], text: fn(P) -> &'static str) -> Vec<String> {
    ps.iter().map(|p| text(*p).to_owned()).collect()
}

/// Stored names back to typed permissions. They were validated when written; a name this build
/// does not know (written by a newer one) grants nothing rather than failing the vault.
pub(crate) fn permissions_of(doc: &PermissionsDoc) -> Permissions {
    fn known<P>(names: &[String], parse: fn(&str) -> Option<P>) -> Vec<P> {
        names.iter().filter_map(|n| parse(n)).collect()
    }
    Permissions {
        keys: known(&doc.keys, KeyPermission::parse),
        secrets: known(&doc.secrets, SecretPermission::parse),
        certificates: known(&doc.certificates, CertificatePermission::parse),
        storage: known(&doc.storage, StoragePermission::parse),
    }
}
