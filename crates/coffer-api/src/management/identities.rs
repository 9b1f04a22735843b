//! `Microsoft.ManagedIdentity` routes: user-assigned identities (with Coffer's `listSecrets` and
//! `imdsBindings` extensions) and the system-assigned identity of any resource.

use axum::response::{IntoResponse, Response};
use coffer_domain::Principal;
use coffer_service::{
    Coffer, IdentityView, SYSTEM_ASSIGNED_IDENTITY_TYPE, USER_ASSIGNED_IDENTITY_TYPE,
};
use coffer_wire::arm::identity::{Identity, IdentityProperties, IdentitySecrets, ImdsBindings};
use http::{Method, StatusCode};

use super::resources::resource_input;
use super::toolkit::{ArmRequest, Failure, ok, put_answer};
use super::{ProviderScope, no_route};
use crate::error::arm::ArmError;

const SYSTEM_SUFFIX: [&str; 4] = [
    "providers",
    "microsoft.managedidentity",
    "identities",
    "default",
];

/// `GET {scope}/providers/Microsoft.ManagedIdentity/identities/default`, on any resource.
pub(super) async fn system_identity_route(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
) -> Option<Result<Response, Failure>> {
    let l = r.lower();
    if l.len() <= SYSTEM_SUFFIX.len() || l[l.len() - SYSTEM_SUFFIX.len()..] != SYSTEM_SUFFIX {
        return None;
    }
    Some(
        async {
            r.only(Method::GET)?;
            let scope = format!(
                "/{}",
                r.segs[..r.segs.len() - SYSTEM_SUFFIX.len()].join("/")
            );
            let v = app.get_system_identity(caller, &scope).await?;
            Ok(ok(identity(&v)))
        }
        .await,
    )
}

pub(super) async fn route(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    scope: &ProviderScope,
) -> Result<Response, Failure> {
    let s = scope.subscription.as_str();
    match (scope.resource_group.as_deref(), scope.tail(r).as_slice()) {
        (rg, ["userassignedidentities"]) => {
            r.only(Method::GET)?;
            let paging = r.paging()?;
            let ids = app.list_user_assigned_identities(caller, s, rg).await?;
            let items = ids.iter().map(identity).collect();
            Ok(ok(paging.page(r, items, |i| i.id.to_ascii_lowercase())))
        }
        (Some(rg), ["userassignedidentities", _, tail @ ..]) => {
            user_assigned(app, caller, r, s, rg, scope.name(r, 1), tail).await
        }
        _ => Err(no_route(r).into()),
    }
}

async fn user_assigned(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    s: &str,
    rg: &str,
    name: &str,
    tail: &[&str],
) -> Result<Response, Failure> {
    match tail {
        [] => match r.method {
            Method::PUT => {
                let input = resource_input(r)?;
                let (v, header) = app
                    .put_user_assigned_identity(caller, s, rg, name, input)
                    .await?;
                // The first identity header is not shown: ARM never returns secrets from a PUT;
                // `listSecrets` issues one.
                Ok(put_answer(header.is_some(), identity(&v)))
            }
            Method::GET => Ok(ok(identity(
                &app.get_user_assigned_identity(caller, s, rg, name).await?,
            ))),
            Method::PATCH => {
                let input = resource_input(r)?;
                let v = app
                    .patch_user_assigned_identity(caller, s, rg, name, input.tags)
                    .await?;
                Ok(ok(identity(&v)))
            }
            Method::DELETE => {
                let existed = app
                    .delete_user_assigned_identity(caller, s, rg, name)
                    .await?;
                Ok(if existed {
                    StatusCode::OK
                } else {
                    StatusCode::NO_CONTENT
                }
                .into_response())
            }
            _ => Err(r.method_not_allowed().into()),
        },
        ["listsecrets"] => {
            r.only(Method::POST)?;
            let secrets = app.list_identity_secrets(caller, s, rg, name).await?;
            let v = app.get_user_assigned_identity(caller, s, rg, name).await?;
            Ok(ok(IdentitySecrets {
                identity_endpoint: secrets.identity_endpoint,
                identity_header: secrets.identity_header,
                client_id: v.client_id,
                principal_id: v.principal_id,
                imds_authority_host: app.settings().authority(),
            }))
        }
        ["imdsbindings"] => match r.method {
            Method::GET => {
                let addrs = app.get_identity_imds_bindings(caller, s, rg, name).await?;
                Ok(ok(bindings(addrs)))
            }
            Method::PUT => {
                let addrs = r
                    .json::<ImdsBindings>()?
                    .and_then(ImdsBindings::into_addresses)
                    .ok_or_else(|| {
                        ArmError::invalid_content(
                            "The request content must be {\"addresses\": [\"<IP address or CIDR prefix>\", ...]}.",
                        )
                    })?;
                let addrs = app
                    .put_identity_imds_bindings(caller, s, rg, name, &addrs)
                    .await?;
                Ok(ok(bindings(addrs)))
            }
            _ => Err(r.method_not_allowed().into()),
        },
        _ => Err(no_route(r).into()),
    }
}

fn bindings(addresses: Vec<String>) -> ImdsBindings {
    ImdsBindings {
        addresses: Some(addresses),
        properties: None,
    }
}

fn identity(v: &IdentityView) -> Identity {
    let kind = if v.system_assigned {
        SYSTEM_ASSIGNED_IDENTITY_TYPE
    } else {
        USER_ASSIGNED_IDENTITY_TYPE
    };
    Identity {
        id: v.id.clone(),
        name: v.name.clone(),
        kind,
        location: v.location.clone(),
        tags: v.tags.clone(),
        properties: IdentityProperties {
            tenant_id: v.tenant_id.clone(),
            principal_id: v.principal_id.clone(),
            client_id: v.client_id.clone(),
            isolation_scope: (!v.system_assigned).then_some("None"),
        },
    }
}
