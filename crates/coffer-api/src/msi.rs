//! Managed identity token endpoints on the identity host, in the shapes `ManagedIdentityCredential`
//! speaks: App Service style (`GET /msi/token`, header `X-IDENTITY-HEADER`, as with
//! `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`) and IMDS style (`GET /metadata/identity/oauth2/token`,
//! header `Metadata: true`, as with `AZURE_POD_IDENTITY_AUTHORITY_HOST`). Both answer the same
//! body; numbers are strings as App Service and IMDS send them (`expires_on` is what the App
//! Service clients read, `expires_in` what the IMDS clients read).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use coffer_service::{Coffer, MiError, MiToken, MiTokenRequest};
use http::{Method, StatusCode};
use serde_json::json;

use crate::error::oauth::{mi_error, mi_error_body};

pub(crate) async fn handle(app: Arc<Coffer>, req: Request) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let query: HashMap<String, String> =
        form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let identity_header = header(&req, "x-identity-header");
    let metadata = header(&req, "metadata");
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let method = req.method().clone();
    drop(req);
    match path.as_str() {
        "/msi/token" => {
            if method != Method::GET {
                return method_not_allowed();
            }
            if query.get("api-version").is_none_or(|v| v.is_empty()) {
                return missing_api_version();
            }
            let result = app
                .mi_token_app_service(identity_header.as_deref(), &token_request(&query))
                .await;
            respond(result)
        }
        "/metadata/identity/oauth2/token" => {
            if method != Method::GET {
                return method_not_allowed();
            }
            // IMDS refuses requests without it: they may come from a server-side request forgery.
            if !metadata.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                return mi_error_body(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Required metadata header not specified",
                );
            }
            if query.get("api-version").is_none_or(|v| v.is_empty()) {
                return missing_api_version();
            }
            respond(app.mi_token_imds(peer, &token_request(&query)).await)
        }
        _ => mi_error_body(
            StatusCode::NOT_FOUND,
            "invalid_request",
            "Not a managed identity endpoint. Coffer serves GET /msi/token (App Service style) and GET /metadata/identity/oauth2/token (IMDS style).",
        ),
    }
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn token_request(q: &HashMap<String, String>) -> MiTokenRequest {
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    MiTokenRequest {
        resource: get("resource"),
        client_id: get("client_id"),
        object_id: get("object_id").or_else(|| get("principal_id")),
        resource_id: get("mi_res_id").or_else(|| get("msi_res_id")),
    }
}

fn missing_api_version() -> Response {
    mi_error_body(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "Required query parameter api-version missing (App Service style: 2019-08-01; IMDS style: 2018-02-01).",
    )
}

fn respond(result: Result<MiToken, MiError>) -> Response {
    match result {
        Ok(t) => Json(json!({
            "access_token": t.access_token,
            "client_id": t.client_id,
            "expires_in": t.expires_in.to_string(),
            "expires_on": t.expires_on.to_string(),
            "ext_expires_in": t.expires_in.to_string(),
            "not_before": t.not_before.to_string(),
            "resource": t.resource,
            "token_type": "Bearer",
        }))
        .into_response(),
        Err(e) => mi_error(e),
    }
}

fn method_not_allowed() -> Response {
    mi_error_body(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "Managed identity tokens are requested with GET.",
    )
}
