//! Application registrations: creating (with or without a first client secret), listing,
//! reading, changing and deleting them, and the right to administer the directory.

use coffer_store::{DocMode, DocWrite, StoreError};

use super::credentials::{
    KeyCredentialInput, KeyCredentialView, PasswordCredentialView, key_view, new_client_secret,
    password_view, replace_key_credentials,
};
use super::{AppRef, DirectoryFilter, app_doc_id, check_display_name, not_found};
use crate::interactive::{Platform, check_redirect_uris};
use crate::records::{APP, ApplicationDoc, ClientSecretDoc};
use crate::{Coffer, ServiceError};

/// An application registration.
#[derive(Clone, Debug)]
pub struct ApplicationView {
    pub tenant_id: String,
    /// Object id of the application object.
    pub object_id: String,
    pub app_id: String,
    pub display_name: String,
    /// Object id of its service principal (the `oid` of its tokens).
    pub service_principal_id: String,
    /// Unix seconds; unknown for applications made before it was recorded.
    pub created: Option<i64>,
    /// Graph's `isFallbackPublicClient`.
    pub public_client: bool,
    /// May administer the tenant's directory.
    pub directory_admin: bool,
    pub passwords: Vec<PasswordCredentialView>,
    pub keys: Vec<KeyCredentialView>,
    pub redirect_uris: RedirectUris,
}

/// Where an application may receive authorization codes, per platform as Graph has them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedirectUris {
    /// `web.redirectUris`: the code is redeemed with a client credential.
    pub web: Vec<String>,
    /// `publicClient.redirectUris`: desktop and mobile apps (PKCE, no credential).
    pub public_client: Vec<String>,
    /// `spa.redirectUris`: single-page apps (PKCE, no credential).
    pub spa: Vec<String>,
}

/// What a new application starts with.
#[derive(Clone, Debug, Default)]
pub struct ApplicationSpec {
    pub display_name: String,
    pub public_client: bool,
    pub key_credentials: Vec<KeyCredentialInput>,
    pub redirect_uris: RedirectUris,
}

/// Changes to an application; `None` leaves a property as it is. `key_credentials` replaces
/// the whole collection, like Graph's PATCH.
#[derive(Clone, Debug, Default)]
pub struct ApplicationUpdate {
    pub display_name: Option<String>,
    pub public_client: Option<bool>,
    pub key_credentials: Option<Vec<KeyCredentialInput>>,
    /// Each platform's list replaces the stored one when given.
    pub web_redirect_uris: Option<Vec<String>>,
    pub public_client_redirect_uris: Option<Vec<String>>,
    pub spa_redirect_uris: Option<Vec<String>>,
}

/// A newly registered application and its first client secret.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub app_id: String,
    pub object_id: String,
    pub display_name: String,
    pub client_secret: String,
}

fn application_view(d: &ApplicationDoc, admin: bool) -> ApplicationView {
    ApplicationView {
        tenant_id: d.tenant_id.clone(),
        object_id: d.app_object_id.clone(),
        app_id: d.app_id.clone(),
        display_name: d.display_name.clone(),
        service_principal_id: d.object_id.clone(),
        created: d.created,
        public_client: d.public_client,
        directory_admin: admin,
        passwords: d.secrets.iter().map(password_view).collect(),
        keys: d.key_credentials.iter().map(key_view).collect(),
        redirect_uris: RedirectUris {
            web: d.web_redirect_uris.clone(),
            public_client: d.public_client_redirect_uris.clone(),
            spa: d.spa_redirect_uris.clone(),
        },
    }
}

impl Coffer {
    /// Registers an application with its service principal in a tenant, with a first client
    /// secret that never expires (the bootstrap and CLI path).
    pub async fn create_application(
        &self,
        tenant_id: &str,
        display_name: &str,
    ) -> Result<NewApplication, ServiceError> {
        self.require_tenant(tenant_id).await?;
        let display_name = check_display_name(display_name)?;
        let (secret, mut secret_doc) = new_client_secret()?;
        secret_doc.start = Some(self.now());
        let app = self.new_app_doc(tenant_id, display_name, vec![secret_doc]);
        self.insert_app(&app).await?;
        Ok(NewApplication {
            app_id: app.app_id,
            object_id: app.object_id,
            display_name: app.display_name,
            client_secret: secret,
        })
    }

    fn new_app_doc(
        &self,
        tenant_id: &str,
        display_name: String,
        secrets: Vec<ClientSecretDoc>,
    ) -> ApplicationDoc {
        ApplicationDoc {
            tenant_id: tenant_id.to_ascii_lowercase(),
            app_id: uuid::Uuid::new_v4().to_string(),
            object_id: uuid::Uuid::new_v4().to_string(),
            display_name,
            secrets,
            app_object_id: uuid::Uuid::new_v4().to_string(),
            key_credentials: Vec::new(),
            directory_admin: false,
            public_client: false,
            created: Some(self.now()),
            web_redirect_uris: Vec::new(),
            public_client_redirect_uris: Vec::new(),
            spa_redirect_uris: Vec::new(),
        }
    }

