//! Live vaults: create or update (PUT, PATCH), read, list, delete (soft, or for good when soft
//! delete is off), access-policy updates and name availability.

use coffer_domain::{AccessPolicy, Permissions, Principal};
use coffer_store::{DocMode, DocWrite, StoreError};

use super::{
    AccessPolicyInput, AccessPolicyUpdate, NameAvailability, VaultInput, VaultView,
    access_policies, already_exists, apply_settings, exists_in_deleted_state, invalid,
    parse_vault_name, vault_id, vault_not_found,
};
use crate::Coffer;
use crate::management::{
    ManagementError, WRITE_ATTEMPTS, clip, concurrent, rg_id, validate_location, validate_tags,
};
use crate::records::{DELETED_VAULT, SubscriptionDoc, TENANT, VAULT, VaultDeletionDoc, VaultDoc};
use crate::vaults::{policy_doc, vault_write};

const DAY: i64 = 86_400;

impl Coffer {
    /// `https://<name>.vault.<domain>[:port]/`, as clients address the vault.
    pub(super) fn vault_uri(&self, name: &str) -> String {
        format!("{}/", self.settings.vault_url(name))
    }

    pub(super) async fn vault_record(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<Option<(VaultDoc, u64)>, ManagementError> {
        match self.store.get_doc(kind, &name.to_ascii_lowercase()).await? {
            Some(d) => Ok(Some((serde_json::from_slice(&d.body)?, d.revision))),
            None => Ok(None),
        }
    }

    pub(super) async fn vault_records(
        &self,
        kind: &str,
    ) -> Result<Vec<(VaultDoc, u64)>, ManagementError> {
        self.store
            .list_docs(kind)
            .await?
            .iter()
            .map(|d| Ok((serde_json::from_slice(&d.body)?, d.revision)))
            .collect()
    }

    /// Checks the caller and the resource group of a vault operation; `verb` completes
    /// `Microsoft.KeyVault/vaults/…`.
    pub(super) async fn authorize_vault(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        verb: &str,
    ) -> Result<SubscriptionDoc, ManagementError> {
        let scope = vault_id(&clip(subscription), &clip(rg), &clip(name));
        let sub = self
            .authorize(
                caller,
                subscription,
                &format!("Microsoft.KeyVault/vaults/{verb}"),
                &scope,
            )
            .await?;
        self.existing_rg(&sub.id, rg).await?;
        Ok(sub)
    }

    /// The vault `name` of this resource group, or 404.
    pub(super) async fn vault_in(
        &self,
        sub: &SubscriptionDoc,
        rg: &str,
        name: &str,
    ) -> Result<(VaultDoc, u64), ManagementError> {
        match self.vault_record(VAULT, name).await? {
            Some((doc, rev)) if in_scope(&doc, &sub.id, Some(rg)) => Ok((doc, rev)),
            _ => Err(vault_not_found(rg, name)),
        }
    }

    fn view(&self, doc: &VaultDoc, revision: u64) -> VaultView {
        doc.vault_view(self.vault_uri(&doc.name), revision)
    }

    /// Creates (`true`) or updates (`false`) a vault: Azure's PUT, answered synchronously. With
    /// `createMode: recover` it recovers the soft-deleted vault of that name instead.
    pub async fn put_vault(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        input: VaultInput,
    ) -> Result<(VaultView, bool), ManagementError> {
        let vault_name = parse_vault_name(name)?;
        let sub = self
            .authorize_vault(caller, subscription, rg, name, "write")
            .await?;
        let (group, _) = self.existing_rg(&sub.id, rg).await?;
        let location = input
            .location
            .as_deref()
            .map(validate_location)
            .transpose()?;
        if let Some(t) = &input.tags {
            validate_tags(t)?;
        }
        let recover = match input.create_mode.as_deref() {
            None => false,
            Some(m) if m.eq_ignore_ascii_case("default") => false,
            Some(m) if m.eq_ignore_ascii_case("recover") => true,
            Some(m) => {
                return Err(invalid(format!(
                    "The createMode '{}' is invalid. Allowed values: default, recover.",
                    clip(m)
                )));
            }
        };
        // Recovering a name that is live is an ordinary update.
        if recover && self.vault_record(VAULT, name).await?.is_none() {
            let v = self.recover_vault(&sub, &group.name, name).await?;
            return Ok((v, true));
        }
        if let Some(t) = &input.tenant_id {
            self.known_tenant(t).await?;
        }
        for _ in 0..WRITE_ATTEMPTS {
            let outcome = match self.vault_record(VAULT, name).await? {
                Some((mut doc, rev)) => {
                    if !in_scope(&doc, &sub.id, Some(rg)) {
                        return Err(already_exists(vault_name.as_str()));
                    }
                    check_location(&doc, location.as_deref())?;
                    apply_settings(&mut doc, &input, false)?;
                    if let Some(t) = &input.tenant_id {
                        doc.tenant_id = t.clone();
                    }
                    let write = vault_write(&doc, DocMode::Update(rev))?;
                    (doc, rev + 1, vec![write], false)
                }
                None => {
                    if self.vault_record(DELETED_VAULT, name).await?.is_some() {
                        return Err(exists_in_deleted_state());
                    }
                    let Some(location) = location.clone() else {
                        return Err(ManagementError::BadRequest {
                            code: "LocationRequired",
                            message: "The location property is required for this definition."
                                .to_owned(),
                        });
                    };
                    let tenant = input
                        .tenant_id
                        .clone()
                        .unwrap_or_else(|| sub.tenant_id.clone());
                    let mut doc = self.new_vault_doc(vault_name.as_str(), &tenant, Vec::new())?;
                    doc.subscription_id = sub.id.clone();
                    doc.resource_group = group.name.clone();
                    doc.location = location;
                    apply_settings(&mut doc, &input, true)?;
                    // The name must be free of soft-deleted vaults too, in the same transaction:
                    // creating and at once removing a deleted-vault record fails if one exists.
                    let guard = DocWrite::Put {
                        kind: DELETED_VAULT.to_owned(),
                        id: doc.name.clone(),
                        body: b"{}".to_vec(),
                        mode: DocMode::Create,
                    };
                    let unguard = DocWrite::Delete {
                        kind: DELETED_VAULT.to_owned(),
                        id: doc.name.clone(),
                    };
                    let write = vault_write(&doc, DocMode::Create)?;
                    (doc, 1, vec![guard, unguard, write], true)
                }
            };
            let (doc, revision, writes, created) = outcome;
            match self.store.write_docs(writes).await {
                Ok(()) => {
                    self.forget_vault(&doc.name);
                    return Ok((self.view(&doc, revision), created));
                }
                Err(StoreError::AlreadyExists | StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }

    /// Azure's PATCH: only the properties given change; the vault must exist.
    pub async fn patch_vault(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        input: VaultInput,
    ) -> Result<VaultView, ManagementError> {
        let sub = self
            .authorize_vault(caller, subscription, rg, name, "write")
            .await?;
        if let Some(t) = &input.tags {
            validate_tags(t)?;
        }
        let location = input
            .location
            .as_deref()
            .map(validate_location)
            .transpose()?;
        if let Some(t) = &input.tenant_id {
            self.known_tenant(t).await?;
        }
        self.modify_vault(&sub, rg, name, |doc| {
            check_location(doc, location.as_deref())?;
            apply_settings(doc, &input, false)?;
            if let Some(t) = &input.tenant_id {
                doc.tenant_id = t.clone();
            }
            Ok(())
        })
        .await
    }

    /// Read-modify-write of a live vault of this resource group; `f` may refuse.
    pub(super) async fn modify_vault(
        &self,
        sub: &SubscriptionDoc,
        rg: &str,
        name: &str,
        mut f: impl FnMut(&mut VaultDoc) -> Result<(), ManagementError>,
    ) -> Result<VaultView, ManagementError> {
        for _ in 0..WRITE_ATTEMPTS {
            let (mut doc, rev) = self.vault_in(sub, rg, name).await?;
            f(&mut doc)?;
            match self
                .store
                .write_docs(vec![vault_write(&doc, DocMode::Update(rev))?])
                .await
            {
                Ok(()) => {
                    self.forget_vault(&doc.name);
                    return Ok(self.view(&doc, rev + 1));
                }
                Err(StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }

    pub async fn get_vault(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
    ) -> Result<VaultView, ManagementError> {
        let sub = self
            .authorize_vault(caller, subscription, rg, name, "read")
            .await?;
        let (doc, rev) = self.vault_in(&sub, rg, name).await?;
        Ok(self.view(&doc, rev))
    }

    /// Vaults of a subscription, or of one of its resource groups, ordered by id.
    pub async fn list_vaults(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: Option<&str>,
    ) -> Result<Vec<VaultView>, ManagementError> {
        let scope = match rg {
            Some(rg) => rg_id(&clip(subscription), &clip(rg)),
            None => format!("/subscriptions/{}", clip(subscription)),
        };
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.KeyVault/vaults/read",
                &scope,
            )
            .await?;
        if let Some(rg) = rg {
            self.existing_rg(&sub.id, rg).await?;
        }
        let mut out: Vec<VaultView> = self
            .vault_records(VAULT)
            .await?
            .into_iter()
            .filter(|(d, _)| in_scope(d, &sub.id, rg))
            .map(|(d, rev)| self.view(&d, rev))
            .collect();
        out.sort_by_key(|v| v.id.to_ascii_lowercase());
        Ok(out)
    }

    /// Deletes a vault: soft (kept, not served, name taken, until recovered or purged) when soft
    /// delete is on, else for good with its objects. `false` if there was no such vault.
    pub async fn delete_vault(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
    ) -> Result<bool, ManagementError> {
        let sub = self
            .authorize_vault(caller, subscription, rg, name, "delete")
            .await?;
        for _ in 0..WRITE_ATTEMPTS {
            let (doc, _) = match self.vault_in(&sub, rg, name).await {
                Ok(found) => found,
                Err(ManagementError::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(e),
            };
            let (writes, purge) = self.vault_delete_writes(doc)?;
            match self.store.write_docs(writes).await {
                Ok(()) => {
                    if let Some(doc) = purge {
                        self.forget_vault(name);
                        self.purge_vault_objects(&doc).await?;
                    }
                    self.forget_vault(name);
                    return Ok(true);
                }
                Err(StoreError::NotFound | StoreError::AlreadyExists) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }

    /// The writes that delete a live vault, and the vault id whose objects must then be purged
    /// (when soft delete is off).
    pub(super) fn vault_delete_writes(
        &self,
        mut doc: VaultDoc,
    ) -> Result<(Vec<DocWrite>, Option<VaultDoc>), ManagementError> {
        let remove = DocWrite::Delete {
            kind: VAULT.to_owned(),
            id: doc.name.clone(),
        };
        if !doc.soft_delete {
            return Ok((vec![remove], Some(doc)));
        }
        let now = self.now();
        doc.deleted = Some(VaultDeletionDoc {
            deleted: now,
            scheduled_purge: now + i64::from(doc.retention_days) * DAY,
        });
        let keep = DocWrite::Put {
            kind: DELETED_VAULT.to_owned(),
            id: doc.name.clone(),
            body: serde_json::to_vec(&doc)?,
            mode: DocMode::Create,
        };
        Ok((vec![remove, keep], None))
    }

    /// `accessPolicies/{add|replace|remove}`: changes the entries naming the same identity
    /// (tenant, object and application). Returns the vault's access policies after the change.
    pub async fn update_vault_access_policies(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        kind: AccessPolicyUpdate,
        entries: &[AccessPolicyInput],
    ) -> Result<VaultView, ManagementError> {
        let sub = self
            .authorize_vault(caller, subscription, rg, name, "accessPolicies/write")
            .await?;
        let changes = access_policies(entries)?;
        self.modify_vault(&sub, rg, name, |doc| {
            let mut current: Vec<AccessPolicy> = doc.vault_view(String::new(), 0).access_policies;
            for change in &changes {
                merge_policy(&mut current, change, kind);
            }
            if current.len() > super::MAX_ACCESS_POLICIES {
                return Err(invalid(format!(
                    "A vault has at most {} access policies.",
                    super::MAX_ACCESS_POLICIES
                )));
            }
            doc.access_policies = current.into_iter().map(policy_doc).collect();
            Ok(())
        })
        .await
    }

    /// `checkNameAvailability`: whether `name` is a valid vault name that no vault (live or
    /// soft-deleted) of this instance holds.
    pub async fn check_vault_name(
        &self,
        caller: &Principal,
        subscription: &str,
        name: &str,
    ) -> Result<NameAvailability, ManagementError> {
        let scope = format!("/subscriptions/{}", clip(subscription));
        self.authorize(
            caller,
            subscription,
            "Microsoft.KeyVault/checkNameAvailability/read",
            &scope,
        )
        .await?;
        if let Err(e) = parse_vault_name(name) {
            return Ok(NameAvailability {
                available: false,
                reason: Some("AccountNameInvalid"),
                message: Some(e.to_string()),
            });
        }
        let taken = self.vault_record(VAULT, name).await?.is_some()
            || self.vault_record(DELETED_VAULT, name).await?.is_some();
        Ok(if taken {
            NameAvailability {
                available: false,
                reason: Some("AlreadyExists"),
                message: Some(already_exists(&name.to_ascii_lowercase()).to_string()),
            }
        } else {
            NameAvailability {
                available: true,
                reason: None,
                message: None,
            }
        })
    }

    /// Managed HSM pools (none: Coffer serves vaults only); the caller must reach the scope.
    pub async fn list_managed_hsms(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: Option<&str>,
    ) -> Result<Vec<VaultView>, ManagementError> {
        let sub = self
            .authorize(
                caller,
                subscription,
                "Microsoft.KeyVault/managedHSMs/read",
                &format!("/subscriptions/{}", clip(subscription)),
            )
            .await?;
        if let Some(rg) = rg {
            self.existing_rg(&sub.id, rg).await?;
        }
        Ok(Vec::new())
    }

    /// Fails unless `tenant_id` is a tenant of this instance (a vault of another tenant could
    /// never authenticate a caller).
    async fn known_tenant(&self, tenant_id: &str) -> Result<(), ManagementError> {
        let found = self
            .store
            .get_doc(TENANT, &tenant_id.trim().to_ascii_lowercase())
            .await?
            .is_some();
        if found {
            Ok(())
        } else {
            Err(invalid(format!(
                "The tenant '{}' in properties.tenantId is not a tenant of this Coffer instance.",
                clip(tenant_id)
            )))
        }
    }

    /// Writes that remove the vaults of a resource group with it (soft-deleted as Azure does),
    /// and the vault ids whose objects are then purged.
    pub(in crate::management) async fn vault_deletes_in(
        &self,
        subscription: &str,
        rg: &str,
    ) -> Result<(Vec<DocWrite>, Vec<VaultDoc>), ManagementError> {
        let mut writes = Vec::new();
        let mut purged = Vec::new();
        for (doc, _) in self.vault_records(VAULT).await? {
            if in_scope(&doc, subscription, Some(rg)) {
                let (w, p) = self.vault_delete_writes(doc)?;
                writes.extend(w);
                purged.extend(p);
            }
        }
        Ok((writes, purged))
    }

    /// Vaults of a subscription (or group) as generic resources: `(id, name, location, tags)`.
    pub(in crate::management) async fn vault_resources(
        &self,
        subscription: &str,
        rg: Option<&str>,
    ) -> Result<Vec<VaultView>, ManagementError> {
        Ok(self
            .vault_records(VAULT)
            .await?
            .into_iter()
            .filter(|(d, _)| in_scope(d, subscription, rg))
            .map(|(d, rev)| self.view(&d, rev))
            .collect())
    }
}

/// Whether a vault belongs to the subscription (and group, if given).
fn in_scope(doc: &VaultDoc, subscription: &str, rg: Option<&str>) -> bool {
    crate::management::in_scope(&doc.subscription_id, &doc.resource_group, subscription, rg)
}

fn check_location(doc: &VaultDoc, location: Option<&str>) -> Result<(), ManagementError> {
    match location {
        Some(l) if l != doc.location => Err(ManagementError::Conflict {
            code: "InvalidResourceLocation",
            message: format!(
                "The resource '{}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{l}'. Please select a new resource name.",
                doc.name, doc.location, doc.resource_group
            ),
        }),
        _ => Ok(()),
    }
}

fn same_identity(a: &AccessPolicy, b: &AccessPolicy) -> bool {
    a.tenant_id.eq_ignore_ascii_case(&b.tenant_id)
        && a.object_id.eq_ignore_ascii_case(&b.object_id)
        && a.application_id.as_deref().map(str::to_ascii_lowercase)
            == b.application_id.as_deref().map(str::to_ascii_lowercase)
}

fn union<P: Copy + PartialEq>(into: &mut Vec<P>, more: &[P]) {
    for p in more {
        if !into.contains(p) {
            into.push(*p);
        }
    }
}

fn minus<P: Copy + PartialEq>(from: &mut Vec<P>, less: &[P]) {
    from.retain(|p| !less.contains(p));
}

fn is_empty(p: &Permissions) -> bool {
    p.keys.is_empty() && p.secrets.is_empty() && p.certificates.is_empty() && p.storage.is_empty()
}

/// Applies one entry of an access-policy update to the list.
fn merge_policy(current: &mut Vec<AccessPolicy>, change: &AccessPolicy, kind: AccessPolicyUpdate) {
    let found = current.iter().position(|p| same_identity(p, change));
    match (kind, found) {
        (AccessPolicyUpdate::Add, Some(i)) => {
            let p = &mut current[i].permissions;
            union(&mut p.keys, &change.permissions.keys);
            union(&mut p.secrets, &change.permissions.secrets);
            union(&mut p.certificates, &change.permissions.certificates);
            union(&mut p.storage, &change.permissions.storage);
        }
        (AccessPolicyUpdate::Replace, Some(i)) => {
            current[i].permissions = change.permissions.clone();
        }
        (AccessPolicyUpdate::Add | AccessPolicyUpdate::Replace, None) => {
            current.push(change.clone());
        }
        (AccessPolicyUpdate::Remove, Some(i)) => {
            let p = &mut current[i].permissions;
            minus(&mut p.keys, &change.permissions.keys);
            minus(&mut p.secrets, &change.permissions.secrets);
            minus(&mut p.certificates, &change.permissions.certificates);
            minus(&mut p.storage, &change.permissions.storage);
            if is_empty(p) || is_empty(&change.permissions) {
                current.remove(i);
            }
        }
        (AccessPolicyUpdate::Remove, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use coffer_domain::SecretPermission as S;
    use coffer_store::Store;
    use coffer_store_sqlite::SqliteStore;

    use super::*;
    use crate::management::testing::{app, caller};

    #[tokio::test]
    async fn a_vault_from_before_arm_vaults_joins_the_default_scope() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let coffer = app(Arc::clone(&store)).await;
        let boot = coffer.bootstrap().await.unwrap();
        // Rewrite the default vault's record as an earlier version wrote it.
        let d = store.get_doc(VAULT, "dev").await.unwrap().unwrap();
        let mut old: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
        let obj = old.as_object_mut().unwrap();
        for field in [
            "subscription_id",
            "resource_group",
            "location",
            "tags",
            "sku",
            "network_acls",
            "created",
            "deleted",
        ] {
            obj.remove(field);
        }
        store
            .write_docs(vec![DocWrite::Put {
                kind: VAULT.to_owned(),
                id: "dev".to_owned(),
                body: serde_json::to_vec(&old).unwrap(),
                mode: DocMode::Update(d.revision),
            }])
            .await
            .unwrap();
        let me = caller(&boot.tenant_id);
        let e = coffer
            .get_vault(&me, &boot.subscription_id, &boot.resource_group, "dev")
            .await
            .unwrap_err();
        assert!(matches!(e, ManagementError::NotFound { .. }));
        coffer.bootstrap().await.unwrap();
        let v = coffer
            .get_vault(&me, &boot.subscription_id, &boot.resource_group, "DEV")
            .await
            .unwrap();
        assert_eq!(v.sku, "standard");
        assert_eq!(v.location, "local");
        assert_eq!(v.access_policies.len(), 1);
        assert!(
            v.id.ends_with("/resourceGroups/coffer-rg/providers/Microsoft.KeyVault/vaults/dev")
        );
    }

    fn entry(oid: &str, app: Option<&str>, secrets: &[S]) -> AccessPolicy {
        AccessPolicy {
            tenant_id: "T".into(),
            object_id: oid.into(),
            application_id: app.map(Into::into),
            permissions: Permissions {
                secrets: secrets.to_vec(),
                ..Permissions::default()
            },
        }
    }

    #[test]
    fn access_policy_updates() {
        let mut list = vec![entry("a", None, &[S::Get])];
        merge_policy(
            &mut list,
            &entry("A", None, &[S::List, S::Get]),
            AccessPolicyUpdate::Add,
        );
        assert_eq!(list[0].permissions.secrets, [S::Get, S::List]);
        // Another application makes another identity.
        merge_policy(
            &mut list,
            &entry("a", Some("app"), &[S::Set]),
            AccessPolicyUpdate::Add,
        );
        assert_eq!(list.len(), 2);
        merge_policy(
            &mut list,
            &entry("a", None, &[S::Delete]),
            AccessPolicyUpdate::Replace,
        );
        assert_eq!(list[0].permissions.secrets, [S::Delete]);
        merge_policy(
            &mut list,
            &entry("a", Some("APP"), &[S::Set]),
            AccessPolicyUpdate::Remove,
        );
        assert_eq!(
            list.len(),
            1,
            "an entry left without permissions is dropped"
        );
        merge_policy(
            &mut list,
            &entry("nobody", None, &[S::Get]),
            AccessPolicyUpdate::Remove,
        );
        assert_eq!(list.len(), 1);
        merge_policy(
            &mut list,
            &entry("a", None, &[]),
            AccessPolicyUpdate::Remove,
        );
        assert!(
            list.is_empty(),
            "removing with no permissions removes the entry"
        );
    }
}
