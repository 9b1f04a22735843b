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
    /// Injected failures; absent: none.
    #[serde(default)]
    pub fault: Option<FaultProperties>,
    /// Seconds the vault's clock runs ahead; absent: none.
    #[serde(default)]
    pub clock_offset_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultProperties {
    /// 429 or 503.
    pub status: u16,
    /// Only the next `count` requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// This share of requests, 1 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u32>,
    /// Only this operation (its audit name, e.g. `SecretGet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}
