//! The directory: tenants and applications (each with its service principal) and their client
//! secrets, which are kept only as salted hashes.

use coffer_store::{DocMode, DocWrite};

use crate::records::{APP, AppDoc, ClientSecretDoc, TENANT, TenantDoc};
use crate::{AuthError, Coffer, ServiceError};

pub(crate) fn app_doc_id(tenant: &str, app_id: &str) -> String {
    format!(
        "{}:{}",
        tenant.to_ascii_lowercase(),
        app_id.to_ascii_lowercase()
    )
}

impl Coffer {
    pub(crate) async fn tenant(&self, tenant_id: &str) -> Result<Option<TenantDoc>, ServiceError> {
        match self
            .store
            .get_doc(TENANT, &tenant_id.to_ascii_lowercase())
            .await?
        {
            Some(d) => Ok(Some(serde_json::from_slice(&d.body)?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn app(
        &self,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<Option<(AppDoc, u64)>, ServiceError> {
        match self
            .store
            .get_doc(APP, &app_doc_id(tenant_id, app_id))
            .await?
        {
            Some(d) => Ok(Some((serde_json::from_slice(&d.body)?, d.revision))),
            None => Ok(None),
        }
    }

    /// Checks a client id and secret; returns the application.
    pub(crate) async fn authenticate_client(
        &self,
        tenant_id: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<AppDoc, AuthError> {
        let Some((app, _)) = self.app(tenant_id, client_id).await? else {
            return Err(AuthError::UnknownClient {
                client: client_id.to_owned(),
                tenant: tenant_id.to_owned(),
            });
        };
        let now = self.now();
        let mut expired = false;
        for s in &app.secrets {
            if coffer_crypto::password::verify(client_secret, &s.hash) {
                if s.expires.is_some_and(|e| e <= now) {
                    expired = true;
                    continue;
                }
                return Ok(app);
            }
        }
        if expired {
            Err(AuthError::ExpiredClientSecret(app.app_id))
        } else {
            Err(AuthError::InvalidClientSecret(app.app_id))
        }
    }

    /// Adds a new client secret to an application and returns it (the only time it is visible).
    pub async fn add_client_secret(
        &self,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<String, ServiceError> {
        for _ in 0..3 {
            let Some((mut app, rev)) = self.app(tenant_id, app_id).await? else {
                return Err(ServiceError::NotFound {
                    message: format!(
                        "Application '{app_id}' was not found in tenant '{tenant_id}'."
                    ),
                    code: "NotFound",
                });
            };
            let (secret, doc) = new_client_secret()?;
            app.secrets.push(doc);
            let write = DocWrite::Put {
                kind: APP.to_owned(),
                id: app_doc_id(tenant_id, app_id),
                body: serde_json::to_vec(&app)?,
                mode: DocMode::Update(rev),
            };
            match self.store.write_docs(vec![write]).await {
                Ok(()) => return Ok(secret),
                Err(coffer_store::StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Conflict(
            "The application changed concurrently; try again.".to_owned(),
        ))
    }
}

/// A fresh client secret in Entra ID's style (40 characters, `~` in fourth place), and its record.
pub(crate) fn new_client_secret() -> Result<(String, ClientSecretDoc), ServiceError> {
    let raw = coffer_crypto::random::bytes(30)?;
    let body: String =
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw)
            .chars()
            .map(|c| if c == '-' { '.' } else { c })
            .collect();
    let secret = format!("{}~{}", &body[..3], &body[3..39]);
    let doc = ClientSecretDoc {
        key_id: uuid::Uuid::new_v4().to_string(),
        hint: secret[..3].to_owned(),
        hash: coffer_crypto::password::hash(&secret)?,
        expires: None,
    };
    Ok((secret, doc))
}

impl Coffer {
    /// Whether a tenant exists (discovery documents are served only for known tenants).
    pub async fn tenant_exists(&self, tenant_id: &str) -> Result<bool, ServiceError> {
        Ok(self.tenant(tenant_id).await?.is_some())
    }
}

/// A newly registered application and its first client secret.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub app_id: String,
    pub object_id: String,
    pub display_name: String,
    pub client_secret: String,
}

impl Coffer {
    /// Registers an application with its service principal in a tenant.
    pub async fn create_application(
        &self,
        tenant_id: &str,
        display_name: &str,
    ) -> Result<NewApplication, ServiceError> {
        if self.tenant(tenant_id).await?.is_none() {
            return Err(ServiceError::NotFound {
                message: format!("Tenant '{tenant_id}' was not found."),
                code: "NotFound",
            });
        }
        let (secret, secret_doc) = new_client_secret()?;
        let app = AppDoc {
            tenant_id: tenant_id.to_ascii_lowercase(),
            app_id: uuid::Uuid::new_v4().to_string(),
            object_id: uuid::Uuid::new_v4().to_string(),
            display_name: display_name.to_owned(),
            secrets: vec![secret_doc],
        };
        self.store
            .write_docs(vec![DocWrite::Put {
                kind: APP.to_owned(),
                id: app_doc_id(tenant_id, &app.app_id),
                body: serde_json::to_vec(&app)?,
                mode: DocMode::Create,
            }])
            .await?;
        Ok(NewApplication {
            app_id: app.app_id,
            object_id: app.object_id,
            display_name: app.display_name,
            client_secret: secret,
        })
    }
}
