//! `Microsoft.Insights/diagnosticSettings` bodies, as `az monitor diagnostic-settings create`
//! sends them and Azure answers (absent destinations are `null` in answers).

use serde::{Deserialize, Serialize};

/// The PUT body; `properties` is required by Azure, checked by the caller.
#[derive(Debug, Default, Deserialize)]
pub struct DiagnosticSettingIn {
    #[serde(default)]
    pub properties: Option<DiagnosticSettingProperties>,
}

/// A diagnostic setting as ARM shows it.
#[derive(Debug, Serialize)]
pub struct DiagnosticSetting {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub properties: DiagnosticSettingProperties,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticSettingProperties {
    #[serde(default)]
    pub storage_account_id: Option<String>,
    #[serde(default)]
    pub service_bus_rule_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[serde(default)]
    pub event_hub_authorization_rule_id: Option<String>,
    #[serde(default)]
    pub event_hub_name: Option<String>,
    #[serde(default)]
    pub marketplace_partner_id: Option<String>,
    #[serde(default)]
    pub log_analytics_destination_type: Option<String>,
    #[serde(default)]
    pub logs: Vec<LogSettings>,
    #[serde(default)]
    pub metrics: Vec<MetricSettings>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSettings {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub category_group: Option<String>,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub retention_policy: Option<RetentionPolicy>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricSettings {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub time_grain: Option<String>,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub retention_policy: Option<RetentionPolicy>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct RetentionPolicy {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub days: u32,
}

/// Coffer's own trusted-service flag of a service principal or managed identity
/// (`/providers/Coffer.Directory/servicePrincipals/{objectId}`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedService {
    pub id: String,
    pub object_id: String,
    pub tenant_id: String,
    pub principal_type: &'static str,
    pub display_name: String,
    pub trusted_service: bool,
}

/// The PATCH body of a trusted-service flag: `{"trustedService": true}` (or the same under
/// `properties`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedServiceIn {
    #[serde(default)]
    pub trusted_service: Option<bool>,
    #[serde(default)]
    pub properties: Option<Box<TrustedServiceIn>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_cli_sends() {
        let body = r#"{"properties":{"logs":[{"category":"AuditEvent","enabled":true,
            "retentionPolicy":{"enabled":false,"days":0}}],"metrics":[],"workspaceId":null}}"#;
        let s: DiagnosticSettingIn = serde_json::from_str(body).unwrap();
        let p = s.properties.unwrap();
        assert_eq!(p.logs[0].category.as_deref(), Some("AuditEvent"));
        assert!(p.logs[0].enabled);
        let out = serde_json::to_value(DiagnosticSettingProperties::default()).unwrap();
        assert!(out["workspaceId"].is_null() && out["logs"].is_array());
    }
}
