//! `Microsoft.KeyVault`: vaults as ARM resources. A vault's record is the one the data plane
//! opens (`vaults.rs`), so a vault created here is served at once under `<name>.vault.<domain>`
//! and every change here drops this node's cached copy. Names are global per instance. A
//! deleted vault is soft-deleted (kind `deleted-vault`, not served, its name still taken) until
//! it is recovered (`createMode: recover`) or purged, by hand or when its retention ends.
//!
//! This module holds the inputs, views and validation; `vaults` the operations on live vaults
//! and `deleted` those on soft-deleted ones.

mod deleted;
mod diagnostics;
mod doctor;
mod portable;
mod testing;
mod vaults;

pub use diagnostics::{
    AUDIT_EVENTS_NAMESPACE, DIAGNOSTIC_SETTING_TYPE, DiagnosticLog, DiagnosticMetric,
    DiagnosticSetting,
};
pub use doctor::{DoctorReport, DoctorRequest};
pub use portable::{
    ImportOutcome, PortableDoc, PortableObject, PortableSettings, PortableVersion, VaultExport,
};
pub use testing::{Fault, TESTING_NAMESPACE, TestSettings};

use std::collections::BTreeMap;

use coffer_domain::net::{Bypass, DefaultAction, PublicNetworkAccess};
use coffer_domain::vault::RETENTION_DAYS;
use coffer_domain::{AccessPolicy, IpRule, NetworkAcls, Permissions, VaultName};

use super::{ManagementError, Provider, bad, clip, rg_id};
use crate::records::{NetworkAclsDoc, VaultDoc, VirtualNetworkRuleDoc};
use crate::vaults::{network_acls_of, permissions_of, policy_doc};

pub(super) const PROVIDER: Provider = Provider {
    namespace: "Microsoft.KeyVault",
    resource_types: &[
        "vaults",
        "deletedVaults",
        "vaults/accessPolicies",
        "managedHSMs",
        "deletedManagedHSMs",
        "checkNameAvailability",
    ],
};

/// Resource type of vaults.
pub const VAULT_TYPE: &str = "Microsoft.KeyVault/vaults";
/// Azure's limit on access-policy entries per vault.
const MAX_ACCESS_POLICIES: usize = 1024;
/// Azure's limit on network rules of each kind.
const MAX_NETWORK_RULES: usize = 1000;

/// A vault as ARM shows it.
#[derive(Clone, Debug)]
pub struct VaultView {
    pub id: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub tenant_id: String,
    /// `standard` or `premium`.
    pub sku: String,
    pub access_policies: Vec<AccessPolicy>,
    pub network_acls: NetworkAcls,
    pub virtual_network_rules: Vec<VirtualNetworkRule>,
    pub enable_soft_delete: bool,
    pub soft_delete_retention_days: u32,
    pub enable_purge_protection: bool,
    pub enabled_for_deployment: bool,
    pub enabled_for_disk_encryption: bool,
    pub enabled_for_template_deployment: bool,
    /// `https://<name>.vault.<domain>[:port]/`.
    pub vault_uri: String,
    /// The record's revision, for the ETag.
    pub revision: u64,
}

/// A `virtualNetworkRules` entry: accepted and kept, never evaluated (no virtual networks here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualNetworkRule {
    pub id: String,
    pub ignore_missing_vnet_service_endpoint: bool,
}

/// A soft-deleted vault.
#[derive(Clone, Debug)]
pub struct DeletedVaultView {
    /// `/subscriptions/{s}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}`.
    pub id: String,
    pub name: String,
    pub location: String,
    /// The ARM id the vault had.
    pub vault_id: String,
    pub tags: BTreeMap<String, String>,
    /// Unix seconds.
    pub deletion_date: i64,
    pub scheduled_purge_date: i64,
    pub purge_protection_enabled: bool,
}

/// The answer of `checkNameAvailability`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAvailability {
    pub available: bool,
    /// `AlreadyExists` or `AccountNameInvalid` when not available.
    pub reason: Option<&'static str>,
    pub message: Option<String>,
}

