//! The token issuer's HTTP surface on `login.<domain>`: OpenID discovery, JWKS, the v1 and v2
//! token endpoints of every grant, with Entra ID's error bodies; the interactive sign-in pages
//! are `signin/`'s.

use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use coffer_identity::TokenVersion;
use coffer_service::{AuthError, Coffer, TokenRequest};
use coffer_wire::token::TokenResponse;
use http::{Method, StatusCode};

use crate::MAX_BODY_BYTES;
use crate::error::oauth::{auth_error, oauth_error};
use crate::headers::RequestId;
use crate::text::clip;

pub(crate) async fn handle(app: Arc<Coffer>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    if matches!(segs.first(), Some(&"msi" | &"metadata")) {
        return crate::msi::handle(app, req).await;
    }
    match (&method, segs.as_slice()) {
        (&Method::GET, [tenant, "v2.0", ".well-known", "openid-configuration"]) => {
            discovery(&app, tenant, TokenVersion::V2, &request_id).await
        }
        (&Method::GET, [tenant, ".well-known", "openid-configuration"]) => {
            discovery(&app, tenant, TokenVersion::V1, &request_id).await
        }
        (&Method::GET, [_, "discovery", "v2.0", "keys"] | [_, "discovery", "keys"]) => {
            Json(app.signing_keys().jwks()).into_response()
        }
        (&Method::POST, [tenant, "oauth2", "token"]) => {
            let tenant = (*tenant).to_owned();
            token(app, tenant, req, false, request_id).await
        }
        (&Method::POST, [tenant, "oauth2", "v2.0", "token"]) => {
            let tenant = (*tenant).to_owned();
            token(app, tenant, req, true, request_id).await
        }
        (&Method::GET | &Method::POST, [tenant, "oauth2", "v2.0", "authorize"]) => {
            let tenant = (*tenant).to_owned();
            crate::signin::authorize(app, tenant, req, true, request_id).await
        }
        (&Method::GET | &Method::POST, [tenant, "oauth2", "authorize"]) => {
            let tenant = (*tenant).to_owned();
            crate::signin::authorize(app, tenant, req, false, request_id).await
        }
        (&Method::POST, [tenant, "login"]) => {
            let tenant = (*tenant).to_owned();
            crate::signin::login(app, tenant, req, request_id).await
        }
        (&Method::POST, [tenant, "oauth2", "v2.0", "devicecode"]) => {
            let tenant = (*tenant).to_owned();
            crate::signin::devicecode(app, tenant, req, true, request_id).await
        }
        (&Method::POST, [tenant, "oauth2", "devicecode"]) => {
            let tenant = (*tenant).to_owned();
            crate::signin::devicecode(app, tenant, req, false, request_id).await
        }
        (&Method::GET | &Method::POST, ["devicelogin"]) => {
            crate::signin::devicelogin(app, req, request_id).await
        }
        _ => oauth_error(
            StatusCode::NOT_FOUND,
            "invalid_request",
            "AADSTS900561: The endpoint only accepts the documented token, device code, authorize, sign-in, discovery and key requests.".to_owned(),
            900561,
            &request_id,
        ),
    }
}

async fn discovery(
    app: &Coffer,
    tenant: &str,
    version: TokenVersion,
    request_id: &str,
) -> Response {
    match app.tenant_exists(tenant).await {
        Ok(true) => Json(app.issuer().openid_configuration(tenant, version)).into_response(),
        Ok(false) => auth_error(AuthError::TenantNotFound(clip(tenant)), request_id),
        Err(e) => auth_error(AuthError::from(e), request_id),
    }
}

async fn token(
    app: Arc<Coffer>,
    tenant: String,
    req: Request,
    v2: bool,
    request_id: String,
) -> Response {
    let metrics = req.extensions().get::<crate::metrics::Shared>().cloned();
    let basic = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_basic);
    if req
        .headers()
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000216: The request has more than one Authorization header; send exactly one."
                .to_owned(),
            7000216,
            &request_id,
        );
    }
    let body = match crate::body::read(req.into_body(), MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            let status = match e {
                crate::body::BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                crate::body::BodyError::Malformed => StatusCode::BAD_REQUEST,
                crate::body::BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            };
            return oauth_error(
                status,
                "invalid_request",
                format!("AADSTS900144: {e}"),
                900144,
                &request_id,
            );
        }
    };
    let mut form = TokenRequest::default();
    for (k, v) in form_urlencoded::parse(&body) {
        let v = Some(v.into_owned());
        match k.as_ref() {
            "grant_type" => form.grant_type = v,
            "client_id" => form.client_id = v,
            "client_secret" => form.client_secret = v,
            "client_assertion_type" => form.client_assertion_type = v,
            "client_assertion" => form.client_assertion = v,
            "username" => form.username = v,
            "password" => form.password = v,
            "resource" => form.resource = v,
            "scope" => form.scope = v,
            "code" => form.code = v,
            "redirect_uri" => form.redirect_uri = v,
            "code_verifier" => form.code_verifier = v,
            "refresh_token" => form.refresh_token = v,
            "device_code" => form.device_code = v,
            "client_info" => form.client_info = v.as_deref() == Some("1"),
            // MSAL sends telemetry and capability fields; Entra ID ignores unknown ones too.
            _ => {}
        }
    }
    if let Some((id, secret)) = basic {
        form.client_id.get_or_insert(id);
        form.client_secret.get_or_insert(secret);
    }
    let grant = form.grant_type.clone();
    let issued = app.issue_token_grant(&tenant, form, v2).await;
    if let Some(m) = metrics {
        m.token(grant.as_deref(), issued.is_ok());
    }
    match issued {
        Ok(g) => {
            let t = g.token;
            let body = TokenResponse {
                token_type: "Bearer",
                scope: g.scope,
                expires_in: t.expires_in,
                ext_expires_in: t.expires_in,
                expires_on: (!v2).then(|| t.expires_on.to_string()),
                not_before: (!v2).then(|| t.not_before.to_string()),
                resource: (!v2).then_some(g.resource),
                access_token: t.access_token,
                refresh_token: g.refresh_token,
                id_token: g.id_token,
                client_info: g.client_info,
            };
            let mut resp = Json(body).into_response();
            // Tokens must not be kept by caches along the way (RFC 6749 §5.1).
            resp.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
            resp
        }
        Err(e) => auth_error(e, &request_id),
    }
}

fn parse_basic(h: &str) -> Option<(String, String)> {
    let (scheme, rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    let dec = |x: &str| {
        form_urlencoded::parse(format!("a={x}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}
