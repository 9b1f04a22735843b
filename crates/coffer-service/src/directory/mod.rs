//! The directory: tenants and applications (each with its service principal), their client
//! secrets, which are kept only as salted hashes, and their client certificates; and who may
//! administer a tenant's directory. Users live in `users.rs`.
//!
//! Three identifiers name an application, as in Entra ID: the application (client) id `appId`,
//! the object id of the application object (Graph's `/applications/{id}`), and the object id of
//! its service principal (the `oid` of its tokens, what access policies name). Display names are
//! not unique; every view carries the object ids.
//!
//! This root holds the record lookups every part shares (tenants, applications by either id,
//! the optimistic read-modify-write of an application) and the common checks; the use cases
//! live in `applications.rs`, `service_principals.rs`, `credentials.rs` (client secrets and
//! certificates, and client authentication) and `caller.rs`, the listing filters in `filter.rs`.

mod applications;
mod caller;
mod credentials;
mod filter;
mod service_principals;

pub use applications::{
    ApplicationSpec, ApplicationUpdate, ApplicationView, NewApplication, RedirectUris,
};
pub use caller::DirectoryCaller;
pub use credentials::AZURE_CLI_APP_ID;
pub(crate) use credentials::new_client_secret;
pub use credentials::{KeyCredentialInput, KeyCredentialView, NewPassword, PasswordCredentialView};
pub use filter::DirectoryFilter;
pub use service_principals::ServicePrincipalView;

use coffer_store::{DocMode, DocWrite, StoreError};

use crate::records::{APP, ApplicationDoc, INSTANCE, TENANT, TenantDoc};
use crate::{BootstrapInfo, Coffer, ServiceError};

/// Where the first start records the bootstrap identifiers (see `bootstrap.rs`).
const BOOTSTRAP_DOC: &str = "bootstrap";
/// Longest display name accepted (Graph allows 256 characters for applications and users).
pub(crate) const MAX_DISPLAY_NAME: usize = 256;
/// Most client secrets or certificates one application may hold.
const MAX_CREDENTIALS: usize = 50;

pub(crate) fn app_doc_id(tenant: &str, app_id: &str) -> String {
    format!(
        "{}:{}",
        tenant.to_ascii_lowercase(),
        app_id.to_ascii_lowercase()
    )
}

/// How a caller names an application.
#[derive(Clone, Copy, Debug)]
pub enum AppRef<'a> {
    /// The object id of the application object (Graph's `/applications/{id}`).
    ObjectId(&'a str),
    /// The application (client) id (Graph's `/applications(appId='...')`).
    AppId(&'a str),
}

impl AppRef<'_> {
    fn id(&self) -> &str {
        match self {
            Self::ObjectId(s) | Self::AppId(s) => s,
        }
    }
}

pub(crate) fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound {
        message: format!(
            "Resource '{}' does not exist or one of its queried reference-property objects are not present.",
            clip(id, 100)
        ),
        code: "Request_ResourceNotFound",
    }
}

pub(crate) fn clip(s: &str, n: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(n).collect()
}

pub(crate) fn check_display_name(name: &str) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::BadParameter(
            "Invalid value specified for property 'displayName': it must not be empty.".to_owned(),
        ));
    }
    if name.chars().count() > MAX_DISPLAY_NAME || name.chars().any(char::is_control) {
        return Err(ServiceError::BadParameter(format!(
            "Invalid value specified for property 'displayName': at most {MAX_DISPLAY_NAME} characters, no control characters."
        )));
    }
    Ok(name.to_owned())
}

