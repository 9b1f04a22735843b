//! `/servicePrincipals`: one per application, listed, read by object id or `(appId='…')`, and
//! "created" (returned) for `az ad sp create`, in Graph's service principal shape.

use axum::extract::Request;
use axum::response::Response;
use coffer_service::{Coffer, DirectoryCaller, DirectoryFilter, ServicePrincipalView};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::Ctx;
use super::body::{read_json, str_prop};
use super::dates::iso;
use super::filter::filter_of;
use super::shape::{created, entity, list};
use crate::error::graph::GraphError;
use crate::text::clip;

#[allow(clippy::too_many_arguments)]
pub(super) async fn service_principals(
    app: &Coffer,
    ctx: &Ctx,
    caller: &DirectoryCaller,
    tenant: &str,
    method: &Method,
    key: Option<(String, String)>,
    rest: &[String],
    query: &[(String, String)],
    req: Request,
) -> Result<Response, GraphError> {
    match (&key, rest) {
        (None, []) => match *method {
            Method::GET => {
                let filter = filter_of(query)?;
                let items = app.list_service_principals(tenant, filter.as_ref()).await?;
                Ok(list(
                    ctx,
                    "servicePrincipals",
                    items.iter().map(service_principal_json).collect(),
                ))
            }
            Method::POST => {
                caller.require_admin()?;
                let b = read_json(req).await?.ok_or_else(GraphError::invalid_json)?;
                let app_id = str_prop(&b, "appId", "ServicePrincipal")?.ok_or_else(|| {
                    GraphError::bad_request(
                        "Property 'appId' is required to create a service principal.",
                    )
                })?;
                // Every application has its service principal already: creating it again
                // returns it, so `az ad sp create --id` works.
                let v = app.service_principal_of(tenant, &app_id).await?;
                Ok(created(
                    ctx,
                    "servicePrincipals/$entity",
                    service_principal_json(&v),
                ))
            }
            _ => Err(GraphError::method_not_allowed()),
        },
        (Some((prop, v)), []) if prop == "appid" => {
            if *method != Method::GET {
                return Err(GraphError::method_not_allowed());
            }
            let sp = app
                .list_service_principals(tenant, Some(&DirectoryFilter::AppIdEq(v.clone())))
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| not_found(v))?;
            Ok(entity(
                ctx,
                "servicePrincipals/$entity",
                service_principal_json(&sp),
            ))
        }
        (None, [id]) => {
            if *method != Method::GET {
                return Err(GraphError::method_not_allowed());
            }
            let sp = app.get_service_principal(tenant, id).await?;
            Ok(entity(
                ctx,
                "servicePrincipals/$entity",
                service_principal_json(&sp),
            ))
        }
        (Some((prop, _)), []) => Err(GraphError::bad_request(format!(
            "Service principals are addressed by object id or appId, not by '{}'.",
            clip(prop)
        ))),
        (None, [_, seg, ..]) | (Some(_), [seg, ..]) => Err(GraphError::no_segment(seg)),
    }
}

fn not_found(id: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        format!(
            "Resource '{}' does not exist or one of its queried reference-property objects are not present.",
            clip(id)
        ),
    )
}

fn service_principal_json(s: &ServicePrincipalView) -> Value {
    json!({
        "id": s.object_id,
        "deletedDateTime": null,
        "accountEnabled": true,
        "alternativeNames": alternative_names(s),
        "appDisplayName": s.display_name,
        "appDescription": null,
        "appId": s.app_id,
        "appOwnerOrganizationId": if s.principal_type == "ManagedIdentity" { Value::Null } else { s.tenant_id.clone().into() },
        "appRoleAssignmentRequired": false,
        "createdDateTime": s.created.map_or(Value::Null, iso),
        "description": null,
        "displayName": s.display_name,
        "homepage": null,
        "notes": null,
        "servicePrincipalNames": [s.app_id],
        "servicePrincipalType": s.principal_type,
        "signInAudience": "AzureADMyOrg",
        "tags": [],
        "appRoles": [],
        "keyCredentials": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "replyUrls": [],
    })
}

/// A managed identity's `alternativeNames`: whether it is user-assigned, and its ARM id.
fn alternative_names(s: &ServicePrincipalView) -> Vec<String> {
    match &s.resource_id {
        Some(r) => {
            let user = r
                .to_ascii_lowercase()
                .contains("/providers/microsoft.managedidentity/userassignedidentities/");
            vec![
                format!("isExplicit={}", if user { "True" } else { "False" }),
                r.clone(),
            ]
        }
        None => Vec::new(),
    }
}
