//! `/users` and `/me`: users of the tenant (created with a password profile), and the signed-in
//! user of a delegated token, in Graph's user shape.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use coffer_service::{Coffer, DirectoryCaller, NewUser, UserUpdate, UserView};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::Ctx;
use super::body::{bool_prop, get_ci, read_json, str_prop};
use super::dates::iso;
use super::filter::filter_of;
use super::shape::{created, entity, list};
use crate::error::graph::GraphError;
use crate::text::clip;

#[allow(clippy::too_many_arguments)]
pub(super) async fn users(
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
    if let Some((prop, _)) = key {
        return Err(GraphError::bad_request(format!(
            "Users are addressed by object id or user principal name, not by '{}'.",
            clip(&prop)
        )));
    }
    match rest {
        [] => match *method {
            Method::GET => {
                let filter = filter_of(query)?;
                let items = app.list_users(tenant, filter.as_ref()).await?;
                Ok(list(ctx, "users", items.iter().map(user_json).collect()))
            }
            Method::POST => {
                caller.require_admin()?;
                let b = read_json(req).await?.ok_or_else(GraphError::invalid_json)?;
                let required = |name: &str| {
                    GraphError::bad_request(format!(
                        "Property '{name}' is required to create a user."
                    ))
                };
                let display_name =
                    str_prop(&b, "displayName", "User")?.ok_or_else(|| required("displayName"))?;
                let upn = str_prop(&b, "userPrincipalName", "User")?
                    .ok_or_else(|| required("userPrincipalName"))?;
                let password = match get_ci(&b, "passwordProfile") {
                    Some(Value::Object(p)) => str_prop(p, "password", "PasswordProfile")?,
                    _ => None,
                }
                .ok_or_else(|| required("passwordProfile.password"))?;
                let new = NewUser {
                    display_name,
                    user_principal_name: upn,
                    password,
                    account_enabled: bool_prop(&b, "accountEnabled", "User")?.unwrap_or(true),
                };
                let v = app.create_user(tenant, new).await?;
                Ok(created(ctx, "users/$entity", user_json(&v)))
            }
            _ => Err(GraphError::method_not_allowed()),
        },
        [id] => match *method {
            Method::GET => {
                let v = app.get_user(tenant, id).await?;
                Ok(entity(ctx, "users/$entity", user_json(&v)))
            }
            Method::PATCH => {
                caller.require_admin()?;
                let b = read_json(req).await?.ok_or_else(GraphError::invalid_json)?;
                let password = match get_ci(&b, "passwordProfile") {
                    Some(Value::Object(p)) => str_prop(p, "password", "PasswordProfile")?,
                    _ => None,
                };
                let update = UserUpdate {
                    display_name: str_prop(&b, "displayName", "User")?,
                    account_enabled: bool_prop(&b, "accountEnabled", "User")?,
                    password,
                };
                app.update_user(tenant, id, update).await?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            Method::DELETE => {
                caller.require_admin()?;
                app.delete_user(tenant, id).await?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            _ => Err(GraphError::method_not_allowed()),
        },
        [id, action] if action.eq_ignore_ascii_case("revokeSignInSessions") => {
            if *method != Method::POST {
                return Err(GraphError::method_not_allowed());
            }
            caller.require_admin()?;
            app.revoke_sign_in_sessions(tenant, id).await?;
            Ok(entity(
                ctx,
                "Edm.Boolean",
                serde_json::json!({ "value": true }),
            ))
        }
        [_, seg, ..] => Err(GraphError::no_segment(seg)),
    }
}

/// `/me`: the signed-in user of a delegated token; an application alone has no `/me`.
pub(super) async fn me(
    app: &Coffer,
    ctx: &Ctx,
    caller: &DirectoryCaller,
) -> Result<Response, GraphError> {
    if !caller.delegated {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        ));
    }
    let v = app.get_user(&caller.tenant_id, &caller.object_id).await?;
    Ok(entity(ctx, "users/$entity", user_json(&v)))
}

fn user_json(u: &UserView) -> Value {
    json!({
        "id": u.object_id,
        "businessPhones": [],
        "displayName": u.display_name,
        "givenName": null,
        "jobTitle": null,
        "mail": null,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "surname": null,
        "userPrincipalName": u.user_principal_name,
        "accountEnabled": u.account_enabled,
        "createdDateTime": iso(u.created),
    })
}
