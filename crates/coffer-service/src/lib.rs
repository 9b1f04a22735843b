//! Coffer's use cases, independent of HTTP: the directory and token issuance, vaults and their
//! access policies, and the secrets API. Authorization and encryption at rest happen here, so no
//! caller can reach the store around them.

mod audit;
mod bootstrap;
mod certificate;
mod certificates;
mod client_assertion;
mod directory;
mod error;
mod firewall;
mod gateway;
mod interactive;
mod keyring;
mod keys;
mod lease;
mod managed_identity;
mod management;
mod objects;
mod records;
mod request;
mod secrets;
mod seed;
mod settings;
#[cfg(test)]
mod testing;
mod throttle;
mod token_cache;
mod tokens;
mod users;
mod vault_reader;
mod vaults;

use std::sync::{Arc, OnceLock, RwLock};

use coffer_crypto::RootKey;
use coffer_domain::Clock;
use coffer_identity::{Issuer, KeySet};
use coffer_store::Store;

pub use audit::{
    AUDIT_CATEGORY, AuditConfig, AuditEntry, AuditError, AuditEvent, AuditFilter, AuditIdentity,
    AuditLog, AuditOperation, AuditWriter, DEFAULT_LOG_PAGE, DEFAULT_RETENTION_DAYS, DenyCheck,
    DenyReason, EventDenyReason, EventFirewall, EventIdentity, EventProperties, EventThrottling,
    FirewallDecision, FirewallResult, FirewallRule, LoggedEvent, MAX_LOG_PAGE, RequestUri,
    Throttling, TlsVersion, UnknownOperation,
};
pub use bootstrap::{BootstrapInfo, DEFAULT_VAULT};
pub use certificates::{
    CertKeyProps, CertLifetimeAction, CertificateImport, CertificateInput, CertificateIssuer,
    CertificateOperation, CertificatePolicy, CertificateView, Contact, IssuerAdmin, IssuerRef,
};
pub use directory::AZURE_CLI_APP_ID;
pub use directory::{
    AppRef, ApplicationSpec, ApplicationUpdate, ApplicationView, DirectoryCaller, DirectoryFilter,
    KeyCredentialInput, KeyCredentialView, NewApplication, NewPassword, PasswordCredentialView,
    RedirectUris, ServicePrincipalView,
};
pub use error::{AuthError, ServiceError, SigninError};
pub use firewall::{FORBIDDEN_BY_CONNECTION, FORBIDDEN_BY_FIREWALL, TrustedServiceView};
pub use interactive::{
    AuthorizeRefusal, AuthorizeRequest, DeviceFlowStart, Platform, ReplyTarget, ResponseMode,
    SigninDone, SigninForm, SigninPage, SigninRetry, origin_of,
};
pub use keys::{
    CryptoOutput, CryptoRequest, JwkInput, KeyAttributesInput, KeyCreate, KeyImport, KeyUpdate,
    KeyView, LifetimeAction, ReleasePolicy, RotationPolicy,
};
pub use managed_identity::{MiError, MiToken, MiTokenRequest};
pub use management::apim;
pub use management::{
    AUDIT_EVENTS_NAMESPACE, AccessPolicyInput, AccessPolicyUpdate, BOOTSTRAP_IDENTITY,
    BootstrapIdentity, DEFAULT_LOCATION, DEFAULT_RESOURCE_GROUP, DIAGNOSTIC_SETTING_TYPE,
    DeletedVaultView, DiagnosticLog, DiagnosticMetric, DiagnosticSetting, DoctorReport,
    DoctorRequest, Fault, GenericResourceView, IdentitySecrets, IdentityView, ImportOutcome,
    ManagementError, NameAvailability, NetworkAclsInput, PortableDoc, PortableObject,
    PortableSettings, PortableVersion, ProviderView, ResourceGroupView, ResourceInput,
    SYSTEM_ASSIGNED_IDENTITY_TYPE, SubscriptionView, TESTING_NAMESPACE, TenantView, TestSettings,
    USER_ASSIGNED_IDENTITY_TYPE, VAULT_TYPE, VaultExport, VaultInput, VaultView,
    VirtualNetworkRule,
};
pub use objects::{ListPage, MAX_PAGE};
pub use request::{Facts, RequestFacts};
pub use secrets::{MAX_TAGS, MAX_VALUE_BYTES, SecretInput, SecretUpdate, SecretView};
pub use seed::{MAX_SEED_BATCH, seed_name, seed_value};
pub use settings::Settings;
pub use throttle::{
    Budget, DEFAULT_LIMITS, Hit, Limiter, LimitsError, LocalLimiter, NodeShare, Refusal, Scope,
    Throttle, parse_limits,
};
pub use tokens::{IssuedGrant, Resource, TokenRequest};
pub use users::{NewUser, UserUpdate, UserView};
pub use vault_reader::{VaultReader, VaultReply, VaultUnreachable};
pub use vaults::VaultSession;

