//! Coffer's own `providers/Coffer.Portability/export` and `import` actions on a vault: the
//! document `coffer vault export` encrypts into its file, and the batches `import` sends back.
//! Byte fields are standard base64.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Format tag of [`VaultExport`].
pub const EXPORT_FORMAT: &str = "coffer-vault-export-v1";

/// Answer of `POST {vaultId}/providers/Coffer.Portability/export`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultExport {
    pub format: String,
    pub vault: String,
    pub settings: VaultSettings,
    pub objects: Vec<ExportObject>,
    #[serde(default)]
    pub documents: Vec<ExportDocument>,
    /// What could not be exported, one sentence each.
    #[serde(default)]
    pub skipped: Vec<String>,
}

/// Settings a vault is created with on import.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultSettings {
    pub soft_delete_retention_in_days: u32,
    pub enable_purge_protection: bool,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub sku: String,
    pub default_action: String,
    pub bypass: String,
    #[serde(default)]
    pub ip_rules: Vec<String>,
    pub public_network_access: String,
}

/// One secret, key or certificate with every version.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportObject {
    /// `secret`, `key` or `certificate`.
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub versions: Vec<ExportVersion>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportVersion {
    pub version: String,
    pub created: i64,
    pub updated: i64,
    pub meta: String,
    pub value: String,
}

/// A per-vault document (rotation policy, certificate issuer, contacts).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportDocument {
    pub kind: String,
    pub suffix: String,
    pub body: String,
}

/// Body of `POST {vaultId}/providers/Coffer.Portability/import`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRequest {
    #[serde(default)]
    pub objects: Vec<ExportObject>,
    #[serde(default)]
    pub documents: Vec<ExportDocument>,
    /// Purge and replace objects whose names are in use.
    #[serde(default)]
    pub force: bool,
    /// Only check the names (versions may be empty); write nothing.
    #[serde(default)]
    pub check_only: bool,
}

/// Answer of an import.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportResult {
    pub imported: usize,
    pub replaced: usize,
}
