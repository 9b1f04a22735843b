//! First-start provisioning: a default tenant, the admin application with its service principal,
//! the default vault whose access policy grants the admin everything, and the management scope
//! (a default subscription with a default resource group, where the default vault lives as an
//! ordinary `Microsoft.KeyVault/vaults` resource). A data directory made before the management
//! scope (or ARM vaults) existed gets it on its next start.

use coffer_domain::{AccessPolicy, Permissions};
use coffer_store::{DocMode, DocWrite};
use serde::{Deserialize, Serialize};

use crate::directory::{app_doc_id, new_client_secret};
use crate::management::{
    DEFAULT_LOCATION, DEFAULT_RESOURCE_GROUP, resource_group_write, rg_key, subscription_write,
};
use crate::records::{
    APP, AppDoc, INSTANCE, RESOURCE_GROUP, ResourceGroupDoc, SUBSCRIPTION, SubscriptionDoc, TENANT,
    TenantDoc, VAULT, VaultDoc,
};
use crate::vaults::vault_write;
use crate::{Coffer, ServiceError};

pub(crate) const BOOTSTRAP_ID: &str = "bootstrap";
/// Name of the vault every new instance has.
pub const DEFAULT_VAULT: &str = "dev";

/// Identifiers of the bootstrap objects; `client_secret` is known only when just created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BootstrapInfo {
    pub tenant_id: String,
    pub client_id: String,
    pub object_id: String,
    pub vault: String,
    /// The default subscription (a GUID). Empty in documents written before it existed.
    #[serde(default)]
    pub subscription_id: String,
    /// The default resource group of the default subscription.
    #[serde(default)]
    pub resource_group: String,
    /// Resource id of the bootstrap managed identity, once it was made (see
    /// `Coffer::bootstrap_identity`); `None` in documents written before it existed.
    #[serde(default)]
    pub identity_id: Option<String>,
    #[serde(skip)]
    pub client_secret: Option<String>,
}

impl Coffer {
    /// Creates the default tenant, admin application and vault on a new instance, atomically.
    /// On an existing instance it returns the stored identifiers without a secret.
    pub async fn bootstrap(&self) -> Result<BootstrapInfo, ServiceError> {
        if let Some((info, revision)) = self.stored_bootstrap().await? {
            return self.ensure_management_scope(info, revision).await;
        }
        let tenant_id = uuid::Uuid::new_v4().to_string();
        let app_id = uuid::Uuid::new_v4().to_string();
        let object_id = uuid::Uuid::new_v4().to_string();
        let (secret, secret_doc) = new_client_secret()?;
        let tenant = TenantDoc {
            id: tenant_id.clone(),
            display_name: "Default Directory".to_owned(),
        };
        let app = AppDoc {
            tenant_id: tenant_id.clone(),
            app_id: app_id.clone(),
            object_id: object_id.clone(),
            display_name: "coffer-admin".to_owned(),
            secrets: vec![secret_doc],
        };
        let info = BootstrapInfo {
            tenant_id: tenant_id.clone(),
            client_id: app_id.clone(),
            object_id: object_id.clone(),
            vault: DEFAULT_VAULT.to_owned(),
            subscription_id: uuid::Uuid::new_v4().to_string(),
            resource_group: DEFAULT_RESOURCE_GROUP.to_owned(),
            identity_id: None,
            client_secret: Some(secret),
        };
        let policy = AccessPolicy {
            tenant_id: tenant_id.clone(),
            object_id,
            application_id: None,
            permissions: Permissions::all(),
        };
        let put = |kind: &str, id: String, body: Vec<u8>| DocWrite::Put {
            kind: kind.to_owned(),
            id,
            body,
            mode: DocMode::Create,
        };
        let writes = vec![
            put(TENANT, tenant_id.clone(), serde_json::to_vec(&tenant)?),
            put(
                APP,
                app_doc_id(&tenant_id, &app_id),
                serde_json::to_vec(&app)?,
            ),
            vault_write(&self.default_vault(&info, policy)?, DocMode::Create)?,
            subscription_write(&self.default_subscription(&info))?,
            resource_group_write(&self.default_resource_group(&info))?,
            put(
                INSTANCE,
                BOOTSTRAP_ID.to_owned(),
                serde_json::to_vec(&info)?,
            ),
        ];
        match self.store.write_docs(writes).await {
            Ok(()) => Ok(info),
            // Another node bootstrapped the shared store first.
            Err(coffer_store::StoreError::AlreadyExists) => Box::pin(self.bootstrap()).await,
            Err(e) => Err(e.into()),
        }
    }