/// The vault properties a PUT or PATCH sets; `None` leaves a property as it is (a create starts
/// from Azure's defaults). Read-only and unknown properties never get here.
#[derive(Clone, Debug, Default)]
pub struct VaultInput {
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub tenant_id: Option<String>,
    pub sku_family: Option<String>,
    pub sku_name: Option<String>,
    pub access_policies: Option<Vec<AccessPolicyInput>>,
    pub network_acls: Option<NetworkAclsInput>,
    pub enable_soft_delete: Option<bool>,
    pub soft_delete_retention_days: Option<i64>,
    pub enable_purge_protection: Option<bool>,
    pub enable_rbac_authorization: Option<bool>,
    pub public_network_access: Option<String>,
    pub enabled_for_deployment: Option<bool>,
    pub enabled_for_disk_encryption: Option<bool>,
    pub enabled_for_template_deployment: Option<bool>,
    /// `default` or `recover`.
    pub create_mode: Option<String>,
}

/// One access-policy entry as sent: permission names are validated case-insensitively against
/// Azure's, `all` expanding to the whole family.
#[derive(Clone, Debug, Default)]
pub struct AccessPolicyInput {
    pub tenant_id: Option<String>,
    pub object_id: Option<String>,
    pub application_id: Option<String>,
    pub keys: Option<Vec<String>>,
    pub secrets: Option<Vec<String>>,
    pub certificates: Option<Vec<String>>,
    pub storage: Option<Vec<String>>,
}

/// `networkAcls` as sent; `None` fields keep their current (or default) value.
#[derive(Clone, Debug, Default)]
pub struct NetworkAclsInput {
    pub default_action: Option<String>,
    pub bypass: Option<String>,
    pub ip_rules: Option<Vec<String>>,
    pub virtual_network_rules: Option<Vec<VirtualNetworkRule>>,
}

/// How `accessPolicies/{kind}` changes the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessPolicyUpdate {
    /// Adds the permissions to the entry of the same identity, or adds the entry.
    Add,
    /// Replaces the entry of the same identity (or adds it).
    Replace,
    /// Removes the listed permissions from the entry, dropping an entry left with none.
    Remove,
}

impl AccessPolicyUpdate {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "add" => Some(Self::Add),
            "replace" => Some(Self::Replace),
            "remove" => Some(Self::Remove),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Replace => "replace",
            Self::Remove => "remove",
        }
    }
}

pub(crate) fn vault_id(subscription: &str, rg: &str, name: &str) -> String {
    format!("{}/providers/{VAULT_TYPE}/{name}", rg_id(subscription, rg))
}

/// The ARM id of a vault's record, as its audit records name it.
pub(crate) fn vault_resource_id(doc: &VaultDoc) -> String {
    vault_id(&doc.subscription_id, &doc.resource_group, &doc.name)
}

fn deleted_vault_id(subscription: &str, location: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}"
    )
}

/// Azure's vault name rules; the message is Azure's `VaultNameNotValid` text.
fn parse_vault_name(name: &str) -> Result<VaultName, ManagementError> {
    VaultName::parse(name).map_err(|_| {
        bad(
            "VaultNameNotValid",
            format!(
                "The vault name '{}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens. Follow this link https://aka.ms/keyvault-naming for more information.",
                clip(name)
            ),
        )
    })
}

fn invalid(message: String) -> ManagementError {
    bad("BadRequest", message)
}

fn already_exists(name: &str) -> ManagementError {
    ManagementError::Conflict {
        code: "VaultAlreadyExists",
        message: format!(
            "The vault name '{name}' is already in use. Vault names are globally unique so it is possible that the name is already taken. If you are sure that the vault name was not taken then it is possible that a vault with the same name was recently deleted but not purged after being placed in a recoverable state. If the vault is in a recoverable state then the vault will need to be purged before reusing the name. For more information on VaultAlreadyExists, soft delete and purging a vault follow this link https://go.microsoft.com/fwlink/?linkid=2147740."
        ),
    }
}

fn exists_in_deleted_state() -> ManagementError {
    ManagementError::Conflict {
        code: "ConflictError",
        message: "A vault with the same name already exists in deleted state. You need to either recover or purge existing key vault. Follow this link https://go.microsoft.com/fwlink/?linkid=2149745 for more information on soft delete.".to_owned(),
    }
}

