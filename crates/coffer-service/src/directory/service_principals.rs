//! Service principals: every application has exactly one, named by its own object id (the
//! `oid` of the application's tokens); they are views of the application record. Managed
//! identities are service principals too (`servicePrincipalType` `ManagedIdentity`), named after
//! their owner (a system-assigned identity: the resource's name, as a gateway's is found in the
//! portal) or themselves (user-assigned), views of the identity record.

use super::{DirectoryFilter, clip, not_found};
use crate::records::{ApplicationDoc, ManagedIdentityDoc};
use crate::{Coffer, ServiceError};

/// A service principal (one per application).
#[derive(Clone, Debug)]
pub struct ServicePrincipalView {
    pub tenant_id: String,
    /// The service principal's object id: the `oid` of the application's tokens.
    pub object_id: String,
    pub app_id: String,
    pub display_name: String,
    /// Object id of the application object it belongs to.
    pub application_object_id: String,
    pub created: Option<i64>,
    /// `Application` or `ManagedIdentity`.
    pub principal_type: &'static str,
    /// For a managed identity, its ARM id (Graph's `alternativeNames`).
    pub resource_id: Option<String>,
}

fn service_principal_view(d: &ApplicationDoc) -> ServicePrincipalView {
    ServicePrincipalView {
        tenant_id: d.tenant_id.clone(),
        object_id: d.object_id.clone(),
        app_id: d.app_id.clone(),
        display_name: d.display_name.clone(),
        application_object_id: d.app_object_id.clone(),
        created: d.created,
        principal_type: "Application",
        resource_id: None,
    }
}

fn identity_principal_view(d: &ManagedIdentityDoc) -> ServicePrincipalView {
    ServicePrincipalView {
        tenant_id: d.tenant_id.clone(),
        object_id: d.principal_id.clone(),
        app_id: d.client_id.clone(),
        display_name: d.name.clone(),
        application_object_id: String::new(),
        created: Some(d.created),
        principal_type: "ManagedIdentity",
        resource_id: Some(d.resource_id.clone()),
    }
}

fn sp_matches(v: &ServicePrincipalView, filter: Option<&DirectoryFilter>) -> bool {
    match filter {
        None => true,
        Some(DirectoryFilter::AppIdEq(x) | DirectoryFilter::ServicePrincipalName(x)) => {
            v.app_id.eq_ignore_ascii_case(x)
        }
        Some(DirectoryFilter::IdEq(x)) => v.object_id.eq_ignore_ascii_case(x),
        Some(f) => f.matches_name(&v.display_name).unwrap_or(false),
    }
}

impl Coffer {
    /// Service principals of a tenant, optionally filtered, in app id order.
    pub async fn list_service_principals(
        &self,
        tenant_id: &str,
        filter: Option<&DirectoryFilter>,
    ) -> Result<Vec<ServicePrincipalView>, ServiceError> {
        let mut out: Vec<ServicePrincipalView> = self
            .apps_of(tenant_id)
            .await?
            .iter()
            .map(|(a, _)| service_principal_view(a))
            .filter(|v| sp_matches(v, filter))
            .collect();
        out.extend(
            self.identity_principals(tenant_id)
                .await?
                .into_iter()
                .filter(|v| sp_matches(v, filter)),
        );
        Ok(out)
    }

    /// A service principal by its object id.
    pub async fn get_service_principal(
        &self,
        tenant_id: &str,
        object_id: &str,
    ) -> Result<ServicePrincipalView, ServiceError> {
        let oid = object_id.trim();
        if let Some(v) = self
            .apps_of(tenant_id)
            .await?
            .iter()
            .find(|(a, _)| a.object_id.eq_ignore_ascii_case(oid))
            .map(|(a, _)| service_principal_view(a))
        {
            return Ok(v);
        }
        self.identity_principals(tenant_id)
            .await?
            .into_iter()
            .find(|v| v.object_id.eq_ignore_ascii_case(oid))
            .ok_or_else(|| not_found(object_id))
    }

    /// The managed identities of a tenant as service principals, in client id order.
    async fn identity_principals(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<ServicePrincipalView>, ServiceError> {
        let mut out = Vec::new();
        for d in self
            .store
            .list_docs(crate::records::MANAGED_IDENTITY)
            .await?
        {
            let mi: ManagedIdentityDoc = serde_json::from_slice(&d.body)?;
            if mi.tenant_id.eq_ignore_ascii_case(tenant_id) {
                out.push(identity_principal_view(&mi));
            }
        }
        out.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        Ok(out)
    }

    /// The service principal of an application (every application has exactly one).
    pub async fn service_principal_of(
        &self,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<ServicePrincipalView, ServiceError> {
        match self.app(tenant_id, app_id).await? {
            Some((a, _)) => Ok(service_principal_view(&a)),
            None => Err(ServiceError::BadParameter(format!(
                "The appId '{}' of the service principal does not reference a valid application object.",
                clip(app_id, 64)
            ))),
        }
    }
}
