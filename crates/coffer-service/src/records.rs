//! The service's own record formats, as stored in documents and version metadata. These are
//! internal and versioned by the store's migrations, not a wire format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub(crate) const TENANT: &str = "tenant";
pub(crate) const APP: &str = "app";
pub(crate) const VAULT: &str = "vault";
/// Soft-deleted vaults, by name: the name stays taken until the vault is purged or recovered.
pub(crate) const DELETED_VAULT: &str = "deleted-vault";
pub(crate) const SIGNING_KEY: &str = "signing-key";
pub(crate) const INSTANCE: &str = "instance";
pub(crate) const USER: &str = "user";
/// Index of user principal names: `<tenant>:<upn, lowercase>` → the user's object id. Written in
/// the same batch as the user, so two users can never share a UPN.
pub(crate) const USER_UPN: &str = "user-upn";
/// Principals the instance trusts as Azure services: `<tenant>:<object id>` (both lowercase) of
/// a service principal or managed identity. Such a caller passes vault firewalls whose `bypass`
/// is `AzureServices`. Kept beside the principal's own record so flagging one never rewrites it.
pub(crate) const TRUSTED_SERVICE: &str = "trusted-service";
/// Interactive sign-in (`interactive/`): each keyed by the SHA-256 (hex) of the random value the
/// client or browser holds, so the store never holds a usable code or token.
/// A rendered sign-in page, by its CSRF token (single use).
pub(crate) const SIGNIN_PAGE: &str = "signin-page";
/// An authorization code (kept, marked redeemed, until it expires: a second use is told so).
pub(crate) const AUTH_CODE: &str = "auth-code";
/// A device code flow, by its device code.
pub(crate) const DEVICE_CODE: &str = "device-code";
/// Index of user codes: `<user code>` → the device code's hash.
pub(crate) const DEVICE_USER_CODE: &str = "device-user-code";
/// A refresh token.
pub(crate) const REFRESH_TOKEN: &str = "refresh-token";

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
    /// records written before it existed, see `directory::derived_object_id`.
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
    /// Graph's `web.redirectUris`: confidential clients (the code is redeemed with a credential).
    #[serde(default)]
    pub(crate) web_redirect_uris: Vec<String>,
    /// Graph's `publicClient.redirectUris`: desktop and mobile clients (PKCE, no credential).
    #[serde(default)]
    pub(crate) public_client_redirect_uris: Vec<String>,
    /// Graph's `spa.redirectUris`: browser apps (PKCE, no credential).
    #[serde(default)]
    pub(crate) spa_redirect_uris: Vec<String>,
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
    /// Bumped by Graph's `revokeSignInSessions`: refresh tokens issued under an older
    /// generation are revoked.
    #[serde(default)]
    pub(crate) session_generation: u64,
}

/// Body of a [`TRUSTED_SERVICE`] entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TrustedServiceDoc {
    pub(crate) tenant_id: String,
    pub(crate) object_id: String,
    /// `ServicePrincipal` or `ManagedIdentity`.
    pub(crate) principal_type: String,
    /// Unix seconds.
    pub(crate) since: i64,
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

/// A vault (kind [`VAULT`], id: the lowercase name, global per instance). Soft-deleted vaults
/// move to kind [`DELETED_VAULT`] under the same id, with `deleted` set. Fields after
/// `wrapped_key` came with vaults as ARM resources; records written before have their defaults
/// (the bootstrap fills in the ARM placement of such a vault).
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
    /// Subscription and resource group, as created; empty in records from before ARM vaults.
    #[serde(default)]
    pub(crate) subscription_id: String,
    #[serde(default)]
    pub(crate) resource_group: String,
    #[serde(default = "default_location")]
    pub(crate) location: String,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    /// `standard` or `premium`.
    #[serde(default = "default_sku")]
    pub(crate) sku: String,
    #[serde(default)]
    pub(crate) network_acls: NetworkAclsDoc,
    #[serde(default)]
    pub(crate) public_network_disabled: bool,
    #[serde(default)]
    pub(crate) enabled_for_deployment: bool,
    #[serde(default)]
    pub(crate) enabled_for_disk_encryption: bool,
    #[serde(default)]
    pub(crate) enabled_for_template_deployment: bool,
    /// Unix seconds; 0 in records from before ARM vaults.
    #[serde(default)]
    pub(crate) created: i64,
    /// Set while the vault is soft-deleted.
    #[serde(default)]
    pub(crate) deleted: Option<VaultDeletionDoc>,
    /// `Microsoft.Insights/diagnosticSettings` of the vault, by name; one with the `AuditEvent`
    /// category enabled turns the audit log on.
    #[serde(default)]
    pub(crate) diagnostic_settings: Vec<DiagnosticSettingDoc>,
    /// Test helpers switched on for this vault (off by default).
    #[serde(default, skip_serializing_if = "TestingDoc::is_off")]
    pub(crate) testing: TestingDoc,
}

