//! The ARM-shaped management API on `management.<domain>`: cloud metadata, subscriptions,
//! tenants, resource groups, resource providers and managed identities. Path segments are matched
//! case-insensitively (clients spell `resourceGroups` and `resourcegroups`), names keep the
//! spelling they were created with, every call but the metadata needs a token for the management
//! resource, and errors use ARM's envelope `{"error":{"code","message"}}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use coffer_domain::Principal;
use coffer_service::{
    Coffer, IdentityView, ManagementError, ProviderView, ResourceGroupView, ResourceInput,
    SYSTEM_ASSIGNED_IDENTITY_TYPE, Settings, SubscriptionView, TenantView,
    USER_ASSIGNED_IDENTITY_TYPE,
};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::MAX_BODY_BYTES;
use crate::error::arm::ArmError;
use crate::text::{clip, decode_segment};

/// The first api-version of `/metadata/endpoints` that answers one object instead of an array.
const METADATA_OBJECT_SINCE: &str = "2022-09-01";

pub(crate) async fn handle(app: Arc<Coffer>, req: Request) -> Response {
    match handle_inner(&app, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// ARM api-versions are dates, optionally with a suffix such as `-preview`.
fn valid_api_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
        && (b.len() == 10
            || (b[10] == b'-' && b.len() > 11 && b[11..].iter().all(|c| c.is_ascii_alphanumeric())))
}

fn api_version(query: &HashMap<String, String>) -> Result<String, ArmError> {
    match query.get("api-version") {
        None => Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )),
        Some(v) if valid_api_version(v) => Ok(v.clone()),
        Some(v) => Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{}' is invalid. The supported versions are dates such as '2024-11-30' (optionally with a suffix such as '-preview').",
                clip(v)
            ),
        )),
    }
}

/// What a handler needs from the request once it is routed.
struct Call {
    method: Method,
    segs: Vec<String>,
    lower: Vec<String>,
    body: Option<Value>,
}

async fn handle_inner(app: &Coffer, req: Request) -> Result<Response, ArmError> {
    let settings = app.settings();
    let method = req.method().clone();
    let raw_path = req.uri().path().to_owned();
    let mut segs = Vec::new();
    for s in raw_path.split('/').filter(|s| !s.is_empty()) {
        segs.push(decode_segment(s).ok_or_else(|| {
            ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestUri",
                "The request path has an invalid percent-encoding.",
            )
        })?);
    }
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let query: HashMap<String, String> =
        form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();

    // Cloud metadata is public: `az cloud register` reads it before anyone signs in.
    if lower.len() == 2 && lower[0] == "metadata" && lower[1] == "endpoints" {
        if method != Method::GET {
            return Err(method_not_allowed(&method, &raw_path));
        }
        let api = api_version(&query)?;
        let doc = metadata(settings);
        let body = if api.as_str() >= METADATA_OBJECT_SINCE {
            doc
        } else {
            Value::Array(vec![doc])
        };
        return Ok(Json(body).into_response());
    }

    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}invalid"));
    let subscription = match (lower.first().map(String::as_str), segs.get(1)) {
        (Some("subscriptions"), Some(s)) => Some(s.as_str()),
        _ => None,
    };
    let caller = app
        .authenticate_management(authorization, subscription)
        .await
        .map_err(|e| ArmError::from_management(e, settings))?;
    api_version(&query)?;
    let body = if matches!(method, Method::PUT | Method::PATCH | Method::POST) {
        read_json(req).await?
    } else {
        None
    };
    let call = Call {
        method,
        segs,
        lower,
        body,
    };
    route(app, &caller, &call, &raw_path)
        .await
        .map_err(|e| match e {
            Failure::Arm(e) => e,
            Failure::Service(e) => ArmError::from_management(e, settings),
        })
}

/// A failure of routing/parsing (already an ARM error) or of the service.
enum Failure {
    Arm(ArmError),
    Service(ManagementError),
}

impl From<ArmError> for Failure {
    fn from(e: ArmError) -> Self {
        Self::Arm(e)
    }
}

impl From<ManagementError> for Failure {
    fn from(e: ManagementError) -> Self {
        Self::Service(e)
    }
}

async fn read_json(req: Request) -> Result<Option<Value>, ArmError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ArmError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestContentTooLarge",
                format!("The request content is larger than {MAX_BODY_BYTES} bytes."),
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: {e}."),
        )
    })
}

fn invalid_content(message: impl Into<String>) -> ArmError {
    ArmError::new(
        StatusCode::BAD_REQUEST,
        "InvalidRequestContent",
        message.into(),
    )
}