fn vault_not_found(rg: &str, name: &str) -> ManagementError {
    ManagementError::NotFound {
        code: "ResourceNotFound",
        message: format!(
            "The Resource '{VAULT_TYPE}/{}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            clip(name),
            clip(rg)
        ),
    }
}

fn deleted_vault_not_found(name: &str) -> ManagementError {
    ManagementError::NotFound {
        code: "ResourceNotFound",
        message: format!(
            "The Resource 'Microsoft.KeyVault/deletedVaults/{}' was not found. A vault is listed in deletedVaults only while it is soft-deleted.",
            clip(name)
        ),
    }
}

/// Checks an access-policy entry and turns it into the domain's.
fn access_policy(p: &AccessPolicyInput, i: usize) -> Result<AccessPolicy, ManagementError> {
    let required = |v: &Option<String>, prop: &str| -> Result<String, ManagementError> {
        match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() && s.len() <= 128 => Ok(s.to_owned()),
            _ => Err(invalid(format!(
                "The property 'accessPolicies[{i}].{prop}' is required and must be an identifier of at most 128 characters."
            ))),
        }
    };
    let family =
        |e: coffer_domain::DomainError| invalid(format!("accessPolicies[{i}].permissions: {e}"));
    let none = Vec::new();
    let application_id = match p.application_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(a) if a.len() <= 128 => Some(a.to_owned()),
        Some(_) => {
            return Err(invalid(format!(
                "The property 'accessPolicies[{i}].applicationId' must be an identifier of at most 128 characters."
            )));
        }
    };
    Ok(AccessPolicy {
        tenant_id: required(&p.tenant_id, "tenantId")?,
        object_id: required(&p.object_id, "objectId")?,
        application_id,
        permissions: Permissions {
            keys: Permissions::parse_keys(p.keys.as_ref().unwrap_or(&none)).map_err(family)?,
            secrets: Permissions::parse_secrets(p.secrets.as_ref().unwrap_or(&none))
                .map_err(family)?,
            certificates: Permissions::parse_certificates(p.certificates.as_ref().unwrap_or(&none))
                .map_err(family)?,
            storage: Permissions::parse_storage(p.storage.as_ref().unwrap_or(&none))
                .map_err(family)?,
        },
    })
}

fn access_policies(list: &[AccessPolicyInput]) -> Result<Vec<AccessPolicy>, ManagementError> {
    if list.len() > MAX_ACCESS_POLICIES {
        return Err(invalid(format!(
            "A vault has at most {MAX_ACCESS_POLICIES} access policies; {} were given.",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, p)| access_policy(p, i))
        .collect()
}

/// Applies a `networkAcls` input over the stored rules, validating every value.
fn apply_network_acls(
    current: &NetworkAclsDoc,
    input: &NetworkAclsInput,
) -> Result<NetworkAclsDoc, ManagementError> {
    let domain = |e: coffer_domain::DomainError| invalid(e.to_string());
    let mut out = current.clone();
    if let Some(a) = &input.default_action {
        out.default_action = DefaultAction::parse(a).map_err(domain)?.as_str().to_owned();
    }
    if let Some(b) = &input.bypass {
        out.bypass = Bypass::parse(b).map_err(domain)?.as_str().to_owned();
    }
    if let Some(rules) = &input.ip_rules {
        if rules.len() > MAX_NETWORK_RULES {
            return Err(invalid(format!(
                "A vault has at most {MAX_NETWORK_RULES} IP rules; {} were given.",
                rules.len()
            )));
        }
        let mut parsed: Vec<IpRule> = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let rule = IpRule::parse(r).map_err(|e| {
                invalid(format!(
                    "Invalid value found at properties.networkAcls.ipRules[{i}].value: {e}"
                ))
            })?;
            if !parsed.contains(&rule) {
                parsed.push(rule);
            }
        }
        out.ip_rules = parsed.iter().map(ToString::to_string).collect();
    }
    if let Some(rules) = &input.virtual_network_rules {
        if rules.len() > MAX_NETWORK_RULES {
            return Err(invalid(format!(
                "A vault has at most {MAX_NETWORK_RULES} virtual network rules; {} were given.",
                rules.len()
            )));
        }
        let mut kept: Vec<VirtualNetworkRuleDoc> = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.id.trim().is_empty() || r.id.len() > 1024 {
                return Err(invalid(format!(
                    "Invalid value found at properties.networkAcls.virtualNetworkRules[{i}].id: a subnet resource id is expected."
                )));
            }
            // Azure keeps subnet ids lowercase.
            let id = r.id.trim().to_ascii_lowercase();
            if !kept.iter().any(|k| k.id == id) {
                kept.push(VirtualNetworkRuleDoc {
                    id,
                    ignore_missing_vnet_service_endpoint: r.ignore_missing_vnet_service_endpoint,
                });
            }
        }
        out.virtual_network_rules = kept;
    }
    Ok(out)
}