/// One diagnostic setting as stored: what the client sent, echoed back; only the log
/// categories change what Coffer does (destinations are kept, the records go to the audit log).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct DiagnosticSettingDoc {
    /// As created (names compare case-insensitively).
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) logs: Vec<DiagnosticLogDoc>,
    #[serde(default)]
    pub(crate) metrics: Vec<DiagnosticMetricDoc>,
    #[serde(default)]
    pub(crate) storage_account_id: Option<String>,
    #[serde(default)]
    pub(crate) workspace_id: Option<String>,
    #[serde(default)]
    pub(crate) event_hub_authorization_rule_id: Option<String>,
    #[serde(default)]
    pub(crate) event_hub_name: Option<String>,
    #[serde(default)]
    pub(crate) service_bus_rule_id: Option<String>,
    #[serde(default)]
    pub(crate) marketplace_partner_id: Option<String>,
    #[serde(default)]
    pub(crate) log_analytics_destination_type: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct DiagnosticLogDoc {
    #[serde(default)]
    pub(crate) category: Option<String>,
    #[serde(default)]
    pub(crate) category_group: Option<String>,
    pub(crate) enabled: bool,
    #[serde(default)]
    pub(crate) retention_days: Option<u32>,
    #[serde(default)]
    pub(crate) retention_enabled: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct DiagnosticMetricDoc {
    #[serde(default)]
    pub(crate) category: Option<String>,
    #[serde(default)]
    pub(crate) time_grain: Option<String>,
    pub(crate) enabled: bool,
    #[serde(default)]
    pub(crate) retention_days: Option<u32>,
    #[serde(default)]
    pub(crate) retention_enabled: bool,
}

impl DiagnosticLogDoc {
    /// Whether this entry turns on Key Vault's `AuditEvent` category (by name, or through the
    /// `audit` / `allLogs` category groups).
    pub(crate) fn enables_audit(&self) -> bool {
        self.enabled
            && (self
                .category
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(crate::AUDIT_CATEGORY))
                || self.category_group.as_deref().is_some_and(|g| {
                    g.eq_ignore_ascii_case("audit") || g.eq_ignore_ascii_case("allLogs")
                }))
    }
}

impl VaultDoc {
    /// Whether a diagnostic setting turns the audit log on for this vault.
    pub(crate) fn audit_enabled(&self) -> bool {
        self.diagnostic_settings
            .iter()
            .any(|d| d.logs.iter().any(DiagnosticLogDoc::enables_audit))
    }

    /// How long the vault's own diagnostic settings keep its audit records: the longest
    /// `retentionPolicy` of the logs that turn the audit log on, since they all read the one
    /// log; `None` (the instance's retention only) when one of them keeps records forever
    /// (retention off or 0 days, as Azure reads it) or none turns the log on.
    pub(crate) fn audit_retention_days(&self) -> Option<u32> {
        let mut longest = None;
        for log in self
            .diagnostic_settings
            .iter()
            .flat_map(|d| d.logs.iter())
            .filter(|l| l.enables_audit())
        {
            match log
                .retention_days
                .filter(|&d| log.retention_enabled && d > 0)
            {
                Some(d) => longest = Some(longest.map_or(d, |l: u32| l.max(d))),
                None => return None,
            }
        }
        longest
    }
}

fn default_location() -> String {
    crate::DEFAULT_LOCATION.to_owned()
}

fn default_sku() -> String {
    "standard".to_owned()
}

/// A vault's firewall as stored: Azure's spellings (`Allow`, `AzureServices`, CIDR ranges).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct NetworkAclsDoc {
    pub(crate) default_action: String,
    pub(crate) bypass: String,
    #[serde(default)]
    pub(crate) ip_rules: Vec<String>,
    /// Kept and served, not evaluated: there are no virtual networks here.
    #[serde(default)]
    pub(crate) virtual_network_rules: Vec<VirtualNetworkRuleDoc>,
}

impl Default for NetworkAclsDoc {
    fn default() -> Self {
        Self {
            default_action: "Allow".to_owned(),
            bypass: "AzureServices".to_owned(),
            ip_rules: Vec::new(),
            virtual_network_rules: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct VirtualNetworkRuleDoc {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) ignore_missing_vnet_service_endpoint: bool,
}

/// When a vault was soft-deleted and when it is purged, unix seconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct VaultDeletionDoc {
    pub(crate) deleted: i64,
    pub(crate) scheduled_purge: i64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vault_record_from_before_arm_vaults_still_reads() {
        let old = r#"{"id":"v1","name":"dev","tenant_id":"t","soft_delete":true,"retention_days":90,
            "purge_protection":false,"access_policies":[{"tenant_id":"t","object_id":"o",
            "application_id":null,"permissions":{"secrets":["get"]}}],"wrapped_key":"k"}"#;
        let doc: VaultDoc = serde_json::from_str(old).unwrap();
        assert_eq!(doc.name, "dev");
        assert!(doc.subscription_id.is_empty() && doc.resource_group.is_empty());
        assert_eq!(doc.location, "local");
        assert_eq!(doc.sku, "standard");
        assert_eq!(doc.network_acls.default_action, "Allow");
        assert!(!doc.public_network_disabled);
        assert!(doc.deleted.is_none());
    }
}

/// A vault's test helpers: all off by default; any one on marks every answer of the vault
/// (`x-coffer-test-mode`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TestingDoc {
    /// Caps every per-vault throttling limit of the vault at this many transactions per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) throttle_limit: Option<u32>,
    /// Answers some requests with an injected 429 or 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fault: Option<FaultDoc>,
    /// Seconds the vault's clock runs ahead: validity windows, purge dates and timestamps of
    /// its objects are judged at `now + offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) clock_offset_secs: Option<i64>,
}

impl TestingDoc {
    pub(crate) fn is_off(&self) -> bool {
        self.throttle_limit.is_none() && self.fault.is_none() && self.clock_offset_secs.is_none()
    }
}

/// Injected failures: `status` (429 or 503) for the first `count` requests, or for `percent` of
/// them, optionally only for one operation (its audit name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FaultDoc {
    pub(crate) status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) percent: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) operation: Option<String>,
    /// Changes with every write, so this node's counters start again.
    #[serde(default)]
    pub(crate) generation: String,
}