/// The application: everything a request handler needs, shared behind an `Arc`.
pub struct Coffer {
    store: Arc<dyn Store>,
    root: RootKey,
    clock: Arc<dyn Clock>,
    settings: Settings,
    issuer: Issuer,
    signing_keys: RwLock<Arc<KeySet>>,
    vaults: vaults::VaultCache,
    token_cache: token_cache::TokenCache,
    key_providers: keys::provider::KeyProviders,
    /// The audit log, once the server has opened it (in-process tests may run without).
    audit: OnceLock<(AuditWriter, AuditLog)>,
    /// Throttling, once the server has switched it on (in-process tests run without).
    throttle: OnceLock<Arc<Throttle>>,
    /// Requests seen by vaults with an injected fault (a test helper).
    faults: Arc<vaults::FaultCounters>,
    gateway: gateway::GatewayState,
    /// Bad-password counts of the sign-in checks (in memory only).
    lockout: interactive::Lockout,
}

impl Coffer {
    /// Opens the application over a store: loads (or creates) the token signing keys.
    pub async fn open(
        store: Arc<dyn Store>,
        root: RootKey,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Result<Self, ServiceError> {
        let issuer = Issuer::new(&settings.authority());
        let keys = keyring::load_or_create_signing_keys(store.as_ref(), &root, clock.now()).await?;
        Ok(Self {
            store,
            root,
            clock,
            settings,
            issuer,
            signing_keys: RwLock::new(Arc::new(keys)),
            vaults: vaults::VaultCache::default(),
            token_cache: token_cache::TokenCache::default(),
            key_providers: keys::provider::KeyProviders::default(),
            audit: OnceLock::new(),
            throttle: OnceLock::new(),
            faults: Arc::default(),
            gateway: gateway::GatewayState::default(),
            lockout: interactive::Lockout::default(),
        })
    }

    /// Whether the store answers a read now (within two seconds), for `/readyz`.
    pub async fn store_reachable(&self) -> bool {
        let probe = self.store.get_doc("health", "readiness");
        match tokio::time::timeout(std::time::Duration::from_secs(2), probe).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "readiness: the store did not answer");
                false
            }
            Err(_) => false,
        }
    }

    /// Attaches the audit log: `writer` takes the records of vaults whose diagnostic setting
    /// enables it, `log` reads them back. Only the first call counts.
    pub fn set_audit(&self, writer: AuditWriter, log: AuditLog) {
        let _ = self.audit.set((writer, log));
    }

    /// Switches throttling on with `table`, enforced by `limiter`. Only the first call counts.
    pub fn set_throttle(
        &self,
        table: coffer_domain::throttle::LimitTable,
        limiter: Arc<dyn Limiter>,
    ) {
        let _ = self.throttle.set(Arc::new(Throttle::new(
            table,
            limiter,
            Arc::clone(&self.clock),
        )));
    }

    /// The throttle, when switched on.
    pub fn throttle(&self) -> Option<&Arc<Throttle>> {
        self.throttle.get()
    }

    /// The audit writer, when the log is attached.
    pub fn audit_writer(&self) -> Option<&AuditWriter> {
        self.audit.get().map(|(w, _)| w)
    }

    pub(crate) fn audit_log(&self) -> Option<&AuditLog> {
        self.audit.get().map(|(_, l)| l)
    }

    /// Whether requests to a vault with its audit log on may be served now (see
    /// [`AuditWriter::accepting`]); true without an audit log attached.
    pub fn audit_accepting(&self) -> bool {
        self.audit_writer().is_none_or(AuditWriter::accepting)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Creates a new token signing key; it signs from the next reload on, and the previous keys
    /// keep verifying the tokens they signed until those expire. Returns the new key id.
    pub async fn rotate_signing_key(&self) -> Result<String, ServiceError> {
        let kid = keyring::add_signing_key(self.store.as_ref(), &self.root, self.now()).await?;
        self.reload_signing_keys().await?;
        Ok(kid)
    }

    /// Re-reads the signing keys from the store (another process or node may have rotated them).
    pub async fn reload_signing_keys(&self) -> Result<(), ServiceError> {
        let keys = Arc::new(keyring::load_signing_keys(self.store.as_ref(), &self.root).await?);
        let changed = {
            let current = self.signing_keys();
            let kids = |k: &KeySet| {
                k.keys()
                    .iter()
                    .map(|s| s.kid().to_owned())
                    .collect::<Vec<_>>()
            };
            kids(&current) != kids(&keys)
        };
        match self.signing_keys.write() {
            Ok(mut k) => *k = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        // A retired key must stop verifying at once, including tokens accepted before.
        if changed {
            self.token_cache.clear();
        }
        Ok(())
    }

    /// The keys tokens are signed with and checked against (current first).
    pub fn signing_keys(&self) -> Arc<KeySet> {
        match self.signing_keys.read() {
            Ok(k) => Arc::clone(&k),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}