    /// The stored bootstrap identifiers and the document's revision, if bootstrapped.
    pub(crate) async fn stored_bootstrap(
        &self,
    ) -> Result<Option<(BootstrapInfo, u64)>, ServiceError> {
        match self.store.get_doc(INSTANCE, BOOTSTRAP_ID).await? {
            Some(doc) => Ok(Some((serde_json::from_slice(&doc.body)?, doc.revision))),
            None => Ok(None),
        }
    }

    /// The default vault: an ordinary ARM resource of the default subscription and group.
    fn default_vault(
        &self,
        info: &BootstrapInfo,
        policy: AccessPolicy,
    ) -> Result<VaultDoc, ServiceError> {
        let mut doc = self.new_vault_doc(DEFAULT_VAULT, &info.tenant_id, vec![policy])?;
        doc.subscription_id = info.subscription_id.clone();
        doc.resource_group = info.resource_group.clone();
        Ok(doc)
    }

    fn default_subscription(&self, info: &BootstrapInfo) -> SubscriptionDoc {
        SubscriptionDoc {
            id: info.subscription_id.clone(),
            tenant_id: info.tenant_id.clone(),
            display_name: "Coffer".to_owned(),
            created: self.now(),
        }
    }

    fn default_resource_group(&self, info: &BootstrapInfo) -> ResourceGroupDoc {
        ResourceGroupDoc {
            subscription_id: info.subscription_id.clone(),
            name: info.resource_group.clone(),
            location: DEFAULT_LOCATION.to_owned(),
            tags: Default::default(),
            created: self.now(),
        }
    }

    /// Gives an instance bootstrapped before subscriptions existed its default subscription and
    /// resource group, and recreates either if it is missing (the contract names them).
    async fn ensure_management_scope(
        &self,
        mut info: BootstrapInfo,
        revision: u64,
    ) -> Result<BootstrapInfo, ServiceError> {
        let mut writes = Vec::new();
        if info.subscription_id.is_empty() {
            info.subscription_id = uuid::Uuid::new_v4().to_string();
            info.resource_group = DEFAULT_RESOURCE_GROUP.to_owned();
            writes.push(DocWrite::Put {
                kind: INSTANCE.to_owned(),
                id: BOOTSTRAP_ID.to_owned(),
                body: serde_json::to_vec(&info)?,
                mode: DocMode::Update(revision),
            });
        }
        let sub_missing = self
            .store
            .get_doc(SUBSCRIPTION, &info.subscription_id.to_ascii_lowercase())
            .await?
            .is_none();
        if sub_missing {
            writes.push(subscription_write(&self.default_subscription(&info))?);
        }
        let rg = rg_key(&info.subscription_id, &info.resource_group);
        if self.store.get_doc(RESOURCE_GROUP, &rg).await?.is_none() {
            writes.push(resource_group_write(&self.default_resource_group(&info))?);
        }
        // Vaults made before vaults were ARM resources belong to the default scope.
        for d in self.store.list_docs(VAULT).await? {
            let mut doc: VaultDoc = serde_json::from_slice(&d.body)?;
            if doc.subscription_id.is_empty() {
                doc.subscription_id = info.subscription_id.clone();
                doc.resource_group = info.resource_group.clone();
                writes.push(vault_write(&doc, DocMode::Update(d.revision))?);
            }
        }
        if writes.is_empty() {
            return Ok(info);
        }
        match self.store.write_docs(writes).await {
            Ok(()) => Ok(info),
            // Another node did it first: read what it wrote.
            Err(
                coffer_store::StoreError::AlreadyExists
                | coffer_store::StoreError::PreconditionFailed,
            ) => Box::pin(self.bootstrap()).await,
            Err(e) => Err(e.into()),
        }
    }
}
