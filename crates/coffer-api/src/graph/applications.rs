//! `/applications`: registrations, their properties and certificates (`keyCredentials`), and
//! the `addPassword` / `removePassword` actions, in Graph's application shape.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use coffer_service::{
    AppRef, ApplicationSpec, ApplicationUpdate, ApplicationView, Coffer, DirectoryCaller,
    KeyCredentialInput, KeyCredentialView, PasswordCredentialView, RedirectUris,
};
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::body::{bool_prop, get_ci, invalid_property, read_json, str_prop};
use super::dates::{iso, parse_time};
use super::filter::filter_of;
use super::shape::{created, entity, list};
use crate::error::graph::GraphError;
use crate::text::clip;

#[allow(clippy::too_many_arguments)]
pub(super) async fn applications(
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
    // The application, by key syntax or by the next segment (its object id).
    let (target, rest): (Option<(bool, String)>, &[String]) = match (&key, rest) {
        (Some((prop, v)), r) if prop == "appid" => (Some((true, v.clone())), r),
        (Some((prop, _)), _) => {
            return Err(GraphError::bad_request(format!(
                "Applications are addressed by object id or appId, not by '{}'.",
                clip(prop)
            )));
        }
        (None, [id, r @ ..]) => (Some((false, id.clone())), r),
        (None, []) => (None, rest),
    };
    let Some((by_app_id, id)) = target else {
        return match *method {
            Method::GET => {
                let filter = filter_of(query)?;
                let items = app.list_applications(tenant, filter.as_ref()).await?;
                Ok(list(
                    ctx,
                    "applications",
                    items.iter().map(application_json).collect(),
                ))
            }
            Method::POST => {
                caller.require_admin()?;
                let b = read_json(req).await?.ok_or_else(GraphError::invalid_json)?;
                let display_name =
                    str_prop(&b, "displayName", "Application")?.ok_or_else(|| {
                        GraphError::bad_request(
                            "Property 'displayName' is required to create an application.",
                        )
                    })?;
                let spec = ApplicationSpec {
                    display_name,
                    public_client: bool_prop(&b, "isFallbackPublicClient", "Application")?
                        .unwrap_or(false),
                    key_credentials: key_credentials_prop(&b)?.unwrap_or_default(),
                    redirect_uris: RedirectUris {
                        web: redirect_uris_prop(&b, "web")?.unwrap_or_default(),
                        public_client: redirect_uris_prop(&b, "publicClient")?.unwrap_or_default(),
                        spa: redirect_uris_prop(&b, "spa")?.unwrap_or_default(),
                    },
                };
                let v = app.register_application(tenant, spec).await?;
                Ok(created(ctx, "applications/$entity", application_json(&v)))
            }
            _ => Err(GraphError::method_not_allowed()),
        };
    };
    let r = if by_app_id {
        AppRef::AppId(&id)
    } else {
        AppRef::ObjectId(&id)
    };
    let action = match rest {
        [] => None,
        [a] => Some(a.to_ascii_lowercase()),
        [a, ..] => return Err(GraphError::no_segment(a)),
    };
    match (method, action.as_deref()) {
        (&Method::GET, None) => {
            let v = app.get_application(tenant, r).await?;
            Ok(entity(ctx, "applications/$entity", application_json(&v)))
        }
        (&Method::PATCH, None) => {
            caller.require_admin()?;
            let b = read_json(req).await?.ok_or_else(GraphError::invalid_json)?;
            let update = ApplicationUpdate {
                display_name: str_prop(&b, "displayName", "Application")?,
                public_client: bool_prop(&b, "isFallbackPublicClient", "Application")?,
                key_credentials: key_credentials_prop(&b)?,
                web_redirect_uris: redirect_uris_prop(&b, "web")?,
                public_client_redirect_uris: redirect_uris_prop(&b, "publicClient")?,
                spa_redirect_uris: redirect_uris_prop(&b, "spa")?,
            };
            app.update_application(tenant, r, update).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (&Method::DELETE, None) => {
            caller.require_admin()?;
            app.delete_application(tenant, r).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (&Method::POST, Some("addpassword")) => {
            caller.require_admin()?;
            let b = read_json(req).await?.unwrap_or_default();
            let pc = match get_ci(&b, "passwordCredential") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => {
                    return Err(GraphError::bad_request(
                        "Invalid value specified for property 'passwordCredential': it must be an object.",
                    ));
                }
            };
            let display_name = str_prop(&pc, "displayName", "PasswordCredential")?;
            let end = match str_prop(&pc, "endDateTime", "PasswordCredential")? {
                Some(s) => Some(parse_time(&s).ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential': '{}' is not an ISO 8601 date and time.",
                        clip(&s)
                    ))
                })?),
                None => None,
            };
            let p = app.add_password(tenant, r, display_name, end).await?;
            let mut v = password_json(&p.credential);
            v["secretText"] = p.secret_text.into();
            Ok(entity(ctx, "microsoft.graph.passwordCredential", v))
        }
        (&Method::POST, Some("removepassword")) => {
            caller.require_admin()?;
            let b = read_json(req).await?.ok_or_else(GraphError::invalid_json)?;
            let key_id = str_prop(&b, "keyId", "PasswordCredential")?.ok_or_else(|| {
                GraphError::bad_request("Property 'keyId' is required to remove a password.")
            })?;
            app.remove_password(tenant, r, &key_id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (_, Some("addpassword" | "removepassword")) | (_, None) => {
            Err(GraphError::method_not_allowed())
        }
        (_, Some(_)) => Err(GraphError::no_segment(&rest[0])),
    }
}

