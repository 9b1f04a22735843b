//! `Microsoft.Resources` bodies: the cloud metadata document, subscriptions, tenants, locations,
//! resource providers, resource groups and the generic `/resources` listing.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ProvisioningProperties;

/// `GET /metadata/endpoints`: what `az cloud register` and the SDKs' cloud settings read.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudMetadata {
    pub name: &'static str,
    pub authentication: CloudAuthentication,
    pub resource_manager: String,
    pub microsoft_graph_resource_id: String,
    pub suffixes: CloudSuffixes,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudAuthentication {
    pub login_endpoint: String,
    pub audiences: Vec<String>,
    pub tenant: &'static str,
    pub identity_provider: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudSuffixes {
    /// `vault.<domain>[:port]`, without a leading dot.
    pub key_vault_dns: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub authorization_source: &'static str,
    pub managed_by_tenants: Vec<String>,
    pub subscription_id: String,
    pub tenant_id: String,
    pub display_name: String,
    pub state: &'static str,
    pub subscription_policies: SubscriptionPolicies,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPolicies {
    pub location_placement_id: &'static str,
    pub quota_id: &'static str,
    pub spending_limit: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub tenant_id: String,
    pub tenant_category: &'static str,
    pub display_name: String,
    pub default_domain: String,
    pub domains: Vec<String>,
    pub tenant_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub display_name: String,
    pub regional_display_name: String,
    pub metadata: LocationMetadata,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationMetadata {
    pub region_type: &'static str,
    pub region_category: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    pub id: String,
    pub namespace: String,
    pub registration_state: &'static str,
    pub registration_policy: &'static str,
    pub resource_types: Vec<ProviderResourceType>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderResourceType {
    pub resource_type: String,
    pub locations: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ResourceGroup {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub properties: ProvisioningProperties,
}

/// An item of `GET /subscriptions/{s}/resources`: the fields every resource has.
#[derive(Debug, Serialize)]
pub struct GenericResource {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
}
