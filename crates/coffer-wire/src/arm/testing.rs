//! Coffer's own `providers/Coffer.Testing/settings/default` resource on a vault: its test helpers.

use serde::{Deserialize, Serialize};

/// The resource, as written and as read back.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct TestSettingsResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub properties: TestSettingsProperties,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestSettingsProperties {
    /// Caps every per-vault throttling limit at this many transactions per window; absent: off.
    #[serde(default)]
    pub throttle_limit: Option<u32>,
}
