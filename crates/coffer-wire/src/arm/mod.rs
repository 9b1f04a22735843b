//! Azure Resource Manager bodies, one module per resource provider: the generic shapes every
//! provider shares (lists with `nextLink`, the `location`/`tags` of a tracked resource) live here.

pub mod apim;
pub mod doctor;
pub mod identity;
pub mod insights;
pub mod keyvault;
pub mod portable;
pub mod resources;
pub mod testing;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A page of a listing: `{"value":[…],"nextLink":"<absolute URL>"}`.
#[derive(Debug, Serialize)]
pub struct ResourceList<T> {
    pub value: Vec<T>,
    #[serde(rename = "nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

impl<T> ResourceList<T> {
    /// One page without a successor.
    pub fn of(value: Vec<T>) -> Self {
        Self {
            value,
            next_link: None,
        }
    }
}

/// Tags as clients send them: a `null` value counts as an empty string.
pub type TagsIn = BTreeMap<String, Option<String>>;

/// What ARM reads from the body of any tracked resource's PUT or PATCH; other properties are
/// ignored, as ARM's lenient PUT does (clients send read-only fields back).
#[derive(Debug, Default, Deserialize)]
pub struct TrackedResourceIn {
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Option<TagsIn>,
}

/// `properties.provisioningState` of a resource that is always ready.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningProperties {
    pub provisioning_state: &'static str,
}

impl ProvisioningProperties {
    pub const SUCCEEDED: Self = Self {
        provisioning_state: "Succeeded",
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_tracked_bodies() {
        let v = serde_json::to_value(ResourceList::of(vec![1, 2])).unwrap_or_default();
        assert_eq!(v, serde_json::json!({"value": [1, 2]}));
        let v = serde_json::to_value(ResourceList {
            value: Vec::<u8>::new(),
            next_link: Some("https://x/next".into()),
        })
        .unwrap_or_default();
        assert_eq!(v["nextLink"], "https://x/next");
        let body: TrackedResourceIn = serde_json::from_str(
            r#"{"location":"local","tags":{"a":"1","b":null},"properties":{"x":1}}"#,
        )
        .unwrap_or_default();
        assert_eq!(body.location.as_deref(), Some("local"));
        let tags = body.tags.unwrap_or_default();
        assert_eq!(tags["a"].as_deref(), Some("1"));
        assert_eq!(tags["b"], None);
        assert!(serde_json::from_str::<TrackedResourceIn>(r#"{"tags":{"a":1}}"#).is_err());
    }
}
