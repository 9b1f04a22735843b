//! Service principals: every application has exactly one, named by its own object id (the
//! `oid` of the application's tokens); they are views of the application record.

use super::{DirectoryFilter, clip, not_found};
use crate::records::ApplicationDoc;
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
}

fn service_principal_view(d: &ApplicationDoc) -> ServicePrincipalView {
    ServicePrincipalView {
        tenant_id: d.tenant_id.clone(),
        object_id: d.object_id.clone(),
        app_id: d.app_id.clone(),
        display_name: d.display_name.clone(),
        application_object_id: d.app_object_id.clone(),
        created: d.created,
    }
}

impl Coffer {
    /// Service principals of a tenant, optionally filtered, in app id order.
    pub async fn list_service_principals(
        &self,
        tenant_id: &str,
        filter: Option<&DirectoryFilter>,
    ) -> Result<Vec<ServicePrincipalView>, ServiceError> {
        Ok(self
            .apps_of(tenant_id)
            .await?
            .iter()
            .filter(|(a, _)| match filter {
                None => true,
                Some(DirectoryFilter::AppIdEq(v) | DirectoryFilter::ServicePrincipalName(v)) => {
                    a.app_id.eq_ignore_ascii_case(v)
                }
                Some(DirectoryFilter::IdEq(v)) => a.object_id.eq_ignore_ascii_case(v),
                Some(f) => f.matches_name(&a.display_name).unwrap_or(false),
            })
            .map(|(a, _)| service_principal_view(a))
            .collect())
    }

    /// A service principal by its object id.
    pub async fn get_service_principal(
        &self,
        tenant_id: &str,
        object_id: &str,
    ) -> Result<ServicePrincipalView, ServiceError> {
        self.apps_of(tenant_id)
            .await?
            .iter()
            .find(|(a, _)| a.object_id.eq_ignore_ascii_case(object_id.trim()))
            .map(|(a, _)| service_principal_view(a))
            .ok_or_else(|| not_found(object_id))
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
