//! First-start provisioning: a default tenant, the admin application with its service principal,
//! and the default vault whose access policy grants the admin everything.

use coffer_domain::{AccessPolicy, Permissions};
use coffer_store::{DocMode, DocWrite};
use serde::{Deserialize, Serialize};

use crate::directory::{app_doc_id, new_client_secret};
use crate::records::{APP, AppDoc, INSTANCE, TENANT, TenantDoc};
use crate::{Coffer, ServiceError};

const BOOTSTRAP_ID: &str = "bootstrap";
/// Name of the vault every new instance has.
pub const DEFAULT_VAULT: &str = "dev";

/// Identifiers of the bootstrap objects; `client_secret` is known only when just created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BootstrapInfo {
    pub tenant_id: String,
    pub client_id: String,
    pub object_id: String,
    pub vault: String,
    #[serde(skip)]
    pub client_secret: Option<String>,
}

impl Coffer {
    /// Creates the default tenant, admin application and vault on a new instance, atomically.
    /// On an existing instance it returns the stored identifiers without a secret.
    pub async fn bootstrap(&self) -> Result<BootstrapInfo, ServiceError> {
        if let Some(doc) = self.store.get_doc(INSTANCE, BOOTSTRAP_ID).await? {
            return Ok(serde_json::from_slice(&doc.body)?);
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
            self.new_vault_write(DEFAULT_VAULT, &tenant_id, vec![policy])?,
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
}