/// `location` and `tags` of a resource body; everything else is ignored, as ARM's lenient PUT.
fn resource_input(body: Option<&Value>) -> Result<ResourceInput, ArmError> {
    let Some(body) = body else {
        return Ok(ResourceInput::default());
    };
    let Some(obj) = body.as_object() else {
        return Err(invalid_content(
            "The request content must be a JSON object.",
        ));
    };
    let location = match obj.get("location") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid_content("The 'location' property must be a string.")),
    };
    Ok(ResourceInput {
        location,
        tags: tags_of(obj.get("tags"))?,
    })
}

fn tags_of(v: Option<&Value>) -> Result<Option<BTreeMap<String, String>>, ArmError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    _ => {
                        return Err(invalid_content(format!(
                            "The value of tag '{}' must be a string.",
                            clip(k)
                        )));
                    }
                };
                out.insert(k.clone(), v);
            }
            Ok(Some(out))
        }
        Some(_) => Err(invalid_content(
            "The 'tags' property must be an object of string values.",
        )),
    }
}

fn method_not_allowed(method: &Method, path: &str) -> ArmError {
    ArmError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!(
            "The HTTP method '{method}' is not supported at '{}'.",
            clip(path)
        ),
    )
}

fn no_route(method: &Method, path: &str) -> ArmError {
    ArmError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "No management operation matches {method} '{}'. Coffer serves subscriptions, tenants, resource groups, resource providers and Microsoft.ManagedIdentity resources.",
            clip(path)
        ),
    )
}

async fn route(
    app: &Coffer,
    caller: &Principal,
    c: &Call,
    path: &str,
) -> Result<Response, Failure> {
    let l: Vec<&str> = c.lower.iter().map(String::as_str).collect();
    let m = &c.method;
    // The system-assigned identity of any resource: `{scope}/providers/Microsoft.ManagedIdentity/identities/default`.
    if l.len() > 4
        && l[l.len() - 4..]
            == [
                "providers",
                "microsoft.managedidentity",
                "identities",
                "default",
            ]
    {
        if *m != Method::GET {
            return Err(method_not_allowed(m, path).into());
        }
        let scope = format!("/{}", c.segs[..c.segs.len() - 4].join("/"));
        let v = app.get_system_identity(caller, &scope).await?;
        return Ok(Json(identity_json(&v)).into_response());
    }
    match l.as_slice() {
        ["tenants"] => {
            only(m, &Method::GET, path)?;
            let ts = app.list_tenants(caller).await?;
            Ok(value_list(
                ts.iter().map(|t| tenant_json(t, app.settings())).collect(),
            ))
        }
        ["subscriptions"] => {
            only(m, &Method::GET, path)?;
            let subs = app.list_subscriptions(caller).await?;
            Ok(value_list(subs.iter().map(subscription_json).collect()))
        }
        ["subscriptions", _, rest @ ..] => subscription_routes(app, caller, c, rest, path).await,
        _ => Err(no_route(m, path).into()),
    }
}

fn only(m: &Method, want: &Method, path: &str) -> Result<(), ArmError> {
    if m == want {
        Ok(())
    } else {
        Err(method_not_allowed(m, path))
    }
}