/// The object id of an application object: stored, or for records made before it was stored,
/// derived from the app id (stable, and distinct from the app id and the service principal's).
pub(crate) fn derived_object_id(app_id: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("coffer/application-object/{}", app_id.to_ascii_lowercase()).as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

pub(crate) fn decode_app(body: &[u8]) -> Result<ApplicationDoc, ServiceError> {
    let mut doc: ApplicationDoc = serde_json::from_slice(body)?;
    if doc.app_object_id.is_empty() {
        doc.app_object_id = derived_object_id(&doc.app_id);
    }
    Ok(doc)
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

    /// Whether a tenant exists (discovery documents are served only for known tenants).
    pub async fn tenant_exists(&self, tenant_id: &str) -> Result<bool, ServiceError> {
        Ok(self.tenant(tenant_id).await?.is_some())
    }

    async fn require_tenant(&self, tenant_id: &str) -> Result<(), ServiceError> {
        if self.tenant(tenant_id).await?.is_none() {
            return Err(ServiceError::NotFound {
                message: format!("Tenant '{}' was not found.", clip(tenant_id, 64)),
                code: "Request_ResourceNotFound",
            });
        }
        Ok(())
    }

    /// An application by its app (client) id, with the revision of its record.
    pub(crate) async fn app(
        &self,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<Option<(ApplicationDoc, u64)>, ServiceError> {
        match self
            .store
            .get_doc(APP, &app_doc_id(tenant_id, app_id))
            .await?
        {
            Some(d) => Ok(Some((decode_app(&d.body)?, d.revision))),
            None => Ok(None),
        }
    }

    /// Every application of a tenant, with revisions, in app id order.
    async fn apps_of(&self, tenant_id: &str) -> Result<Vec<(ApplicationDoc, u64)>, ServiceError> {
        let prefix = format!("{}:", tenant_id.to_ascii_lowercase());
        let mut out = Vec::new();
        for d in self.store.list_docs(APP).await? {
            if d.id.starts_with(&prefix) {
                out.push((decode_app(&d.body)?, d.revision));
            }
        }
        Ok(out)
    }

    async fn find_app(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
    ) -> Result<Option<(ApplicationDoc, u64)>, ServiceError> {
        match r {
            AppRef::AppId(id) => self.app(tenant_id, id).await,
            AppRef::ObjectId(id) => Ok(self
                .apps_of(tenant_id)
                .await?
                .into_iter()
                .find(|(a, _)| a.app_object_id.eq_ignore_ascii_case(id.trim()))),
        }
    }

    /// The bootstrap identifiers, if this instance has been bootstrapped.
    pub(crate) async fn bootstrap_info(&self) -> Result<Option<BootstrapInfo>, ServiceError> {
        match self.store.get_doc(INSTANCE, BOOTSTRAP_DOC).await? {
            Some(d) => Ok(Some(serde_json::from_slice(&d.body)?)),
            None => Ok(None),
        }
    }

    /// The tenant the first start created (the one challenges point to when a request names
    /// none).
    pub async fn default_tenant_id(&self) -> Result<Option<String>, ServiceError> {
        Ok(self.bootstrap_info().await?.map(|b| b.tenant_id))
    }

    /// Reads an application, applies `f`, and writes it back if it did not change meanwhile.
    async fn update_app<T>(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
        mut f: impl FnMut(&mut ApplicationDoc) -> Result<T, ServiceError>,
    ) -> Result<(T, ApplicationDoc), ServiceError> {
        for _ in 0..5 {
            let Some((mut app, rev)) = self.find_app(tenant_id, r).await? else {
                return Err(not_found(r.id()));
            };
            let out = f(&mut app)?;
            let write = DocWrite::Put {
                kind: APP.to_owned(),
                id: app_doc_id(&app.tenant_id, &app.app_id),
                body: serde_json::to_vec(&app)?,
                mode: DocMode::Update(rev),
            };
            match self.store.write_docs(vec![write]).await {
                Ok(()) => return Ok((out, app)),
                Err(StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Conflict(
            "The application changed concurrently; try again.".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_object_ids_are_stable_and_distinct() {
        let a = derived_object_id("11111111-2222-3333-4444-555555555555");
        assert_eq!(a, derived_object_id("11111111-2222-3333-4444-555555555555"));
        assert_ne!(a, "11111111-2222-3333-4444-555555555555");
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }
}