/// Applies the settings of `input` to a vault record (new or existing), with Azure's rules:
/// purge protection is never turned off (nor sent as `false`), soft delete is never turned off
/// once on, retention stays within 7–90 days, and RBAC authorization is refused until it exists.
fn apply_settings(
    doc: &mut VaultDoc,
    input: &VaultInput,
    creating: bool,
) -> Result<(), ManagementError> {
    if input.enable_rbac_authorization == Some(true) {
        return Err(bad(
            "RbacAuthorizationNotSupported",
            "This Coffer instance does not implement Azure role-based access control for vaults yet: \
             set enableRbacAuthorization to false (az keyvault create --enable-rbac-authorization false) \
             and grant access with access policies (az keyvault set-policy, coffer vault set-policy)."
                .to_owned(),
        ));
    }
    if input.enable_purge_protection == Some(false) {
        return Err(invalid(
            "The property \"enablePurgeProtection\" cannot be set to false. Enabling the purge protection for a vault is an irreversible action.".to_owned(),
        ));
    }
    if input.enable_soft_delete == Some(false) && (doc.soft_delete && !creating) {
        return Err(invalid(
            "The property \"enableSoftDelete\" cannot be set to false. Enabling the 'soft delete' functionality is irreversible.".to_owned(),
        ));
    }
    if let Some(days) = input.soft_delete_retention_days {
        let ok = u32::try_from(days).is_ok_and(|d| RETENTION_DAYS.contains(&d));
        if !ok {
            return Err(invalid(format!(
                "The property \"softDeleteRetentionInDays\" must be between {} and {} (days); {days} was given.",
                RETENTION_DAYS.start(),
                RETENTION_DAYS.end()
            )));
        }
    }
    if let Some(f) = &input.sku_family
        && !f.eq_ignore_ascii_case("A")
    {
        return Err(invalid(format!(
            "The sku family '{}' is invalid. The only family is 'A'.",
            clip(f)
        )));
    }
    let sku = match &input.sku_name {
        Some(n) if n.eq_ignore_ascii_case("standard") => Some("standard"),
        Some(n) if n.eq_ignore_ascii_case("premium") => Some("premium"),
        Some(n) => {
            return Err(invalid(format!(
                "The sku name '{}' is invalid. Allowed values: standard, premium.",
                clip(n)
            )));
        }
        None => None,
    };
    let public = match &input.public_network_access {
        Some(p) => Some(PublicNetworkAccess::parse(p).map_err(|e| invalid(e.to_string()))?),
        None => None,
    };
    let acls = match &input.network_acls {
        Some(a) => Some(apply_network_acls(&doc.network_acls, a)?),
        None => None,
    };
    let policies = match &input.access_policies {
        Some(list) => Some(access_policies(list)?),
        None => None,
    };
    // Everything is valid: apply.
    if let Some(sku) = sku {
        doc.sku = sku.to_owned();
    }
    if let Some(p) = public {
        doc.public_network_disabled = p == PublicNetworkAccess::Disabled;
    }
    if let Some(a) = acls {
        doc.network_acls = a;
    }
    if let Some(p) = policies {
        doc.access_policies = p.into_iter().map(policy_doc).collect();
    }
    if let Some(true) = input.enable_purge_protection {
        doc.purge_protection = true;
    }
    if let Some(s) = input.enable_soft_delete {
        doc.soft_delete = s;
    }
    if let Some(d) = input
        .soft_delete_retention_days
        .and_then(|d| u32::try_from(d).ok())
    {
        doc.retention_days = d;
    }
    for (field, value) in [
        (
            &mut doc.enabled_for_deployment,
            input.enabled_for_deployment,
        ),
        (
            &mut doc.enabled_for_disk_encryption,
            input.enabled_for_disk_encryption,
        ),
        (
            &mut doc.enabled_for_template_deployment,
            input.enabled_for_template_deployment,
        ),
    ] {
        if let Some(v) = value {
            *field = v;
        }
    }
    if let Some(t) = &input.tags {
        doc.tags = t.clone();
    }
    Ok(())
}