async fn subscription_routes(
    app: &Coffer,
    caller: &Principal,
    c: &Call,
    rest: &[&str],
    path: &str,
) -> Result<Response, Failure> {
    let s = c.segs[1].as_str();
    let m = &c.method;
    // Original spelling of the segment at `i` of `rest`.
    let name = |i: usize| c.segs[2 + i].as_str();
    match rest {
        [] => {
            only(m, &Method::GET, path)?;
            Ok(Json(subscription_json(&app.get_subscription(caller, s).await?)).into_response())
        }
        ["locations"] => {
            only(m, &Method::GET, path)?;
            let locs = app.list_locations(caller, s).await?;
            Ok(value_list(
                locs.iter()
                    .map(|l| {
                        json!({
                            "id": format!("/subscriptions/{s}/locations/{l}"),
                            "name": l,
                            "type": "Region",
                            "displayName": "Local",
                            "regionalDisplayName": "Local",
                            "metadata": {"regionType": "Physical", "regionCategory": "Recommended"},
                        })
                    })
                    .collect(),
            ))
        }
        ["resourcegroups"] => {
            only(m, &Method::GET, path)?;
            let rgs = app.list_resource_groups(caller, s).await?;
            Ok(value_list(rgs.iter().map(rg_json).collect()))
        }
        ["resourcegroups", _] => resource_group(app, caller, c, s, name(1), path).await,
        ["providers"] => {
            only(m, &Method::GET, path)?;
            let ps = app.list_providers(caller, s).await?;
            Ok(value_list(ps.iter().map(|p| provider_json(s, p)).collect()))
        }
        [
            "providers",
            "microsoft.managedidentity",
            "userassignedidentities",
        ] => {
            only(m, &Method::GET, path)?;
            let ids = app.list_user_assigned_identities(caller, s, None).await?;
            Ok(value_list(ids.iter().map(identity_json).collect()))
        }
        ["providers", _] => {
            only(m, &Method::GET, path)?;
            let p = app.get_provider(caller, s, name(1)).await?;
            Ok(Json(provider_json(s, &p)).into_response())
        }
        ["providers", _, "register"] => {
            only(m, &Method::POST, path)?;
            let p = app.get_provider(caller, s, name(1)).await?;
            Ok(Json(provider_json(s, &p)).into_response())
        }
        [
            "resourcegroups",
            _,
            "providers",
            "microsoft.managedidentity",
            "userassignedidentities",
        ] => {
            only(m, &Method::GET, path)?;
            let ids = app
                .list_user_assigned_identities(caller, s, Some(name(1)))
                .await?;
            Ok(value_list(ids.iter().map(identity_json).collect()))
        }
        [
            "resourcegroups",
            _,
            "providers",
            "microsoft.managedidentity",
            "userassignedidentities",
            _,
            tail @ ..,
        ] => user_assigned_identity(app, caller, c, s, name(1), name(5), tail, path).await,
        _ => Err(no_route(m, path).into()),
    }
}

async fn resource_group(
    app: &Coffer,
    caller: &Principal,
    c: &Call,
    s: &str,
    rg: &str,
    path: &str,
) -> Result<Response, Failure> {
    match c.method {
        Method::GET => {
            Ok(Json(rg_json(&app.get_resource_group(caller, s, rg).await?)).into_response())
        }
        Method::HEAD => match app.get_resource_group(caller, s, rg).await {
            Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
            Err(ManagementError::NotFound { .. }) => Ok(StatusCode::NOT_FOUND.into_response()),
            Err(e) => Err(e.into()),
        },
        Method::PUT => {
            let input = resource_input(c.body.as_ref())?;
            let (v, created) = app.put_resource_group(caller, s, rg, input).await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(rg_json(&v))).into_response())
        }
        Method::PATCH => {
            let input = resource_input(c.body.as_ref())?;
            let v = app.patch_resource_group(caller, s, rg, input.tags).await?;
            Ok(Json(rg_json(&v)).into_response())
        }
        Method::DELETE => {
            app.delete_resource_group(caller, s, rg).await?;
            Ok(StatusCode::OK.into_response())
        }
        _ => Err(method_not_allowed(&c.method, path).into()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn user_assigned_identity(
    app: &Coffer,
    caller: &Principal,
    c: &Call,
    s: &str,
    rg: &str,
    name: &str,
    tail: &[&str],
    path: &str,
) -> Result<Response, Failure> {
    let m = &c.method;
    match tail {
        [] => match *m {
            Method::PUT => {
                let input = resource_input(c.body.as_ref())?;
                let (v, created) = app
                    .put_user_assigned_identity(caller, s, rg, name, input)
                    .await?;
                // The first identity header is not shown: ARM never returns secrets from a PUT;
                // `listSecrets` issues one.
                let status = if created.is_some() {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                Ok((status, Json(identity_json(&v))).into_response())
            }
            Method::GET => {
                let v = app.get_user_assigned_identity(caller, s, rg, name).await?;
                Ok(Json(identity_json(&v)).into_response())
            }
            Method::PATCH => {
                let input = resource_input(c.body.as_ref())?;
                let v = app
                    .patch_user_assigned_identity(caller, s, rg, name, input.tags)
                    .await?;
                Ok(Json(identity_json(&v)).into_response())
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
            _ => Err(method_not_allowed(m, path).into()),
        },
        ["listsecrets"] => {
            only(m, &Method::POST, path)?;
            let secrets = app.list_identity_secrets(caller, s, rg, name).await?;
            let v = app.get_user_assigned_identity(caller, s, rg, name).await?;
            Ok(Json(json!({
                "identityEndpoint": secrets.identity_endpoint,
                "identityHeader": secrets.identity_header,
                "clientId": v.client_id,
                "principalId": v.principal_id,
                "imdsAuthorityHost": app.settings().authority(),
            }))
            .into_response())
        }
        ["imdsbindings"] => match *m {
            Method::GET => {
                let addrs = app.get_identity_imds_bindings(caller, s, rg, name).await?;
                Ok(Json(json!({ "addresses": addrs })).into_response())
            }
            Method::PUT => {
                let addrs = addresses_of(c.body.as_ref())?;
                let addrs = app
                    .put_identity_imds_bindings(caller, s, rg, name, &addrs)
                    .await?;
                Ok(Json(json!({ "addresses": addrs })).into_response())
            }
            _ => Err(method_not_allowed(m, path).into()),
        },
        _ => Err(no_route(m, path).into()),
    }
}

/// `{"addresses":[…]}` (also accepted under `properties`).
fn addresses_of(body: Option<&Value>) -> Result<Vec<String>, ArmError> {
    let list = body.and_then(|b| {
        b.get("addresses")
            .or_else(|| b.get("properties").and_then(|p| p.get("addresses")))
    });
    let Some(Value::Array(items)) = list else {
        return Err(invalid_content(
            "The request content must be {\"addresses\": [\"<IP address or CIDR prefix>\", ...]}.",
        ));
    };
    items
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid_content("Each address must be a string."))
        })
        .collect()
}