/// `<platform>: {"redirectUris": [...]}` (`web`, `publicClient`, `spa`); other members of the
/// platform object (`implicitGrantSettings`, `homePageUrl`, ...) are accepted and not kept.
fn redirect_uris_prop(
    m: &Map<String, Value>,
    platform: &str,
) -> Result<Option<Vec<String>>, GraphError> {
    let obj = match get_ci(m, platform) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(invalid_property(platform, "Application", "an object")),
    };
    let what = format!("{platform}.redirectUris");
    match get_ci(obj, "redirectUris") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(invalid_property(
                    &what,
                    "Application",
                    "an array of strings",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid_property(
            &what,
            "Application",
            "an array of strings",
        )),
    }
}

/// `keyCredentials: [{type:"AsymmetricX509Cert", usage:"Verify", key:"<base64 DER>", ...}]`.
fn key_credentials_prop(
    m: &Map<String, Value>,
) -> Result<Option<Vec<KeyCredentialInput>>, GraphError> {
    let items = match get_ci(m, "keyCredentials") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(invalid_property(
                "keyCredentials",
                "Application",
                "an array",
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(k) = item else {
            return Err(invalid_property(
                "keyCredentials",
                "Application",
                "an array of objects",
            ));
        };
        if let Some(t) = str_prop(k, "type", "KeyCredential")?
            && !t.eq_ignore_ascii_case("AsymmetricX509Cert")
        {
            return Err(GraphError::bad_request(format!(
                "Invalid value specified for property 'type' of resource 'KeyCredential': '{}'. Only 'AsymmetricX509Cert' is supported.",
                clip(&t)
            )));
        }
        if let Some(u) = str_prop(k, "usage", "KeyCredential")?
            && !u.eq_ignore_ascii_case("Verify")
        {
            return Err(GraphError::bad_request(format!(
                "Invalid value specified for property 'usage' of resource 'KeyCredential': '{}'. Only 'Verify' is supported.",
                clip(&u)
            )));
        }
        let certificate = match str_prop(k, "key", "KeyCredential")? {
            Some(b64) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.split_whitespace().collect::<String>())
                    .map_err(|_| {
                        GraphError::bad_request(
                            "Invalid value specified for property 'key' of resource 'KeyCredential': the base64 encoding of the certificate expected.",
                        )
                    })?,
            ),
            None => None,
        };
        out.push(KeyCredentialInput {
            key_id: str_prop(k, "keyId", "KeyCredential")?,
            certificate,
            display_name: str_prop(k, "displayName", "KeyCredential")?,
        });
    }
    Ok(Some(out))
}

fn password_json(p: &PasswordCredentialView) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": p.display_name,
        "endDateTime": p.end.map_or(Value::Null, iso),
        "hint": p.hint,
        "keyId": p.key_id,
        "secretText": null,
        "startDateTime": p.start.map_or(Value::Null, iso),
    })
}

fn key_json(k: &KeyCredentialView) -> Value {
    json!({
        "customKeyIdentifier": base64::engine::general_purpose::STANDARD.encode(&k.thumbprint),
        "displayName": k.display_name,
        "endDateTime": iso(k.end),
        "key": null,
        "keyId": k.key_id,
        "startDateTime": iso(k.start),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    })
}

fn application_json(a: &ApplicationView) -> Value {
    json!({
        "id": a.object_id,
        "deletedDateTime": null,
        "appId": a.app_id,
        "applicationTemplateId": null,
        "createdDateTime": a.created.map_or(Value::Null, iso),
        "description": null,
        "displayName": a.display_name,
        "identifierUris": [],
        "isFallbackPublicClient": a.public_client,
        "notes": null,
        "publisherDomain": null,
        "signInAudience": "AzureADMyOrg",
        "tags": [],
        "api": {
            "acceptMappedClaims": null,
            "knownClientApplications": [],
            "requestedAccessTokenVersion": null,
            "oauth2PermissionScopes": [],
            "preAuthorizedApplications": [],
        },
        "appRoles": [],
        "keyCredentials": a.keys.iter().map(key_json).collect::<Vec<_>>(),
        "passwordCredentials": a.passwords.iter().map(password_json).collect::<Vec<_>>(),
        "publicClient": { "redirectUris": a.redirect_uris.public_client },
        "requiredResourceAccess": [],
        "spa": { "redirectUris": a.redirect_uris.spa },
        "web": {
            "homePageUrl": null,
            "logoutUrl": null,
            "redirectUris": a.redirect_uris.web,
            "implicitGrantSettings": {
                "enableAccessTokenIssuance": false,
                "enableIdTokenIssuance": false,
            },
        },
    })
}