impl VaultDoc {
    pub(crate) fn vault_view(&self, vault_uri: String, revision: u64) -> VaultView {
        VaultView {
            id: vault_id(&self.subscription_id, &self.resource_group, &self.name),
            name: self.name.clone(),
            location: self.location.clone(),
            tags: self.tags.clone(),
            tenant_id: self.tenant_id.clone(),
            sku: self.sku.clone(),
            access_policies: self
                .access_policies
                .iter()
                .map(|p| AccessPolicy {
                    tenant_id: p.tenant_id.clone(),
                    object_id: p.object_id.clone(),
                    application_id: p.application_id.clone(),
                    permissions: permissions_of(&p.permissions),
                })
                .collect(),
            network_acls: network_acls_of(self),
            virtual_network_rules: self
                .network_acls
                .virtual_network_rules
                .iter()
                .map(|r| VirtualNetworkRule {
                    id: r.id.clone(),
                    ignore_missing_vnet_service_endpoint: r.ignore_missing_vnet_service_endpoint,
                })
                .collect(),
            enable_soft_delete: self.soft_delete,
            soft_delete_retention_days: self.retention_days,
            enable_purge_protection: self.purge_protection,
            enabled_for_deployment: self.enabled_for_deployment,
            enabled_for_disk_encryption: self.enabled_for_disk_encryption,
            enabled_for_template_deployment: self.enabled_for_template_deployment,
            vault_uri,
            revision,
        }
    }