    async fn insert_app(&self, app: &ApplicationDoc) -> Result<(), ServiceError> {
        self.store
            .write_docs(vec![DocWrite::Put {
                kind: APP.to_owned(),
                id: app_doc_id(&app.tenant_id, &app.app_id),
                body: serde_json::to_vec(app)?,
                mode: DocMode::Create,
            }])
            .await?;
        Ok(())
    }

    /// Registers an application and its service principal without any client secret (Graph's
    /// `POST /applications`).
    pub async fn register_application(
        &self,
        tenant_id: &str,
        spec: ApplicationSpec,
    ) -> Result<ApplicationView, ServiceError> {
        self.require_tenant(tenant_id).await?;
        let display_name = check_display_name(&spec.display_name)?;
        let mut app = self.new_app_doc(tenant_id, display_name, Vec::new());
        app.public_client = spec.public_client;
        app.key_credentials = replace_key_credentials(&[], spec.key_credentials)?;
        app.web_redirect_uris = check_redirect_uris(Platform::Web, spec.redirect_uris.web)?;
        app.public_client_redirect_uris =
            check_redirect_uris(Platform::PublicClient, spec.redirect_uris.public_client)?;
        app.spa_redirect_uris = check_redirect_uris(Platform::Spa, spec.redirect_uris.spa)?;
        self.insert_app(&app).await?;
        Ok(application_view(&app, false))
    }

    /// Applications of a tenant, optionally filtered, in app id order.
    pub async fn list_applications(
        &self,
        tenant_id: &str,
        filter: Option<&DirectoryFilter>,
    ) -> Result<Vec<ApplicationView>, ServiceError> {
        let mut out = Vec::new();
        for (a, _) in self.apps_of(tenant_id).await? {
            let keep = match filter {
                None => true,
                Some(DirectoryFilter::AppIdEq(v)) => a.app_id.eq_ignore_ascii_case(v),
                Some(DirectoryFilter::IdEq(v)) => a.app_object_id.eq_ignore_ascii_case(v),
                Some(f) => f.matches_name(&a.display_name).unwrap_or(false),
            };
            if keep {
                let admin = self.app_is_admin(&a).await?;
                out.push(application_view(&a, admin));
            }
        }
        Ok(out)
    }

    /// One application.
    pub async fn get_application(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
    ) -> Result<ApplicationView, ServiceError> {
        let Some((a, _)) = self.find_app(tenant_id, r).await? else {
            return Err(not_found(r.id()));
        };
        let admin = self.app_is_admin(&a).await?;
        Ok(application_view(&a, admin))
    }

    /// Changes an application's display name, public-client flag or certificates.
    pub async fn update_application(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
        update: ApplicationUpdate,
    ) -> Result<ApplicationView, ServiceError> {
        let display_name = update
            .display_name
            .as_deref()
            .map(check_display_name)
            .transpose()?;
        let web = update
            .web_redirect_uris
            .map(|u| check_redirect_uris(Platform::Web, u))
            .transpose()?;
        let public = update
            .public_client_redirect_uris
            .map(|u| check_redirect_uris(Platform::PublicClient, u))
            .transpose()?;
        let spa = update
            .spa_redirect_uris
            .map(|u| check_redirect_uris(Platform::Spa, u))
            .transpose()?;
        let (_, app) = self
            .update_app(tenant_id, r, |app| {
                if let Some(n) = &display_name {
                    app.display_name = n.clone();
                }
                if let Some(p) = update.public_client {
                    app.public_client = p;
                }
                if let Some(keys) = &update.key_credentials {
                    app.key_credentials =
                        replace_key_credentials(&app.key_credentials, keys.clone())?;
                }
                if let Some(u) = &web {
                    app.web_redirect_uris = u.clone();
                }
                if let Some(u) = &public {
                    app.public_client_redirect_uris = u.clone();
                }
                if let Some(u) = &spa {
                    app.spa_redirect_uris = u.clone();
                }
                Ok(())
            })
            .await?;
        let admin = self.app_is_admin(&app).await?;
        Ok(application_view(&app, admin))
    }

    /// Grants or withdraws the right to administer the tenant's directory.
    pub async fn set_directory_admin(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
        admin: bool,
    ) -> Result<(), ServiceError> {
        self.update_app(tenant_id, r, |app| {
            app.directory_admin = admin;
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// Deletes an application and its service principal. The bootstrap administrator cannot be
    /// deleted: it is the way into the instance.
    pub async fn delete_application(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
    ) -> Result<(), ServiceError> {
        let Some((app, _)) = self.find_app(tenant_id, r).await? else {
            return Err(not_found(r.id()));
        };
        if self.bootstrap_info().await?.is_some_and(|b| {
            b.tenant_id.eq_ignore_ascii_case(&app.tenant_id)
                && b.client_id.eq_ignore_ascii_case(&app.app_id)
        }) {
            return Err(ServiceError::BadParameter(format!(
                "Application '{}' is this instance's bootstrap administrator and cannot be deleted.",
                app.app_id
            )));
        }
        match self
            .store
            .write_docs(vec![DocWrite::Delete {
                kind: APP.to_owned(),
                id: app_doc_id(&app.tenant_id, &app.app_id),
            }])
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(not_found(r.id())),
            Err(e) => Err(e.into()),
        }
    }
}
