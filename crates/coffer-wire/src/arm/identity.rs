//! `Microsoft.ManagedIdentity` bodies: user- and system-assigned identities, and Coffer's two
//! extensions (`listSecrets` for the App Service-style endpoint, `imdsBindings`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
pub struct Identity {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub properties: IdentityProperties,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityProperties {
    pub tenant_id: String,
    pub principal_id: String,
    pub client_id: String,
    /// Only on user-assigned identities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation_scope: Option<&'static str>,
}

/// The answer of `POST …/userAssignedIdentities/{n}/listSecrets`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySecrets {
    pub identity_endpoint: String,
    pub identity_header: String,
    pub client_id: String,
    pub principal_id: String,
    pub imds_authority_host: String,
}

/// `{"addresses":[…]}`, also accepted nested under `properties`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ImdsBindings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<String>>,
    #[serde(default, skip_serializing)]
    pub properties: Option<Box<ImdsBindings>>,
}

impl ImdsBindings {
    /// The addresses, wherever the body put them.
    pub fn into_addresses(self) -> Option<Vec<String>> {
        self.addresses
            .or_else(|| self.properties.and_then(|p| p.addresses))
    }
}
