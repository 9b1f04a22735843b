//! `Microsoft.KeyVault` bodies: vaults (create, update and the CLI's whole-vault PUT, which sends
//! read-only fields back: they are ignored), access-policy updates, deleted vaults and
//! `checkNameAvailability`. Names follow the REST specification's `VaultProperties`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::TagsIn;

/// The body of a vault PUT or PATCH (`VaultCreateOrUpdateParameters`, `VaultPatchParameters`).
#[derive(Debug, Default, Deserialize)]
pub struct VaultIn {
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Option<TagsIn>,
    #[serde(default)]
    pub properties: Option<VaultPropertiesIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultPropertiesIn {
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub sku: Option<SkuIn>,
    #[serde(default)]
    pub access_policies: Option<Vec<AccessPolicyEntryIn>>,
    #[serde(default)]
    pub network_acls: Option<NetworkRuleSetIn>,
    #[serde(default)]
    pub enable_soft_delete: Option<bool>,
    /// Kept wide so an out-of-range number gets Azure's message, not a parse error.
    #[serde(default)]
    pub soft_delete_retention_in_days: Option<i64>,
    #[serde(default)]
    pub enable_purge_protection: Option<bool>,
    #[serde(default)]
    pub enable_rbac_authorization: Option<bool>,
    #[serde(default)]
    pub public_network_access: Option<String>,
    #[serde(default)]
    pub enabled_for_deployment: Option<bool>,
    #[serde(default)]
    pub enabled_for_disk_encryption: Option<bool>,
    #[serde(default)]
    pub enabled_for_template_deployment: Option<bool>,
    #[serde(default)]
    pub create_mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SkuIn {
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyEntryIn {
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub object_id: Option<String>,
    #[serde(default)]
    pub application_id: Option<String>,
    #[serde(default)]
    pub permissions: Option<PermissionsIn>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PermissionsIn {
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    #[serde(default)]
    pub secrets: Option<Vec<String>>,
    #[serde(default)]
    pub certificates: Option<Vec<String>>,
    #[serde(default)]
    pub storage: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkRuleSetIn {
    #[serde(default)]
    pub bypass: Option<String>,
    #[serde(default)]
    pub default_action: Option<String>,
    #[serde(default)]
    pub ip_rules: Option<Vec<IpRuleIn>>,
    #[serde(default)]
    pub virtual_network_rules: Option<Vec<VirtualNetworkRuleIn>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct IpRuleIn {
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkRuleIn {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub ignore_missing_vnet_service_endpoint: Option<bool>,
}

/// The body of `PUT …/vaults/{v}/accessPolicies/{add|replace|remove}`.
#[derive(Debug, Default, Deserialize)]
pub struct AccessPolicyUpdateIn {
    #[serde(default)]
    pub properties: Option<AccessPolicyUpdatePropertiesIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyUpdatePropertiesIn {
    #[serde(default)]
    pub access_policies: Option<Vec<AccessPolicyEntryIn>>,
}

/// The body of `POST …/providers/Microsoft.KeyVault/checkNameAvailability`.
#[derive(Debug, Default, Deserialize)]
pub struct CheckNameIn {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// A vault as returned.
#[derive(Debug, Serialize)]
pub struct Vault {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub properties: VaultProperties,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultProperties {
    pub tenant_id: String,
    pub sku: Sku,
    pub access_policies: Vec<AccessPolicyEntry>,
    pub vault_uri: String,
    pub enabled_for_deployment: bool,
    pub enabled_for_disk_encryption: bool,
    pub enabled_for_template_deployment: bool,
    pub enable_soft_delete: bool,
    pub soft_delete_retention_in_days: u32,
    pub enable_rbac_authorization: bool,
    /// Absent unless on: Azure refuses `false`, and the CLI's whole-vault PUT sends back what
    /// it read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_purge_protection: Option<bool>,
    pub network_acls: NetworkRuleSet,
    pub public_network_access: &'static str,
    pub provisioning_state: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Sku {
    pub family: &'static str,
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyEntry {
    pub tenant_id: String,
    pub object_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    pub permissions: Permissions,
}

#[derive(Debug, Serialize)]
pub struct Permissions {
    pub keys: Vec<&'static str>,
    pub secrets: Vec<&'static str>,
    pub certificates: Vec<&'static str>,
    pub storage: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkRuleSet {
    pub bypass: &'static str,
    pub default_action: &'static str,
    pub ip_rules: Vec<IpRule>,
    pub virtual_network_rules: Vec<VirtualNetworkRule>,
}

#[derive(Debug, Serialize)]
pub struct IpRule {
    pub value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkRule {
    pub id: String,
    pub ignore_missing_vnet_service_endpoint: bool,
}

/// The answer of an access-policy update (`VaultAccessPolicyParameters`).
#[derive(Debug, Serialize)]
pub struct AccessPolicyUpdate {
    pub id: String,
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub location: String,
    pub properties: AccessPolicyUpdateProperties,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyUpdateProperties {
    pub access_policies: Vec<AccessPolicyEntry>,
}

/// A soft-deleted vault.
#[derive(Debug, Serialize)]
pub struct DeletedVault {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub properties: DeletedVaultProperties,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedVaultProperties {
    pub vault_id: String,
    pub location: String,
    /// RFC 3339.
    pub deletion_date: String,
    pub scheduled_purge_date: String,
    pub tags: BTreeMap<String, String>,
    pub purge_protection_enabled: bool,
}

/// The answer of `checkNameAvailability`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckNameResult {
    pub name_available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clis_whole_vault_put_reads() {
        // What `az keyvault update` sends back after a GET: read-only fields included.
        let body = r#"{"location":"local","tags":{},"properties":{"tenantId":"t",
            "sku":{"family":"A","name":"standard"},"accessPolicies":[{"tenantId":"t",
            "objectId":"o","applicationId":null,"permissions":{"keys":["all"],"secrets":["get"],
            "certificates":[],"storage":null}}],"vaultUri":"https://kv.vault.localhost:8443/",
            "enabledForDeployment":false,"enableSoftDelete":true,"softDeleteRetentionInDays":90,
            "enableRbacAuthorization":false,"enablePurgeProtection":null,
            "networkAcls":{"bypass":"AzureServices","defaultAction":"Deny",
            "ipRules":[{"value":"127.0.0.1/32"}],"virtualNetworkRules":[]},
            "provisioningState":"Succeeded","hsmPoolResourceId":null,"publicNetworkAccess":"Enabled"}}"#;
        let v: VaultIn = serde_json::from_str(body).unwrap_or_default();
        let p = v.properties.unwrap_or_default();
        assert_eq!(p.tenant_id.as_deref(), Some("t"));
        assert_eq!(p.enable_purge_protection, None);
        let acls = p.network_acls.unwrap_or_default();
        assert_eq!(acls.ip_rules.unwrap_or_default()[0].value, "127.0.0.1/32");
        let pol = &p.access_policies.unwrap_or_default()[0];
        assert!(
            pol.permissions
                .as_ref()
                .is_some_and(|x| x.storage.is_none())
        );
    }
}
