//! The Microsoft Graph-shaped directory API on `graph.<domain>`: applications (with their client
//! secrets and certificates), service principals, users and `/me`, in Graph v1.0's JSON shapes
//! and error envelope. Every caller needs a token for the Graph resource; reads are open to any
//! principal of the tenant, changes only to an administrator of its directory.
//!
//! Paths are matched by hand, case-insensitively, because Graph's key syntax
//! (`/applications(appId='…')`) does not fit a path router.

use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use coffer_service::{
    AppRef, ApplicationSpec, ApplicationUpdate, ApplicationView, Coffer, DirectoryCaller,
    DirectoryFilter, KeyCredentialInput, KeyCredentialView, NewUser, PasswordCredentialView,
    Resource, ServicePrincipalView, UserUpdate, UserView,
};
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::MAX_BODY_BYTES;
use crate::error::graph::{GraphError, unauthenticated};
use crate::headers::RequestId;
use crate::text::{clip, decode_segment};

/// Largest JSON body accepted by the directory (certificates are the largest legitimate part).
const MAX_GRAPH_BODY: usize = 256 * 1024;
const _: () = assert!(MAX_GRAPH_BODY <= MAX_BODY_BYTES);

/// What every response needs: where the client called us, and the ids for `innerError`.
struct Ctx {
    /// `https://<host:port>/<version>`, for `@odata.context`.
    base: String,
    request_id: String,
    client_request_id: String,
}

impl Ctx {
    fn context(&self, fragment: &str) -> String {
        format!("{}/$metadata#{fragment}", self.base)
    }
}

pub(crate) async fn handle(app: Arc<Coffer>, req: Request) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .or_else(|| req.headers().get("x-ms-client-request-id"))
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(100).collect())
        .unwrap_or_else(|| request_id.clone());
    let mut ctx = Ctx {
        base: format!("https://{}/v1.0", crate::host::authority(&req)),
        request_id,
        client_request_id,
    };
    match handle_inner(&app, &mut ctx, req).await {
        Ok(r) => r,
        Err(e) => e.render(&ctx.request_id, &ctx.client_request_id),
    }
}

async fn handle_inner(app: &Coffer, ctx: &mut Ctx, req: Request) -> Result<Response, GraphError> {
    // Authentication first, whatever else is wrong with the request.
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}invalid"));
    let (principal, claims) = match app.authenticate_for(authorization, Resource::Graph).await {
        Ok(ok) => ok,
        Err(e) => {
            let tenant = app
                .default_tenant_id()
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| "common".to_owned());
            return Err(unauthenticated(&e, app, &tenant));
        }
    };
    let caller = app.directory_caller(&principal, &claims).await?;

    let method = req.method().clone();
    let raw_path = req.uri().path().to_owned();
    let query = parse_query(req.uri().query());
    let mut segs = Vec::new();
    for s in raw_path.split('/').filter(|s| !s.is_empty()) {
        segs.push(decode_segment(s).ok_or_else(|| GraphError::no_segment(s))?);
    }
    let Some((version, rest)) = segs.split_first() else {
        return Err(GraphError::no_segment(""));
    };
    let version = version.to_ascii_lowercase();
    if version != "v1.0" && version != "beta" {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Invalid version: {}", clip(&version)),
        ));
    }
    ctx.base = format!(
        "{}/{version}",
        ctx.base.trim_end_matches("/v1.0").trim_end_matches('/')
    );
    let Some((entity, rest)) = rest.split_first() else {
        return Err(GraphError::no_segment(&version));
    };
    let tenant = caller.tenant_id.clone();
    let (entity_name, key) = split_key(entity)?;
    match entity_name.as_str() {
        "applications" => {
            applications(app, ctx, &caller, &tenant, &method, key, rest, &query, req).await
        }
        "serviceprincipals" => {
            service_principals(app, ctx, &caller, &tenant, &method, key, rest, &query, req).await
        }
        "users" => users(app, ctx, &caller, &tenant, &method, key, rest, &query, req).await,
        "me" if key.is_none() && rest.is_empty() => {
            if method != Method::GET {
                return Err(GraphError::method_not_allowed());
            }
            me(app, ctx, &caller).await
        }
        _ => Err(GraphError::no_segment(entity)),
    }
}

/// `applications(appId='x')` → (`applications`, Some(("appid", "x"))); plain names have no key.
fn split_key(segment: &str) -> Result<(String, Option<(String, String)>), GraphError> {
    let Some(open) = segment.find('(') else {
        return Ok((segment.to_ascii_lowercase(), None));
    };
    let name = segment[..open].to_ascii_lowercase();
    let inner = segment[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| GraphError::no_segment(segment))?;
    let (prop, value) = inner
        .split_once('=')
        .ok_or_else(|| GraphError::no_segment(segment))?;
    let value = parse_quoted(value.trim())
        .filter(|(_, rest)| rest.trim().is_empty())
        .map(|(v, _)| v)
        .ok_or_else(|| GraphError::no_segment(segment))?;
    Ok((name, Some((prop.trim().to_ascii_lowercase(), value))))
}

