//! The service's own record formats, as stored in documents and version metadata. These are
//! internal and versioned by the store's migrations, not a wire format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub(crate) const TENANT: &str = "tenant";
pub(crate) const APP: &str = "app";
pub(crate) const VAULT: &str = "vault";
pub(crate) const SIGNING_KEY: &str = "signing-key";
pub(crate) const INSTANCE: &str = "instance";
pub(crate) const USER: &str = "user";
/// Index of user principal names: `<tenant>:<upn, lowercase>` → the user's object id. Written in
/// the same batch as the user, so two users can never share a UPN.
pub(crate) const USER_UPN: &str = "user-upn";

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
    #[serde(default)]
    pub(crate) display_name: Option<String>,
    /// Unix seconds; absent on secrets made before this field existed.
    #[serde(default)]
    pub(crate) start: Option<i64>,
}

/// A client certificate (Graph's `keyCredential` of type `AsymmetricX509Cert`, usage `Verify`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeyCredentialDoc {
    pub(crate) key_id: String,
    pub(crate) display_name: Option<String>,
    /// The certificate, DER, standard base64.
    pub(crate) der: String,
    /// SHA-1 of the DER, uppercase hex (what `x5t` names, and what portals show).
    pub(crate) sha1: String,
    /// SHA-256 of the DER, uppercase hex (`x5t#S256`).
    pub(crate) sha256: String,
    /// Validity of the certificate, unix seconds.
    pub(crate) start: i64,
    pub(crate) end: i64,
}

/// The minimal application record, as the first start writes it (`bootstrap.rs`). Every stored
/// application is read as an [`ApplicationDoc`], whose extra fields all have defaults.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AppDoc {
    pub(crate) tenant_id: String,
    pub(crate) app_id: String,
    /// Object id of the service principal: the `oid` of its tokens.
    pub(crate) object_id: String,
    pub(crate) display_name: String,
    pub(crate) secrets: Vec<ClientSecretDoc>,
}

/// An application registration together with its service principal (kind [`APP`], id
/// `<tenant>:<app id>`). The JSON is a superset of [`AppDoc`]'s.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ApplicationDoc {
    pub(crate) tenant_id: String,
    pub(crate) app_id: String,
    /// Object id of the service principal: the `oid` of its tokens.
    pub(crate) object_id: String,
    pub(crate) display_name: String,
    pub(crate) secrets: Vec<ClientSecretDoc>,
    /// Object id of the application object itself (Graph's `/applications/{id}`); empty in
    /// records written before it existed, see `directory::application_object_id`.
    #[serde(default)]
    pub(crate) app_object_id: String,
    #[serde(default)]
    pub(crate) key_credentials: Vec<KeyCredentialDoc>,
    /// May administer the directory of its tenant (the bootstrap application is, always).
    #[serde(default)]
    pub(crate) directory_admin: bool,
    /// Graph's `isFallbackPublicClient`: the password grant needs no client credential.
    #[serde(default)]
    pub(crate) public_client: bool,
    /// Unix seconds.
    #[serde(default)]
    pub(crate) created: Option<i64>,
}

/// A user of a tenant (kind [`USER`], id `<tenant>:<object id>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct UserDoc {
    pub(crate) tenant_id: String,
    pub(crate) object_id: String,
    /// As the creator spelled it; compared case-insensitively.
    pub(crate) user_principal_name: String,
    pub(crate) display_name: String,
    /// `coffer_crypto::password` hash.
    pub(crate) password_hash: String,
    pub(crate) account_enabled: bool,
    /// Unix seconds.
    pub(crate) created: i64,
    #[serde(default)]
    pub(crate) directory_admin: bool,
}

/// Body of a [`USER_UPN`] index entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct UpnIndexDoc {
    pub(crate) object_id: String,
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

pub(crate) const SUBSCRIPTION: &str = "subscription";
pub(crate) const RESOURCE_GROUP: &str = "resource-group";
pub(crate) const MANAGED_IDENTITY: &str = "managed-identity";

/// A subscription: the management scope resource groups and resources live in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SubscriptionDoc {
    /// A GUID, lowercase.
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) display_name: String,
    pub(crate) created: i64,
}

/// A resource group of a subscription.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ResourceGroupDoc {
    pub(crate) subscription_id: String,
    /// The name as it was created (resource ids echo this spelling).
    pub(crate) name: String,
    pub(crate) location: String,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) created: i64,
}

/// The credential a workload presents to the App Service-style token endpoint
/// (`X-IDENTITY-HEADER`): `<id>.<secret>`; only a salted hash of the whole value is kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct IdentityHeaderDoc {
    pub(crate) id: String,
    pub(crate) hash: String,
    pub(crate) created: i64,
}

/// A managed identity: a principal of the directory (`oid` = `principal_id`, `appid` =
/// `client_id`) that belongs to a resource. User-assigned identities are resources themselves;
/// a system-assigned one belongs to the resource named by `resource_id` and lives and dies with it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ManagedIdentityDoc {
    pub(crate) tenant_id: String,
    /// `true` for a system-assigned identity.
    pub(crate) system: bool,
    /// The identity's resource id (user-assigned) or its owner's (system-assigned), as created:
    /// the `xms_mirid` claim of its tokens.
    pub(crate) resource_id: String,
    pub(crate) subscription_id: String,
    pub(crate) resource_group: String,
    pub(crate) name: String,
    pub(crate) location: String,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) principal_id: String,
    pub(crate) client_id: String,
    pub(crate) created: i64,
    #[serde(default)]
    pub(crate) header: Option<IdentityHeaderDoc>,
    /// Source addresses (IPs or CIDR prefixes) whose IMDS-style token requests may use it.
    #[serde(default)]
    pub(crate) imds_addresses: Vec<String>,
}
