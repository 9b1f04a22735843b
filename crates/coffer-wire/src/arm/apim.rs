//! `Microsoft.ApiManagement` request bodies: the service (`ApiManagementServiceResource` and its
//! update parameters; read-only fields and the SDK's always-sent defaults are ignored), its
//! host name configurations and identity, and the child entities' properties. Responses are
//! shaped by the HTTP layer.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::TagsIn;

#[derive(Debug, Default, Deserialize)]
pub struct ApimServiceIn {
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Option<TagsIn>,
    #[serde(default)]
    pub sku: Option<ApimSkuIn>,
    /// `None` when absent (kept); `Some(None)` for `"identity": null`.
    #[serde(default, deserialize_with = "present")]
    pub identity: Option<Option<ApimIdentityIn>>,
    #[serde(default)]
    pub properties: Option<ApimServicePropertiesIn>,
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize)]
pub struct ApimSkuIn {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub capacity: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApimIdentityIn {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Keyed by the identity's resource id; the values (`{}`, or what GET showed) are ignored.
    #[serde(default)]
    pub user_assigned_identities: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApimServicePropertiesIn {
    #[serde(default)]
    pub publisher_email: Option<String>,
    #[serde(default)]
    pub publisher_name: Option<String>,
    #[serde(default)]
    pub hostname_configurations: Option<Vec<HostnameConfigurationIn>>,
    /// Only the TLS protocol switches are looked at.
    #[serde(default)]
    pub custom_properties: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostnameConfigurationIn {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub host_name: Option<String>,
    #[serde(default)]
    pub key_vault_id: Option<String>,
    #[serde(default)]
    pub identity_client_id: Option<String>,
    #[serde(default)]
    pub encoded_certificate: Option<String>,
    #[serde(default)]
    pub certificate_password: Option<String>,
    #[serde(default)]
    pub default_ssl_binding: Option<bool>,
    #[serde(default)]
    pub negotiate_client_certificate: Option<bool>,
    #[serde(default)]
    pub certificate_source: Option<String>,
}

/// `{"properties": {...}}` of a child entity.
#[derive(Debug, Default, Deserialize)]
pub struct EntityIn<P> {
    #[serde(default = "Option::default")]
    pub properties: Option<P>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiPropertiesIn {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub service_url: Option<String>,
    #[serde(default)]
    pub protocols: Option<Vec<String>>,
    #[serde(default)]
    pub subscription_required: Option<bool>,
    #[serde(default)]
    pub subscription_key_parameter_names: Option<KeyNamesIn>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct KeyNamesIn {
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub query: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationPropertiesIn {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub url_template: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductPropertiesIn {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub subscription_required: Option<bool>,
    #[serde(default)]
    pub approval_required: Option<bool>,
    #[serde(default)]
    pub state: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPropertiesIn {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub primary_key: Option<String>,
    #[serde(default)]
    pub secondary_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendPropertiesIn {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tls: Option<BackendTlsIn>,
    #[serde(default)]
    pub credentials: Option<BackendCredentialsIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendTlsIn {
    #[serde(default)]
    pub validate_certificate_chain: Option<bool>,
    #[serde(default)]
    pub validate_certificate_name: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendCredentialsIn {
    #[serde(default)]
    pub certificate_ids: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificatePropertiesIn {
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub key_vault: Option<KeyVaultContractIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyVaultContractIn {
    #[serde(default)]
    pub secret_identifier: Option<String>,
    #[serde(default)]
    pub identity_client_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_and_null_identity_differ() {
        let a: ApimServiceIn = serde_json::from_str(r#"{"location":"local"}"#).unwrap_or_default();
        assert!(a.identity.is_none());
        let b: ApimServiceIn = serde_json::from_str(r#"{"identity":null}"#).unwrap_or_default();
        assert!(matches!(b.identity, Some(None)));
        let c: ApimServiceIn = serde_json::from_str(
            r#"{"identity":{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"/x":{}}},
                "properties":{"enableClientCertificate":false,"hostnameConfigurations":[{"type":"Proxy","hostName":"a.test","certificateSource":"BuiltIn"}]}}"#,
        )
        .unwrap_or_default();
        let id = c.identity.flatten().unwrap_or_default();
        assert_eq!(id.kind.as_deref(), Some("SystemAssigned, UserAssigned"));
        let h = c
            .properties
            .unwrap_or_default()
            .hostname_configurations
            .unwrap_or_default();
        assert_eq!(h[0].certificate_source.as_deref(), Some("BuiltIn"));
    }
}