fn value_list(items: Vec<Value>) -> Response {
    Json(json!({ "value": items })).into_response()
}

/// The cloud metadata document `az cloud register` and the SDKs' cloud settings read.
fn metadata(settings: &Settings) -> Value {
    let authority = settings.authority();
    let management = settings.management_url();
    let vault_dns = settings
        .vault_resource()
        .trim_start_matches("https://")
        .to_owned();
    json!({
        "name": "Coffer",
        "authentication": {
            "loginEndpoint": authority,
            "audiences": [settings.management_resource(), management],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "resourceManager": format!("{management}/"),
        "microsoftGraphResourceId": format!("{}/", settings.graph_resource().trim_end_matches('/')),
        "suffixes": {
            "keyVaultDns": vault_dns,
        },
    })
}

fn subscription_json(s: &SubscriptionView) -> Value {
    json!({
        "id": format!("/subscriptions/{}", s.subscription_id),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": s.subscription_id,
        "tenantId": s.tenant_id,
        "displayName": s.display_name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    })
}

fn tenant_json(t: &TenantView, settings: &Settings) -> Value {
    json!({
        "id": format!("/tenants/{}", t.tenant_id),
        "tenantId": t.tenant_id,
        "tenantCategory": "Home",
        "displayName": t.display_name,
        "defaultDomain": settings.domain,
        "domains": [settings.domain],
        "tenantType": "AAD",
    })
}

fn rg_json(rg: &ResourceGroupView) -> Value {
    json!({
        "id": rg.id,
        "name": rg.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": rg.location,
        "tags": rg.tags,
        "properties": {"provisioningState": "Succeeded"},
    })
}

fn provider_json(s: &str, p: &ProviderView) -> Value {
    json!({
        "id": format!("/subscriptions/{s}/providers/{}", p.namespace),
        "namespace": p.namespace,
        "registrationState": "Registered",
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": p.resource_types.iter().map(|t| json!({
            "resourceType": t,
            "locations": [coffer_service::DEFAULT_LOCATION],
        })).collect::<Vec<_>>(),
    })
}

fn identity_json(v: &IdentityView) -> Value {
    let kind = if v.system_assigned {
        SYSTEM_ASSIGNED_IDENTITY_TYPE
    } else {
        USER_ASSIGNED_IDENTITY_TYPE
    };
    let mut properties = json!({
        "tenantId": v.tenant_id,
        "principalId": v.principal_id,
        "clientId": v.client_id,
    });
    if !v.system_assigned {
        properties["isolationScope"] = json!("None");
    }
    json!({
        "id": v.id,
        "name": v.name,
        "type": kind,
        "location": v.location,
        "tags": v.tags,
        "properties": properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions() {
        assert!(valid_api_version("2024-11-30"));
        assert!(valid_api_version("2021-09-30-preview"));
        assert!(!valid_api_version("7.6"));
        assert!(!valid_api_version("2024-11-3"));
        assert!(!valid_api_version("2024-11-30-"));
        assert!(!valid_api_version("2024-11-30x"));
    }

    #[test]
    fn segments() {
        assert_eq!(decode_segment("rg%28a%29").as_deref(), Some("rg(a)"));
        assert_eq!(decode_segment("a+b").as_deref(), Some("a+b"));
        assert_eq!(decode_segment("bad%2"), None);
        assert_eq!(decode_segment("%ff"), None);
    }
}