/// A single-quoted OData string at the start of `s` (`''` is a quote): the value and the rest.
fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if let Some((_, '\'')) = chars.peek() {
                chars.next();
                out.push('\'');
                continue;
            }
            return Some((out, &body[i + 1..]));
        }
        out.push(c);
    }
    None
}

/// Parses the `$filter` forms Graph clients send for directory look-ups.
fn parse_filter(raw: &str) -> Result<DirectoryFilter, GraphError> {
    let unsupported = || {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            format!(
                "Unsupported or invalid query filter clause specified: '{}'. Supported: displayName eq '…', startswith(displayName,'…'), appId eq '…', id eq '…', userPrincipalName eq '…', servicePrincipalNames/any(c:c eq '…').",
                clip(raw)
            ),
        )
    };
    let s = raw.trim();
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("startswith(") {
        let inner = s["startswith(".len()..]
            .strip_suffix(')')
            .ok_or_else(unsupported)?;
        let (prop, value) = inner.split_once(',').ok_or_else(unsupported)?;
        if !prop.trim().eq_ignore_ascii_case("displayName") {
            return Err(unsupported());
        }
        let (v, rest) = parse_quoted(value.trim()).ok_or_else(unsupported)?;
        if !rest.trim().is_empty() {
            return Err(unsupported());
        }
        return Ok(DirectoryFilter::DisplayNameStartsWith(v));
    }
    if lower.starts_with("serviceprincipalnames/any(") {
        let inner = s["servicePrincipalNames/any(".len()..]
            .strip_suffix(')')
            .ok_or_else(unsupported)?;
        let (var, cond) = inner.split_once(':').ok_or_else(unsupported)?;
        let var = var.trim();
        let cond = cond.trim();
        let rest = cond
            .strip_prefix(var)
            .map(str::trim_start)
            .ok_or_else(unsupported)?;
        let value = rest
            .get(..3)
            .filter(|op| op.eq_ignore_ascii_case("eq "))
            .map(|_| rest[3..].trim())
            .ok_or_else(unsupported)?;
        let (v, tail) = parse_quoted(value).ok_or_else(unsupported)?;
        if var.is_empty() || !tail.trim().is_empty() {
            return Err(unsupported());
        }
        return Ok(DirectoryFilter::ServicePrincipalName(v));
    }
    let mut parts = s.splitn(3, char::is_whitespace);
    let (Some(prop), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(unsupported());
    };
    if !op.eq_ignore_ascii_case("eq") {
        return Err(unsupported());
    }
    let (v, tail) = parse_quoted(value.trim()).ok_or_else(unsupported)?;
    if !tail.trim().is_empty() {
        return Err(unsupported());
    }
    match prop.to_ascii_lowercase().as_str() {
        "displayname" => Ok(DirectoryFilter::DisplayNameEq(v)),
        "appid" => Ok(DirectoryFilter::AppIdEq(v)),
        "id" => Ok(DirectoryFilter::IdEq(v)),
        "userprincipalname" => Ok(DirectoryFilter::UserPrincipalNameEq(v)),
        _ => Err(unsupported()),
    }
}

fn filter_of(query: &[(String, String)]) -> Result<Option<DirectoryFilter>, GraphError> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("$filter") || k.eq_ignore_ascii_case("filter"))
        .map(|(_, v)| parse_filter(v))
        .transpose()
}

#[allow(clippy::too_many_arguments)]
async fn applications(
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

#[allow(clippy::too_many_arguments)]
async fn service_principals(
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

#[allow(clippy::too_many_arguments)]
async fn users(
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
        [_, seg, ..] => Err(GraphError::no_segment(seg)),
    }
}

/// `/me`: the signed-in user of a delegated token; an application alone has no `/me`.
async fn me(app: &Coffer, ctx: &Ctx, caller: &DirectoryCaller) -> Result<Response, GraphError> {
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

// ---- request bodies ------------------------------------------------------------------------

async fn read_json(req: Request) -> Result<Option<Map<String, Value>>, GraphError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_GRAPH_BODY)
        .await
        .map_err(|_| {
            GraphError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request_BadRequest",
                format!("The request body is larger than {MAX_GRAPH_BODY} bytes."),
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        _ => Err(GraphError::invalid_json()),
    }
}

/// A property by name, case-insensitively (Graph accepts `displayname` for `displayName`).
fn get_ci<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn invalid_property(name: &str, resource: &str, want: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{name}' of resource '{resource}': {want} expected."
    ))
}