    fn deleted_view(&self) -> DeletedVaultView {
        let (deleted, scheduled) = self
            .deleted
            .as_ref()
            .map_or((0, 0), |d| (d.deleted, d.scheduled_purge));
        DeletedVaultView {
            id: deleted_vault_id(&self.subscription_id, &self.location, &self.name),
            name: self.name.clone(),
            location: self.location.clone(),
            vault_id: vault_id(&self.subscription_id, &self.resource_group, &self.name),
            tags: self.tags.clone(),
            deletion_date: deleted,
            scheduled_purge_date: scheduled,
            purge_protection_enabled: self.purge_protection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> VaultDoc {
        serde_json::from_str(
            r#"{"id":"v","name":"kv1","tenant_id":"t","soft_delete":true,"retention_days":90,
            "purge_protection":false,"access_policies":[],"wrapped_key":"k"}"#,
        )
        .unwrap()
    }

    fn policy(secrets: &[&str]) -> AccessPolicyInput {
        AccessPolicyInput {
            tenant_id: Some("t".into()),
            object_id: Some("o".into()),
            secrets: Some(secrets.iter().map(|s| (*s).to_owned()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_azures_rules() {
        for ok in ["kv1", "My-Vault-01", "abc", "a23456789012345678901234"] {
            assert!(parse_vault_name(ok).is_ok(), "{ok}");
        }
        for bad_name in [
            "ab",
            "1kv",
            "kv-",
            "k--v",
            "k_v",
            "a234567890123456789012345",
            "kv.x",
        ] {
            let e = parse_vault_name(bad_name).unwrap_err();
            assert!(
                matches!(
                    e,
                    ManagementError::BadRequest {
                        code: "VaultNameNotValid",
                        ..
                    }
                ),
                "{bad_name}"
            );
        }
    }

    #[test]
    fn property_rules() {
        fn with(f: impl FnOnce(&mut VaultInput)) -> VaultInput {
            let mut i = VaultInput::default();
            f(&mut i);
            i
        }
        let refused = |input: VaultInput, creating: bool| {
            let mut d = doc();
            apply_settings(&mut d, &input, creating)
                .unwrap_err()
                .to_string()
        };
        assert!(
            refused(with(|i| i.enable_rbac_authorization = Some(true)), true)
                .contains("role-based")
        );
        assert!(
            refused(with(|i| i.enable_purge_protection = Some(false)), true)
                .contains("irreversible")
        );
        assert!(
            refused(with(|i| i.enable_soft_delete = Some(false)), false).contains("soft delete")
        );
        for days in [6, 91, -1, 1 << 40] {
            assert!(
                refused(with(|i| i.soft_delete_retention_days = Some(days)), true)
                    .contains("between 7 and 90"),
                "{days}"
            );
        }
        assert!(refused(with(|i| i.sku_name = Some("gold".into())), true).contains("sku"));
        assert!(
            refused(
                with(|i| i.public_network_access = Some("Maybe".into())),
                true
            )
            .contains("publicNetworkAccess")
        );

        let mut d = doc();
        let input = VaultInput {
            enable_rbac_authorization: Some(false),
            enable_purge_protection: Some(true),
            soft_delete_retention_days: Some(7),
            sku_family: Some("a".into()),
            sku_name: Some("Premium".into()),
            public_network_access: Some("disabled".into()),
            access_policies: Some(vec![policy(&["GET", "list", "get"])]),
            network_acls: Some(NetworkAclsInput {
                default_action: Some("deny".into()),
                bypass: Some("none".into()),
                ip_rules: Some(vec!["203.0.113.7".into(), "10.1.2.3/16".into(), "203.0.113.7/32".into()]),
                virtual_network_rules: Some(vec![VirtualNetworkRule {
                    id: "/subscriptions/S/resourceGroups/R/providers/Microsoft.Network/virtualNetworks/V/subnets/A".into(),
                    ignore_missing_vnet_service_endpoint: true,
                }]),
            }),
            ..Default::default()
        };
        apply_settings(&mut d, &input, true).unwrap();
        assert!(d.purge_protection && d.public_network_disabled);
        assert_eq!((d.retention_days, d.sku.as_str()), (7, "premium"));
        assert_eq!(d.access_policies[0].permissions.secrets, ["get", "list"]);
        assert_eq!(d.network_acls.default_action, "Deny");
        assert_eq!(d.network_acls.bypass, "None");
        assert_eq!(d.network_acls.ip_rules, ["203.0.113.7/32", "10.1.0.0/16"]);
        assert!(
            d.network_acls.virtual_network_rules[0]
                .id
                .starts_with("/subscriptions/s/resourcegroups/r/")
        );
        // Turning purge protection on again is fine; soft delete may be re-sent as true.
        let again = VaultInput {
            enable_purge_protection: Some(true),
            enable_soft_delete: Some(true),
            ..Default::default()
        };
        apply_settings(&mut d, &again, false).unwrap();
        // A rejected input changes nothing.
        let before = d.access_policies.len();
        let bad_input = VaultInput {
            access_policies: Some(vec![]),
            network_acls: Some(NetworkAclsInput {
                ip_rules: Some(vec!["not-an-ip".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(apply_settings(&mut d, &bad_input, false).is_err());
        assert_eq!(d.access_policies.len(), before);
    }

    #[test]
    fn access_policy_validation() {
        assert!(
            access_policy(&policy(&["all"]), 0)
                .unwrap()
                .permissions
                .secrets
                .len()
                == 8
        );
        let e = access_policy(&policy(&["sign"]), 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("accessPolicies[3]") && e.contains("sign"), "{e}");
        let mut p = policy(&["get"]);
        p.object_id = None;
        assert!(
            access_policy(&p, 0)
                .unwrap_err()
                .to_string()
                .contains("objectId")
        );
        let mut p = policy(&[]);
        p.keys = Some(vec!["UnwrapKey".into(), "WRAPKEY".into()]);
        p.application_id = Some(" ".into());
        let got = access_policy(&p, 0).unwrap();
        assert_eq!(got.application_id, None);
        assert_eq!(
            got.permissions
                .keys
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>(),
            ["unwrapKey", "wrapKey"]
        );
        assert!(AccessPolicyUpdate::parse("Replace") == Some(AccessPolicyUpdate::Replace));
        assert!(AccessPolicyUpdate::parse("merge").is_none());
    }
}
