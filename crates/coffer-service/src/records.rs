//! The service's own record formats, as stored in documents and version metadata. These are
//! internal and versioned by the store's migrations, not a wire format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub(crate) const TENANT: &str = "tenant";
pub(crate) const APP: &str = "app";
pub(crate) const VAULT: &str = "vault";
pub(crate) const SIGNING_KEY: &str = "signing-key";
pub(crate) const INSTANCE: &str = "instance";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TenantDoc {
    pub(crate) id: String,
    pub(crate) display_name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ClientSecretDoc {
    pub(crate) key_id: String,
    pub(crate) hint: String,
    pub(crate) hash: String,
    pub(crate) expires: Option<i64>,
}

/// An application registration together with its service principal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AppDoc {
    pub(crate) tenant_id: String,
    pub(crate) app_id: String,
    /// Object id of the service principal: the `oid` of its tokens.
    pub(crate) object_id: String,
    pub(crate) display_name: String,
    pub(crate) secrets: Vec<ClientSecretDoc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PermissionsDoc {
    #[serde(default)]
    pub(crate) keys: Vec<String>,
    #[serde(default)]
    pub(crate) secrets: Vec<String>,
    #[serde(default)]
    pub(crate) certificates: Vec<String>,
    #[serde(default)]
    pub(crate) storage: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AccessPolicyDoc {
    pub(crate) tenant_id: String,
    pub(crate) object_id: String,
    pub(crate) application_id: Option<String>,
    pub(crate) permissions: PermissionsDoc,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct VaultDoc {
    /// Random id used in associated data, so a recreated vault never opens old ciphertexts.
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) tenant_id: String,
    pub(crate) soft_delete: bool,
    pub(crate) retention_days: u32,
    pub(crate) purge_protection: bool,
    pub(crate) access_policies: Vec<AccessPolicyDoc>,
    /// The vault's data key, wrapped by the root key (base64).
    pub(crate) wrapped_key: String,
}

/// Signing key for tokens: PKCS#8 sealed with the instance key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SigningKeyDoc {
    pub(crate) kid: String,
    pub(crate) created: i64,
    /// Sealed PKCS#8 (base64).
    pub(crate) sealed: String,
}

/// Instance-wide keys: one data key for the instance's own records and one for backup blobs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct InstanceKeysDoc {
    pub(crate) wrapped_instance_key: String,
    pub(crate) wrapped_backup_key: String,
    /// Identifies this instance inside backup blobs.
    pub(crate) instance_id: String,
}

/// Non-secret metadata of one secret version.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SecretMeta {
    /// The name as the caller spelled it.
    pub(crate) name: String,
    pub(crate) content_type: Option<String>,
    pub(crate) tags: Option<BTreeMap<String, String>>,
    pub(crate) enabled: bool,
    pub(crate) nbf: Option<i64>,
    pub(crate) exp: Option<i64>,
    #[serde(default)]
    pub(crate) managed: bool,
    #[serde(default)]
    pub(crate) kid: Option<String>,
}