fn str_prop(
    m: &Map<String, Value>,
    name: &str,
    resource: &str,
) -> Result<Option<String>, GraphError> {
    match get_ci(m, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid_property(name, resource, "a string")),
    }
}

fn bool_prop(
    m: &Map<String, Value>,
    name: &str,
    resource: &str,
) -> Result<Option<bool>, GraphError> {
    match get_ci(m, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid_property(name, resource, "true or false")),
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

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

// ---- times ---------------------------------------------------------------------------------

fn iso(t: i64) -> Value {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Value::Null, Value::String)
}

/// An ISO 8601 date and time; without an offset it is taken as UTC, like Graph.
fn parse_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(t.unix_timestamp());
    }
    time::PrimitiveDateTime::parse(s, &Iso8601::DEFAULT)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

// ---- response shapes -----------------------------------------------------------------------

fn list(ctx: &Ctx, set: &str, value: Vec<Value>) -> Response {
    Json(json!({
        "@odata.context": ctx.context(set),
        "value": value,
    }))
    .into_response()
}

fn with_context(ctx: &Ctx, fragment: &str, mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        let mut out = Map::new();
        out.insert("@odata.context".to_owned(), ctx.context(fragment).into());
        out.append(m);
        return Value::Object(out);
    }
    v
}

fn entity(ctx: &Ctx, fragment: &str, v: Value) -> Response {
    Json(with_context(ctx, fragment, v)).into_response()
}

fn created(ctx: &Ctx, fragment: &str, v: Value) -> Response {
    (StatusCode::CREATED, Json(with_context(ctx, fragment, v))).into_response()
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
        "publicClient": { "redirectUris": [] },
        "requiredResourceAccess": [],
        "spa": { "redirectUris": [] },
        "web": {
            "homePageUrl": null,
            "logoutUrl": null,
            "redirectUris": [],
            "implicitGrantSettings": {
                "enableAccessTokenIssuance": false,
                "enableIdTokenIssuance": false,
            },
        },
    })
}

fn service_principal_json(s: &ServicePrincipalView) -> Value {
    json!({
        "id": s.object_id,
        "deletedDateTime": null,
        "accountEnabled": true,
        "alternativeNames": [],
        "appDisplayName": s.display_name,
        "appDescription": null,
        "appId": s.app_id,
        "appOwnerOrganizationId": s.tenant_id,
        "appRoleAssignmentRequired": false,
        "createdDateTime": s.created.map_or(Value::Null, iso),
        "description": null,
        "displayName": s.display_name,
        "homepage": null,
        "notes": null,
        "servicePrincipalNames": [s.app_id],
        "servicePrincipalType": "Application",
        "signInAudience": "AzureADMyOrg",
        "tags": [],
        "appRoles": [],
        "keyCredentials": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "replyUrls": [],
    })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn filters() {
        assert_eq!(
            parse_filter("displayName eq 'my app'").ok(),
            Some(DirectoryFilter::DisplayNameEq("my app".into()))
        );
        assert_eq!(
            parse_filter("startswith(displayName,'o''brien')").ok(),
            Some(DirectoryFilter::DisplayNameStartsWith("o'brien".into()))
        );
        assert_eq!(
            parse_filter("servicePrincipalNames/any(c:c eq 'abc')").ok(),
            Some(DirectoryFilter::ServicePrincipalName("abc".into()))
        );
        assert_eq!(
            parse_filter("servicePrincipalNames/any(x: x eq 'abc')").ok(),
            Some(DirectoryFilter::ServicePrincipalName("abc".into()))
        );
        assert_eq!(
            parse_filter("appId eq 'abc'").ok(),
            Some(DirectoryFilter::AppIdEq("abc".into()))
        );
        for bad in [
            "displayName ne 'x'",
            "displayName eq x",
            "displayName eq 'x' or 1",
            "startswith(mail,'x')",
            "servicePrincipalNames/any(c:d eq 'x')",
            "",
            "'",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_and_segments() {
        let (n, k) = split_key("applications(appId='a''b')").unwrap();
        assert_eq!(n, "applications");
        assert_eq!(k, Some(("appid".into(), "a'b".into())));
        assert_eq!(split_key("Users").unwrap(), ("users".into(), None));
        assert!(split_key("applications(appId='x'").is_err());
        assert!(split_key("applications(appId=x)").is_err());
        assert_eq!(decode_segment("a%27b").as_deref(), Some("a'b"));
        assert_eq!(decode_segment("%zz"), None);
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("2030-01-01T00:00:00Z"), Some(1893456000));
        assert_eq!(parse_time("2030-01-01T00:00:00.5+00:00"), Some(1893456000));
        assert_eq!(parse_time("2030-01-01T00:00:00"), Some(1893456000));
        assert_eq!(parse_time("tomorrow"), None);
        assert_eq!(iso(1893456000), json!("2030-01-01T00:00:00Z"));
    }
}
